import { TopK } from '../../math/index.ts';
import type { SearchResult } from '../types.ts';

/**
 * The plain nested loop: score every row, keep the top k in a heap. No blocking, no unrolling, no
 * filters: what every fast path is held to in tests and timed beside them in `tandem bench index`.
 * @example plainSearch(rows, labels, 64, q, 10)
 */
export function plainSearch(rows: Float32Array, labels: Int32Array, dim: number, query: Float32Array, k: number, heap = new TopK(k)): SearchResult {
  heap.reset();
  const n = labels.length;
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let c = 0; c < dim; c++) s += rows[r * dim + c] * query[c];
    heap.push(labels[r], s);
  }
  const ids = new Int32Array(heap.size);
  const scores = new Float32Array(heap.size);
  heap.drainSorted(ids, scores);
  return { ids, scores };
}
