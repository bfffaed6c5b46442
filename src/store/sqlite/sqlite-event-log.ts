/**
 * The embedded durable EventLog: one SQLite file (better-sqlite3) in WAL mode with synchronous=FULL,
 * one transaction per batch, committed before `append` resolves. The table is the one the service's
 * event store has always written (`log`), so an existing tandem-events.db opens as it is.
 *
 * Followers wake at once on this handle's appends and poll `PRAGMA data_version` (which moves only when
 * another connection commits) for appends by other processes: one unref'd timer per handle, running
 * while it has followers.
 */
import { createRequire } from 'node:module';
import { LogFollower, checkFollowArgs, scanPages, DEFAULT_SCAN_BATCH } from '../follow.ts';
import type { EventLog, FollowOptions, Follower, LogEntry, LogRecord } from '../types.ts';
import { StoreError } from '../types.ts';
import { checkCountArg, checkNumberArg, decodeRow, prepareRecords, receivedArg, type PreparedRecord, type Row } from '../validate.ts';

const require = createRequire(import.meta.url);

// The few better-sqlite3 calls used here (the package ships no types).
interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface Transaction<A extends unknown[], R> {
  (...args: A): R;
  /** BEGIN IMMEDIATE: takes the write lock up front (waiting up to the busy timeout) instead of failing on upgrade. */
  immediate(...args: A): R;
}
interface Database {
  prepare(sql: string): Statement;
  pragma(sql: string, opts?: { simple?: boolean }): unknown;
  exec(sql: string): void;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): Transaction<A, R>;
  close(): void;
}
type DatabaseCtor = new (file: string, opts?: { timeout?: number }) => Database;

export interface SqliteEventLogOptions {
  /** How often followers look for appends by other processes, in ms (default 200). */
  pollMs?: number;
  /** How long a write waits for another process's write lock before failing, in ms (default 5000). */
  busyTimeoutMs?: number;
}

export const SQLITE_DEFAULTS: Required<SqliteEventLogOptions> = { pollMs: 200, busyTimeoutMs: 5000 };

const SYNCHRONOUS = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];
const COLUMNS = 'seq, received, kind, user, item, type, value, ts, features';

/**
 * @example
 *   const log = new SqliteEventLog('events.db');           // or ':memory:' for a throwaway one
 *   await log.append([{ kind: 'delete-item', item: 'i7' }]); // on disk when this resolves
 */
export class SqliteEventLog implements EventLog {
  readonly kind = 'sqlite';
  private readonly db: Database;
  private readonly opts: Required<SqliteEventLogOptions>;
  private readonly insert: Statement;
  private readonly insertBatch: Transaction<[readonly PreparedRecord[], number], number[]>;
  private readonly selectAfter: Statement;
  private readonly selectLast: Statement;
  private readonly selectBefore: Statement;
  private readonly selectCounts: Statement;
  private readonly followers = new Set<LogFollower>();
  private timer: NodeJS.Timeout | null = null;
  private dataVersion = 0;
  // counts so far: the log is append-only and SQLite commits one writer at a time, so rows above
  // `countedTo` are exactly the ones not yet counted
  private counted = { to: 0, events: 0, entries: 0 };
  private closing: Promise<void> | null = null;

  /** Opens (creating when needed) the log at `file`; ':memory:' for one that lives as long as this handle. */
  constructor(
    readonly file: string,
    opts: SqliteEventLogOptions = {},
  ) {
    if (typeof file !== 'string' || file.length === 0) throw new StoreError('invalid', 'must be a non-empty path (or ":memory:")', 'file');
    // `?? default` per field: an explicit undefined (as openEventLog passes) keeps the default
    this.opts = { pollMs: opts.pollMs ?? SQLITE_DEFAULTS.pollMs, busyTimeoutMs: opts.busyTimeoutMs ?? SQLITE_DEFAULTS.busyTimeoutMs };
    for (const k of ['pollMs', 'busyTimeoutMs'] as const) {
      const v = this.opts[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 1) throw new StoreError('invalid', `must be a number of milliseconds >= 1 (got ${v})`, `opts.${k}`);
    }
    const Ctor = require('better-sqlite3') as DatabaseCtor;
    this.db = new Ctor(file, { timeout: this.opts.busyTimeoutMs });
    try {
      const mode = this.db.pragma('journal_mode = WAL', { simple: true });
      // a file system without shared memory (some network mounts) refuses WAL: say so rather than run unsafely
      if (file !== ':memory:' && mode !== 'wal') throw new StoreError('storage', `${file}: SQLite refused WAL journaling (journal_mode is '${String(mode)}')`);
      // FULL: a commit is on disk before append resolves, even across power loss
      this.db.pragma('synchronous = FULL');
      this.db.exec(`CREATE TABLE IF NOT EXISTS log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        received REAL NOT NULL,
        kind TEXT NOT NULL,
        user TEXT, item TEXT, type TEXT, value REAL, ts REAL, features TEXT
      );`);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.insert = this.db.prepare('INSERT INTO log (received, kind, user, item, type, value, ts, features) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.insertBatch = this.db.transaction((rows: readonly PreparedRecord[], received: number) => {
      const seqs = new Array<number>(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        seqs[i] = Number(this.insert.run(received, r.kind, r.user, r.item, r.type, r.value, r.ts, r.features).lastInsertRowid);
      }
      return seqs;
    });
    this.selectAfter = this.db.prepare(`SELECT ${COLUMNS} FROM log WHERE seq > ? ORDER BY seq LIMIT ?`);
    this.selectLast = this.db.prepare('SELECT max(seq) AS s FROM log');
    // walks back from the newest row (the unary + keeps SQLite off any index on received): a replay
    // starts near the end, so this reads about as many rows as the replay will
    this.selectBefore = this.db.prepare('SELECT seq FROM log WHERE +received < ? ORDER BY seq DESC LIMIT 1');
    this.selectCounts = this.db.prepare("SELECT count(*) AS entries, coalesce(sum(kind = 'event'), 0) AS events, max(seq) AS last FROM log WHERE seq > ?");
  }

