/**
 * Keeps one serving model and its live state up to date with the event log, in seq order, whoever
 * appended: this replica (its own writes, before it replies) or another one sharing the log (its
 * follower, woken by LISTEN/NOTIFY or a poll). Both cursors only ever take entries that follow their
 * position without a hole, read from the log when the entries in hand do not join up (another replica
 * appended in between):
 *
 *   model cursor  the engine's catalog and counters, in this process;
 *   state cursor  the live state (memory, or Redis shared by every replica), whose `apply` skips what
 *                 another replica applied already.
 *
 * The live state may fail while the log does not: a Redis that is down or was flushed. Writes are then
 * still stored and answered (the log has them), the state is marked out of service, and a background
 * catch-up rebuilds it from the log (from its own position, or from the model's start when it was lost)
 * while the replica keeps answering. A log that cannot be read (PostgreSQL unreachable) stops nothing
 * either: the follower is restarted after `retryMs`, from where it stood.
 */
import { StoreError, type EventLog, type Follower, type LiveState, type LogEntry } from '../store/index.ts';

export interface LogFeedOptions {
  log: EventLog;
  state: LiveState;
  /** Applies entries (in seq order) to the in-process model; it skips those at or below its position. */
  applyModel(entries: readonly LogEntry[]): void;
  /** The model's log position. */
  modelPosition(): number;
  /** Where the model's view of the log starts (the last entry before it was trained): nothing at or below it is applied. */
  from: number;
  /** Warnings and recoveries. */
  say(line: string): void;
  /** Wait before retrying a failed log read or live-state call, in ms (default 500). */
  retryMs?: number;
  /** How often the live state is checked for a loss (a flush, an empty restart) when nothing is written, in ms (default 1000). */
  checkMs?: number;
}

/** What `status()` reports. */
export interface FeedStatus {
  /** The model's log position. */
  model: number;
  /** Everything at or below it is known to be in the live state. */
  state: number;
  /** 'ok', or why the live state is out of service ('catching-up' from the log, 'down'). */
  stateMode: 'ok' | 'catching-up' | 'down';
  /** The last failure of the log follower or of a log read, until one succeeds again. */
  logError: string | null;
}

/** Entries read from the log at once when the ones in hand do not join up. */
const READ_LIMIT = 5000;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/**
 * @example
 *   const feed = new LogFeed({ log, state, applyModel: (es) => engine.applyEntries(es), modelPosition: () => engine.logState().position, from, say });
 *   feed.start();
 *   const entries = await log.append(records);
 *   await feed.wrote(entries);   // the model and the live state hold them (or the state is being rebuilt)
 */
export class LogFeed {
  private readonly o: Required<Omit<LogFeedOptions, 'applyModel' | 'modelPosition'>> & Pick<LogFeedOptions, 'applyModel' | 'modelPosition'>;
  /** Entries in hand (this replica's appends, the follower's deliveries) not yet applied to the model. */
  private readonly pending = new Map<number, LogEntry>();
  /** The highest seq anyone waits for. */
  private target = 0;
  /** The highest seq this replica appended itself (its follower delivers the others'). */
  private ownTarget = 0;
  private waiters: { seq: number; resolve: () => void }[] = [];
  private loop: Promise<void> | null = null;
  private statePos: number;
  private stateMode: FeedStatus['stateMode'] = 'ok';
  private catching: Promise<void> | null = null;
  /** Set by the periodic check: the loop looks at the state's position before its next apply. */
  private checkState = false;
  private follower: Follower | null = null;
  private followRetry: NodeJS.Timeout | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private logError: string | null = null;
  private stopped = false;

  constructor(opts: LogFeedOptions) {
    this.o = { retryMs: 500, checkMs: 1000, ...opts };
    this.statePos = this.modelPos();
  }

  /** Follows the log from the model's position (what the replay left) and checks the state now and then. */
  start(): void {
    this.follow(this.modelPos());
    this.checkTimer = setInterval(() => {
      if (this.stateMode !== 'ok') return;
      this.checkState = true;
      this.kick();
    }, this.o.checkMs);
    this.checkTimer.unref();
  }

  /**
   * Called with the entries this replica just appended: resolves once the model holds them and the
   * live state does too, or right away when the state is out of service (the log has the entries; the
   * state gets them on catch-up). Never rejects: the entries are stored whatever happens here.
   */
  wrote(entries: readonly LogEntry[]): Promise<void> {
    if (entries.length === 0 || this.stopped) return Promise.resolve();
    const last = entries[entries.length - 1].seq;
    if (last > this.ownTarget) this.ownTarget = last;
    return this.deliver(entries);
  }

  status(): FeedStatus {
    return { model: this.modelPos(), state: this.statePos, stateMode: this.stateMode, logError: this.logError };
  }

