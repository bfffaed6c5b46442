/**
 * The store contract: the durable log (EventLog) and the state derived from it (LiveState). Every
 * method returns a promise so that networked backends (PostgreSQL, Redis) fit behind the same
 * interfaces as the embedded ones (SQLite, memory); one conformance suite (suite.ts) holds them all.
 */

/**
 * What a client logs. Catalog and user changes share one sequence with events. An event may name the
 * exposure it answers (`exposureId`); an `exposure` is what an experiment showed a user: its items in
 * position order and, for an interleaved list, which team (0 or 1) each position came from.
 */
export type LogRecord =
  | { kind: 'event'; user: string; item: string; type: string; value: number; timestamp: number; exposureId?: string }
  | { kind: 'exposure'; id: string; user: string; experiment: string; arm: string; items: string[]; teams?: number[]; timestamp: number }
  | { kind: 'item'; item: string; features: Record<string, unknown> }
  | { kind: 'delete-item'; item: string }
  | { kind: 'user'; user: string; features: Record<string, unknown> };

export type LogRecordKind = LogRecord['kind'];

/** A stored record: its sequence number (strictly increasing, gaps allowed) and receive time (seconds). */
export type LogEntry = LogRecord & { seq: number; received: number };

/** How a follower reports a failure and how much it reads at a time. */
export interface FollowOptions {
  /** Entries read (and delivered) at most per call (default 1000). */
  batch?: number;
  /**
   * Called once when delivery stops on an error (the callback threw or a read failed); `position`
   * still names the last entry delivered, so `follow(position, ...)` resumes without a gap.
   * Without it the error is rethrown as an uncaught exception: a follower never fails silently.
   */
  onError?: (error: unknown, follower: Follower) => void;
}

export interface Follower {
  /** Resolves once delivery has stopped (no call after it resolves). Do not await it inside the callback. */
  stop(): Promise<void>;
  /** The seq of the last entry delivered (the `after` it started from until the first delivery). */
  readonly position: number;
}

/**
 * The append-only, durable log of everything the service learns after training.
 * @example
 *   const log = await openEventLog('sqlite:events.db');
 *   const [e] = await log.append([{ kind: 'event', user: 'u1', item: 'i9', type: 'click', value: 1, timestamp: 1.7e9 }]);
 *   const f = log.follow(e.seq - 1, (entries) => live.apply(entries));
 */
export interface EventLog {
  /** 'sqlite' | 'memory' | 'postgres'. */
  readonly kind: string;
  /**
   * Appends a batch atomically (all or none), durably, before resolving. Validates every record first
   * (a bad record rejects the whole batch with a StoreError naming `records[i].field`). Returns the
   * entries as stored (copies: later changes to `records` do not reach the log).
   */
  append(records: readonly LogRecord[], received?: number): Promise<LogEntry[]>;
  /** Entries with seq > after, in seq order, at most `limit` (default 10_000). */
  read(after: number, limit?: number): Promise<LogEntry[]>;
  /**
   * Every entry with seq > after, in seq order, in batches of at most `batch` (default 1000), with
   * constant memory (for replays and retraining). Ends at the last entry stored when the scan began,
   * so it terminates under a steady write load; `follow` from there takes over.
   */
  scan(after: number, batch?: number): AsyncIterable<LogEntry[]>;
  /** Highest stored seq, 0 when empty. */
  lastSeq(): Promise<number>;
  /** Highest seq of an entry received strictly before `received` (0 if none): where a replay from a time starts. */
  seqBefore(received: number): Promise<number>;
  /**
   * Calls `onEntries` with every entry after `after`, in order, without gaps or repeats, as they are
   * appended (by this process or, for shared backends, another one); the next call waits for the
   * previous promise.
   */
  follow(after: number, onEntries: (entries: LogEntry[]) => void | Promise<void>, opts?: FollowOptions): Follower;
  /** Counts of stored events (kind 'event') and of all entries. */
  counts(): Promise<{ events: number; entries: number }>;
  /** Stops every follower (waiting for calls in flight), then releases the storage. Idempotent. */
  close(): Promise<void>;
}

