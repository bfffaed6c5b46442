/**
 * The item-kNN similarity kernel, apart from the source so worker threads can run it on a range of
 * items: cosine over co-occurring users from the user x item and item x user CSR matrices, top K kept.
 */
import { TopK } from '../math/index.ts';

/** Both orientations of the (user, item) matrix and each item's norm. */
export interface KnnMatrix {
  numItems: number;
  userOff: Int32Array;
  userItems: Int32Array;
  userVals: Float32Array;
  itemOff: Int32Array;
  itemUsers: Int32Array;
  itemVals: Float32Array;
  norm: Float64Array;
}

/** Neighbours of items [from, to): counts per item, then items and similarities, best first per item. */
export interface NeighbourBlock {
  counts: Int32Array;
  items: Int32Array;
  sims: Float32Array;
}

/**
 * Top-`k` cosine neighbours of items [from, to), ties to the smaller index. Deterministic: the same
 * range gives the same block whichever thread runs it. `onItems(n)` hears of every 64 items done (progress).
 * @example const b = neighbourBlock(m, 400, 0, 0, m.numItems)
 */
export function neighbourBlock(m: KnnMatrix, k: number, shrink: number, from: number, to: number, onItems?: (n: number) => void): NeighbourBlock {
  const { numItems: ni, userOff, userItems, userVals, itemOff, itemUsers, itemVals, norm } = m;
  const acc = new Float64Array(ni);
  const touched = new Int32Array(ni);
  const heap = new TopK(k);
  const counts = new Int32Array(to - from);
  let cap = Math.max(16, Math.min((to - from) * k, 1 << 20));
  let items = new Int32Array(cap);
  let sims = new Float32Array(cap);
  let used = 0;
  for (let i = from; i < to; i++) {
    // co-occurrence R_i . R_j over the users of i, accumulated sparsely
    let nt = 0;
    for (let q = itemOff[i]; q < itemOff[i + 1]; q++) {
      const u = itemUsers[q];
      const v = itemVals[q];
      for (let p = userOff[u]; p < userOff[u + 1]; p++) {
        const j = userItems[p];
        if (j === i) continue;
        if (acc[j] === 0) touched[nt++] = j;
        acc[j] += v * userVals[p];
      }
    }
    heap.reset();
    for (let t = 0; t < nt; t++) {
      const j = touched[t];
      heap.push(j, acc[j] / (norm[i] * norm[j] + shrink));
      acc[j] = 0;
    }
    if (used + heap.size > cap) {
      while (used + heap.size > cap) cap *= 2;
      const items2 = new Int32Array(cap);
      items2.set(items.subarray(0, used));
      items = items2;
      const sims2 = new Float32Array(cap);
      sims2.set(sims.subarray(0, used));
      sims = sims2;
    }
    const c = heap.drainSorted(items.subarray(used), sims.subarray(used));
    counts[i - from] = c;
    used += c;
    if (((i - from) & 63) === 63) onItems?.(64);
  }
  onItems?.((to - from) & 63);
  return { counts, items: items.slice(0, used), sims: sims.slice(0, used) };
}

/**
 * Splits the items into `parts` contiguous ranges of about equal work (work of item i: the summed
 * history lengths of its users, which is what its similarity row costs).
 */
export function balancedRanges(m: KnnMatrix, parts: number): number[] {
  const ni = m.numItems;
  const work = new Float64Array(ni + 1);
  for (let i = 0; i < ni; i++) {
    let w = 1;
    for (let q = m.itemOff[i]; q < m.itemOff[i + 1]; q++) w += m.userOff[m.itemUsers[q] + 1] - m.userOff[m.itemUsers[q]];
    work[i + 1] = work[i] + w;
  }
  const bounds = [0];
  let i = 0;
  for (let p = 1; p < parts; p++) {
    const target = (work[ni] * p) / parts;
    while (i < ni && work[i] < target) i++;
    bounds.push(Math.max(i, bounds[bounds.length - 1]));
  }
  bounds.push(ni);
  return bounds;
}
