/**
 * The two-tower network: parameter layout over one flat array, the towers' forward and backward
 * passes, and one training step's loss and gradients (shared by the single-thread trainer, the
 * Hogwild workers and the gradient checks).
 */
import type { Gemm, Rng, TrainKernels } from '../../math/index.ts';
import type { FeatureSpace, TableSpec, TowerBatch, TowerInputSpec } from '../../features/index.ts';
import { denseBackward, denseForward, l2NormalizeBackward, l2NormalizeForward, poolBackward, poolBackwardFast, poolForward, reluBackward, reluForward, RowGrad } from '../../math/index.ts';
import { bceLoss, softmaxLoss, softmaxLossFast } from './loss.ts';

/** Where every tensor lives in the flat parameter array. */
export interface TensorRef {
  name: string;
  offset: number;
  length: number;
}

/** A tower's MLP: sizes[0] is the input width, the last is the output dimension. */
export interface TowerLayout {
  sizes: number[];
  /** Column offset in the input of each bag field, and of the dense block. */
  fieldOffsets: number[];
  denseOffset: number;
  weights: TensorRef[];
  biases: TensorRef[];
}

export interface ModelLayout {
  tables: TensorRef[];
  user: TowerLayout;
  item: TowerLayout;
  /** Dense (MLP) parameters occupy params[denseStart .. total). */
  denseStart: number;
  total: number;
}

/** Lays out tables then both towers' MLPs. `hidden` are the hidden widths, `dim` the output width. */
export function makeLayout(tables: readonly TableSpec[], user: TowerInputSpec, item: TowerInputSpec, hidden: readonly number[], dim: number): ModelLayout {
  let off = 0;
  const refs: TensorRef[] = tables.map((t) => {
    const r = { name: t.name, offset: off, length: t.rows * t.dim };
    off += r.length;
    return r;
  });
  const denseStart = off;
  const tower = (name: string, spec: TowerInputSpec): TowerLayout => {
    const fieldOffsets: number[] = [];
    let w = 0;
    for (const f of spec.bags) {
      fieldOffsets.push(w);
      w += tables[f.table].dim;
    }
    const denseOffset = w;
    w += spec.denseWidth;
    if (w === 0) throw new Error(`two-tower: the ${name} tower has no inputs`);
    const sizes = [w, ...hidden, dim];
    const weights: TensorRef[] = [];
    const biases: TensorRef[] = [];
    for (let l = 0; l + 1 < sizes.length; l++) {
      weights.push({ name: `${name}.W${l}`, offset: off, length: sizes[l] * sizes[l + 1] });
      off += sizes[l] * sizes[l + 1];
      biases.push({ name: `${name}.b${l}`, offset: off, length: sizes[l + 1] });
      off += sizes[l + 1];
    }
    return { sizes, fieldOffsets, denseOffset, weights, biases };
  };
  const u = tower('user', user);
  const i = tower('item', item);
  return { tables: refs, user: u, item: i, denseStart, total: off };
}

/** Random initialisation: embeddings N(0, initStd^2), weights He-scaled, biases 0. */
export function initParams(layout: ModelLayout, params: Float32Array, rng: Rng, initStd: number): void {
  for (const t of layout.tables) for (let k = 0; k < t.length; k++) params[t.offset + k] = rng.normal() * initStd;
  for (const tw of [layout.user, layout.item]) {
    for (let l = 0; l < tw.weights.length; l++) {
      const s = Math.sqrt(2 / tw.sizes[l]);
      const w = tw.weights[l];
      for (let k = 0; k < w.length; k++) params[w.offset + k] = rng.normal() * s;
      params.fill(0, tw.biases[l].offset, tw.biases[l].offset + tw.biases[l].length);
    }
  }
}

/** Preallocated activations and gradients of one tower for up to `cap` rows. */
export class TowerScratch {
  readonly acts: Float32Array[];
  readonly dActs: Float32Array[];
  readonly out: Float32Array;
  readonly dOut: Float32Array;
  readonly norms: Float32Array;

