/**
 * Gradient histograms: the one hot loop of training. Shared by the main thread and the worker threads,
 * which run the same code on disjoint feature ranges over the same SharedArrayBuffers, so a histogram is
 * bit-for-bit the same whichever thread built it.
 *
 * A histogram slot holds, for every feature f and bin b, two float64s at slot*slotSize + (binOffset[f] + b)*2:
 * the sums of gradients and of hessians. Row counts are not kept: as in LightGBM, a bin's count is
 * estimated from its hessian sum (count/hessian of the leaf times the bin's hessian), which saves a
 * third of the memory traffic of the hot loop.
 */
import type { GbdtKernels } from '../../math/index.ts';

export interface HistContext {
  nRows: number;
  /** Binned features, column-major: bin of (row r, feature f) at f*nRows + r. */
  bins: Uint8Array;
  /** Row indices, grouped by leaf. */
  idx: Int32Array;
  /** Gradients and hessians gathered in the order of idx (og[i] belongs to row idx[i]); with `direct`, the
   * gradients and hessians themselves, indexed by row (og[idx[i]]). */
  og: Float64Array;
  oh: Float64Array;
  /**
   * True: og/oh are read at the row (og[idx[i]]), so no thread gathers them into leaf order before a
   * histogram: the gather was a serial pass over every leaf's rows. A leaf's rows stay ascending (the
   * partition is stable), so these reads walk forward through memory. Same sums in the same order.
   */
  direct?: boolean;
  /** First bin of each feature in a slot (bins per feature = value bins + the missing bin). */
  binOffset: Int32Array;
  /** Float64s per slot: 2 * total bins. */
  slotSize: number;
  hist: Float64Array;
  /** The features to build, as a list (a job takes a range of it). */
  feats: Int32Array;
  /**
   * Optional row-major copy of `bins` (bin of (r, f) at r*nFeatures+f). When present, histograms are
   * built row by row: a leaf deep in the tree holds scattered rows, and one row's bins then share a
   * cache line instead of costing a miss per feature (LightGBM's row-wise mode does the same).
   */
  rowBins: Uint8Array | null;
  nFeatures: number;
  /**
   * Per-thread scratch: (feature, histogram position of its bin 0) for each feature of the job's range.
   * With `kern` it must lie in the kernels' memory and the positions are byte addresses there.
   */
  hb?: Int32Array;
  /**
   * The WebAssembly histogram and split kernels, when every array above (binOffset included) is a view
   * of their memory (then `hb` and `kout` are too); null or absent: the TypeScript loops below, which
   * the kernels match bit for bit.
   */
  kern?: GbdtKernels | null;
  /** With `kern`: nRows int32s of scratch in the kernels' memory for the row partition (main thread). */
  rowTmp?: Int32Array;
  /** With `kern`: per-thread scratch in the kernels' memory for one split result (SPLIT_STRIDE doubles). */
  kout?: Float64Array;
}

/**
 * Builds the histogram of rows idx[start..end) into `slot` for features feats[fBeg..fEnd); if parentSlot
 * >= 0, then also turns the parent's histogram into the sibling's (parent -= this) for those features.
 */
export function buildHistograms(c: HistContext, start: number, end: number, slot: number, parentSlot: number, fBeg: number, fEnd: number): void {
  const k = c.kern;
  if (k) {
    const hb = kernelFeatures(c, slot, fBeg, fEnd);
    const direct = c.direct === true ? 1 : 0;
    if (c.rowBins) k.gbdtHistRows(c.rowBins.byteOffset, c.nFeatures, c.idx.byteOffset, start, end, c.og.byteOffset, c.oh.byteOffset, direct, hb.byteOffset, fEnd - fBeg);
    else k.gbdtHistCols(c.bins.byteOffset, c.nRows, c.idx.byteOffset, start, end, c.og.byteOffset, c.oh.byteOffset, direct, hb.byteOffset, fEnd - fBeg);
  } else if (c.rowBins) buildRowWise(c, c.rowBins, start, end, slot, fBeg, fEnd);
  else buildColumnWise(c, start, end, slot, fBeg, fEnd);
  if (parentSlot >= 0) {
    const { hist, binOffset, feats, kern } = c;
    const base = slot * c.slotSize;
    const pbase = parentSlot * c.slotSize;
    for (let q = fBeg; q < fEnd; q++) {
      const f = feats[q];
      const a = binOffset[f] * 2;
      const e = binOffset[f + 1] * 2;
      if (kern) kern.gbdtSub(hist.byteOffset + (pbase + a) * 8, hist.byteOffset + (base + a) * 8, e - a);
      else for (let j = a; j < e; j++) hist[pbase + j] -= hist[base + j];
    }
  }
}

