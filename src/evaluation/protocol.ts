/**
 * The offline protocol every figure is quoted under: for each user with at least one relevant test
 * item, rank every catalog item except the user's training items, and score the top of that ranking
 * against the user's test items.
 *
 * Relevant test items: the distinct items of the user's positive (non-negative event type) test
 * interactions that are not among the user's training items (those cannot be recommended).
 */
import type { Dataset, UserQuery } from '../data/index.ts';
import { aucOfScores, MetricAccumulator } from './metrics.ts';

/** Returns up to `n` item indices, best first, none of them in `exclude`. */
export type Recommender = (query: UserQuery, n: number, exclude: ReadonlySet<number>) => Int32Array;

/** Returns a score for every catalog item (higher is better); used for AUC. */
export type Scorer = (query: UserQuery) => ArrayLike<number>;

export interface EvaluateOptions {
  /** Cutoffs; the recommender is asked for max(ks) items. Default [10, 20, 50, 100]. */
  ks?: readonly number[];
  /** Evaluate at most this many users (a seeded sample) when set: for quick validation runs. */
  maxUsers?: number;
  seed?: number;
  /** When given, per-user AUC over the full catalog is reported as `auc`. */
  scorer?: Scorer;
  /** Called with (done, total) before the first user, every hundred users, and after the last. */
  progress?: (done: number, total: number) => void;
}

export interface EvaluationResult {
  /** `ndcg@10`, `recall@100`, ..., `coverage@10`, and `auc` when a scorer was given. */
  metrics: Record<string, number>;
  /** Users averaged over (those with at least one relevant test item). */
  users: number;
  /** Relevant test items over those users. */
  relevant: number;
  seconds: number;
}

export const DEFAULT_KS: readonly number[] = [10, 20, 50, 100];

/**
 * For each user: the distinct relevant test items (CSR), and how many users have any.
 * Train and test must share their tables (two sides of one split).
 */
export function relevantTestItems(train: Dataset, test: Dataset): { offsets: Int32Array; items: Int32Array; users: number } {
  if (train.items !== test.items || train.users !== test.users) {
    throw new Error('evaluate: train and test must be two sides of one dataset (the same user and item tables)');
  }
  const nu = train.numUsers;
  const inTrain = new Int32Array(train.numItems).fill(-1);
  const seen = new Int32Array(train.numItems).fill(-1);
  const tr = train.byUser();
  const te = test.byUser();
  const offsets = new Int32Array(nu + 1);
  const out: number[] = [];
  let users = 0;
  for (let u = 0; u < nu; u++) {
    for (let k = tr.offsets[u]; k < tr.offsets[u + 1]; k++) inTrain[train.interactions.item[tr.rows[k]]] = u;
    const start = out.length;
    for (let k = te.offsets[u]; k < te.offsets[u + 1]; k++) {
      const r = te.rows[k];
      const it = test.interactions.item[r];
      if (test.eventTypes[test.interactions.event[r]].negative) continue;
      if (inTrain[it] === u || seen[it] === u) continue;
      seen[it] = u;
      out.push(it);
    }
    offsets[u + 1] = out.length;
    if (out.length > start) users++;
  }
  return { offsets, items: Int32Array.from(out), users };
}

/**
 * Scores `recommend` on `test` under the full-ranking protocol.
 * @example const r = evaluateRecommender(train, test, (q, n, ex) => pop.candidates(q, n, ex).items); r.metrics['ndcg@10']
 */
export function evaluateRecommender(train: Dataset, test: Dataset, recommend: Recommender, options: EvaluateOptions = {}): EvaluationResult {
  const t0 = performance.now();
  const ks = options.ks ?? DEFAULT_KS;
  const ni = train.numItems;
  const acc = new MetricAccumulator(ni, ks);
  const maxK = acc.maxK;
  const rel = relevantTestItems(train, test);
  let users: Int32Array = new Int32Array(rel.users);
  for (let u = 0, j = 0; u < train.numUsers; u++) if (rel.offsets[u + 1] > rel.offsets[u]) users[j++] = u;
  if (options.maxUsers !== undefined && options.maxUsers < users.length) users = sampleSorted(users, options.maxUsers, options.seed ?? 1);
  const relevant = new Uint8Array(ni);
  const excluded = new Uint8Array(ni);
  // distinct-output check without clearing: stamp[item] === user+1 means seen in this user's list
  const stamp = new Int32Array(ni);
  let nRelevantTotal = 0;
  options.progress?.(0, users.length);
  for (let j = 0; j < users.length; j++) {
    const u = users[j];
    const q = train.query(u);
    const exclude = new Set<number>();
    for (let k = 0; k < q.history.length; k++) {
      exclude.add(q.history[k]);
      excluded[q.history[k]] = 1;
    }
    const a = rel.offsets[u];
    const b = rel.offsets[u + 1];
    for (let k = a; k < b; k++) relevant[rel.items[k]] = 1;
    const ranked = recommend(q, maxK, exclude);
    for (let i = 0; i < ranked.length; i++) {
      const it = ranked[i];
      if (!(it >= 0 && it < ni) || !Number.isInteger(it)) throw new Error(`evaluate: the recommender returned item ${it} for user ${u}; the catalog has ${ni} items`);
      if (excluded[it] !== 0) throw new Error(`evaluate: the recommender returned item ${it} for user ${u}, one of the user's training items`);
      if (stamp[it] === u + 1) throw new Error(`evaluate: the recommender returned item ${it} twice for user ${u}`);
      stamp[it] = u + 1;
    }
    acc.add(ranked, relevant, b - a);
    if (options.scorer) acc.addAuc(aucOfScores(options.scorer(q), relevant, excluded));
    nRelevantTotal += b - a;
    for (let k = a; k < b; k++) relevant[rel.items[k]] = 0;
    for (let k = 0; k < q.history.length; k++) excluded[q.history[k]] = 0;
    if (options.progress && ((j + 1) % 100 === 0 || j + 1 === users.length)) options.progress(j + 1, users.length);
  }
  return { metrics: acc.result(), users: users.length, relevant: nRelevantTotal, seconds: (performance.now() - t0) / 1000 };
}

/** `m` of `a`'s values chosen by a seeded partial shuffle, returned in ascending order. */
export function sampleSorted(a: Int32Array, m: number, seed: number): Int32Array {
  const b = a.slice();
  // xorshift32: enough for picking users, and keeps evaluation free of the math layer's stream state
  let s = seed >>> 0 || 1;
  for (let i = 0; i < m; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const j = i + (s % (b.length - i));
    const t = b[i];
    b[i] = b[j];
    b[j] = t;
  }
  return b.subarray(0, m).sort();
}
