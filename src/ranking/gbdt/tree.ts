import type { GbdtKernelSet } from '../../math/index.ts';
import { gbdtKernels } from './kernels.ts';

/**
 * Trees in flat arrays. A tree with L leaves has L-1 internal nodes, numbered 0.. (the root is 0);
 * a child reference c >= 0 is internal node c, c < 0 is leaf ~c. A row goes left when
 * x[feature] < threshold, and a missing value (NaN) goes left when defaultLeft is 1.
 */
export interface Tree {
  feature: Int32Array;
  threshold: Float64Array;
  defaultLeft: Uint8Array;
  left: Int32Array;
  right: Int32Array;
  /** Loss reduction of each split (for gain importance). */
  gain: Float64Array;
  /** What the node would output as a leaf (shrinkage applied), for per-feature contributions. */
  nodeValue: Float64Array;
  /** Training rows through each internal node (hessian cover for imported XGBoost models). */
  nodeCount: Float64Array;
  leafValue: Float64Array;
  leafCount: Float64Array;
}

/** Object form, used by the reference predictor and for reading trees in tests. */
export type TreeNode =
  | { kind: 'split'; feature: number; threshold: number; defaultLeft: boolean; gain: number; left: TreeNode; right: TreeNode }
  | { kind: 'leaf'; value: number };

/** A tree that is one leaf. */
export function constantTree(value: number, count = 0): Tree {
  return {
    feature: new Int32Array(0),
    threshold: new Float64Array(0),
    defaultLeft: new Uint8Array(0),
    left: new Int32Array(0),
    right: new Int32Array(0),
    gain: new Float64Array(0),
    nodeValue: new Float64Array(0),
    nodeCount: new Float64Array(0),
    leafValue: Float64Array.of(value),
    leafCount: Float64Array.of(count),
  };
}

/** The object form of a flat tree. */
export function treeToObject(t: Tree): TreeNode {
  const visit = (c: number): TreeNode => {
    if (c < 0) return { kind: 'leaf', value: t.leafValue[~c] };
    return { kind: 'split', feature: t.feature[c], threshold: t.threshold[c], defaultLeft: t.defaultLeft[c] === 1, gain: t.gain[c], left: visit(t.left[c]), right: visit(t.right[c]) };
  };
  return visit(t.feature.length > 0 ? 0 : ~0);
}

/** Reference predictor: the plain recursive walk over the object form for one row. */
export function predictNodeRef(node: TreeNode, row: ArrayLike<number>): number {
  if (node.kind === 'leaf') return node.value;
  const v = row[node.feature];
  const goLeft = Number.isNaN(v) ? node.defaultLeft : v < node.threshold;
  return predictNodeRef(goLeft ? node.left : node.right, row);
}

/** Checks a tree's structure (every node reached once, indices in range); throws naming the tree. */
export function checkTree(t: Tree, nFeatures: number, what: string): void {
  const ni = t.feature.length;
  const nl = t.leafValue.length;
  if (nl !== ni + 1) throw new Error(`${what}: ${ni} internal nodes need ${ni + 1} leaves, got ${nl}`);
  for (const [name, a] of [['threshold', t.threshold], ['defaultLeft', t.defaultLeft], ['left', t.left], ['right', t.right], ['gain', t.gain], ['nodeValue', t.nodeValue], ['nodeCount', t.nodeCount]] as const) {
    if (a.length !== ni) throw new Error(`${what}.${name}: length ${a.length}, expected ${ni}`);
  }
  if (t.leafCount.length !== nl) throw new Error(`${what}.leafCount: length ${t.leafCount.length}, expected ${nl}`);
  const seenI = new Uint8Array(ni);
  const seenL = new Uint8Array(nl);
  const stack = [ni > 0 ? 0 : ~0];
  while (stack.length) {
    const c = stack.pop()!;
    if (c < 0) {
      if (~c >= nl || seenL[~c]) throw new Error(`${what}: leaf ${~c} is out of range or reached twice`);
      seenL[~c] = 1;
      continue;
    }
    if (c >= ni || seenI[c]) throw new Error(`${what}: node ${c} is out of range or reached twice`);
    seenI[c] = 1;
    if (t.feature[c] < 0 || t.feature[c] >= nFeatures) throw new Error(`${what}: node ${c} splits on feature ${t.feature[c]}, the model has ${nFeatures}`);
    if (Number.isNaN(t.threshold[c])) throw new Error(`${what}: node ${c} has a NaN threshold`);
    stack.push(t.right[c], t.left[c]);
  }
  if (seenI.includes(0) || seenL.includes(0)) throw new Error(`${what}: some nodes are not reachable from the root`);
  for (let i = 0; i < nl; i++) if (!Number.isFinite(t.leafValue[i])) throw new Error(`${what}: leaf ${i} value ${t.leafValue[i]} is not finite`);
}