/** The job's features into c.hb as (feature, byte address of its bin 0 in `slot`), cleared; for the kernels. */
function kernelFeatures(c: HistContext, slot: number, fBeg: number, fEnd: number): Int32Array {
  const hb = c.hb!;
  const at = c.hist.byteOffset + slot * c.slotSize * 8;
  for (let q = fBeg; q < fEnd; q++) {
    const f = c.feats[q];
    clear(c, slot * c.slotSize, f);
    hb[2 * (q - fBeg)] = f;
    hb[2 * (q - fBeg) + 1] = at + c.binOffset[f] * 16;
  }
  return hb;
}

function buildRowWise(c: HistContext, rowBins: Uint8Array, start: number, end: number, slot: number, fBeg: number, fEnd: number): void {
  const { idx, og, oh, hist, binOffset, feats } = c;
  const direct = c.direct === true;
  const F = c.nFeatures;
  const base = slot * c.slotSize;
  const nf = fEnd - fBeg;
  if (!c.hb || c.hb.length < 2 * nf) c.hb = new Int32Array(2 * Math.max(nf, F));
  const hb = c.hb;
  for (let k = 0; k < nf; k++) {
    const f = feats[fBeg + k];
    clear(c, base, f);
    hb[2 * k] = f;
    hb[2 * k + 1] = base + binOffset[f] * 2;
  }
  const n4 = nf & ~3;
  for (let i = start; i < end; i++) {
    const r = idx[i];
    const o = r * F;
    const j = direct ? r : i;
    const g = og[j];
    const h = oh[j];
    let k = 0;
    for (; k < n4; k += 4) {
      let b = hb[2 * k + 1] + (rowBins[o + hb[2 * k]] << 1);
      hist[b] += g;
      hist[b + 1] += h;
      b = hb[2 * k + 3] + (rowBins[o + hb[2 * k + 2]] << 1);
      hist[b] += g;
      hist[b + 1] += h;
      b = hb[2 * k + 5] + (rowBins[o + hb[2 * k + 4]] << 1);
      hist[b] += g;
      hist[b + 1] += h;
      b = hb[2 * k + 7] + (rowBins[o + hb[2 * k + 6]] << 1);
      hist[b] += g;
      hist[b + 1] += h;
    }
    for (; k < nf; k++) {
      const b = hb[2 * k + 1] + (rowBins[o + hb[2 * k]] << 1);
      hist[b] += g;
      hist[b + 1] += h;
    }
  }
}

function buildColumnWise(c: HistContext, start: number, end: number, slot: number, fBeg: number, fEnd: number): void {
  const { bins, idx, og, oh, hist, binOffset, feats, nRows } = c;
  const direct = c.direct === true;
  const base = slot * c.slotSize;
  let k = fBeg;
  // four features per pass over the rows: idx, og and oh are read once for four histograms
  for (; k + 4 <= fEnd; k += 4) {
    const f0 = feats[k];
    const f1 = feats[k + 1];
    const f2 = feats[k + 2];
    const f3 = feats[k + 3];
    clear(c, base, f0);
    clear(c, base, f1);
    clear(c, base, f2);
    clear(c, base, f3);
    const c0 = f0 * nRows;
    const c1 = f1 * nRows;
    const c2 = f2 * nRows;
    const c3 = f3 * nRows;
    const h0 = base + binOffset[f0] * 2;
    const h1 = base + binOffset[f1] * 2;
    const h2 = base + binOffset[f2] * 2;
    const h3 = base + binOffset[f3] * 2;
    for (let i = start; i < end; i++) {
      const r = idx[i];
      const j = direct ? r : i;
      const g = og[j];
      const h = oh[j];
      let b = h0 + (bins[c0 + r] << 1);
      hist[b] += g;
      hist[b + 1] += h;
      b = h1 + (bins[c1 + r] << 1);
      hist[b] += g;
      hist[b + 1] += h;
      b = h2 + (bins[c2 + r] << 1);
      hist[b] += g;
      hist[b + 1] += h;
      b = h3 + (bins[c3 + r] << 1);
      hist[b] += g;
      hist[b + 1] += h;
    }
  }
  for (; k < fEnd; k++) {
    const f = feats[k];
    clear(c, base, f);
    const col = f * nRows;
    const h0 = base + binOffset[f] * 2;
    for (let i = start; i < end; i++) {
      const r = idx[i];
      const b = h0 + (bins[col + r] << 1);
      const j = direct ? r : i;
      hist[b] += og[j];
      hist[b + 1] += oh[j];
    }
  }
}

