/**
 * The durable log of everything the service learned after its model was trained: events, item
 * upserts and deletions, user upserts. SQLite (better-sqlite3) in WAL mode; one transaction per batch,
 * committed before the HTTP reply. On start and on reload the log since the model's creation is
 * replayed into the new Recommender, in order.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// The few better-sqlite3 calls used here (the package ships no types).
interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  iterate(...params: unknown[]): IterableIterator<unknown>;
}
interface Database {
  prepare(sql: string): Statement;
  pragma(sql: string, opts?: { simple?: boolean }): unknown;
  exec(sql: string): void;
  transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
  close(): void;
}
type DatabaseCtor = new (file: string) => Database;

/** One row of the log. `kind` says which fields are set. */
export type LogEntry =
  | { seq: number; received: number; kind: 'event'; user: string; item: string; type: string; value: number; timestamp: number }
  | { seq: number; received: number; kind: 'item'; item: string; features: Record<string, unknown> }
  | { seq: number; received: number; kind: 'delete-item'; item: string }
  | { seq: number; received: number; kind: 'user'; user: string; features: Record<string, unknown> };

export interface StoredEvent {
  user: string;
  item: string;
  type: string;
  value: number;
  timestamp: number;
}

interface Row {
  seq: number;
  received: number;
  kind: string;
  user: string | null;
  item: string | null;
  type: string | null;
  value: number | null;
  ts: number | null;
  features: string | null;
}

/**
 * @example const store = new EventStore('events.db'); store.appendEvents([{ user: '42', item: '50', type: 'click', value: 1, timestamp: 1.7e9 }]);
 */
export class EventStore {
  private readonly db: Database;
  private readonly insert: Statement;
  private readonly insertMany: (events: readonly StoredEvent[], received: number) => void;

  /** Opens (creating when needed) the store at `file` (':memory:' for a throwaway one). */
  constructor(readonly file: string) {
    const Ctor = require('better-sqlite3') as DatabaseCtor;
    this.db = new Ctor(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before the reply, even across power loss
    this.db.pragma('synchronous = FULL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS log (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      received REAL NOT NULL,
      kind TEXT NOT NULL,
      user TEXT, item TEXT, type TEXT, value REAL, ts REAL, features TEXT
    );
    CREATE INDEX IF NOT EXISTS log_received ON log(received);`);
    this.insert = this.db.prepare('INSERT INTO log (received, kind, user, item, type, value, ts, features) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.insertMany = this.db.transaction((events: readonly StoredEvent[], received: number) => {
      for (const e of events) this.insert.run(received, 'event', e.user, e.item, e.type, e.value, e.timestamp, null);
    });
  }

  /** Stores a batch of events in one transaction: all or none. */
  appendEvents(events: readonly StoredEvent[], received = Date.now() / 1000): void {
    this.insertMany(events, received);
  }

  appendItem(item: string, features: Record<string, unknown>, received = Date.now() / 1000): void {
    this.insert.run(received, 'item', null, item, null, null, null, JSON.stringify(features));
  }

  appendItemDelete(item: string, received = Date.now() / 1000): void {
    this.insert.run(received, 'delete-item', null, item, null, null, null, null);
  }

  appendUser(user: string, features: Record<string, unknown>, received = Date.now() / 1000): void {
    this.insert.run(received, 'user', user, null, null, null, null, JSON.stringify(features));
  }

  /** Number of stored events (not counting catalog changes). */
  countEvents(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM log WHERE kind = 'event'").get() as { n: number }).n;
  }

  /** Every entry received at or after `since` (seconds), in the order they were stored. */
  *since(since: number): Generator<LogEntry> {
    for (const r of this.db.prepare('SELECT * FROM log WHERE received >= ? ORDER BY seq').iterate(since) as IterableIterator<Row>) {
      switch (r.kind) {
        case 'event':
          yield { seq: r.seq, received: r.received, kind: 'event', user: r.user!, item: r.item!, type: r.type!, value: r.value!, timestamp: r.ts! };
          break;
        case 'item':
          yield { seq: r.seq, received: r.received, kind: 'item', item: r.item!, features: JSON.parse(r.features ?? '{}') };
          break;
        case 'delete-item':
          yield { seq: r.seq, received: r.received, kind: 'delete-item', item: r.item! };
          break;
        case 'user':
          yield { seq: r.seq, received: r.received, kind: 'user', user: r.user!, features: JSON.parse(r.features ?? '{}') };
          break;
      }
    }
  }

  close(): void {
    this.db.close();
  }
}
