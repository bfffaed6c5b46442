/**
 * What every backend shares to implement `follow` and `scan` on top of its `read`: a follower loop that
 * reads from its position, delivers, and sleeps until poked (by this process's appends, or a backend's
 * poll or notification), and a paged scan. Backends differ only in what pokes.
 */
import type { FollowOptions, Follower, LogEntry } from './types.ts';
import { StoreError } from './types.ts';
import { checkCountArg, checkNumberArg } from './validate.ts';

export type ReadFn = (after: number, limit: number) => Promise<LogEntry[]>;

export const DEFAULT_FOLLOW_BATCH = 1000;
export const DEFAULT_SCAN_BATCH = 1000;

/**
 * One follower: reads entries after `position`, awaits the callback, advances, repeats; when a read
 * comes back empty it sleeps until `poke()`. A poke during a read or a callback sets `pending`, so the
 * loop reads once more instead of sleeping: nothing appended is missed.
 */
export class LogFollower implements Follower {
  private pos: number;
  private stopped = false;
  private pending = false;
  private resume: (() => void) | null = null;
  private readonly done: Promise<void>;

  constructor(
    private readonly read: ReadFn,
    after: number,
    private readonly onEntries: (entries: LogEntry[]) => void | Promise<void>,
    private readonly opts: FollowOptions,
    /** Told once the loop has ended, for any reason (the backend drops its reference and its timer). */
    private readonly onExit: (f: LogFollower) => void,
  ) {
    this.pos = after;
    this.done = this.run();
  }

  get position(): number {
    return this.pos;
  }

  /** The log may have grown: read again (at once if sleeping, after the current step otherwise). */
  poke(): void {
    this.pending = true;
    const r = this.resume;
    this.resume = null;
    r?.();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    return this.done;
  }

  private async run(): Promise<void> {
    const batch = this.opts.batch ?? DEFAULT_FOLLOW_BATCH;
    try {
      while (!this.stopped) {
        this.pending = false;
        const entries = await this.read(this.pos, batch);
        if (this.stopped) break;
        if (entries.length === 0) {
          if (!this.pending) await new Promise<void>((r) => (this.resume = r));
          continue;
        }
        await this.onEntries(entries);
        this.pos = entries[entries.length - 1].seq;
      }
    } catch (err) {
      this.stopped = true;
      const report = this.opts.onError;
      if (report) report(err, this);
      // no handler: surface it as an uncaught exception rather than stop delivering in silence
      else
        queueMicrotask(() => {
          throw err;
        });
    } finally {
      this.onExit(this);
    }
  }
}

/** Checks follow's arguments (a bad one throws at the call, not later in the loop). */
export function checkFollowArgs(after: unknown, onEntries: unknown, opts: FollowOptions | undefined): FollowOptions {
  checkNumberArg(after, 'after');
  if (typeof onEntries !== 'function') throw new StoreError('invalid', 'must be a function', 'onEntries');
  const o = opts ?? {};
  if (o.batch !== undefined) checkCountArg(o.batch, 'opts.batch');
  if (o.onError !== undefined && typeof o.onError !== 'function') throw new StoreError('invalid', 'must be a function', 'opts.onError');
  return o;
}

/**
 * Pages through the log with `read` from `after` up to the last seq stored when the scan began.
 * Holds one page at a time.
 */
export async function* scanPages(read: ReadFn, lastSeq: () => Promise<number>, after: number, batch: number): AsyncGenerator<LogEntry[]> {
  const end = await lastSeq();
  let pos = after;
  while (pos < end) {
    const page = await read(pos, batch);
    if (page.length === 0) return;
    let n = page.length;
    while (n > 0 && page[n - 1].seq > end) n--;
    if (n === 0) return;
    yield n === page.length ? page : page.slice(0, n);
    pos = page[n - 1].seq;
  }
}