  constructor(
    readonly layout: TowerLayout,
    readonly cap: number,
    private readonly alloc: (n: number) => Float32Array,
  ) {
    this.acts = layout.sizes.map((s) => alloc(cap * s));
    this.dActs = layout.sizes.map((s) => alloc(cap * s));
    const k = layout.sizes[layout.sizes.length - 1];
    this.out = alloc(cap * k);
    this.dOut = alloc(cap * k);
    this.norms = alloc(cap);
  }

  /** Per bag field: the scatter kernel's gradient-row offsets (kernel memory; grown on demand). */
  dst: Int32Array[] = [];

  /** Per bag field: its projection through the first layer per distinct table row (made on first use). */
  proj: (FieldProjection | undefined)[] = [];

  /** Field f's projection buffers for a table of `tableRows` rows of `dim` (made once). */
  projection(f: number, tableRows: number, dim: number, fast: TrainKernels | null): FieldProjection {
    let p = this.proj[f];
    if (!p) {
      const i32 = fast ? (n: number) => fast.allocInt32(n) : (n: number) => new Int32Array(n);
      p = new FieldProjection(tableRows, dim, Math.max(1, this.cap), this.layout.sizes[1], this.alloc, i32, fast !== null);
      this.proj[f] = p;
    }
    return p;
  }

  /** Gives every array back through `free` (the kernel memory's, when `alloc` was its). */
  release(free: (a: Float32Array | Int32Array) => void): void {
    for (const a of [...this.acts, ...this.dActs, this.out, this.dOut, this.norms, ...this.dst.filter((d) => d !== undefined)]) free(a);
    // slotOf and rows are plain arrays; idx and dst are the kernel memory's only when the kernels made them
    for (const p of this.proj) if (p) for (const a of [p.E, p.P, p.G, p.dE, ...(p.kernelInts ? [p.idx, p.dst] : [])]) free(a);
    this.dst = [];
    this.proj = [];
  }

}

/**
 * One bag field's first-layer product taken per distinct table row instead of per batch row: with
 * E the D distinct rows the batch's bags touch and W0_f the first layer's columns for the field,
 * pool(E)_r W0_f^T = pool(E W0_f^T)_r, so the D x dim x nout product replaces the B x dim x nout one
 * (used when D <= B / 2: a field of few values, like age, gender or occupation, over 512 rows).
 * Backward likewise: G = the pooling's scatter of dY into D rows, dW0_f += G^T E, dE = G W0_f.
 */
export class FieldProjection {
  /** table row -> slot, -1 outside a batch's decision */
  readonly slotOf: Int32Array;
  /** slot -> table row, and the number of slots */
  readonly rows: Int32Array;
  D = 0;
  /** the entries' slots, and the scatter kernel's offsets into G (slot * nout); room for 4 entries a row */
  readonly idx: Int32Array;
  readonly dst: Int32Array;
  /** the distinct rows (cap x dim), their projections and projection gradients (cap x nout), their row gradients */
  readonly E: Float32Array;
  readonly P: Float32Array;
  readonly G: Float32Array;
  readonly dE: Float32Array;
  /** whether this batch uses it (decided by Tower.forward) */
  active = false;

  constructor(
    tableRows: number,
    readonly dim: number,
    readonly cap: number,
    readonly nout: number,
    alloc: (n: number) => Float32Array,
    i32: (n: number) => Int32Array,
    /** whether idx and dst are in the kernel memory (to be freed with the scratch) */
    readonly kernelInts: boolean,
  ) {
    this.slotOf = new Int32Array(tableRows).fill(-1);
    this.rows = new Int32Array(cap);
    this.idx = i32(cap * 4);
    this.dst = i32(cap * 4);
    this.E = alloc(cap * dim);
    this.P = alloc(cap * nout);
    this.G = alloc(cap * nout);
    this.dE = alloc(cap * dim);
  }

