/**
 * Bounded top-k selection: a min-heap of the k best (score, id) pairs seen so far.
 * Allocates once; `reset` reuses it for the next query. Ties break towards the smaller id,
 * so results are deterministic.
 * @example const t = new TopK(10); for (...) t.push(id, score); const { ids, scores } = t.sorted();
 */
export class TopK {
  readonly capacity: number;
  readonly ids: Int32Array;
  readonly scores: Float32Array;
  size = 0;

  constructor(k: number) {
    if (!(k >= 1) || !Number.isInteger(k)) throw new Error(`TopK: k must be a positive integer, got ${k}`);
    this.capacity = k;
    this.ids = new Int32Array(k);
    this.scores = new Float32Array(k);
  }

  reset(): void {
    this.size = 0;
  }

  /** The smallest score kept, or -Infinity while the heap is not full (anything enters). */
  threshold(): number {
    return this.size < this.capacity ? -Infinity : this.scores[0];
  }

  push(id: number, score: number): void {
    if (this.size < this.capacity) {
      let i = this.size++;
      // sift up
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(score, id, this.scores[p], this.ids[p])) break;
        this.scores[i] = this.scores[p];
        this.ids[i] = this.ids[p];
        i = p;
      }
      this.scores[i] = score;
      this.ids[i] = id;
      return;
    }
    if (!worse(this.scores[0], this.ids[0], score, id)) return;
    this.siftDown(id, score, this.size);
  }

  private siftDown(id: number, score: number, n: number): void {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && worse(this.scores[r], this.ids[r], this.scores[l], this.ids[l])) c = r;
      if (!worse(this.scores[c], this.ids[c], score, id)) break;
      this.scores[i] = this.scores[c];
      this.ids[i] = this.ids[c];
      i = c;
    }
    this.scores[i] = score;
    this.ids[i] = id;
  }

  /**
   * Empties the heap into `ids`/`scores` ordered best first; returns the count written.
   * The caller owns the output buffers (length >= size).
   */
  drainSorted(outIds: Int32Array, outScores?: Float32Array): number {
    const n = this.size;
    for (let k = n - 1; k >= 0; k--) {
      outIds[k] = this.ids[0];
      if (outScores) outScores[k] = this.scores[0];
      const lastId = this.ids[k];
      const lastScore = this.scores[k];
      this.siftDown(lastId, lastScore, k);
    }
    this.size = 0;
    return n;
  }

  /** Convenience: a fresh sorted copy (allocates). */
  sorted(): { ids: Int32Array; scores: Float32Array } {
    const ids = new Int32Array(this.size);
    const scores = new Float32Array(this.size);
    this.drainSorted(ids, scores);
    return { ids, scores };
  }
}

/** True when (s1, id1) ranks below (s2, id2): lower score, or equal score and larger id. */
function worse(s1: number, id1: number, s2: number, id2: number): boolean {
  return s1 < s2 || (s1 === s2 && id1 > id2);
}

/**
 * Top-k indices of `scores` (best first), skipping indices where `mask[i]` is non-zero.
 * @example topKIndices(scores, 10, trainMask)
 */
export function topKIndices(scores: ArrayLike<number>, k: number, mask?: Uint8Array, heap = new TopK(k)): Int32Array {
  heap.reset();
  const n = scores.length;
  for (let i = 0; i < n; i++) {
    if (mask !== undefined && mask[i] !== 0) continue;
    heap.push(i, scores[i]);
  }
  const out = new Int32Array(heap.size);
  heap.drainSorted(out);
  return out;
}
