import type { CandidateSource, UserQuery } from './source.ts';

/** A source that can also score items it did not retrieve (EASE, item-to-item): fills the merge's gaps. */
export interface ItemScorer {
  /** Writes the query's score of each of `items` into `out` (NaN where it has none). */
  scoreItems(query: UserQuery, items: ArrayLike<number>, out: Float32Array): void;
}

function isItemScorer(s: CandidateSource): s is CandidateSource & ItemScorer {
  return typeof (s as Partial<ItemScorer>).scoreItems === 'function';
}

/**
 * Candidates from several sources, deduplicated. Candidate c keeps every source's score and rank:
 * `scores[c * sources.length + s]` and `ranks[c * sources.length + s]` (0-based; NaN when source s did
 * not retrieve c; its score may still be filled in when s is an ItemScorer).
 */
export interface MergedCandidates {
  readonly sources: readonly string[];
  readonly count: number;
  /** Catalog item of each candidate, in merged order (round-robin over the sources' ranks). */
  readonly items: Int32Array;
  readonly scores: Float32Array;
  readonly ranks: Float32Array;
  /** Position in the merged order: the L1 rank used to break ties among equal ranker scores. */
  readonly l1Rank: Int32Array;
  /** Index of the source that ranked the candidate best (first in the round-robin). */
  readonly foundBy: Int32Array;
}

/**
 * Merges candidate sources: asks each for its top `perSource[s]`, interleaves them rank by rank
 * (rank 0 of every source, then rank 1, ...) dropping duplicates, and records each source's score
 * and rank of every candidate.
 * @example const m = new CandidateMerger([ease, itemknn], 200); const c = m.merge(userQuery(ds, u));
 */
export class CandidateMerger {
  readonly perSource: Int32Array;
  /** item -> candidate position + 1 in the current merge (0 = absent); grown on demand, cleared after use. */
  private pos = new Int32Array(0);

  constructor(
    readonly sources: readonly CandidateSource[],
    perSource: number | readonly number[],
  ) {
    if (sources.length === 0) throw new Error('CandidateMerger: at least one source is required');
    const names = new Set<string>();
    for (const s of sources) {
      if (names.has(s.name)) throw new Error(`CandidateMerger: two sources are named '${s.name}'; names must be unique`);
      names.add(s.name);
    }
    const per = typeof perSource === 'number' ? sources.map(() => perSource) : perSource;
    if (per.length !== sources.length) throw new Error(`CandidateMerger: perSource has ${per.length} entries for ${sources.length} sources`);
    for (const n of per) if (!(n >= 0) || !Number.isInteger(n)) throw new Error(`CandidateMerger: perSource must hold integers >= 0, got ${n}`);
    this.perSource = Int32Array.from(per);
  }

  get names(): string[] {
    return this.sources.map((s) => s.name);
  }

  merge(query: UserQuery, exclude?: ReadonlySet<number>): MergedCandidates {
    const S = this.sources.length;
    const lists = this.sources.map((s, k) => s.candidates(query, this.perSource[k], exclude));
    let total = 0;
    let maxItem = -1;
    let longest = 0;
    for (const l of lists) {
      total += l.items.length;
      longest = Math.max(longest, l.items.length);
      for (let k = 0; k < l.items.length; k++) if (l.items[k] > maxItem) maxItem = l.items[k];
    }
    if (this.pos.length <= maxItem) this.pos = new Int32Array(Math.max(maxItem + 1, this.pos.length * 2));
    const pos = this.pos;
    const items = new Int32Array(total);
    const foundBy = new Int32Array(total);
    let n = 0;
    for (let r = 0; r < longest; r++) {
      for (let s = 0; s < S; s++) {
        const l = lists[s];
        if (r >= l.items.length) continue;
        const it = l.items[r];
        if (pos[it] !== 0) continue;
        pos[it] = ++n;
        items[n - 1] = it;
        foundBy[n - 1] = s;
      }
    }
    const scores = new Float32Array(n * S).fill(NaN);
    const ranks = new Float32Array(n * S).fill(NaN);
    for (let s = 0; s < S; s++) {
      const l = lists[s];
      for (let r = 0; r < l.items.length; r++) {
        const c = pos[l.items[r]] - 1;
        scores[c * S + s] = l.scores[r];
        ranks[c * S + s] = r;
      }
    }
    for (let k = 0; k < n; k++) pos[items[k]] = 0;
    const out = items.slice(0, n);
    // sources that can score any item fill in the candidates other sources found
    let buf: Float32Array | undefined;
    for (let s = 0; s < S; s++) {
      const src = this.sources[s];
      if (!isItemScorer(src) || lists[s].items.length === n) continue;
      buf ??= new Float32Array(n);
      src.scoreItems(query, out, buf);
      for (let c = 0; c < n; c++) if (Number.isNaN(scores[c * S + s])) scores[c * S + s] = buf[c];
    }
    const l1Rank = new Int32Array(n);
    for (let c = 0; c < n; c++) l1Rank[c] = c;
    return { sources: this.names, count: n, items: out, scores, ranks, l1Rank, foundBy: foundBy.slice(0, n) };
  }
}
