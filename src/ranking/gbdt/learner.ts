import type { BinMapper } from './binning.ts';
import { type HistContext, SPLIT_STRIDE, leafOutput } from './histogram.ts';
import type { JobPool } from './pool.ts';
import type { GbdtParams } from './options.ts';
import type { Tree } from './tree.ts';

/** Below this many (rows x features) a histogram is built on one thread: a job hand-off costs more. */
const PARALLEL_MIN_WORK = 16384;

/**
 * Leaf-wise (best-first) tree growth over binned, column-major data. Owns its scratch: row indices
 * grouped by leaf, gathered gradients, one histogram slot per possible leaf. The smaller child of each
 * split gets a histogram built from its rows; the larger gets parent minus smaller.
 */
export class TreeLearner {
  private readonly n: number;
  private readonly nvb: Int32Array;
  private readonly tmp: Int32Array;
  private readonly L: number;
  // per leaf (index < numLeaves)
  readonly leafStart: Int32Array;
  readonly leafCount: Int32Array;
  private readonly leafG: Float64Array;
  private readonly leafH: Float64Array;
  private readonly leafDepth: Int32Array;
  private readonly leafSlot: Int32Array;
  private readonly leafParent: Int32Array;
  private readonly leafIsLeft: Uint8Array;
  // best split per leaf
  private readonly bestGain: Float64Array;
  private readonly bestFeat: Int32Array;
  private readonly bestBin: Int32Array;
  private readonly bestDefLeft: Uint8Array;
  private readonly bestLG: Float64Array;
  private readonly bestLH: Float64Array;
  /** Bin threshold of each internal node of the last tree (for out-of-bag rows). */
  readonly nodeBin: Int32Array;
  nLeaves = 0;
  private nFeats = 0;

  constructor(
    private readonly ctx: HistContext,
    private readonly pool: JobPool,
    private readonly mapper: BinMapper,
    private readonly p: GbdtParams,
  ) {
    this.n = ctx.nRows;
    const F = mapper.nFeatures;
    this.nvb = new Int32Array(F);
    for (let f = 0; f < F; f++) this.nvb[f] = mapper.valueBins(f);
    this.tmp = new Int32Array(this.n);
    const L = (this.L = p.numLeaves);
    this.leafStart = new Int32Array(L);
    this.leafCount = new Int32Array(L);
    this.leafG = new Float64Array(L);
    this.leafH = new Float64Array(L);
    this.leafDepth = new Int32Array(L);
    this.leafSlot = new Int32Array(L);
    this.leafParent = new Int32Array(L);
    this.leafIsLeft = new Uint8Array(L);
    this.bestGain = new Float64Array(L);
    this.bestFeat = new Int32Array(L);
    this.bestBin = new Int32Array(L);
    this.bestDefLeft = new Uint8Array(L);
    this.bestLG = new Float64Array(L);
    this.bestLH = new Float64Array(L);
    this.nodeBin = new Int32Array(Math.max(1, L - 1));
  }