function clear(c: HistContext, base: number, f: number): void {
  c.hist.fill(0, base + c.binOffset[f] * 2, base + c.binOffset[f + 1] * 2);
}

/** Reference: the histogram of rows idx[start..end) for feature f, by the plain definition (tests only). */
export function histogramRef(bins: Uint8Array, nRows: number, rows: ArrayLike<number>, grad: ArrayLike<number>, hess: ArrayLike<number>, f: number, nBins: number): Float64Array {
  const out = new Float64Array(nBins * 2);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const b = bins[f * nRows + r];
    out[b * 2] += grad[r];
    out[b * 2 + 1] += hess[r];
  }
  return out;
}

/** Split constraints, fixed for a training run. */
export interface SplitParams {
  lambdaL1: number;
  lambdaL2: number;
  minDataInLeaf: number;
  minSumHessianInLeaf: number;
  minGainToSplit: number;
}

/** L1 soft threshold of a gradient sum. */
export function thresholdL1(g: number, l1: number): number {
  return g > l1 ? g - l1 : g < -l1 ? g + l1 : 0;
}

/** Leaf objective reduction for sums (g, h): T(g)^2 / (h + l2). */
export function leafScore(g: number, h: number, l1: number, l2: number): number {
  const t = thresholdL1(g, l1);
  const d = h + l2;
  return d > 0 ? (t * t) / d : 0;
}

/** Optimal leaf value for sums (g, h): -T(g) / (h + l2). */
export function leafOutput(g: number, h: number, l1: number, l2: number): number {
  const d = h + l2;
  return d > 0 ? -thresholdL1(g, l1) / d : 0;
}

/** Floats per split result: gain, feature, bin, defaultLeft, left gradient sum, left hessian sum. */
export const SPLIT_STRIDE = 6;

/**
 * Best split of one leaf (histogram in `slot`, sums G, H over C rows) over features feats[fBeg..fEnd),
 * written to out[o..o+6). Tries both default directions when the leaf has missing values. A gain must
 * beat minGainToSplit; ties keep the first feature and bin, so ranges reduced in order give the same
 * answer as one pass. gain = -Infinity when no split qualifies.
 */
export function findBestSplit(c: HistContext, sp: SplitParams, slot: number, G: number, H: number, C: number, fBeg: number, fEnd: number, out: Float64Array, o: number): void {
  const { hist, feats, binOffset } = c;
  if (c.kern) {
    const ko = c.kout!;
    c.kern.gbdtBestSplit(hist.byteOffset + slot * c.slotSize * 8, binOffset.byteOffset, feats.byteOffset + fBeg * 4, fEnd - fBeg, G, H, C, sp.lambdaL1, sp.lambdaL2, sp.minDataInLeaf, sp.minSumHessianInLeaf, sp.minGainToSplit, ko.byteOffset);
    for (let q = 0; q < SPLIT_STRIDE; q++) out[o + q] = ko[q];
    return;
  }
  const { lambdaL1: l1, lambdaL2: l2, minDataInLeaf: minC, minSumHessianInLeaf: minH } = sp;
  const base = slot * c.slotSize;
  const parentScore = leafScore(G, H, l1, l2);
  // rows per unit of hessian in this leaf: bin counts are estimated as hessian * cntFactor
  const cntFactor = H > 0 ? C / H : 0;
  let bestGain = sp.minGainToSplit;
  let bf = -1;
  let bb = 0;
  let bdl = 0;
  let blg = 0;
  let blh = 0;
  for (let k = fBeg; k < fEnd; k++) {
    const f = feats[k];
    const nv = binOffset[f + 1] - binOffset[f] - 1;
    const o0 = base + binOffset[f] * 2;
    const mo = o0 + nv * 2;
    const mg = hist[mo];
    const mh = hist[mo + 1];
    const hasMissing = mh > 0 || mg !== 0;
    // pass 1: missing values go right (value bins 0..t left); with missing values also t = nv-1
    let lg = 0;
    let lh = 0;
    const last = hasMissing ? nv : nv - 1;
    for (let t = 0; t < last; t++) {
      const j = o0 + t * 2;
      lg += hist[j];
      lh += hist[j + 1];
      if (lh < minH || Math.round(lh * cntFactor) < minC) continue;
      const rh = H - lh;
      if (rh < minH || C - Math.round(lh * cntFactor) < minC) break;
      const gain = leafScore(lg, lh, l1, l2) + leafScore(G - lg, rh, l1, l2) - parentScore;
      if (gain > bestGain) {
        bestGain = gain;
        bf = f;
        bb = t;
        // no missing values in training: send missing to the side with more hessian
        bdl = hasMissing ? 0 : lh >= rh ? 1 : 0;
        blg = lg;
        blh = lh;
      }
    }
    if (!hasMissing) continue;
    // pass 2: missing values go left with value bins 0..t
    lg = mg;
    lh = mh;
    for (let t = 0; t < nv - 1; t++) {
      const j = o0 + t * 2;
      lg += hist[j];
      lh += hist[j + 1];
      if (lh < minH || Math.round(lh * cntFactor) < minC) continue;
      const rh = H - lh;
      if (rh < minH || C - Math.round(lh * cntFactor) < minC) break;
      const gain = leafScore(lg, lh, l1, l2) + leafScore(G - lg, rh, l1, l2) - parentScore;
      if (gain > bestGain) {
        bestGain = gain;
        bf = f;
        bb = t;
        bdl = 1;
        blg = lg;
        blh = lh;
      }
    }
  }
  out[o] = bf >= 0 && bestGain > 0 ? bestGain : -Infinity;
  out[o + 1] = bf;
  out[o + 2] = bb;
  out[o + 3] = bdl;
  out[o + 4] = blg;
  out[o + 5] = blh;
}