  /** Stops following and waits for what is running (a catch-up in flight stops at its next page). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.checkTimer) clearInterval(this.checkTimer);
    if (this.followRetry) clearTimeout(this.followRetry);
    await this.follower?.stop();
    await this.loop;
    await this.catching;
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }

  private modelPos(): number {
    return Math.max(this.o.modelPosition(), this.o.from);
  }

  private deliver(entries: readonly LogEntry[]): Promise<void> {
    let max = 0;
    const floor = this.modelPos();
    for (const e of entries) {
      if (e.seq > floor) this.pending.set(e.seq, e);
      if (e.seq > max) max = e.seq;
    }
    if (max > this.target) this.target = max;
    const done = new Promise<void>((resolve) => this.waiters.push({ seq: max, resolve }));
    this.kick();
    return done;
  }

  private follow(after: number): void {
    if (this.stopped) return;
    this.follower = this.o.log.follow(after, (entries) => this.deliver(entries), {
      onError: (err, f) => {
        if (this.stopped) return;
        if (this.logError === null) this.o.say(`warning: following the event log stopped at seq ${f.position}, retrying every ${this.o.retryMs} ms: ${messageOf(err)}`);
        this.logError = messageOf(err);
        this.followRetry = setTimeout(() => this.follow(f.position), this.o.retryMs);
        this.followRetry.unref();
      },
    });
  }

  private kick(): void {
    if (this.loop || this.stopped) return;
    this.loop = this.run().finally(() => {
      this.loop = null;
      // something arrived while the last step was finishing
      if (!this.stopped && (this.modelPos() < this.target || (this.stateMode === 'ok' && (this.statePos < this.target || this.checkState)))) this.kick();
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const needModel = this.modelPos() < this.target;
      const needState = this.stateMode === 'ok' && (this.statePos < this.target || this.checkState);
      if (!needModel && !needState) break;
      try {
        await this.step();
      } catch (err) {
        // a log read failed: the waiters' entries are stored, so they are answered; the follower retries
        if (this.logError === null) this.o.say(`warning: reading the event log failed, the follower catches up when it answers again: ${messageOf(err)}`);
        this.logError = messageOf(err);
        this.settle(true);
        this.target = this.modelPos();
        return;
      }
      this.settle(false);
    }
    this.settle(false);
  }

  /** Resolves the waiters whose entries the model (and, when in service, the state) hold; all of them when `all`. */
  private settle(all: boolean): void {
    const m = this.modelPos();
    const s = this.stateMode === 'ok' ? this.statePos : Infinity;
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (all || (w.seq <= m && w.seq <= s)) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  /** The entries in hand that follow `after` without a hole, up to `to`; null when they stop short of it. */
  private joined(after: number, to: number): LogEntry[] | null {
    const out: LogEntry[] = [];
    let at = after;
    while (at < to) {
      const e = this.pending.get(at + 1);
      if (!e) return null;
      out.push(e);
      at++;
    }
    return out;
  }

  private async step(): Promise<void> {
    const target = this.target;
    const m0 = this.modelPos();
    let batch: LogEntry[] = [];
    if (m0 < target) {
      batch = this.joined(m0, target) ?? (await this.o.log.read(m0, READ_LIMIT));
      if (batch.length > 0) {
        this.o.applyModel(batch);
        this.logError = null;
      }
      const m1 = this.modelPos();
      for (const k of this.pending.keys()) if (k <= m1) this.pending.delete(k);
      // the log holds nothing up to the target (it cannot: the target was stored); do not spin on it
      if (batch.length === 0) this.target = m1;
    }
    if (this.stateMode !== 'ok') return;
    const state = this.o.state;
    try {
      const want = Math.max(target, this.modelPos());
      // entries only another replica appended are usually in the shared state already (that replica
      // applied them before its reply): one small call says so, instead of sending them all again
      if (this.checkState || (this.statePos < want && this.ownTarget <= this.statePos)) {
        this.checkState = false;
        // position() adopts a new generation when the state was lost: nothing is applied before the catch-up
        const p = await state.position();
        if (p < this.statePos) {
          this.outOfService('catching-up', `the live state was lost (its position is ${p}, this replica had applied up to ${this.statePos})`);
          return;
        }
        // the state holds every entry up to its position (each applier goes in seq order from its own)
        this.statePos = p;
      }
      if (this.statePos >= want) return;
      // in step with the model: the batch it took; otherwise read from the state's own position
      const next = this.statePos >= m0 && batch.length > 0 ? batch.filter((e) => e.seq > this.statePos) : await this.o.log.read(this.statePos, READ_LIMIT);
      if (next.length === 0) {
        this.statePos = want;
        return;
      }
      await state.apply(next);
      this.statePos = next[next.length - 1].seq;
    } catch (err) {
      if (err instanceof StoreError && err.code === 'stale') this.outOfService('catching-up', messageOf(err));
      else if (err instanceof StoreError && (err.code === 'unavailable' || err.code === 'storage')) this.outOfService('down', messageOf(err));
      else throw err;
    }
  }

  /** The live state stops taking entries here; a catch-up from the log brings it back. */
  private outOfService(mode: 'catching-up' | 'down', why: string): void {
    this.stateMode = mode;
    this.o.say(`warning: live state out of service (${mode}), answering without it where needed and rebuilding it from the event log: ${why}`);
    this.settle(false);
    this.catching ??= this.catchUp().finally(() => {
      this.catching = null;
    });
  }

  /** Replays the log into the live state from where it stands (the model's start when it was lost), then hands back to the loop. */
  private async catchUp(): Promise<void> {
    const state = this.o.state;
    while (!this.stopped) {
      try {
        const p = await state.position();
        let pos = Math.max(p, this.o.from);
        this.stateMode = 'catching-up';
        let n = 0;
        for await (const page of this.o.log.scan(pos)) {
          if (this.stopped) return;
          await state.apply(page);
          pos = page[page.length - 1].seq;
          n += page.length;
        }
        this.statePos = pos;
        this.stateMode = 'ok';
        this.o.say(`live state back in service: ${n} logged entries replayed into it (from seq ${Math.max(p, this.o.from)} to ${pos})`);
        this.kick();
        return;
      } catch (err) {
        if (err instanceof StoreError && err.code === 'stale') continue;
        this.stateMode = 'down';
        await sleep(this.o.retryMs);
      }
    }
  }
}