  async append(records: readonly LogRecord[], received?: number): Promise<LogEntry[]> {
    this.check();
    const at = receivedArg(received);
    const rows = prepareRecords(records);
    if (rows.length === 0) return [];
    let seqs: number[];
    try {
      seqs = this.insertBatch.immediate(rows, at);
    } catch (err) {
      // rolled back: nothing of the batch is stored (a full disk, a lock held past the busy timeout)
      throw new StoreError('storage', `${this.file}: append of ${rows.length} records failed and was rolled back: ${(err as Error).message}`, undefined, err);
    }
    for (const f of this.followers) f.poke();
    const out = new Array<LogEntry>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = decodeRow({ seq: seqs[i], received: at, ...rows[i] });
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
    return (this.selectLast.get() as { s: number | null }).s ?? 0;
  }

  async seqBefore(received: number): Promise<number> {
    this.check();
    const r = this.selectBefore.get(checkNumberArg(received, 'received')) as { seq: number } | undefined;
    return r?.seq ?? 0;
  }

  follow(after: number, onEntries: (entries: LogEntry[]) => void | Promise<void>, opts?: FollowOptions): Follower {
    this.check();
    const o = checkFollowArgs(after, onEntries, opts);
    const f = new LogFollower((a, n) => this.readRows(a, n), after, onEntries, o, (x) => this.dropFollower(x));
    this.followers.add(f);
    this.startPolling();
    return f;
  }

  async counts(): Promise<{ events: number; entries: number }> {
    this.check();
    const c = this.counted;
    const r = this.selectCounts.get(c.to) as { entries: number; events: number; last: number | null };
    if (r.last !== null) this.counted = { to: r.last, events: c.events + r.events, entries: c.entries + r.entries };
    return { events: this.counted.events, entries: this.counted.entries };
  }

  /**
   * The settings that make appends durable, read back from SQLite (for a startup log or a health check).
   * @example log.durability() // { journalMode: 'wal', synchronous: 'FULL' }
   */
  durability(): { journalMode: string; synchronous: string } {
    this.check();
    const journalMode = String(this.db.pragma('journal_mode', { simple: true }));
    const synchronous = SYNCHRONOUS[Number(this.db.pragma('synchronous', { simple: true }))] ?? 'unknown';
    return { journalMode, synchronous };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(Array.from(this.followers, (f) => f.stop()));
      this.stopPolling();
      this.db.close();
    })();
    return this.closing;
  }

  /** Followers read here: they keep reading while close() waits for them. */
  private async readRows(after: number, limit: number): Promise<LogEntry[]> {
    const rows = this.selectAfter.all(after, limit) as Row[];
    const out = new Array<LogEntry>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = decodeRow(rows[i]);
    return out;
  }

  private startPolling(): void {
    // nobody else can write to a private in-memory database
    if (this.timer !== null || this.file === ':memory:') return;
    this.dataVersion = this.readDataVersion();
    this.timer = setInterval(() => this.poll(), this.opts.pollMs);
    // a follower alone must not keep the process alive
    this.timer.unref();
  }

  private poll(): void {
    const v = this.readDataVersion();
    if (v === this.dataVersion) return;
    this.dataVersion = v;
    for (const f of this.followers) f.poke();
  }

  private readDataVersion(): number {
    return Number(this.db.pragma('data_version', { simple: true }));
  }

  private dropFollower(f: LogFollower): void {
    this.followers.delete(f);
    if (this.followers.size === 0) this.stopPolling();
  }

  private stopPolling(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private check(): void {
    if (this.closing) throw new StoreError('closed', `the SQLite event log ${this.file} is closed`);
  }
}
