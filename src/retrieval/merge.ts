import type { UserQuery } from '../data/index.ts';
import { emptyBlock, growBlock, type CandidateBlock } from '../features/index.ts';
import { firstNonFinite } from '../math/index.ts';
import type { CandidateSource, RequestContext, ScoredItems } from './source.ts';

/** One source as the merge holds it. */
export interface MergeSource {
  source: CandidateSource;
  /** The name its columns carry (unique in the merge). */
  name: string;
  /** Candidates asked of it per request; 0 = it only scores what the others found (when it can). */
  n: number;
  /** Its weight in the fused score (reciprocal-rank fusion). */
  weight: number;
  /** False: it ignores the query's items (popularity); left out of similar-item requests. */
  personalized: boolean;
}

/** Reciprocal-rank fusion constant (Cormack et al. 2009): ranks 0 and 1 differ little, the tail flattens. */
export const RRF_K = 60;

/** Per-request options of a merge. */
export interface MergeRequest extends RequestContext {
  /** Items never to return: the user's history and the request's exclusions. */
  exclude?: ReadonlySet<number>;
  /** Items that may be returned (a live catalog's deletions are false); absent: every item. */
  isLive?: (item: number) => boolean;
  /** Ask each source for this many more than its `n` (room for items the merge drops). */
  extra?: number;
  /** Only personalised sources (similar-item requests). */
  personalizedOnly?: boolean;
  /** At least this many per source (a request for more items than the configured count). */
  atLeast?: number;
}

/**
 * The engine's one candidate merge. Asks each source for its top `n`, deduplicates, and keeps per
 * candidate and source the score and the 0-based rank (NaN where the source did not retrieve it);
 * sources that can score any item (`scoreItems`) fill in their score of candidates others found. The
 * fused L1 score is reciprocal-rank fusion, `sum_s w_s / (RRF_K + 1 + rank_s)`, scaled so an item ranked
 * first by every source scores 1; `position` orders candidates by it (ties: best single rank, then
 * the order found). Rows are in the order found: rank 0 of every source, then rank 1, and so on.
 * Chosen on ML-100K train-inner -> valid over round-robin interleaving (the other merge Tandem had):
 * the two-stage's ndcg@10 0.2795 against 0.2762, and without a ranker (the merge is then the final
 * order) 0.2584 against 0.2099 (docs/ranking.md).
 * The block and its arrays are reused: valid until the next `merge`.
 * @example const m = new CandidateMerger([{ source: ease, name: 'ease', n: 200, weight: 1, personalized: true }]); m.merge(q, { exclude: seen })
 */
export class CandidateMerger {
  readonly names: string[];
  private readonly block: CandidateBlock;
  private stamp = new Int32Array(0);
  private slot = new Int32Array(0);
  private gen = 0;
  private bestRank = new Int32Array(0);
  private order = new Int32Array(0);
  private buf = new Float32Array(0);
  private lists: (ScoredItems | null)[];
  /** Per source: 1 when it failed in the current request (not asked again to fill in scores). */
  private readonly failed: Uint8Array;

  /**
   * `onSourceError`: when given, a source that throws or answers a score that is not finite is left
   * out of that request (the others still answer) and reported through it; without it the error
   * propagates (training and evaluation must not silently lose a source).
   */
  constructor(
    readonly sources: readonly MergeSource[],
    private readonly onSourceError?: (source: string, err: unknown) => void,
  ) {
    const names = new Set<string>();
    for (const s of sources) {
      if (names.has(s.name)) throw new Error(`CandidateMerger: two sources are named '${s.name}'; names must be unique`);
      names.add(s.name);
      if (!(s.n >= 0) || !Number.isInteger(s.n)) throw new Error(`CandidateMerger: source '${s.name}': n must be an integer >= 0, got ${s.n}`);
      if (!(s.weight >= 0)) throw new Error(`CandidateMerger: source '${s.name}': weight must be >= 0, got ${s.weight}`);
    }
    this.names = sources.map((s) => s.name);
    this.block = emptyBlock(this.names, 0);
    this.lists = sources.map(() => null);
    this.failed = new Uint8Array(sources.length);
  }

  private nextGen(items: number): number {
    if (this.stamp.length < items) {
      const m = Math.max(items, Math.ceil(this.stamp.length * 1.25) + 16);
      this.stamp = new Int32Array(m);
      this.slot = new Int32Array(m);
      this.gen = 0;
    }
    if (this.gen === 0x7fffffff) {
      this.stamp.fill(0);
      this.gen = 0;
    }
    return ++this.gen;
  }