  /**
   * Grows one tree on rows idx[0..nRows) (already placed in ctx.idx, ascending) using features
   * ctx.feats[0..nFeats). Leaf values include the learning rate.
   */
  grow(grad: Float64Array, hess: Float64Array, nRows: number, nFeats: number): Tree {
    const { ctx, p } = this;
    const { idx } = ctx;
    this.nFeats = nFeats;
    const L = this.L;
    const feature = new Int32Array(L - 1);
    const threshold = new Float64Array(L - 1);
    const defaultLeft = new Uint8Array(L - 1);
    const left = new Int32Array(L - 1);
    const right = new Int32Array(L - 1);
    const gain = new Float64Array(L - 1);
    const nodeValue = new Float64Array(L - 1);
    const nodeCount = new Float64Array(L - 1);
    let G = 0;
    let H = 0;
    for (let i = 0; i < nRows; i++) {
      const r = idx[i];
      G += grad[r];
      H += hess[r];
    }
    this.leafStart[0] = 0;
    this.leafCount[0] = nRows;
    this.leafG[0] = G;
    this.leafH[0] = H;
    this.leafDepth[0] = 0;
    this.leafSlot[0] = 0;
    this.leafParent[0] = -1;
    this.nLeaves = 1;
    let nInternal = 0;
    this.bestGain[0] = -Infinity;
    if (this.canSplit(0)) this.step(grad, hess, 0, nRows, 0, -1, 0, -1);
    while (this.nLeaves < L) {
      let l = -1;
      let bg = 0;
      for (let k = 0; k < this.nLeaves; k++) {
        if (this.bestGain[k] > bg) {
          bg = this.bestGain[k];
          l = k;
        }
      }
      if (l < 0) break;
      const node = nInternal++;
      const f = this.bestFeat[l];
      const bin = this.bestBin[l];
      const dl = this.bestDefLeft[l];
      feature[node] = f;
      threshold[node] = this.mapper.threshold(f, bin);
      defaultLeft[node] = dl;
      gain[node] = this.bestGain[l];
      nodeValue[node] = leafOutput(this.leafG[l], this.leafH[l], p.lambdaL1, p.lambdaL2) * p.learningRate;
      nodeCount[node] = this.leafCount[l];
      this.nodeBin[node] = bin;
      const par = this.leafParent[l];
      if (par >= 0) {
        if (this.leafIsLeft[l]) left[par] = node;
        else right[par] = node;
      }
      const start = this.leafStart[l];
      const count = this.leafCount[l];
      const nl = this.partition(start, count, f, bin, dl === 1);
      const r = this.nLeaves++;
      left[node] = ~l;
      right[node] = ~r;
      const depth = this.leafDepth[l] + 1;
      const pG = this.leafG[l];
      const pH = this.leafH[l];
      const pSlot = this.leafSlot[l];
      this.leafCount[l] = nl;
      this.leafG[l] = this.bestLG[l];
      this.leafH[l] = this.bestLH[l];
      this.leafDepth[l] = depth;
      this.leafParent[l] = node;
      this.leafIsLeft[l] = 1;
      this.leafStart[r] = start + nl;
      this.leafCount[r] = count - nl;
      this.leafG[r] = pG - this.bestLG[l];
      this.leafH[r] = pH - this.bestLH[l];
      this.leafDepth[r] = depth;
      this.leafParent[r] = node;
      this.leafIsLeft[r] = 0;
      this.bestGain[l] = -Infinity;
      this.bestGain[r] = -Infinity;
      if (this.nLeaves >= L) break;
      const splitL = this.canSplit(l);
      const splitR = this.canSplit(r);
      if (!splitL && !splitR) {
        this.leafSlot[r] = r; // keeps the slots of the leaves a permutation of 0..nLeaves-1
        continue;
      }
      // the smaller child is built into a fresh slot; the larger inherits the parent's slot by subtraction
      const leftSmaller = nl <= count - nl;
      const small = leftSmaller ? l : r;
      const large = leftSmaller ? r : l;
      const needLarge = leftSmaller ? splitR : splitL;
      this.leafSlot[small] = r;
      this.leafSlot[large] = pSlot;
      this.step(grad, hess, this.leafStart[small], this.leafCount[small], r, needLarge ? pSlot : -1, splitL ? l : -1, splitR ? r : -1);
    }
    const nLeaves = this.nLeaves;
    const leafValue = new Float64Array(nLeaves);
    const leafCount = new Float64Array(nLeaves);
    for (let k = 0; k < nLeaves; k++) {
      leafValue[k] = leafOutput(this.leafG[k], this.leafH[k], p.lambdaL1, p.lambdaL2) * p.learningRate;
      leafCount[k] = this.leafCount[k];
    }
    const ni = nLeaves - 1;
    return {
      feature: feature.slice(0, ni),
      threshold: threshold.slice(0, ni),
      defaultLeft: defaultLeft.slice(0, ni),
      left: left.slice(0, ni),
      right: right.slice(0, ni),
      gain: gain.slice(0, ni),
      nodeValue: nodeValue.slice(0, ni),
      nodeCount: nodeCount.slice(0, ni),
      leafValue,
      leafCount,
    };
  }

  private canSplit(l: number): boolean {
    const p = this.p;
    if (this.leafCount[l] < 2 * p.minDataInLeaf) return false;
    if (this.leafH[l] < 2 * p.minSumHessianInLeaf) return false;
    if (p.maxDepth > 0 && this.leafDepth[l] >= p.maxDepth) return false;
    return true;
  }