/**
 * All trees of a model packed for prediction: no object per node. Node k of the forest is four 32-bit
 * words at 4k: feature, threshold (float32, rounded up so that `v < t` is unchanged for float32 inputs),
 * first child (the two children are adjacent: right = left + 1) and flags (1 = missing goes right,
 * 2 = leaf). A leaf is its own child with a NaN threshold, so stepping from a leaf stays there: rows walk
 * in lockstep without a branch per row. thr64 and leafValue are parallel float64 arrays.
 */
export class FlatForest {
  readonly nTrees: number;
  readonly nFeatures: number;
  readonly baseScore: number;
  readonly nNodes: number;
  /** Root node of each tree. */
  readonly roots!: Int32Array;
  /** Node words (feature, -, first child, flags) and the same buffer seen as float32 (threshold at 4k+1). */
  readonly nodes: Int32Array;
  readonly nodesF32: Float32Array;
  /** Exact float64 thresholds, for float64 inputs. */
  readonly thr64: Float64Array;
  /** Leaf values by node (0 for internal nodes). */
  readonly leafValue!: Float64Array;
  /** What each node would output as a leaf (its leaf value for leaves), for contributions. */
  readonly nodeValue: Float64Array;
  /** Scratch of predictRaw: row indices, NaN-free rows first. */
  private rowOrder = new Int32Array(0);
  /** With the WebAssembly walk: the kernels, and staging for KERNEL_ROWS rows in their memory. */
  private readonly kern: { set: GbdtKernelSet; x: Float32Array; rows: Int32Array; out: Float64Array } | null = null;

  /**
   * @param kernels 'auto' (default): float32 rows walk in the WebAssembly kernel when it is built (and
   * TANDEM_KERNELS is not 'js'), which gives the same doubles as the TypeScript walk; 'js': the TypeScript walk.
   */
  constructor(trees: readonly Tree[], nFeatures: number, baseScore: number, kernels: 'auto' | 'js' = 'auto') {
    this.nTrees = trees.length;
    this.nFeatures = nFeatures;
    this.baseScore = baseScore;
    let total = 0;
    for (const t of trees) total += t.feature.length + t.leafValue.length;
    this.nNodes = total;
    const T64 = (this.thr64 = new Float64Array(total));
    const NV = (this.nodeValue = new Float64Array(total));
    let buf: ArrayBufferLike = new ArrayBuffer(total * 16);
    let at = 0;
    // the walked arrays and the staging areas in one memory: [nodes | leafValue | roots | x | rows | out]
    const sizes = [total * 16, total * 8, trees.length * 4, KERNEL_ROWS * nFeatures * 4, KERNEL_ROWS * 4, KERNEL_ROWS * 8];
    const arena = gbdtKernels(kernels, sizes);
    if (arena) {
      buf = arena.set.memory.buffer;
      const offs = sizes.map((b) => arena.take(b));
      this.kern = { set: arena.set, x: new Float32Array(buf, offs[3], KERNEL_ROWS * nFeatures), rows: new Int32Array(buf, offs[4], KERNEL_ROWS), out: new Float64Array(buf, offs[5], KERNEL_ROWS) };
      at = offs[0];
      this.leafValue = new Float64Array(buf, offs[1], total);
      this.roots = new Int32Array(buf, offs[2], trees.length);
    }
    const I = (this.nodes = new Int32Array(buf, at, total * 4));
    const T = (this.nodesF32 = new Float32Array(buf, at, total * 4));
    this.leafValue ??= new Float64Array(total);
    this.roots ??= new Int32Array(trees.length);
    const V = this.leafValue;
    let next = 0;
    const srcQ: number[] = [];
    const dstQ: number[] = [];
    trees.forEach((t, k) => {
      const root = next++;
      this.roots[k] = root;
      // breadth first, so siblings land side by side
      srcQ.length = 0;
      dstQ.length = 0;
      srcQ.push(t.feature.length > 0 ? 0 : ~0);
      dstQ.push(root);
      for (let q = 0; q < srcQ.length; q++) {
        const src = srcQ[q];
        const dst = dstQ[q];
        const b = dst * 4;
        if (src < 0) {
          I[b] = 0;
          T[b + 1] = NaN;
          T64[dst] = NaN;
          I[b + 2] = dst;
          I[b + 3] = 2;
          V[dst] = t.leafValue[~src];
          NV[dst] = t.leafValue[~src];
          continue;
        }
        const c = next;
        next += 2;
        I[b] = t.feature[src];
        T[b + 1] = ceilFloat32(t.threshold[src]);
        T64[dst] = t.threshold[src];
        I[b + 2] = c;
        I[b + 3] = t.defaultLeft[src] === 1 ? 0 : 1;
        NV[dst] = t.nodeValue[src];
        srcQ.push(t.left[src], t.right[src]);
        dstQ.push(c, c + 1);
      }
    });
  }

