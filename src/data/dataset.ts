import type { EventTypeSpec, FeatureKind, FeatureSpec } from './schema.ts';
import { Vocabulary } from './vocabulary.ts';

/**
 * Columnar feature storage, one row per entity (row index = the entity's dense index).
 * Missing values: -1 codes, NaN numbers, empty bags, a NaN-filled vector row.
 */
export type FeatureColumn =
  | { kind: 'categorical' | 'id'; name: string; vocab: Vocabulary; codes: Int32Array }
  | { kind: 'multi-categorical' | 'text'; name: string; vocab: Vocabulary; offsets: Int32Array; codes: Int32Array }
  | { kind: 'numeric'; name: string; values: Float64Array }
  | { kind: 'vector'; name: string; dim: number; values: Float32Array };

/** Users or items: their id vocabulary and feature columns, all of length `ids.size`. */
export class EntityTable {
  constructor(
    readonly ids: Vocabulary,
    readonly columns: readonly FeatureColumn[],
  ) {
    for (const c of columns) {
      const n = columnLength(c);
      if (n !== ids.size) throw new Error(`EntityTable: column '${c.name}' has ${n} rows, expected ${ids.size}`);
    }
  }

  get size(): number {
    return this.ids.size;
  }

  column(name: string): FeatureColumn | undefined {
    return this.columns.find((c) => c.name === name);
  }

  specs(): FeatureSpec[] {
    return this.columns.map((c) => (c.kind === 'vector' ? { name: c.name, kind: c.kind, dim: c.dim } : { name: c.name, kind: c.kind }));
  }
}

export function columnLength(c: FeatureColumn): number {
  switch (c.kind) {
    case 'categorical':
    case 'id':
      return c.codes.length;
    case 'multi-categorical':
    case 'text':
      return c.offsets.length - 1;
    case 'numeric':
      return c.values.length;
    case 'vector':
      return c.values.length / c.dim;
  }
}

/** The interaction log as parallel typed arrays. Row r: user[r] did event[r] on item[r] at timestamp[r]. */
export interface Interactions {
  readonly length: number;
  readonly user: Int32Array;
  readonly item: Int32Array;
  /** Index into the dataset's eventTypes. */
  readonly event: Uint8Array;
  /** Weight, rating or price paid; 1 when the source has none. */
  readonly value: Float32Array;
  /** Seconds since the Unix epoch; when the dataset's `timeKind` is 'order', the event's position within its user (0, 1, 2, ...). */
  readonly timestamp: Float64Array;
}

export function emptyInteractions(n: number): Interactions {
  return {
    length: n,
    user: new Int32Array(n),
    item: new Int32Array(n),
    event: new Uint8Array(n),
    value: new Float32Array(n),
    timestamp: new Float64Array(n),
  };
}

/** The rows of `x` at `rows`, in that order. */
export function selectInteractions(x: Interactions, rows: ArrayLike<number>): Interactions {
  const out = emptyInteractions(rows.length);
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    out.user[k] = x.user[r];
    out.item[k] = x.item[r];
    out.event[k] = x.event[r];
    out.value[k] = x.value[r];
    out.timestamp[k] = x.timestamp[r];
  }
  return out;
}

/** Per-user rows in CSR form: rows of user u are `rows[offsets[u] .. offsets[u+1])`, ordered by (time, item). */
export interface UserIndex {
  offsets: Int32Array;
  rows: Int32Array;
}

/**
 * Rows of `x` grouped by user in CSR form, each group ordered by (timestamp, item, row), where items
 * compare by `itemOrder[item]` when given (e.g. the rank of the original id), else by index.
 */
export function groupByUser(x: Interactions, numUsers: number, itemOrder?: ArrayLike<number>): UserIndex {
  const offsets = new Int32Array(numUsers + 1);
  for (let r = 0; r < x.length; r++) offsets[x.user[r] + 1]++;
  for (let u = 0; u < numUsers; u++) offsets[u + 1] += offsets[u];
  const fill = offsets.slice(0, numUsers);
  const rows = new Int32Array(x.length);
  for (let r = 0; r < x.length; r++) rows[fill[x.user[r]]++] = r;
  const ts = x.timestamp;
  const it = x.item;
  const cmp = itemOrder
    ? (a: number, b: number): number => ts[a] - ts[b] || itemOrder[it[a]] - itemOrder[it[b]] || a - b
    : (a: number, b: number): number => ts[a] - ts[b] || it[a] - it[b] || a - b;
  for (let u = 0; u < numUsers; u++) {
    if (offsets[u + 1] - offsets[u] > 1) rows.subarray(offsets[u], offsets[u + 1]).sort(cmp);
  }
  return { offsets, rows };
}