  /**
   * Maps the bag's entries to distinct table rows; active when there are at most `limit` (<= cap) of
   * them and every row's weights are not all 0 (whose entries the pooling's backward leaves untouched).
   */
  decide(offsets: Int32Array, indices: Int32Array, weights: Float32Array, B: number, limit: number): boolean {
    const n = offsets[B];
    this.active = false;
    if (n > this.idx.length) return false; // long bags (a history): many distinct rows anyway
    let D = 0;
    let ok = true;
    for (let r = 0; r < B && ok; r++) {
      let z = 0;
      for (let e = offsets[r]; e < offsets[r + 1]; e++) {
        z += Math.abs(weights[e]);
        const row = indices[e];
        let sl = this.slotOf[row];
        if (sl < 0) {
          if (D >= limit) {
            ok = false;
            break;
          }
          sl = D++;
          this.slotOf[row] = sl;
          this.rows[sl] = row;
        }
        this.idx[e] = sl;
      }
      if (z === 0) ok = false;
    }
    for (let sl = 0; sl < D; sl++) this.slotOf[this.rows[sl]] = -1;
    this.D = D;
    this.active = ok;
    return ok;
  }
}

function anyActive(proj: readonly (FieldProjection | undefined)[]): boolean {
  for (const p of proj) if (p?.active) return true;
  return false;
}

/** X[r] (row stride ldx) += sum_e w_e T[idx_e] / sum_e |w_e| over row r's entries: the plain loop of bagPoolAdd. */
export function poolAddRef(offsets: Int32Array, indices: Int32Array, weights: Float32Array, B: number, T: Float32Array, dim: number, X: Float32Array, ldx: number): void {
  for (let r = 0; r < B; r++) {
    let z = 0;
    for (let e = offsets[r]; e < offsets[r + 1]; e++) z += Math.abs(weights[e]);
    if (z === 0) continue;
    for (let e = offsets[r]; e < offsets[r + 1]; e++) {
      const c = weights[e] / z;
      const t = indices[e] * dim;
      for (let j = 0; j < dim; j++) X[r * ldx + j] += c * T[t + j];
    }
  }
}

/** G[idx_e] += w_e dY[r] / sum_e |w_e| over every row's entries: the plain loop of the projection's scatter. */
export function scatterRef(offsets: Int32Array, indices: Int32Array, weights: Float32Array, B: number, dY: Float32Array, dim: number, G: Float32Array): void {
  for (let r = 0; r < B; r++) {
    let z = 0;
    for (let e = offsets[r]; e < offsets[r + 1]; e++) z += Math.abs(weights[e]);
    if (z === 0) continue;
    for (let e = offsets[r]; e < offsets[r + 1]; e++) {
      const c = weights[e] / z;
      const g = indices[e] * dim;
      for (let j = 0; j < dim; j++) G[g + j] += c * dY[r * dim + j];
    }
  }
}

/**
 * One tower: pooled bags and dense block -> MLP (ReLU between layers) -> optional L2 normalisation.
 * Stateless over the parameters, so the same tower runs on live weights or their moving average.
 */
export class Tower {
  // weight and bias views of the last params array seen, so a forward pass allocates no views
  private viewsOf: Float32Array | null = null;
  private W: Float32Array[] = [];
  private b: Float32Array[] = [];
  private tableViews: Float32Array[] = [];

  /**
   * Take a bag field's first-layer product per distinct table row when a batch of B rows touches at
   * most `projectShare` x B of them (FieldProjection): same maths, fewer flops. 0: always pool then
   * multiply (the plain form, for tests); 1: whenever the field has at most B distinct rows (tests).
   */
  projectShare = 0.5;

  constructor(
    readonly spec: TowerInputSpec,
    readonly layout: TowerLayout,
    readonly tables: readonly TensorRef[],
    readonly tableSpecs: readonly TableSpec[],
    readonly normalize: boolean,
  ) {}

  get dim(): number {
    return this.layout.sizes[this.layout.sizes.length - 1];
  }

  private views(params: Float32Array): void {
    if (this.viewsOf === params) return;
    const L = this.layout;
    this.W = L.weights.map((w) => params.subarray(w.offset, w.offset + w.length));
    this.b = L.biases.map((b) => params.subarray(b.offset, b.offset + b.length));
    this.tableViews = this.tables.map((t) => params.subarray(t.offset, t.offset + t.length));
    this.viewsOf = params;
  }