  /**
   * Raw scores (margins) of nRows row-major rows into the caller's `out` (length >= nRows); `treeLimit`
   * uses the first trees only. Trees are the outer loop, so a tree's nodes stay in cache while all rows
   * walk it, four rows at a time in lockstep (independent chains of loads overlap). A step is
   * child = first + (v >= t | (v is NaN & missing-goes-right)): no data-dependent branch.
   * @example const out = new Float64Array(500); forest.predictRaw(x, 500, out);
   */
  predictRaw(x: Float32Array | Float64Array, nRows: number, out: Float64Array, treeLimit = this.nTrees): Float64Array {
    const F = this.nFeatures;
    if (x.length < nRows * F) throw new Error(`predictRaw: features have length ${x.length}, need nRows*nFeatures = ${nRows * F}`);
    if (out.length < nRows) throw new Error(`predictRaw: out has length ${out.length}, need ${nRows}`);
    const nT = Math.min(treeLimit, this.nTrees);
    out.fill(this.baseScore, 0, nRows);
    if (x instanceof Float32Array && this.kern) {
      this.predictKernel(x, nRows, out, nT, this.kern);
    } else if (x instanceof Float32Array) {
      // rows without NaN walk without the missing-value term (about 20% faster); NaN is rare in ranker
      // rows (a few cells per request), so the clean rows go first and only the others pay for it
      if (this.rowOrder.length < nRows) this.rowOrder = new Int32Array(nRows);
      const rows = this.rowOrder;
      let clean = 0;
      let dirty = nRows;
      for (let r = 0; r < nRows; r++) {
        if (rowHasNaN(x, r * F, F)) rows[--dirty] = r;
        else rows[clean++] = r;
      }
      walk32NoNaN(this, x, rows, 0, clean, out, nT);
      walk32(this, x, rows, clean, nRows, out, nT);
    } else {
      walk64(this, x, nRows, out, nT);
    }
    return out;
  }

  /** predictRaw of float32 rows in the WebAssembly walk, KERNEL_ROWS rows at a time through the staging areas. */
  private predictKernel(x: Float32Array, nRows: number, out: Float64Array, nT: number, k: NonNullable<FlatForest['kern']>): void {
    const F = this.nFeatures;
    const { x: sx, rows, out: so } = k;
    for (let c0 = 0; c0 < nRows; c0 += KERNEL_ROWS) {
      const m = Math.min(KERNEL_ROWS, nRows - c0);
      sx.set(x.subarray(c0 * F, (c0 + m) * F));
      // as in the TypeScript walk: NaN-free rows first, walked without the missing-value term
      let clean = 0;
      let dirty = m;
      for (let r = 0; r < m; r++) {
        if (rowHasNaN(sx, r * F, F)) rows[--dirty] = r;
        else rows[clean++] = r;
      }
      so.fill(this.baseScore, 0, m);
      const I = this.nodes.byteOffset;
      const R = this.roots.byteOffset;
      const V = this.leafValue.byteOffset;
      if (clean > 0) k.set.kernels.gbdtPredict(I, R, nT, V, sx.byteOffset, F, rows.byteOffset, 0, clean, so.byteOffset, 0);
      if (clean < m) k.set.kernels.gbdtPredict(I, R, nT, V, sx.byteOffset, F, rows.byteOffset, clean, m, so.byteOffset, 1);
      out.set(so.subarray(0, m), c0);
    }
  }

