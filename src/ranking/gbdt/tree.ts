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
 * All trees of a model in one set of flat arrays, the form prediction runs on: no object per node.
 * Internal nodes of all trees are concatenated; child references are global (c >= 0 node, c < 0 leaf ~c).
 */
export class FlatForest {
  readonly nTrees: number;
  readonly nFeatures: number;
  readonly baseScore: number;
  readonly roots: Int32Array;
  readonly feature: Int32Array;
  readonly threshold: Float64Array;
  readonly defaultLeft: Uint8Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  readonly leafValue: Float64Array;

  constructor(trees: readonly Tree[], nFeatures: number, baseScore: number) {
    this.nTrees = trees.length;
    this.nFeatures = nFeatures;
    this.baseScore = baseScore;
    let ni = 0;
    let nl = 0;
    for (const t of trees) {
      ni += t.feature.length;
      nl += t.leafValue.length;
    }
    this.roots = new Int32Array(trees.length);
    this.feature = new Int32Array(ni);
    this.threshold = new Float64Array(ni);
    this.defaultLeft = new Uint8Array(ni);
    this.left = new Int32Array(ni);
    this.right = new Int32Array(ni);
    this.leafValue = new Float64Array(nl);
    let bi = 0;
    let bl = 0;
    const remap = (c: number): number => (c >= 0 ? c + bi : ~(~c + bl));
    trees.forEach((t, k) => {
      const n = t.feature.length;
      this.roots[k] = n > 0 ? bi : ~bl;
      this.feature.set(t.feature, bi);
      this.threshold.set(t.threshold, bi);
      this.defaultLeft.set(t.defaultLeft, bi);
      for (let i = 0; i < n; i++) {
        this.left[bi + i] = remap(t.left[i]);
        this.right[bi + i] = remap(t.right[i]);
      }
      this.leafValue.set(t.leafValue, bl);
      bi += n;
      bl += t.leafValue.length;
    });
  }

  /**
   * Raw scores (margins) of nRows row-major rows into the caller's `out` (length >= nRows). Trees are the
   * outer loop over blocks of rows, so one tree's nodes stay in cache while a block of rows walks it.
   * A NaN fails both `v < t` and `v >= t`, which is where the default direction is read.
   * @example const out = new Float64Array(500); forest.predictRaw(x, 500, out);
   */
  predictRaw(x: Float32Array | Float64Array, nRows: number, out: Float64Array, treeLimit = this.nTrees): Float64Array {
    const F = this.nFeatures;
    if (x.length < nRows * F) throw new Error(`predictRaw: features have length ${x.length}, need nRows*nFeatures = ${nRows * F}`);
    if (out.length < nRows) throw new Error(`predictRaw: out has length ${out.length}, need ${nRows}`);
    const nT = Math.min(treeLimit, this.nTrees);
    if (x instanceof Float32Array) predictBlocks32(this, x, nRows, out, nT);
    else predictBlocks64(this, x, nRows, out, nT);
    return out;
  }
}

const BLOCK = 256;

// Two copies so each stays monomorphic on its array type (V8 optimises a typed-array load per type).
function predictBlocks32(f: FlatForest, x: Float32Array, nRows: number, out: Float64Array, nT: number): void {
  const F = f.nFeatures;
  const { roots, feature, threshold, defaultLeft, left, right, leafValue } = f;
  const base = f.baseScore;
  for (let r0 = 0; r0 < nRows; r0 += BLOCK) {
    const r1 = Math.min(nRows, r0 + BLOCK);
    for (let r = r0; r < r1; r++) out[r] = base;
    for (let t = 0; t < nT; t++) {
      const root = roots[t];
      for (let r = r0; r < r1; r++) {
        const xo = r * F;
        let node = root;
        while (node >= 0) {
          const v = x[xo + feature[node]];
          const th = threshold[node];
          node = v < th ? left[node] : v >= th ? right[node] : defaultLeft[node] === 1 ? left[node] : right[node];
        }
        out[r] += leafValue[~node];
      }
    }
  }
}

function predictBlocks64(f: FlatForest, x: Float64Array, nRows: number, out: Float64Array, nT: number): void {
  const F = f.nFeatures;
  const { roots, feature, threshold, defaultLeft, left, right, leafValue } = f;
  const base = f.baseScore;
  for (let r0 = 0; r0 < nRows; r0 += BLOCK) {
    const r1 = Math.min(nRows, r0 + BLOCK);
    for (let r = r0; r < r1; r++) out[r] = base;
    for (let t = 0; t < nT; t++) {
      const root = roots[t];
      for (let r = r0; r < r1; r++) {
        const xo = r * F;
        let node = root;
        while (node >= 0) {
          const v = x[xo + feature[node]];
          const th = threshold[node];
          node = v < th ? left[node] : v >= th ? right[node] : defaultLeft[node] === 1 ? left[node] : right[node];
        }
        out[r] += leafValue[~node];
      }
    }
  }
}
