/**
 * Top-K ranking metrics over full-catalog rankings, accumulated user by user into flat sums.
 *
 * For one user with relevant set R (|R| >= 1) and ranked list L (best first, positions 0-based):
 *   hits@K      = |{ i < K : L[i] in R }|
 *   recall@K    = hits@K / |R|
 *   precision@K = hits@K / K
 *   hr@K        = 1 if hits@K > 0 else 0
 *   mrr@K       = 1 / (first hit position + 1) if it is < K, else 0
 *   ndcg@K      = sum_{i < K, L[i] in R} 1/log2(i+2)  /  sum_{i < min(K, |R|)} 1/log2(i+2)
 *   map@K       = sum_{i < K, L[i] in R} (hits@(i+1) / (i+1))  /  min(K, |R|)
 * and over all users: coverage@K = distinct items in anyone's top K / catalog size.
 * Reported values are means over the users added.
 */

/** Per-user metrics, in the order they are stored. */
export const RANKING_METRICS = ['ndcg', 'recall', 'hr', 'mrr', 'precision', 'map'] as const;
export type RankingMetric = (typeof RANKING_METRICS)[number];

const NDCG = 0;
const RECALL = 1;
const HR = 2;
const MRR = 3;
const PRECISION = 4;
const MAP = 5;
const NM = RANKING_METRICS.length;

/**
 * Sums metrics over users. `relevant` is a mark array over the catalog that the caller sets for the
 * user's relevant items before `add` and clears after (so the accumulator never allocates per user).
 * @example const acc = new MetricAccumulator(1682, [10, 100]); acc.add(ranked, mark, 3); acc.result()['ndcg@10']
 */
export class MetricAccumulator {
  readonly ks: readonly number[];
  readonly maxK: number;
  /** sums[m * ks.length + j]: metric m at cutoff ks[j], summed over users */
  private readonly sums: Float64Array;
  /** Best position at which each item appeared in any user's list (maxK when never). */
  private readonly bestPos: Int32Array;
  /** discount[i] = 1 / log2(i + 2); idealPrefix[n] = sum of the first n discounts */
  private readonly discount: Float64Array;
  private readonly idealPrefix: Float64Array;
  /** hitAt[i] = 1 if the current list's position i is a hit; scratch */
  private readonly hitAt: Uint8Array;
  users = 0;
  aucSum = 0;
  aucUsers = 0;

  constructor(
    readonly numItems: number,
    ks: readonly number[],
  ) {
    if (ks.length === 0) throw new Error('MetricAccumulator: at least one cutoff K is needed');
    for (const k of ks) if (!Number.isInteger(k) || k < 1) throw new Error(`MetricAccumulator: cutoff ${k} is not a positive integer`);
    this.ks = [...ks].sort((a, b) => a - b);
    this.maxK = this.ks[this.ks.length - 1];
    this.sums = new Float64Array(NM * this.ks.length);
    this.bestPos = new Int32Array(numItems).fill(this.maxK);
    this.discount = new Float64Array(this.maxK);
    this.idealPrefix = new Float64Array(this.maxK + 1);
    for (let i = 0; i < this.maxK; i++) {
      this.discount[i] = 1 / Math.log2(i + 2);
      this.idealPrefix[i + 1] = this.idealPrefix[i] + this.discount[i];
    }
    this.hitAt = new Uint8Array(this.maxK);
  }

  /**
   * Adds one user: `ranked` best first (only its first maxK entries are read), `relevant[item]` non-zero
   * for the user's relevant items, `nRelevant` their count (>= 1).
   */
  add(ranked: ArrayLike<number>, relevant: Uint8Array, nRelevant: number): void {
    if (!(nRelevant >= 1)) throw new Error('MetricAccumulator.add: a user needs at least one relevant item');
    const n = Math.min(ranked.length, this.maxK);
    const hitAt = this.hitAt;
    for (let i = 0; i < n; i++) {
      const it = ranked[i];
      hitAt[i] = relevant[it] !== 0 ? 1 : 0;
      if (i < this.bestPos[it]) this.bestPos[it] = i;
    }
    let i = 0;
    let hits = 0;
    let dcg = 0;
    let ap = 0;
    let firstHit = -1;
    const nk = this.ks.length;
    for (let j = 0; j < nk; j++) {
      const k = this.ks[j];
      const end = Math.min(k, n);
      for (; i < end; i++) {
        if (hitAt[i] === 0) continue;
        hits++;
        dcg += this.discount[i];
        ap += hits / (i + 1);
        if (firstHit < 0) firstHit = i;
      }
      const ideal = Math.min(k, nRelevant);
      this.sums[NDCG * nk + j] += dcg / this.idealPrefix[ideal];
      this.sums[RECALL * nk + j] += hits / nRelevant;
      this.sums[HR * nk + j] += hits > 0 ? 1 : 0;
      this.sums[MRR * nk + j] += firstHit >= 0 ? 1 / (firstHit + 1) : 0;
      this.sums[PRECISION * nk + j] += hits / k;
      this.sums[MAP * nk + j] += ap / ideal;
    }
    this.users++;
  }

  /** Adds one user's AUC (see `aucOfScores`). */
  addAuc(auc: number): void {
    if (Number.isNaN(auc)) return;
    this.aucSum += auc;
    this.aucUsers++;
  }

  /** Means over the users added: `ndcg@10`, `recall@100`, ..., `coverage@K`, and `auc` when scored. */
  result(): Record<string, number> {
    const out: Record<string, number> = {};
    const nk = this.ks.length;
    const u = Math.max(this.users, 1);
    for (let m = 0; m < NM; m++) {
      for (let j = 0; j < nk; j++) out[`${RANKING_METRICS[m]}@${this.ks[j]}`] = this.sums[m * nk + j] / u;
    }
    for (let j = 0; j < nk; j++) {
      let c = 0;
      for (let it = 0; it < this.numItems; it++) if (this.bestPos[it] < this.ks[j]) c++;
      out[`coverage@${this.ks[j]}`] = this.numItems > 0 ? c / this.numItems : 0;
    }
    if (this.aucUsers > 0) out.auc = this.aucSum / this.aucUsers;
    return out;
  }
}

/**
 * AUC of one user's scores: the probability that a relevant item outscores a non-relevant one (ties
 * count one half), over the items not excluded. NaN when either side is empty.
 * @example aucOfScores(new Float32Array([0.9, 0.1, 0.5]), new Uint8Array([1, 0, 0]), new Uint8Array(3)) === 1
 */
export function aucOfScores(scores: ArrayLike<number>, relevant: Uint8Array, excluded: Uint8Array): number {
  const n = scores.length;
  let np = 0;
  let nn = 0;
  for (let i = 0; i < n; i++) {
    if (excluded[i] !== 0) continue;
    if (relevant[i] !== 0) np++;
    else nn++;
  }
  if (np === 0 || nn === 0) return NaN;
  const neg = new Float64Array(nn);
  nn = 0;
  for (let i = 0; i < n; i++) if (excluded[i] === 0 && relevant[i] === 0) neg[nn++] = scores[i];
  neg.sort();
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (excluded[i] !== 0 || relevant[i] === 0) continue;
    const s = scores[i];
    const lo = lowerBound(neg, s);
    const hi = upperBound(neg, s, lo);
    sum += lo + 0.5 * (hi - lo);
  }
  return sum / (np * nn);
}

/** First index with a[i] >= v in ascending a. */
function lowerBound(a: Float64Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index with a[i] > v in ascending a, searching from `from`. */
function upperBound(a: Float64Array, v: number, from: number): number {
  let lo = from;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