  /** The merged candidates of one request (see the class comment). */
  merge(query: UserQuery, req: MergeRequest = {}): CandidateBlock {
    const S = this.sources.length;
    const ctx: RequestContext = { allow: req.allow, features: req.features };
    let total = 0;
    let maxItem = -1;
    let longest = 0;
    for (let s = 0; s < S; s++) {
      const m = this.sources[s];
      const n = m.n > 0 ? Math.max(m.n, req.atLeast ?? 0) + (req.extra ?? 0) : 0;
      const skip = n === 0 || m.weight <= 0 || (req.personalizedOnly && !m.personalized);
      const got = skip ? null : this.ask(m, () => m.source.candidates(query, n, req.exclude, ctx));
      const l = got ?? null;
      this.lists[s] = l;
      this.failed[s] = got === undefined ? 1 : 0;
      if (!l) continue;
      total += l.items.length;
      longest = Math.max(longest, l.items.length);
      for (let k = 0; k < l.items.length; k++) if (l.items[k] > maxItem) maxItem = l.items[k];
    }
    const b = this.block;
    growBlock(b, total);
    if (this.bestRank.length < total) {
      this.bestRank = new Int32Array(b.items.length);
      this.order = new Int32Array(b.items.length);
    }
    const gen = this.nextGen(maxItem + 1);
    const isLive = req.isLive;
    const allow = req.allow;
    let count = 0;
    // rows in the order found: rank 0 of every source, then rank 1, ...
    for (let r = 0; r < longest; r++) {
      for (let s = 0; s < S; s++) {
        const l = this.lists[s];
        if (!l || r >= l.items.length) continue;
        const it = l.items[r];
        if (it < 0 || (isLive && !isLive(it)) || (allow && allow[it] !== 1) || req.exclude?.has(it)) continue;
        let c: number;
        if (this.stamp[it] !== gen) {
          c = count++;
          this.stamp[it] = gen;
          this.slot[it] = c;
          b.items[c] = it;
          b.foundBy[c] = s;
          b.fused[c] = 0;
          this.bestRank[c] = r;
          b.scores.fill(NaN, c * S, c * S + S);
          b.ranks.fill(NaN, c * S, c * S + S);
        } else c = this.slot[it];
        b.scores[c * S + s] = l.scores[r];
        b.ranks[c * S + s] = r;
        b.fused[c] += this.sources[s].weight / (RRF_K + 1 + r);
      }
    }
    b.count = count;
    let wsum = 0;
    for (let s = 0; s < S; s++) if (this.lists[s]) wsum += this.sources[s].weight;
    const norm = wsum > 0 ? (RRF_K + 1) / wsum : 0;
    for (let c = 0; c < count; c++) b.fused[c] *= norm;
    // the fused order: score, then best single rank, then the order found
    const order = this.order;
    for (let c = 0; c < count; c++) order[c] = c;
    const fused = b.fused;
    const best = this.bestRank;
    order.subarray(0, count).sort((x, y) => fused[y] - fused[x] || best[x] - best[y] || x - y);
    for (let p = 0; p < count; p++) b.position[order[p]] = p;
    // sources that score any item fill in the candidates other sources found
    if (this.buf.length < count) this.buf = new Float32Array(b.items.length);
    for (let s = 0; s < S; s++) {
      const src = this.sources[s].source;
      const l = this.lists[s];
      if (!src.scoreItems || this.failed[s] || (l && l.items.length >= count) || (req.personalizedOnly && !this.sources[s].personalized)) continue;
      // NaN is scoreItems' "no score": only a throw counts as a failure here
      const filled = this.ask(this.sources[s], () => {
        src.scoreItems!(query, b.items.subarray(0, count), this.buf);
        return null;
      });
      if (filled !== undefined) for (let c = 0; c < count; c++) if (Number.isNaN(b.scores[c * S + s])) b.scores[c * S + s] = this.buf[c];
    }
    return b;
  }

  /**
   * Runs one source's call; with an error handler, a throw or a candidate score that is not finite
   * drops that source's answer (undefined) and is reported.
   */
  private ask<T extends ScoredItems | null>(m: MergeSource, call: () => T): T | undefined {
    if (!this.onSourceError) return call();
    try {
      const l = call();
      const bad = l ? firstNonFinite(l.scores) : -1;
      if (bad >= 0) throw new Error(`candidate score ${bad} is ${l!.scores[bad]}; scores must be finite`);
      return l;
    } catch (err) {
      this.onSourceError(m.name, err);
      return undefined;
    }
  }
}