  /** True when float32 rows are walked by the WebAssembly kernel. */
  get usesKernel(): boolean {
    return this.kern !== null;
  }

  /**
   * Per-feature path contributions (Saabas) of one row, as `GbdtModel.contributions` computes them
   * from the tree objects, over the flat nodes (same order of sums, so the same doubles): out[f] sums
   * the change in node value at each split on f along the row's path; out[nFeatures] is the bias.
   * @example const c = new Float64Array(forest.nFeatures + 1); forest.contributions(x, 3 * F, c);
   */
  contributions(x: ArrayLike<number>, offset: number, out: Float64Array): Float64Array {
    const F = this.nFeatures;
    if (out.length < F + 1) throw new Error(`contributions: out has length ${out.length}, need ${F + 1}`);
    const I = this.nodes;
    const T = this.thr64;
    const NV = this.nodeValue;
    out.fill(0, 0, F + 1);
    let bias = this.baseScore;
    for (let t = 0; t < this.nTrees; t++) {
      let a = this.roots[t];
      let v = NV[a];
      bias += v;
      while ((I[4 * a + 3] & 2) === 0) {
        const f = I[4 * a];
        const xv = x[offset + f];
        const next = I[4 * a + 2] + (xv !== xv ? I[4 * a + 3] & 1 : +!(xv < T[a]));
        const nv = NV[next];
        out[f] += nv - v;
        v = nv;
        a = next;
      }
    }
    out[F] = bias;
    return out;
  }
}

/** Rows per call of the WebAssembly walk (its staging areas hold this many). */
const KERNEL_ROWS = 1024;

/** The smallest float32 >= t: for a float32 v, v < t exactly when v < ceilFloat32(t). */
export function ceilFloat32(t: number): number {
  const f = Math.fround(t);
  if (!(f < t)) return f;
  const b = new Float32Array(1);
  const u = new Int32Array(b.buffer);
  b[0] = f;
  u[0] += f > 0 || Object.is(f, 0) ? 1 : -1;
  return b[0];
}

function rowHasNaN(x: Float32Array, o: number, F: number): boolean {
  for (let i = o; i < o + F; i++) if (x[i] !== x[i]) return true;
  return false;
}

/** walk32 for rows known to hold no NaN: the missing-value term is dropped. */
function walk32NoNaN(f: FlatForest, x: Float32Array, rows: Int32Array, from: number, to: number, out: Float64Array, nT: number): void {
  const F = f.nFeatures;
  const I = f.nodes;
  const T = f.nodesF32;
  const V = f.leafValue;
  const n4 = from + ((to - from) & ~3);
  for (let t = 0; t < nT; t++) {
    const root = f.roots[t] << 2;
    for (let i = from; i < n4; i += 4) {
      const r0 = rows[i];
      const r1 = rows[i + 1];
      const r2 = rows[i + 2];
      const r3 = rows[i + 3];
      const o0 = r0 * F;
      const o1 = r1 * F;
      const o2 = r2 * F;
      const o3 = r3 * F;
      let a = root;
      let b = root;
      let c = root;
      let d = root;
      while ((I[a + 3] & I[b + 3] & I[c + 3] & I[d + 3] & 2) === 0) {
        a = (I[a + 2] + +(x[o0 + I[a]] >= T[a + 1])) << 2;
        b = (I[b + 2] + +(x[o1 + I[b]] >= T[b + 1])) << 2;
        c = (I[c + 2] + +(x[o2 + I[c]] >= T[c + 1])) << 2;
        d = (I[d + 2] + +(x[o3 + I[d]] >= T[d + 1])) << 2;
      }
      out[r0] += V[a >> 2];
      out[r1] += V[b >> 2];
      out[r2] += V[c >> 2];
      out[r3] += V[d >> 2];
    }
    for (let i = n4; i < to; i++) {
      const r = rows[i];
      const o = r * F;
      let a = root;
      while ((I[a + 3] & 2) === 0) a = (I[a + 2] + +(x[o + I[a]] >= T[a + 1])) << 2;
      out[r] += V[a >> 2];
    }
  }
}

