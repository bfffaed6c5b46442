import type { Dataset } from '../data/index.ts';

/** Items with scores, best first: parallel arrays of equal length. */
export interface ScoredItems {
  items: Int32Array;
  scores: Float32Array;
}

/**
 * Who to recommend for: a known user's dense index (or -1 for a new one) and the recent history,
 * item indices oldest first, with optional per-event weights and timestamps (seconds).
 */
export interface UserQuery {
  user: number;
  history: Int32Array;
  weights?: Float32Array;
  timestamps?: Float64Array;
}

/**
 * A source of L1 candidates: popularity, item-to-item, the two-tower. Every source has the same
 * small surface, so pipelines merge them and the evaluation harness scores any of them.
 */
export interface CandidateSource {
  readonly name: string;
  /** Learns from the training interactions. */
  fit(train: Dataset): void | Promise<void>;
  /** The query's top `n` items by this source's score, best first, never an item in `exclude`. */
  candidates(query: UserQuery, n: number, exclude?: ReadonlySet<number>): ScoredItems;
  /** Writes the fitted state into `dir` (created by the caller). */
  save(dir: string): Promise<void>;
}

/**
 * The query for known user `u` of `ds`: their whole history in `ds`, ordered by (time, item), with
 * each event's weight (its type's weight, negated for negative feedback) and timestamp.
 */
export function userQuery(ds: Dataset, u: number): UserQuery {
  return { user: u, ...ds.userHistory(u) };
}
