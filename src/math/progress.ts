/**
 * Progress of long work: a small reporter interface that fits, loads and scoring call, and two
 * renderers for it (a line redrawn in place on a terminal; a plain line every ~10 s otherwise).
 * Everything takes its clock and its stream, so tests drive it with fakes.
 */

/**
 * One piece of work of a known size. Calls are cheap (a counter and one clock read), but hot loops
 * should still tick every few hundred items, not every item.
 */
export interface ProgressTask {
  /** `n` more steps done (default 1). */
  tick(n?: number): void;
  /** `done` steps done in all. */
  set(done: number): void;
  /** A few words shown after the count (`epoch 3/12`); '' clears them. */
  note(text: string): void;
  /** The task ended, possibly before its total (early stopping). Further calls do nothing. */
  finish(): void;
}

/**
 * Where long work reports how far it has got. Tasks nest by scope: `p.scope('two-stage').scope('ranker
 * rows').start('users', n)` is shown as `two-stage > ranker rows > users`.
 * @example const t = progress.start('users', users.length, 'users'); ...; t.tick(64); ...; t.finish();
 */
export interface Progress {
  /**
   * Starts a task of `total` steps (0 or NaN: size unknown; only the elapsed time is shown). `unit`
   * names the steps (`users`, `rounds`); 'bytes' shows sizes, '%' shows only the share done.
   */
  start(name: string, total: number, unit?: string): ProgressTask;
  /** The same reporter with every task it starts named under `name`. */
  scope(name: string): Progress;
}

const NOOP_TASK: ProgressTask = { tick() {}, set() {}, note() {}, finish() {} };

/** A reporter that reports nothing: the default of every library call, so tests and embedders stay silent. */
export const NO_PROGRESS: Progress = {
  start: () => NOOP_TASK,
  scope: () => NO_PROGRESS,
};

/** Prefixes every task name of `p` with `prefix > ` (used by reporters for `scope`). */
function scoped(root: Progress, prefix: string): Progress {
  return {
    start: (name, total, unit) => root.start(`${prefix} > ${name}`, total, unit),
    scope: (name) => scoped(root, `${prefix} > ${name}`),
  };
}

/** The output a renderer writes to: process.stderr, or a fake in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  /** Terminal width; lines are cut to fit it. */
  columns?: number;
}

export interface ProgressRendererOptions {
  /** 'tty': one line redrawn in place; 'lines': a plain line every `every` ms. Default: 'tty' when the stream is a terminal. */
  mode?: 'tty' | 'lines';
  /** Milliseconds, monotonic (default performance.now). */
  now?: () => number;
  /** Lines mode: milliseconds between progress lines (default 10,000). */
  every?: number;
  /** TTY mode: milliseconds between redraws (default 100). */
  redraw?: number;
  /**
   * Milliseconds between renders driven by a timer while a task runs, so the elapsed time moves while the
   * event loop waits (workers, files) even without ticks; 0: none (tests). Default 1,000.
   */
  heartbeat?: number;
}

interface TaskState {
  name: string;
  total: number;
  unit: string;
  done: number;
  note: string;
  t0: number;
  /** Lines mode: a line of this task was printed. */
  shown: boolean;
}

/**
 * Renders a Progress on a stream: on a terminal one line for the innermost running task, redrawn in
 * place (name, done/total, elapsed, time left); elsewhere that line every ~10 s, and a closing line for
 * each task that was shown. `print` writes other output (log lines) without tearing the line.
 * @example const r = new ProgressRenderer(process.stderr); await fitEngine(train, config, registry, { progress: r, log: (l) => r.print(l) }); r.close();
 */
