/**
 * Group commit for an EventLog: appends that arrive while one is being written are queued and written
 * together, as one batch of the wrapped log, as soon as it finishes. The first write waits one turn
 * of the event loop (setImmediate: the requests already received are parsed and queue up; no timer),
 * which is what lets a synchronous backend (SQLite) batch at all. Under concurrent load (a service
 * answering many one-event POSTs, or logging an exposure per recommendation) a durable backend
 * commits one transaction, one fsync, for many callers instead of one each.
 *
 * Every caller keeps the contract of `append`: its records are validated on their own first (a bad
 * record rejects that caller alone, naming `records[i].field`), are stored all or none (they sit in one
 * batch of the wrapped log, which is atomic), durably before its promise resolves, in call order, and
 * it gets back exactly its own entries.
 */
import type { EventLog, FollowOptions, Follower, LogEntry, LogRecord } from './types.ts';
import { receivedArg, validateRecords } from './validate.ts';

interface Pending {
  records: readonly LogRecord[];
  received: number | undefined;
  resolve: (entries: LogEntry[]) => void;
  reject: (err: unknown) => void;
}

/** Records written at most in one batch of the wrapped log (callers' batches are never split). */
export const GROUP_COMMIT_MAX_RECORDS = 10_000;

/**
 * @example
 *   const log = new GroupCommitLog(await openEventLog('postgres://postgres@127.0.0.1/test'));
 *   await Promise.all(events.map((e) => log.append([e])));   // a few transactions, not one per event
 */
export class GroupCommitLog implements EventLog {
  private queue: Pending[] = [];
  /** The writer while it runs (queued appends join it), null when idle. */
  private draining: Promise<void> | null = null;
  /** Batches written to the wrapped log, and the appends they carried (for metrics and tests). */
  readonly stats = { batches: 0, appends: 0 };

  constructor(
    readonly inner: EventLog,
    private readonly maxRecords = GROUP_COMMIT_MAX_RECORDS,
  ) {}

  get kind(): string {
    return this.inner.kind;
  }

  append(records: readonly LogRecord[], received?: number): Promise<LogEntry[]> {
    try {
      // checked here so that one caller's bad record cannot fail the others' shared batch
      if (received !== undefined) receivedArg(received);
      validateRecords(records);
    } catch (err) {
      return Promise.reject(err);
    }
    if (records.length === 0) return this.inner.append(records, received);
    // copied now: later changes to `records` must not reach the log
    const own = structuredClone(records);
    return new Promise<LogEntry[]>((resolve, reject) => {
      this.queue.push({ records: own, received, resolve, reject });
      this.draining ??= this.drain();
    });
  }

  /** Writes the queue in batches until it is empty; appends arriving meanwhile join the next batch. */
  private async drain(): Promise<void> {
    try {
      await new Promise((r) => setImmediate(r));
      while (this.queue.length > 0) {
        // one batch: queued appends in order, with the same explicit receive time, up to maxRecords
        const first = this.queue[0];
        let n = 1;
        let size = first.records.length;
        while (n < this.queue.length && this.queue[n].received === first.received && size + this.queue[n].records.length <= this.maxRecords) {
          size += this.queue[n].records.length;
          n++;
        }
        const group = this.queue.splice(0, n);
        const all = group.length === 1 ? group[0].records : group.flatMap((p) => p.records);
        try {
          const entries = await this.inner.append(all, first.received);
          this.stats.batches++;
          this.stats.appends += group.length;
          let at = 0;
          for (const p of group) {
            p.resolve(entries.slice(at, at + p.records.length));
            at += p.records.length;
          }
        } catch (err) {
          // the wrapped batch is all or none: nothing of any caller in it was stored
          for (const p of group) p.reject(err);
        }
      }
    } finally {
      this.draining = null;
    }
  }

  read(after: number, limit?: number): Promise<LogEntry[]> {
    return this.inner.read(after, limit);
  }

  scan(after: number, batch?: number): AsyncIterable<LogEntry[]> {
    return this.inner.scan(after, batch);
  }

  lastSeq(): Promise<number> {
    return this.inner.lastSeq();
  }

  seqBefore(received: number): Promise<number> {
    return this.inner.seqBefore(received);
  }

  follow(after: number, onEntries: (entries: LogEntry[]) => void | Promise<void>, opts?: FollowOptions): Follower {
    return this.inner.follow(after, onEntries, opts);
  }

  counts(): Promise<{ events: number; entries: number }> {
    return this.inner.counts();
  }

  /** Waits for the queued appends to be written (or to fail), then closes the wrapped log. */
  async close(): Promise<void> {
    while (this.draining) await this.draining;
    await this.inner.close();
  }
}