/**
 * The job descriptor every thread reads (Int32 words over a SharedArrayBuffer). A split step is cut into
 * chunks of CHUNK features; threads take chunks with Atomics.add on NEXT until none is left, so a slow
 * or descheduled thread delays nothing. DONE counts finished chunks.
 */
export const JOB = { SEQ: 0, CMD: 1, NEXT: 2, DONE: 3, ERR: 4, NCHUNKS: 5, CHUNK: 6, NFEATS: 7, START: 8, END: 9, SLOT: 10, PARENT: 11, SLOT_A: 12, SLOT_B: 13, SIZE: 14 } as const;
/** Float64 job words: the sums G, H and row count C of leaves A and B. */
export const JOBF = { GA: 0, HA: 1, CA: 2, GB: 3, HB: 4, CB: 5, SIZE: 6 } as const;
/** NEXT is parked here between jobs, so a late thread finds no chunk. */
export const NO_CHUNKS = 1 << 30;

/**
 * Chunk k of a split step, over features feats[k*CHUNK .. (k+1)*CHUNK): build the histogram of
 * idx[START..END) into SLOT (if SLOT >= 0; subtracting it from PARENT if PARENT >= 0), then write the
 * best split of leaf A (and B) whose histogram is in SLOT_A (SLOT_B) to res at k*2*SPLIT_STRIDE (and
 * + SPLIT_STRIDE); -Infinity gain when a leaf is absent (< 0).
 */
export function runChunk(c: HistContext, sp: SplitParams, j: Int32Array, jf: Float64Array, res: Float64Array, k: number): void {
  const fb = k * j[JOB.CHUNK];
  const fe = Math.min(fb + j[JOB.CHUNK], j[JOB.NFEATS]);
  const o = k * 2 * SPLIT_STRIDE;
  if (j[JOB.SLOT] >= 0) buildHistograms(c, j[JOB.START], j[JOB.END], j[JOB.SLOT], j[JOB.PARENT], fb, fe);
  if (j[JOB.SLOT_A] >= 0) findBestSplit(c, sp, j[JOB.SLOT_A], jf[JOBF.GA], jf[JOBF.HA], jf[JOBF.CA], fb, fe, res, o);
  else res[o] = -Infinity;
  if (j[JOB.SLOT_B] >= 0) findBestSplit(c, sp, j[JOB.SLOT_B], jf[JOBF.GB], jf[JOBF.HB], jf[JOBF.CB], fb, fe, res, o + SPLIT_STRIDE);
  else res[o + SPLIT_STRIDE] = -Infinity;
}

/** Takes and runs chunks of the current job until none is left (every thread, main included). */
export function drainChunks(c: HistContext, sp: SplitParams, j: Int32Array, jf: Float64Array, res: Float64Array): void {
  for (;;) {
    const k = Atomics.add(j, JOB.NEXT, 1);
    if (k >= j[JOB.NCHUNKS]) return;
    try {
      runChunk(c, sp, j, jf, res, k);
    } catch (e) {
      Atomics.store(j, JOB.ERR, 1);
      throw e;
    } finally {
      if (Atomics.add(j, JOB.DONE, 1) + 1 === j[JOB.NCHUNKS]) Atomics.notify(j, JOB.DONE);
    }
  }
}