  /** Forward for batch.rows rows; returns s.out, whose first rows x dim values are the output. */
  forward(gemm: Gemm, params: Float32Array, batch: TowerBatch, s: TowerScratch, fast: TrainKernels | null = null): Float32Array {
    const B = batch.rows;
    this.views(params);
    if (B > s.cap) throw new Error(`two-tower: batch of ${B} rows exceeds the scratch capacity ${s.cap}`);
    const L = this.layout;
    const w0 = L.sizes[0];
    const X = s.acts[0];
    let projected = 0;
    for (let f = 0; f < this.spec.bags.length; f++) {
      const bag = batch.bags[f];
      const t = this.spec.bags[f].table;
      const dim = this.tableSpecs[t].dim;
      if (this.projectShare > 0 && B >= 2 && s.projection(f, this.tableSpecs[t].rows, dim, fast).decide(bag.offsets, bag.indices, bag.weights, B, Math.min(B, Math.floor(this.projectShare * B)))) {
        // gather the distinct rows; the first layer multiplies them (below) instead of the pooled rows
        const p = s.proj[f]!;
        const T = this.tableViews[t];
        const E = p.E;
        for (let sl = 0; sl < p.D; sl++) {
          const src = p.rows[sl] * dim;
          const dst = sl * dim;
          for (let j = 0; j < dim; j++) E[dst + j] = T[src + j];
        }
        projected++;
        continue;
      }
      if (s.proj[f]) s.proj[f]!.active = false;
      if (fast) fast.bagPool(bag.offsets, bag.indices, bag.weights, B, this.tableViews[t], dim, X, w0, L.fieldOffsets[f]);
      else poolForward(bag.offsets, bag.indices, bag.weights, B, params, this.tables[t].offset, dim, X, w0, L.fieldOffsets[f]);
    }
    const dw = this.spec.denseWidth;
    if (dw > 0) {
      for (let r = 0; r < B; r++) {
        const o = r * w0 + L.denseOffset;
        for (let j = 0; j < dw; j++) X[o + j] = batch.dense[r * dw + j];
      }
    }
    const nl = L.weights.length;
    for (let l = 0; l < nl; l++) {
      const nin = L.sizes[l];
      const nout = L.sizes[l + 1];
      if (l === 0 && projected > 0) this.firstLayerForward(gemm, batch, s, fast);
      else denseForward(gemm, B, nin, nout, s.acts[l], this.W[l], this.b[l], s.acts[l + 1], fast);
      if (l + 1 < nl) {
        if (fast) fast.relu(s.acts[l + 1], B * nout);
        else reluForward(s.acts[l + 1], B * nout);
      }
    }
    const k = this.dim;
    if (this.normalize && fast) fast.l2Normalize(s.acts[nl], B, k, s.out, s.norms);
    else if (this.normalize) l2NormalizeForward(s.acts[nl], B, k, s.out, s.norms);
    else for (let i = 0; i < B * k; i++) s.out[i] = s.acts[nl][i];
    return s.out;
  }