// Separate copies so each stays monomorphic in its input array type.
function walk32(f: FlatForest, x: Float32Array, rows: Int32Array, from: number, to: number, out: Float64Array, nT: number): void {
  const F = f.nFeatures;
  const I = f.nodes;
  const T = f.nodesF32;
  const V = f.leafValue;
  const n4 = from + ((to - from) & ~3);
  for (let t = 0; t < nT; t++) {
    const root = f.roots[t] << 2;
    for (let i = from; i < n4; i += 4) {
      const r0 = rows[i];
      const r1 = rows[i + 1];
      const r2 = rows[i + 2];
      const r3 = rows[i + 3];
      const o0 = r0 * F;
      const o1 = r1 * F;
      const o2 = r2 * F;
      const o3 = r3 * F;
      let a = root;
      let b = root;
      let c = root;
      let d = root;
      while ((I[a + 3] & I[b + 3] & I[c + 3] & I[d + 3] & 2) === 0) {
        const va = x[o0 + I[a]];
        a = (I[a + 2] + (+(va >= T[a + 1]) | (+(va !== va) & I[a + 3]))) << 2;
        const vb = x[o1 + I[b]];
        b = (I[b + 2] + (+(vb >= T[b + 1]) | (+(vb !== vb) & I[b + 3]))) << 2;
        const vc = x[o2 + I[c]];
        c = (I[c + 2] + (+(vc >= T[c + 1]) | (+(vc !== vc) & I[c + 3]))) << 2;
        const vd = x[o3 + I[d]];
        d = (I[d + 2] + (+(vd >= T[d + 1]) | (+(vd !== vd) & I[d + 3]))) << 2;
      }
      out[r0] += V[a >> 2];
      out[r1] += V[b >> 2];
      out[r2] += V[c >> 2];
      out[r3] += V[d >> 2];
    }
    for (let i = n4; i < to; i++) {
      const r = rows[i];
      const o = r * F;
      let a = root;
      while ((I[a + 3] & 2) === 0) {
        const v = x[o + I[a]];
        a = (I[a + 2] + (+(v >= T[a + 1]) | (+(v !== v) & I[a + 3]))) << 2;
      }
      out[r] += V[a >> 2];
    }
  }
}

function walk64(f: FlatForest, x: Float64Array, nRows: number, out: Float64Array, nT: number): void {
  const F = f.nFeatures;
  const I = f.nodes;
  const T = f.thr64;
  const V = f.leafValue;
  const n4 = nRows & ~3;
  for (let t = 0; t < nT; t++) {
    const root = f.roots[t];
    for (let r = 0; r < n4; r += 4) {
      const o0 = r * F;
      const o1 = o0 + F;
      const o2 = o1 + F;
      const o3 = o2 + F;
      let a = root;
      let b = root;
      let c = root;
      let d = root;
      while ((I[4 * a + 3] & I[4 * b + 3] & I[4 * c + 3] & I[4 * d + 3] & 2) === 0) {
        const va = x[o0 + I[4 * a]];
        a = I[4 * a + 2] + (+(va >= T[a]) | (+(va !== va) & I[4 * a + 3]));
        const vb = x[o1 + I[4 * b]];
        b = I[4 * b + 2] + (+(vb >= T[b]) | (+(vb !== vb) & I[4 * b + 3]));
        const vc = x[o2 + I[4 * c]];
        c = I[4 * c + 2] + (+(vc >= T[c]) | (+(vc !== vc) & I[4 * c + 3]));
        const vd = x[o3 + I[4 * d]];
        d = I[4 * d + 2] + (+(vd >= T[d]) | (+(vd !== vd) & I[4 * d + 3]));
      }
      out[r] += V[a];
      out[r + 1] += V[b];
      out[r + 2] += V[c];
      out[r + 3] += V[d];
    }
    for (let r = n4; r < nRows; r++) {
      const o = r * F;
      let a = root;
      while ((I[4 * a + 3] & 2) === 0) {
        const v = x[o + I[4 * a]];
        a = I[4 * a + 2] + (+(v >= T[a]) | (+(v !== v) & I[4 * a + 3]));
      }
      out[r] += V[a];
    }
  }
}
