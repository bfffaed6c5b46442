/**
 * What the HTML report shows beyond the metrics table, computed from one pass of a pipeline's
 * recommendations over the same users the protocol scores: recall@K and NDCG@K for every K from 1 to
 * maxK, the same by user activity (cold / light / heavy by training-history length), catalog coverage,
 * popularity bias, and the latency of each recommendation call.
 */
import type { Dataset } from '../../data/index.ts';
import { MetricAccumulator } from '../metrics.ts';
import { relevantTestItems, sampleSorted, type Recommender } from '../protocol.ts';  // the same user sample as the protocol

export interface DetailOptions {
  /** Longest cutoff; curves run K = 1..maxK (default 100). */
  maxK?: number;
  /** Score at most this many users, sampled exactly as `evaluateRecommender` samples them. */
  maxUsers?: number;
  seed?: number;
  /** Users with at most this many training interactions are "cold" (default: the least active fifth of the scored users, and at least those with 5 or fewer). */
  coldMax?: number;
  /** Users at or above this quantile of history length (among scored users) are "heavy" (default 0.8). */
  heavyQuantile?: number;
}

export interface GroupDetails {
  name: 'cold' | 'light' | 'heavy';
  /** The history-length rule, as text (`1-5 events`). */
  rule: string;
  users: number;
  /** recall and ndcg at 10 and maxK, hr@10. */
  metrics: Record<string, number>;
}

export interface PipelineDetails {
  pipeline: string;
  users: number;
  maxK: number;
  /** k[i] = i + 1; recall[i], ndcg[i] the means at that cutoff. */
  curves: { k: number[]; recall: number[]; ndcg: number[] };
  groups: GroupDetails[];
  /** Distinct items in anyone's top K over the catalog size, for K = 10 and maxK. */
  coverage: Record<string, number>;
  popularity: PopularityBias;
  latency: { calls: number; meanMs: number; p50Ms: number; p95Ms: number; p99Ms: number; seconds: number };
}

export interface PopularityBias {
  /** Mean popularity percentile of the top-10 items (100 = the most popular item of the catalog). */
  meanPercentile: number;
  /** The same for the users' relevant test items: what "no bias" would look like. */
  testMeanPercentile: number;
  /** Share of top-10 slots taken by the 10% most popular items. */
  headShare: number;
  /** Gini coefficient of how often each catalog item appears in a top 10 (0 = all equally, 1 = one item). */
  gini: number;
  /** Share of top-10 slots per popularity decile (decile 0 = the most popular 10% of items). */
  deciles: number[];
  /** Share of relevant test items per popularity decile. */
  testDeciles: number[];
}

/** Positive training weight per item and each item's popularity rank (0 = most popular; ties by index). */
export function popularityRanks(train: Dataset): { count: Float64Array; rank: Int32Array } {
  const n = train.numItems;
  const count = new Float64Array(n);
  const x = train.interactions;
  for (let r = 0; r < x.length; r++) if (!train.eventTypes[x.event[r]].negative) count[x.item[r]]++;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => count[b] - count[a] || a - b);
  const rank = new Int32Array(n);
  order.forEach((it, r) => (rank[it] = r));
  return { count, rank };
}