  /**
   * Backward from s.dOut (rows x dim, d loss / d output) after `forward` on the same batch.
   * Dense gradients add into grad (indexed like params, minus `gradBase`); table gradients into rowGrads.
   */
  backward(gemm: Gemm, params: Float32Array, batch: TowerBatch, s: TowerScratch, grad: Float32Array, gradBase: number, rowGrads: readonly RowGrad[], fast: TrainKernels | null = null): void {
    const B = batch.rows;
    const L = this.layout;
    const nl = L.weights.length;
    const k = this.dim;
    this.views(params);
    const top = s.dActs[nl];
    if (this.normalize && fast) fast.l2NormalizeBackward(s.out, s.norms, s.dOut, B, k, top);
    else if (this.normalize) l2NormalizeBackward(s.out, s.norms, s.dOut, B, k, top);
    else top.set(s.dOut.subarray(0, B * k));
    for (let l = nl - 1; l >= 0; l--) {
      const nin = L.sizes[l];
      const nout = L.sizes[l + 1];
      if (l + 1 < nl) {
        if (fast) fast.reluBackward(s.acts[l + 1], s.dActs[l + 1], B * nout);
        else reluBackward(s.acts[l + 1], s.dActs[l + 1], B * nout);
      }
      const W = this.W[l];
      const gw = L.weights[l].offset - gradBase;
      const gb = L.biases[l].offset - gradBase;
      const gW = grad.subarray(gw, gw + L.weights[l].length);
      const gB = grad.subarray(gb, gb + nout);
      if (l === 0 && anyActive(s.proj)) this.firstLayerBackward(gemm, batch, s, gW, gB, rowGrads, fast);
      else denseBackward(gemm, B, nin, nout, s.acts[l], W, s.dActs[l + 1], gW, gB, s.dActs[l], fast);
    }
    const w0 = L.sizes[0];
    for (let f = 0; f < this.spec.bags.length; f++) {
      if (s.proj[f]?.active) continue; // its table rows' gradients came with the first layer's
      const bag = batch.bags[f];
      const t = this.spec.bags[f].table;
      if (fast) {
        s.dst[f] = poolBackwardFast(fast, bag.offsets, bag.indices, bag.weights, B, this.tableSpecs[t].dim, s.dActs[0], w0, L.fieldOffsets[f], rowGrads[t], s.dst[f] ?? fast.allocInt32(1024));
      } else {
        poolBackward(bag.offsets, bag.indices, bag.weights, B, this.tableSpecs[t].dim, s.dActs[0], w0, L.fieldOffsets[f], rowGrads[t]);
      }
    }
  }

  // The first layer with some fields projected: bias, the pooled columns' products (contiguous runs
  // of X's columns), then each projected field's D x dim x nout product pooled into the output.
  private firstLayerForward(gemm: Gemm, batch: TowerBatch, s: TowerScratch, fast: TrainKernels | null): void {
    const B = batch.rows;
    const L = this.layout;
    const w0 = L.sizes[0];
    const nout = L.sizes[1];
    const X = s.acts[0];
    const Y = s.acts[1];
    const W0 = this.W[0];
    const b0 = this.b[0];
    if (fast) fast.biasRows(Y, B, nout, b0);
    else for (let r = 0; r < B; r++) for (let j = 0; j < nout; j++) Y[r * nout + j] = b0[j];
    this.firstLayerParts(s, (c0, c1) => gemm(false, true, B, nout, c1 - c0, 1, X.subarray(c0), w0, W0.subarray(c0), w0, 1, Y, nout), (f, p, off) => {
      const bag = batch.bags[f];
      gemm(false, true, p.D, nout, p.dim, 1, p.E, p.dim, W0.subarray(off), w0, 0, p.P, nout);
      if (fast) fast.bagPoolAdd(bag.offsets, p.idx, bag.weights, B, p.P, nout, Y, nout, 0);
      else poolAddRef(bag.offsets, p.idx, bag.weights, B, p.P, nout, Y, nout);
    });
  }

  /**
   * The first layer's input columns in order: `run(c0, c1)` for each non-empty run of pooled columns
   * [c0, c1), `field(f, p, off)` for each projected field (its columns start at `off`).
   */
  private firstLayerParts(s: TowerScratch, run: (c0: number, c1: number) => void, field: (f: number, p: FieldProjection, off: number) => void): void {
    const L = this.layout;
    let c0 = 0;
    for (let f = 0; f < this.spec.bags.length; f++) {
      const p = s.proj[f];
      if (!p?.active) continue;
      const off = L.fieldOffsets[f];
      if (off > c0) run(c0, off);
      c0 = off + p.dim;
      field(f, p, off);
    }
    if (L.sizes[0] > c0) run(c0, L.sizes[0]);
  }