  /**
   * One split step: gathers the gradients of rows [start, start+count) in idx order, builds their
   * histogram into `slot` (subtracting it from parentSlot when >= 0), then finds the best splits of
   * leaves a and b (when >= 0) from their slots.
   */
  private step(grad: Float64Array, hess: Float64Array, start: number, count: number, slot: number, parentSlot: number, a: number, b: number): void {
    const { idx, og, oh } = this.ctx;
    const end = start + count;
    // direct: the histograms read grad/hess (= og/oh) at the row, nothing to gather
    if (!this.ctx.direct) {
      for (let i = start; i < end; i++) {
        const r = idx[i];
        og[i] = grad[r];
        oh[i] = hess[r];
      }
    }
    const sa = a >= 0 ? this.leafSlot[a] : -1;
    const sb = b >= 0 ? this.leafSlot[b] : -1;
    const ga = a >= 0 ? this.leafG[a] : 0;
    const ha = a >= 0 ? this.leafH[a] : 0;
    const ca = a >= 0 ? this.leafCount[a] : 0;
    const gb = b >= 0 ? this.leafG[b] : 0;
    const hb = b >= 0 ? this.leafH[b] : 0;
    const cb = b >= 0 ? this.leafCount[b] : 0;
    this.pool.run(start, end, slot, parentSlot, sa, ga, ha, ca, sb, gb, hb, cb, this.nFeats, count * this.nFeats >= PARALLEL_MIN_WORK);
    const res = this.pool.result;
    if (a >= 0) this.takeBest(a, res, 0);
    if (b >= 0) this.takeBest(b, res, SPLIT_STRIDE);
  }

  private takeBest(l: number, res: Float64Array, o: number): void {
    this.bestGain[l] = res[o];
    this.bestFeat[l] = res[o + 1];
    this.bestBin[l] = res[o + 2];
    this.bestDefLeft[l] = res[o + 3];
    this.bestLG[l] = res[o + 4];
    this.bestLH[l] = res[o + 5];
  }

  /** Stable partition of the leaf's rows: those going left first. Returns how many go left. */
  private partition(start: number, count: number, f: number, bin: number, defLeft: boolean): number {
    const { idx, bins, kern, rowTmp } = this.ctx;
    // the kernel: the same partition without a branch per row
    if (kern && rowTmp) return kern.gbdtPartition(idx.byteOffset, rowTmp.byteOffset, bins.byteOffset + f * this.n, start, count, bin, this.nvb[f], defLeft ? 1 : 0);
    const tmp = this.tmp;
    const col = f * this.n;
    const missing = this.nvb[f];
    let nl = 0;
    let nr = 0;
    for (let i = start, end = start + count; i < end; i++) {
      const r = idx[i];
      const b = bins[col + r];
      if (b === missing ? defLeft : b <= bin) idx[start + nl++] = r;
      else tmp[nr++] = r;
    }
    idx.set(tmp.subarray(0, nr), start + nl);
    return nl;
  }

  /**
   * Adds the last tree's leaf values to `scores`: in-bag rows through the leaf partition, the others
   * (when bagging) by walking the tree on their bins.
   */
  addToScores(tree: Tree, scores: Float64Array, inBag: Uint8Array | null): void {
    const { idx, bins } = this.ctx;
    for (let k = 0; k < this.nLeaves; k++) {
      const v = tree.leafValue[k];
      const s = this.leafStart[k];
      const e = s + this.leafCount[k];
      for (let i = s; i < e; i++) scores[idx[i]] += v;
    }
    if (!inBag) return;
    const n = this.n;
    const ni = tree.feature.length;
    for (let r = 0; r < n; r++) {
      if (inBag[r]) continue;
      let node = ni > 0 ? 0 : ~0;
      while (node >= 0) {
        const f = tree.feature[node];
        const b = bins[f * n + r];
        const goLeft = b === this.nvb[f] ? tree.defaultLeft[node] === 1 : b <= this.nodeBin[node];
        node = goLeft ? tree.left[node] : tree.right[node];
      }
      scores[r] += tree.leafValue[~node];
    }
  }
}