export class ProgressRenderer implements Progress {
  readonly mode: 'tty' | 'lines';
  private readonly now: () => number;
  private readonly every: number;
  private readonly redraw: number;
  private readonly heartbeatMs: number;
  private readonly active: TaskState[] = [];
  /** When the last progress output (TTY: a redraw; lines: any line on the stream) was written. */
  private last = -Infinity;
  /** TTY: a progress line is on the screen now. */
  private drawn = false;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly stream: ProgressStream,
    opts: ProgressRendererOptions = {},
  ) {
    this.mode = opts.mode ?? (stream.isTTY ? 'tty' : 'lines');
    this.now = opts.now ?? (() => performance.now());
    this.every = opts.every ?? 10_000;
    this.redraw = opts.redraw ?? 100;
    this.heartbeatMs = opts.heartbeat ?? 1000;
    if (this.mode === 'lines') this.last = this.now();
  }

  start(name: string, total: number, unit = ''): ProgressTask {
    const s: TaskState = { name, total: Number.isFinite(total) && total > 0 ? total : 0, unit, done: 0, note: '', t0: this.now(), shown: false };
    this.active.push(s);
    this.startHeartbeat();
    let ended = false;
    return {
      tick: (n = 1) => {
        if (ended) return;
        s.done += n;
        this.maybeRender();
      },
      set: (done) => {
        if (ended) return;
        s.done = done;
        this.maybeRender();
      },
      note: (text) => {
        if (ended) return;
        s.note = text;
        this.maybeRender();
      },
      finish: () => {
        if (ended) return;
        ended = true;
        this.end(s);
      },
    };
  }

  scope(name: string): Progress {
    return scoped(this, name);
  }

  /**
   * Writes `line` (and a newline) to `to` (default this renderer's stream), keeping the progress line
   * intact. In lines mode the next progress line comes 10 s after it: output of any kind says the run lives.
   */
  print(line: string, to: ProgressStream = this.stream): void {
    this.clear();
    to.write(line + '\n');
    if (this.mode === 'lines') this.last = this.now();
    else this.draw();
  }

  /** Clears the progress line and stops the timer (running tasks are dropped from view). */
  close(): void {
    this.clear();
    this.active.length = 0;
    this.stopHeartbeat();
  }

  /** The text of the progress line for the innermost running task, or '' when none runs. */
  line(): string {
    const s = this.active[this.active.length - 1];
    return s ? formatTask(s, this.now() - s.t0) : '';
  }

  private maybeRender(): void {
    const t = this.now();
    if (t - this.last < (this.mode === 'tty' ? this.redraw : this.every)) return;
    if (this.mode === 'tty') this.draw();
    else this.printLine();
  }

  private draw(): void {
    const s = this.active[this.active.length - 1];
    this.last = this.now();
    if (!s) return this.clear();
    this.stream.write(`\r${fit(formatTask(s, this.last - s.t0), (this.stream.columns ?? 100) - 1)}\x1b[K`);
    this.drawn = true;
  }

  private printLine(): void {
    const s = this.active[this.active.length - 1];
    if (!s) return;
    this.last = this.now();
    s.shown = true;
    this.stream.write(formatTask(s, this.last - s.t0) + '\n');
  }

  private clear(): void {
    if (!this.drawn) return;
    this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  private end(s: TaskState): void {
    const i = this.active.lastIndexOf(s);
    if (i >= 0) this.active.splice(i, 1);
    const t = this.now();
    if (this.mode === 'lines') {
      // a task the reader saw running gets its closing line
      if (s.shown) {
        const count = s.total > 0 && s.done < s.total ? ` at ${formatCount(s)}` : '';
        this.stream.write(`${s.name}: done${count} in ${formatDuration((t - s.t0) / 1000)}\n`);
        this.last = t;
      }
    } else this.draw();
    if (this.active.length === 0) this.stopHeartbeat();
  }

  private startHeartbeat(): void {
    if (this.heartbeatMs <= 0 || this.timer) return;
    this.timer = setInterval(() => this.maybeRender(), this.heartbeatMs);
    // never keeps the process alive on its own
    this.timer.unref?.();
  }

  private stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/**
 * Seconds left when `done` of `total` steps took `elapsed` seconds at a constant rate, or NaN when
 * that cannot be told yet (nothing done, the total unknown, or under a second elapsed).
 * @example estimateLeft(25, 100, 10) // 30
 */
export function estimateLeft(done: number, total: number, elapsed: number): number {
  if (!(total > 0 && done > 0 && elapsed >= 1)) return NaN;
  return (elapsed * Math.max(0, total - done)) / done;
}

/** `45s`, `3m07s`, `1h02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function formatCount(s: TaskState): string {
  const share = s.total > 0 ? Math.min(100, (100 * s.done) / s.total) : NaN;
  // a tenth of a percent below 10%: a long task's first minutes still show it moving
  const pct = share < 10 ? (Math.floor(share * 10) / 10).toFixed(1) : String(Math.floor(share));
  if (s.unit === '%') return Number.isFinite(share) ? `${pct}%` : '';
  const n = (x: number) => (s.unit === 'bytes' ? formatBytes(x) : Math.round(x).toLocaleString('en-US'));
  const unit = s.unit && s.unit !== 'bytes' ? ` ${s.unit}` : '';
  if (s.total === 0) return s.done > 0 ? `${n(s.done)}${unit}` : '';
  return `${n(Math.min(s.done, s.total))}/${n(s.total)}${unit} (${pct}%)`;
}

function formatBytes(b: number): string {
  if (b < 1 << 20) return `${(b / 1024).toFixed(0)} kB`;
  if (b < 1 << 30) return `${(b / (1 << 20)).toFixed(1)} MB`;
  return `${(b / (1 << 30)).toFixed(2)} GB`;
}

/** `two-stage > ease > invert  45%  elapsed 1m02s, about 1m16s left  (note)` */
function formatTask(s: TaskState, elapsedMs: number): string {
  const elapsed = elapsedMs / 1000;
  const left = estimateLeft(s.done, s.total, elapsed);
  const count = formatCount(s);
  return [s.name, count, `elapsed ${formatDuration(elapsed)}${Number.isFinite(left) ? `, about ${formatDuration(left)} left` : ''}`, s.note]
    .filter((x) => x !== '')
    .join('  ');
}

/** Cuts `text` to `width` characters, dropping the start of the name (the figures at the end matter most). */
function fit(text: string, width: number): string {
  if (width < 10 || text.length <= width) return text;
  return '\u2026' + text.slice(text.length - width + 1);
}

/**
 * Follows a counter that worker threads add to (`Atomics.add(counter, 0, n)`): sets `task` to
 * `base + counter[0]` every `ms` while the calling thread waits. Returns the function that stops it
 * (after one last update).
 * @example const stop = followCounter(task, counter, done); await pool.epoch(...); stop();
 */
export function followCounter(task: ProgressTask, counter: Int32Array, base = 0, ms = 250): () => void {
  const update = () => task.set(base + Atomics.load(counter, 0));
  const timer = setInterval(update, ms);
  timer.unref?.();
  return () => {
    clearInterval(timer);
    update();
  };
}

/** A command's output around its progress line: what `consoleOutput` returns. */
export interface ConsoleOutput {
  /** The renderer, or undefined when quiet (the library's silent default). */
  progress: Progress | undefined;
  /** A log line on stderr (through console.error). */
  log(line: string): void;
  /** A line on stdout (through console.log): tables, results. */
  out(line: string): void;
  /** Clears the progress line and stops its timer. */
  close(): void;
  /** Runs `work`, then closes (however it ends). */
  during<T>(work: () => Promise<T>): Promise<T>;
}

// through console.* so the tests that capture console output still see every log line
const consoleErr: ProgressStream = { write: (s: string) => void console.error(s.replace(/\n$/, '')) };
const consoleOut: ProgressStream = { write: (s: string) => void console.log(s.replace(/\n$/, '')) };

/**
 * What a command run shows while it works: a ProgressRenderer on `stream` (stderr: a line redrawn in
 * place on a terminal, a line every ~10 s otherwise; none when `quiet`) and log functions that write
 * around it. The CLI's commands and the benchmarks share it.
 * @example const ui = consoleOutput(o.quiet); await ui.during(() => runEvaluation({ ..., log: ui.log, progress: ui.progress }));
 */
export function consoleOutput(quiet: boolean, stream: NodeJS.WriteStream = process.stderr): ConsoleOutput {
  const r = quiet ? null : new ProgressRenderer({ write: (s: string) => stream.write(s), isTTY: stream.isTTY, get columns() { return stream.columns; } });
  const close = () => r?.close();
  return {
    progress: r ?? undefined,
    log: (l) => (r ? r.print(l, consoleErr) : consoleErr.write(l)),
    out: (l) => (r ? r.print(l, consoleOut) : consoleOut.write(l)),
    close,
    during: (work) => work().finally(close),
  };
}