/**
 * What an interaction's timestamp measures: 'seconds' since the Unix epoch, or 'order', the event's
 * position within its user (sequence logs that know no time). Under 'order' a timestamp compares only
 * with the same user's, and a difference of timestamps is a count of events, not seconds: anything
 * measured in days (recency windows, days since) does not apply.
 */
export type TimeKind = 'seconds' | 'order';

/**
 * Who a request is for: a known user's dense index (-1 for a user the data does not hold) and the
 * recent history, item indices oldest first, with each event's signed weight (its type's weight,
 * negated for negative feedback) and timestamp in seconds. Every layer that reads a history (sources,
 * ranker features, the evaluation protocol) takes this one shape.
 */
export interface UserQuery {
  user: number;
  history: Int32Array;
  weights?: Float32Array;
  timestamps?: Float64Array;
}

/**
 * A dataset: user and item tables plus an interaction log that refers to them by dense index.
 * Train and test sides of a split share the same tables (same vocabularies), so indices agree.
 */
export class Dataset {
  private byUserCache: UserIndex | undefined;

  constructor(
    readonly users: EntityTable,
    readonly items: EntityTable,
    readonly interactions: Interactions,
    readonly eventTypes: readonly EventTypeSpec[],
    readonly name = 'dataset',
    /** What the timestamps measure; read it before treating a timestamp difference as time. */
    readonly timeKind: TimeKind = 'seconds',
  ) {
    if (eventTypes.length === 0) throw new Error('Dataset: at least one event type is required');
    if (eventTypes.length > 255) throw new Error('Dataset: at most 255 event types');
  }

  get numUsers(): number {
    return this.users.size;
  }

  get numItems(): number {
    return this.items.size;
  }

  /** Same tables, another interaction log (a split side). */
  withInteractions(x: Interactions, name = this.name): Dataset {
    return new Dataset(this.users, this.items, x, this.eventTypes, name, this.timeKind);
  }

  /** Interaction rows grouped by user, each group ordered by (timestamp, item index). Cached. */
  byUser(): UserIndex {
    this.byUserCache ??= groupByUser(this.interactions, this.numUsers);
    return this.byUserCache;
  }

  /**
   * User `u`'s history in this dataset, ordered as `byUser()`: items, each event's weight (its type's
   * weight, negated for negative feedback) and timestamp.
   * @example const { history, weights } = train.userHistory(0);
   */
  userHistory(u: number): { history: Int32Array; weights: Float32Array; timestamps: Float64Array } {
    if (!(u >= 0 && u < this.numUsers)) return { history: new Int32Array(0), weights: new Float32Array(0), timestamps: new Float64Array(0) };
    const { offsets, rows } = this.byUser();
    const a = offsets[u];
    const b = offsets[u + 1];
    const x = this.interactions;
    const history = new Int32Array(b - a);
    const weights = new Float32Array(b - a);
    const timestamps = new Float64Array(b - a);
    for (let k = a; k < b; k++) {
      const r = rows[k];
      const e = this.eventTypes[x.event[r]];
      history[k - a] = x.item[r];
      weights[k - a] = e.negative ? -e.weight : e.weight;
      timestamps[k - a] = x.timestamp[r];
    }
    return { history, weights, timestamps };
  }

  /**
   * The query of known user `u`: their whole history here, as `userHistory`.
   * @example const q = train.query(0); source.candidates(q, 100, new Set(q.history));
   */
  query(u: number): UserQuery {
    return { user: u, ...this.userHistory(u) };
  }

  /** Number of interactions per item. */
  itemCounts(): Int32Array {
    const c = new Int32Array(this.numItems);
    const it = this.interactions.item;
    for (let r = 0; r < it.length; r++) c[it[r]]++;
    return c;
  }

  /** Counts for a summary line or the evaluate JSON. */
  summary(): { users: number; items: number; interactions: number; activeUsers: number; activeItems: number; timeKind: TimeKind } {
    const x = this.interactions;
    const seenU = new Uint8Array(this.numUsers);
    const seenI = new Uint8Array(this.numItems);
    let au = 0;
    let ai = 0;
    for (let r = 0; r < x.length; r++) {
      if (!seenU[x.user[r]]) {
        seenU[x.user[r]] = 1;
        au++;
      }
      if (!seenI[x.item[r]]) {
        seenI[x.item[r]] = 1;
        ai++;
      }
    }
    return { users: this.numUsers, items: this.numItems, interactions: x.length, activeUsers: au, activeItems: ai, timeKind: this.timeKind };
  }
}

export type { FeatureKind };
