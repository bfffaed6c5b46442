/**
 * An EventLog held in this process's memory: for tests, demos and throwaway services. Not durable (a
 * restart loses it) and not shared between handles. Entries are kept in the same row form as SQLite's
 * (features as JSON text), so values read back exactly as from a durable backend.
 */
import { LogFollower, checkFollowArgs, scanPages, DEFAULT_SCAN_BATCH } from '../follow.ts';
import type { EventLog, FollowOptions, Follower, LogEntry, LogRecord } from '../types.ts';
import { StoreError } from '../types.ts';
import { checkCountArg, checkNumberArg, decodeRow, prepareRecords, receivedArg, type Row } from '../validate.ts';

/**
 * @example
 *   const log = new MemoryEventLog();
 *   await log.append([{ kind: 'item', item: 'i1', features: { genre: 'jazz' } }]); // -> [{ seq: 1, ... }]
 */
export class MemoryEventLog implements EventLog {
  readonly kind = 'memory';
  // seq = index + 1: no gaps, so a read starts by index
  private readonly rows: Row[] = [];
  private events = 0;
  private readonly followers = new Set<LogFollower>();
  private closing: Promise<void> | null = null;

  async append(records: readonly LogRecord[], received?: number): Promise<LogEntry[]> {
    this.check();
    const at = receivedArg(received);
    const prepared = prepareRecords(records);
    // validated whole before the first push: all or none
    const out = new Array<LogEntry>(prepared.length);
    for (let i = 0; i < prepared.length; i++) {
      const row: Row = { seq: this.rows.length + 1, received: at, ...prepared[i] };
      this.rows.push(row);
      if (row.kind === 'event') this.events++;
      out[i] = decodeRow(row);
    }
    if (out.length > 0) for (const f of this.followers) f.poke();
    return out;
  }

  async read(after: number, limit = 10_000): Promise<LogEntry[]> {
    this.check();
    return this.readRows(checkNumberArg(after, 'after'), checkCountArg(limit, 'limit'));
  }

  scan(after: number, batch = DEFAULT_SCAN_BATCH): AsyncIterable<LogEntry[]> {
    this.check();
    checkNumberArg(after, 'after');
    checkCountArg(batch, 'batch');
    return scanPages((a, n) => this.read(a, n), () => this.lastSeq(), after, batch);
  }

  async lastSeq(): Promise<number> {
    this.check();
    return this.rows.length;
  }

  async seqBefore(received: number): Promise<number> {
    this.check();
    checkNumberArg(received, 'received');
    // from the end: a replay usually starts near it
    for (let i = this.rows.length - 1; i >= 0; i--) if (this.rows[i].received < received) return this.rows[i].seq;
    return 0;
  }

  follow(after: number, onEntries: (entries: LogEntry[]) => void | Promise<void>, opts?: FollowOptions): Follower {
    this.check();
    const o = checkFollowArgs(after, onEntries, opts);
    const f = new LogFollower((a, n) => this.readRows(a, n), after, onEntries, o, (x) => this.followers.delete(x));
    this.followers.add(f);
    return f;
  }

  async counts(): Promise<{ events: number; entries: number }> {
    this.check();
    return { events: this.events, entries: this.rows.length };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(Array.from(this.followers, (f) => f.stop()));
      this.rows.length = 0;
    })();
    return this.closing;
  }

  /** Followers read here: they keep reading while close() waits for them. */
  private async readRows(after: number, limit: number): Promise<LogEntry[]> {
    const start = Math.min(this.rows.length, Math.max(0, Math.floor(after)));
    const end = Math.min(this.rows.length, start + limit);
    const out = new Array<LogEntry>(end - start);
    for (let i = start; i < end; i++) out[i - start] = decodeRow(this.rows[i]);
    return out;
  }

  private check(): void {
    if (this.closing) throw new StoreError('closed', 'the memory event log is closed');
  }
}
