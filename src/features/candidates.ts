/**
 * The merged L1 candidates of one request, as the retrieval layer's merge fills them and the ranking
 * layer reads them (both sit above this layer, so the shape lives here once). Flat arrays: only the
 * first `count` entries (rows) are valid; the arrays may be longer (reused scratch). Per-source columns
 * are `count × sources.length`, row-major.
 */
export interface CandidateBlock {
  /** The candidate sources' names, in column order. */
  sources: readonly string[];
  count: number;
  items: Int32Array;
  /** Each source's score of each candidate; NaN where the source has none. */
  scores: Float32Array;
  /** Each source's 0-based rank of each candidate; NaN where the source did not retrieve it. */
  ranks: Float32Array;
  /** Position in the merged order (0 = first): the L1 order, and the tie-break after ranking. */
  position: Int32Array;
  /** Index into `sources` of the source that ranked the candidate best. */
  foundBy: Int32Array;
  /** The fused L1 score (higher is better): the order when no ranker runs. */
  fused: Float32Array;
}

/** An empty block with room for `capacity` candidates of `sources`. */
export function emptyBlock(sources: readonly string[], capacity = 0): CandidateBlock {
  const S = Math.max(1, sources.length);
  return {
    sources: [...sources],
    count: 0,
    items: new Int32Array(capacity),
    scores: new Float32Array(capacity * S),
    ranks: new Float32Array(capacity * S),
    position: new Int32Array(capacity),
    foundBy: new Int32Array(capacity),
    fused: new Float32Array(capacity),
  };
}

/** Grows `b` (keeping its rows) so it holds at least `capacity` candidates. */
export function growBlock(b: CandidateBlock, capacity: number): void {
  if (capacity <= b.items.length) return;
  const S = Math.max(1, b.sources.length);
  const m = Math.max(capacity, b.items.length * 2);
  const grow = <T extends Int32Array | Float32Array>(a: T, len: number, make: (n: number) => T): T => {
    const x = make(len);
    x.set(a.subarray(0, Math.min(a.length, len)));
    return x;
  };
  b.items = grow(b.items, m, (n) => new Int32Array(n));
  b.scores = grow(b.scores, m * S, (n) => new Float32Array(n));
  b.ranks = grow(b.ranks, m * S, (n) => new Float32Array(n));
  b.position = grow(b.position, m, (n) => new Int32Array(n));
  b.foundBy = grow(b.foundBy, m, (n) => new Int32Array(n));
  b.fused = grow(b.fused, m, (n) => new Float32Array(n));
}

/** A compact copy of the first `count` rows, safe to keep past the next request. */
export function copyBlock(b: CandidateBlock): CandidateBlock {
  const n = b.count;
  const S = b.sources.length;
  return {
    sources: [...b.sources],
    count: n,
    items: b.items.slice(0, n),
    scores: b.scores.slice(0, n * S),
    ranks: b.ranks.slice(0, n * S),
    position: b.position.slice(0, n),
    foundBy: b.foundBy.slice(0, n),
    fused: b.fused.slice(0, n),
  };
}

/**
 * A block from plain lists (tests, tools): `scores[s][c]` and `ranks[s][c]` per source, NaN where missing.
 * @example blockOf(['ease'], [3, 7], [[0.9, 0.5]], [[0, 1]])
 */
export function blockOf(sources: readonly string[], items: ArrayLike<number>, scores: readonly ArrayLike<number>[], ranks: readonly ArrayLike<number>[]): CandidateBlock {
  const n = items.length;
  const S = sources.length;
  const b = emptyBlock(sources, n);
  b.count = n;
  for (let c = 0; c < n; c++) {
    b.items[c] = items[c];
    b.position[c] = c;
    let best = Infinity;
    for (let s = 0; s < S; s++) {
      b.scores[c * S + s] = scores[s][c];
      b.ranks[c * S + s] = ranks[s][c];
      if (ranks[s][c] < best) (best = ranks[s][c]), (b.foundBy[c] = s);
    }
    b.fused[c] = n - c;
  }
  return b;
}