  // Its backward: the pooled columns' dW and dX by runs; per projected field G = scatter of dY,
  // dW0_f += G^T E, dE = G W0_f into the table rows' gradients.
  private firstLayerBackward(gemm: Gemm, batch: TowerBatch, s: TowerScratch, gW: Float32Array, gB: Float32Array, rowGrads: readonly RowGrad[], fast: TrainKernels | null): void {
    const B = batch.rows;
    const L = this.layout;
    const w0 = L.sizes[0];
    const nout = L.sizes[1];
    const X = s.acts[0];
    const dX = s.dActs[0];
    const dY = s.dActs[1];
    const W0 = this.W[0];
    if (fast) fast.colSumAdd(dY, B, nout, gB);
    else for (let r = 0; r < B; r++) for (let j = 0; j < nout; j++) gB[j] += dY[r * nout + j];
    const run = (c0: number, c1: number) => {
      gemm(true, false, nout, c1 - c0, B, 1, dY, nout, X.subarray(c0), w0, 1, gW.subarray(c0), w0);
      gemm(false, false, B, c1 - c0, nout, 1, dY, nout, W0.subarray(c0), w0, 0, dX.subarray(c0), w0);
    };
    this.firstLayerParts(s, run, (f, p, off) => {
      const bag = batch.bags[f];
      const D = p.D;
      const dim = p.dim;
      p.G.fill(0, 0, D * nout);
      if (fast) {
        const n = bag.offsets[B];
        for (let e = 0; e < n; e++) p.dst[e] = p.idx[e] * nout;
        fast.bagScatter(bag.offsets, bag.weights, p.dst, B, nout, dY, nout, 0, p.G);
      } else scatterRef(bag.offsets, p.idx, bag.weights, B, dY, nout, p.G);
      gemm(true, false, nout, dim, D, 1, p.G, nout, p.E, dim, 1, gW.subarray(off), w0);
      gemm(false, false, D, dim, nout, 1, p.G, nout, W0.subarray(off), w0, 0, p.dE, dim);
      const rg = rowGrads[this.spec.bags[f].table];
      for (let sl = 0; sl < D; sl++) {
        const o = rg.at(p.rows[sl]);
        const g = rg.grads;
        for (let j = 0; j < dim; j++) g[o + j] += p.dE[sl * dim + j];
      }
    });
  }
}

export type LossKind = 'softmax' | 'bce';

/** Deduplicated softmax columns: row i's positive is column pos[i]; column j stands for exp(lnCount[j]) identical item rows. */
export interface DedupColumns {
  pos: Int32Array;
  lnCount: Float32Array;
}

/** What one training step's loss needs beyond the towers' inputs. */
export interface StepLoss {
  kind: LossKind;
  temperature: number;
  /** softmax: extra shared negatives after the B positives (mixed negatives); bce: negatives per row. */
  negatives: number;
}

/** Per-thread buffers for training steps: towers' scratch, score matrices, sparse and dense gradients. */
export class StepScratch {
  readonly user: TowerScratch;
  readonly item: TowerScratch;
  readonly S: Float32Array;
  readonly dS: Float32Array;
  readonly grad: Float32Array;
  readonly rowGrads: RowGrad[];
  readonly pos: Float32Array;
  readonly dPos: Float32Array;

  constructor(
    readonly model: TwoTowerNet,
    readonly batchSize: number,
    readonly loss: StepLoss,
    alloc: (n: number) => Float32Array,
    /** Fast training kernels (the backend's `train`): the RowGrads' rows then live in their memory too. */
    readonly fast: TrainKernels | null = null,
  ) {
    const B = batchSize;
    const C = loss.kind === 'softmax' ? B + loss.negatives : B * (1 + loss.negatives);
    this.user = new TowerScratch(model.layout.user, B, alloc);
    this.item = new TowerScratch(model.layout.item, C, alloc);
    this.S = alloc(loss.kind === 'softmax' ? B * C : B * loss.negatives);
    this.dS = alloc(this.S.length);
    this.pos = alloc(B);
    this.dPos = alloc(B);
    this.grad = alloc(model.layout.total - model.layout.denseStart);
    this.rowGrads = model.tableSpecs.map((t) => new RowGrad(t.rows, t.dim, 1024, alloc, fast ? (n) => fast.allocInt32(n) : undefined));
  }
}

/** The network itself: layout plus towers; the parameters are passed to each call. */
export class TwoTowerNet {
  readonly layout: ModelLayout;
  readonly userTower: Tower;
  readonly itemTower: Tower;
  readonly tableSpecs: readonly TableSpec[];