/** One event as live state keeps it (raw: the engine turns type into a weight with the model's event types). */
export interface LiveEvent {
  seq: number;
  item: string;
  type: string;
  value: number;
  timestamp: number;
}

export interface LiveUser {
  /** Oldest first (log order), at most the latest `maxEventsPerUser`. */
  events: LiveEvent[];
  /** Latest upserted features, or null. */
  features: Record<string, unknown> | null;
}

export interface CatalogChange {
  item: string;
  /** The seq of the item's latest change. */
  seq: number;
  deleted: boolean;
  /** The upserted features; null when deleted. */
  features: Record<string, unknown> | null;
}

/**
 * State read on every request, derived from the log: recent histories, user features, catalog
 * changes. Results are snapshots to read, not to change (the memory backend freezes shared parts).
 * @example
 *   const live = await openLiveState('memory', { maxEventsPerUser: 500 });
 *   await live.apply(await log.read(await live.position()));
 *   const u = await live.user('u1'); // { events: [...oldest first], features }
 */
export interface LiveState {
  /** 'memory' | 'redis'. */
  readonly kind: string;
  /**
   * Applies log entries in seq order. Idempotent: an entry at or below the applied position is ignored.
   * A shared backend rejects with a 'stale' StoreError when the state was reset (flushed, or cleared by
   * another handle) since this handle last read `position()`: read it again and apply from there.
   */
  apply(entries: readonly LogEntry[]): Promise<void>;
  /**
   * Highest seq applied (0 initially, and 0 again after the state was lost: rebuild by replaying the log).
   * Entries applied next must follow it: a shared backend takes the state as it stands at this call.
   */
  position(): Promise<number>;
  /** A user's live events and features, or null when nothing was logged for them. */
  user(id: string): Promise<LiveUser | null>;
  /** Many users at once (same order; null where none): one round trip for networked backends. */
  users(ids: readonly string[]): Promise<(LiveUser | null)[]>;
  /** The current state of every item changed through the log (last change wins), in seq order of that change. */
  catalog(): Promise<CatalogChange[]>;
  /**
   * Per item, the number of events applied for it by event type (`{ view: 12, buy: 1 }`; `{}` for none),
   * in the order asked: every event since the state began, not capped like the user histories.
   * One round trip for networked backends.
   */
  itemCounts(items: readonly string[]): Promise<Record<string, number>[]>;
  /** Counts for metrics: users with anything logged, events held (after the cap), items in `catalog()`. */
  stats(): Promise<{ users: number; events: number; items: number }>;
  /** Forgets everything, position included (rebuilt by replaying the log). */
  clear(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Why a store call failed: 'invalid' (a bad argument or record; `field` names it, e.g.
 * `records[3].timestamp`), 'closed' (the store was closed), 'url' (openEventLog/openLiveState could not
 * use the URL), 'storage' (the backend refused: a corrupt row, a journal mode it cannot set),
 * 'unavailable' (a networked backend cannot be reached now: refused, timed out, dropped; worth a retry),
 * 'stale' (a shared live state was reset since this handle read its position: read `position()` again).
 * A service maps 'invalid' to 400, 'unavailable' to 503 and the rest to 500.
 */
export type StoreErrorCode = 'invalid' | 'closed' | 'url' | 'storage' | 'unavailable' | 'stale';

/**
 * @example throw new StoreError('invalid', 'must be a finite number', 'records[3].timestamp')
 *   // message: "records[3].timestamp: must be a finite number"
 */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    /** The message without the field prefix. */
    readonly detail: string,
    /** The argument or record field at fault, when there is one. */
    readonly field?: string,
    /** The backend's own error, for 'storage'. */
    cause?: unknown,
  ) {
    super(field === undefined ? detail : `${field}: ${detail}`, cause === undefined ? undefined : { cause });
  }
}