/** Gini coefficient of non-negative values (0: all equal). */
export function gini(values: ArrayLike<number>): number {
  const v = Float64Array.from(values).sort();
  const n = v.length;
  let sum = 0;
  let weighted = 0;
  for (let i = 0; i < n; i++) {
    sum += v[i];
    weighted += (i + 1) * v[i];
  }
  if (n === 0 || sum === 0) return 0;
  // G = (2 Σ i·v_(i)) / (n Σ v) − (n + 1) / n, with v sorted ascending and i from 1
  return (2 * weighted) / (n * sum) - (n + 1) / n;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

const round = (x: number, d = 6): number => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

/**
 * One pass of `recommend` over the protocol's users, measured for the report.
 * @example const d = pipelineDetails('itemknn', train, test, (q, n, ex) => knn.recommend(q, n, ex)); d.curves.recall[9]
 */
export function pipelineDetails(name: string, train: Dataset, test: Dataset, recommend: Recommender, opts: DetailOptions = {}): PipelineDetails {
  const maxK = opts.maxK ?? 100;
  const ni = train.numItems;
  const ks = Array.from({ length: maxK }, (_, i) => i + 1);
  const rel = relevantTestItems(train, test);
  let users: Int32Array = new Int32Array(rel.users);
  for (let u = 0, j = 0; u < train.numUsers; u++) if (rel.offsets[u + 1] > rel.offsets[u]) users[j++] = u;
  if (opts.maxUsers !== undefined && opts.maxUsers < users.length) users = sampleSorted(users, opts.maxUsers, opts.seed ?? 1);

  // activity groups from the scored users' training-history lengths
  const { offsets: trOff } = train.byUser();
  const lengths = Float64Array.from(users, (u) => trOff[u + 1] - trOff[u]).sort();
  // a dataset with a minimum activity (MovieLens: 20 ratings) would leave a fixed cold group empty
  const coldMax = opts.coldMax ?? Math.max(5, quantile(lengths, 0.2));
  const heavyMin = Math.max(coldMax + 1, quantile(lengths, opts.heavyQuantile ?? 0.8));
  const groupOf = (len: number): number => (len <= coldMax ? 0 : len >= heavyMin ? 2 : 1);
  const rules = [`0-${coldMax} events`, heavyMin - 1 >= coldMax + 1 ? `${coldMax + 1}-${heavyMin - 1} events` : '(none)', `${heavyMin}+ events`];
  const all = new MetricAccumulator(ni, ks);
  const groups = [new MetricAccumulator(ni, [10, maxK]), new MetricAccumulator(ni, [10, maxK]), new MetricAccumulator(ni, [10, maxK])];

  const pop = popularityRanks(train);
  const decileOf = (it: number): number => Math.min(9, Math.floor((pop.rank[it] * 10) / Math.max(1, ni)));
  const pct = (it: number): number => (ni > 1 ? 100 * (1 - pop.rank[it] / (ni - 1)) : 100);
  const slots10 = new Float64Array(10);
  const testDec = new Float64Array(10);
  const appear = new Float64Array(ni);
  let pctSum = 0;
  let pctN = 0;
  let testPctSum = 0;
  let testPctN = 0;

  const relevant = new Uint8Array(ni);
  const times = new Float64Array(users.length);
  const t0 = performance.now();
  for (let j = 0; j < users.length; j++) {
    const u = users[j];
    const q = train.query(u);
    const exclude = new Set<number>(q.history);
    const a = rel.offsets[u];
    const b = rel.offsets[u + 1];
    for (let k = a; k < b; k++) relevant[rel.items[k]] = 1;
    const s = performance.now();
    const ranked = recommend(q, maxK, exclude);
    times[j] = performance.now() - s;
    all.add(ranked, relevant, b - a);
    groups[groupOf(q.history.length)].add(ranked, relevant, b - a);
    const top = Math.min(10, ranked.length);
    for (let i = 0; i < top; i++) {
      const it = ranked[i];
      slots10[decileOf(it)]++;
      appear[it]++;
      pctSum += pct(it);
      pctN++;
    }
    for (let k = a; k < b; k++) {
      testDec[decileOf(rel.items[k])]++;
      testPctSum += pct(rel.items[k]);
      testPctN++;
      relevant[rel.items[k]] = 0;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const m = all.result();
  const share = (a: Float64Array): number[] => {
    const s = a.reduce((x, y) => x + y, 0) || 1;
    return Array.from(a, (x) => round(x / s));
  };
  const sortedTimes = times.slice().sort();
  return {
    pipeline: name,
    users: users.length,
    maxK,
    curves: { k: ks, recall: ks.map((k) => round(m[`recall@${k}`])), ndcg: ks.map((k) => round(m[`ndcg@${k}`])) },
    groups: groups.map((g, i): GroupDetails => {
      const r = g.result();
      return {
        name: (['cold', 'light', 'heavy'] as const)[i],
        rule: rules[i],
        users: g.users,
        metrics: g.users ? { 'recall@10': round(r['recall@10']), 'ndcg@10': round(r['ndcg@10']), 'hr@10': round(r['hr@10']), [`recall@${maxK}`]: round(r[`recall@${maxK}`]), [`ndcg@${maxK}`]: round(r[`ndcg@${maxK}`]) } : ({} as Record<string, number>),
      };
    }),
    coverage: { 'coverage@10': round(m['coverage@10']), [`coverage@${maxK}`]: round(m[`coverage@${maxK}`]) },
    popularity: {
      meanPercentile: round(pctN ? pctSum / pctN : NaN, 2),
      testMeanPercentile: round(testPctN ? testPctSum / testPctN : NaN, 2),
      headShare: round(share(slots10)[0]),
      gini: round(gini(appear), 4),
      deciles: share(slots10),
      testDeciles: share(testDec),
    },
    latency: {
      calls: users.length,
      meanMs: round(users.length ? times.reduce((x, y) => x + y, 0) / users.length : 0, 4),
      p50Ms: round(quantile(sortedTimes, 0.5), 4),
      p95Ms: round(quantile(sortedTimes, 0.95), 4),
      p99Ms: round(quantile(sortedTimes, 0.99), 4),
      seconds: round(seconds, 3),
    },
  };
}