  constructor(
    readonly features: FeatureSpace,
    readonly hidden: readonly number[],
    readonly dim: number,
    readonly normalize: boolean,
  ) {
    this.tableSpecs = features.tables;
    this.layout = makeLayout(features.tables, features.user, features.item, hidden, dim);
    this.userTower = new Tower(features.user, this.layout.user, this.layout.tables, features.tables, normalize);
    this.itemTower = new Tower(features.item, this.layout.item, this.layout.tables, features.tables, normalize);
  }

  /**
   * Loss and gradients of one batch: users in `ub` (B rows), items in `ib` (softmax: B positives then
   * shared negatives; bce: B positives then B*K negatives, row i's at B + i*K + k). `colItem` names
   * each item row's item (for duplicate masking), `w` the row weights (negative: negative feedback),
   * `logQ` the per-item-row log sampling probability (softmax; null for none).
   * Gradients land in s.grad (dense, zeroed here) and s.rowGrads (cleared here). With `s.fast` the
   * pooling and the softmax run on the backend's kernels (every batch array in its memory).
   * Softmax with `cols`: the item rows are deduplicated columns (see `softmaxLoss`): row i's positive
   * is column cols.pos[i], and column j stands for exp(cols.lnCount[j]) copies; the loss and gradients
   * are those of the batch with every copy written out (tested).
   */
  step(gemm: Gemm, params: Float32Array, ub: TowerBatch, ib: TowerBatch, colItem: Int32Array, w: Float32Array, logQ: Float32Array | null, loss: StepLoss, s: StepScratch, cols: DedupColumns | null = null): number {
    const B = ub.rows;
    const C = ib.rows;
    const k = this.dim;
    s.grad.fill(0);
    for (const g of s.rowGrads) g.clear();
    const fast = s.fast;
    const U = this.userTower.forward(gemm, params, ub, s.user, fast);
    const V = this.itemTower.forward(gemm, params, ib, s.item, fast);
    let value: number;
    if (loss.kind === 'softmax') {
      gemm(false, true, B, C, k, 1, U, k, V, k, 0, s.S, C);
      const pos = cols?.pos ?? null;
      const lnCount = cols?.lnCount ?? null;
      value = fast ? softmaxLossFast(fast, B, C, s.S, loss.temperature, logQ, colItem, w, s.dS, B, pos, lnCount) : softmaxLoss(B, C, s.S, loss.temperature, logQ, colItem, w, s.dS, B, pos, lnCount);
      // dU = dS V;  dV = dS^T U
      gemm(false, false, B, k, C, 1, s.dS, C, V, k, 0, s.user.dOut, k);
      gemm(true, false, C, k, B, 1, s.dS, C, U, k, 0, s.item.dOut, k);
    } else {
      const K = loss.negatives;
      const dU = s.user.dOut;
      const dV = s.item.dOut;
      for (let i = 0; i < B; i++) {
        let d = 0;
        for (let j = 0; j < k; j++) d += U[i * k + j] * V[i * k + j];
        s.pos[i] = d;
        for (let q = 0; q < K; q++) {
          const vr = (B + i * K + q) * k;
          let e = 0;
          for (let j = 0; j < k; j++) e += U[i * k + j] * V[vr + j];
          s.S[i * K + q] = e;
        }
      }
      value = bceLoss(B, K, s.pos, s.S, loss.temperature, w, s.dPos, s.dS);
      for (let i = 0; i < B; i++) {
        const ui = i * k;
        const gp = s.dPos[i];
        for (let j = 0; j < k; j++) {
          dU[ui + j] = gp * V[ui + j];
          dV[ui + j] = gp * U[ui + j];
        }
        for (let q = 0; q < K; q++) {
          const vr = (B + i * K + q) * k;
          const gn = s.dS[i * K + q];
          for (let j = 0; j < k; j++) {
            dU[ui + j] += gn * V[vr + j];
            dV[vr + j] = gn * U[ui + j];
          }
        }
      }
    }
    this.userTower.backward(gemm, params, ub, s.user, s.grad, this.layout.denseStart, s.rowGrads, fast);
    this.itemTower.backward(gemm, params, ib, s.item, s.grad, this.layout.denseStart, s.rowGrads, fast);
    return value;
  }
}
