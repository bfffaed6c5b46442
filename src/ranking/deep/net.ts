/**
 * The DCN-v2 network (Wang et al. 2021, the parallel form): an input row x0 = [normalised numeric
 * inputs, missing indicators, embeddings of the coded categorical inputs]; a stack of full-rank cross
 * layers x_{l+1} = x0 ⊙ (W_l x_l + b_l) + x_l beside an MLP on x0; a logistic head on both outputs.
 * Parameters live in one flat array (embedding tables first, then the dense part), so one optimiser
 * updates the dense part densely and the tables lazily (only the rows a batch touched).
 * Products go through a KernelBackend's gemm; the gradient checks run every op on Float64Arrays
 * through the reference gemm.
 */
import { denseBackward, denseForward, poolBackward, poolForward, reluBackward, reluForward, RowGrad, type Gemm, type KernelBackend, type Rng, type TrainKernels } from '../../math/index.ts';

/** What the network is made of: its input parts, the cross depth and the MLP widths. */
export interface DcnShape {
  /** Numeric input columns (normalised: one x0 slot each). */
  numeric: number;
  /** Missing-indicator slots (one per numeric column that can be missing). */
  missing: number;
  /** Vocabulary size of each embedding table (each table has one more row: unknown / missing). */
  vocab: number[];
  /**
   * The embedded inputs, in x0 order: each reads `slots` codes from table `table` and averages the rows of
   * the valid ones (a bag: the item's tags, the user's recent items); absent: one input of one slot per table.
   */
  inputs?: EmbeddedInput[];
  embedDim: number;
  cross: number;
  hidden: number[];
}

/** One embedded input of x0: the mean of the table rows its slots' codes name. */
export interface EmbeddedInput {
  table: number;
  slots: number;
}

/** The shape's embedded inputs (one single-slot input per table when it names none). */
export function embeddedInputs(s: DcnShape): EmbeddedInput[] {
  return s.inputs ?? s.vocab.map((_, table) => ({ table, slots: 1 }));
}

/** Where a tensor sits in the flat parameter array. */
export interface Span {
  offset: number;
  length: number;
}

/** Offsets of every tensor in the flat parameter array. */
export interface DcnLayout {
  /** Width of x0. */
  d0: number;
  /** Column of x0 where the embeddings start. */
  embedCol: number;
  tables: Span[];
  /** The dense parameters occupy params[denseStart .. total). */
  denseStart: number;
  crossW: Span[];
  crossB: Span[];
  mlpW: Span[];
  mlpB: Span[];
  /** Widths of the MLP, input (d0) first. */
  sizes: number[];
  /** Head weights on the cross output (d0), on the MLP output (last hidden width, or none), and the bias (1). */
  headCross: Span;
  headDeep: Span;
  headBias: Span;
  total: number;
}

/** Lays out tables, cross layers, MLP, head. */
export function dcnLayout(s: DcnShape): DcnLayout {
  let off = 0;
  const take = (length: number): Span => {
    const r = { offset: off, length };
    off += length;
    return r;
  };
  const embedCol = s.numeric + s.missing;
  const inputs = embeddedInputs(s);
  for (const i of inputs) if (!(i.table >= 0 && i.table < s.vocab.length && i.slots >= 1)) throw new Error(`dcn: an embedded input reads table ${i.table} (of ${s.vocab.length}) with ${i.slots} slots`);
  const d0 = embedCol + inputs.length * s.embedDim;
  if (d0 === 0) throw new Error('dcn: the network has no inputs');
  const tables = s.vocab.map((v) => take((v + 1) * s.embedDim));
  const denseStart = off;
  const crossW: Span[] = [];
  const crossB: Span[] = [];
  for (let l = 0; l < s.cross; l++) {
    crossW.push(take(d0 * d0));
    crossB.push(take(d0));
  }
  const sizes = [d0, ...s.hidden];
  const mlpW: Span[] = [];
  const mlpB: Span[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    mlpW.push(take(sizes[l] * sizes[l + 1]));
    mlpB.push(take(sizes[l + 1]));
  }
  const headCross = take(d0);
  const headDeep = take(s.hidden.length > 0 ? s.hidden[s.hidden.length - 1] : 0);
  const headBias = take(1);
  return { d0, embedCol, tables, denseStart, crossW, crossB, mlpW, mlpB, sizes, headCross, headDeep, headBias, total: off };
}

/**
 * Fresh parameters: embeddings N(0, 0.05²); cross kernels N(0, 1/d0) (Glorot-like, small so x_{l+1}
 * starts near x_l); MLP kernels He-normal; head N(0, 1/fan_in); every bias 0.
 */
export function initDcnParams(layout: DcnLayout, embedDim: number, params: Float32Array, rng: Rng): void {
  params.fill(0);
  for (const t of layout.tables) for (let i = 0; i < t.length; i++) params[t.offset + i] = 0.05 * rng.normal();
  const d0 = layout.d0;
  for (const w of layout.crossW) for (let i = 0; i < w.length; i++) params[w.offset + i] = rng.normal() / Math.sqrt(d0);
  layout.mlpW.forEach((w, l) => {
    const s = Math.sqrt(2 / layout.sizes[l]);
    for (let i = 0; i < w.length; i++) params[w.offset + i] = s * rng.normal();
  });
  const fan = layout.headCross.length + layout.headDeep.length;
  for (const h of [layout.headCross, layout.headDeep]) for (let i = 0; i < h.length; i++) params[h.offset + i] = rng.normal() / Math.sqrt(fan);
  void embedDim;
}

/** One cross layer forward: U = X_l W^T + b (B x d), X_{l+1} = X0 ⊙ U + X_l. */
export function crossForward(gemm: Gemm, B: number, d: number, X0: Float32Array, Xl: Float32Array, W: Float32Array, b: Float32Array, U: Float32Array, Xnext: Float32Array, fast: TrainKernels | null = null): void {
  denseForward(gemm, B, d, d, Xl, W, b, U, fast);
  const n = B * d;
  // x_{l+1} = x0 ⊙ u + x_l
  for (let i = 0; i < n; i++) Xnext[i] = X0[i] * U[i] + Xl[i];
}

/**
 * One cross layer backward, given dX_{l+1}: dU = dX_{l+1} ⊙ X0; dW += dU^T X_l; db += colsum dU;
 * dX0 += dX_{l+1} ⊙ U; dX_l = dU W + dX_{l+1}. `dU` is scratch (B x d).
 */
export function crossBackward(
  gemm: Gemm,
  B: number,
  d: number,
  X0: Float32Array,
  Xl: Float32Array,
  W: Float32Array,
  U: Float32Array,
  dXnext: Float32Array,
  dU: Float32Array,
  dW: Float32Array | null,
  db: Float32Array | null,
  dXl: Float32Array,
  dX0: Float32Array,
  fast: TrainKernels | null = null,
): void {
  const n = B * d;
  for (let i = 0; i < n; i++) {
    dU[i] = dXnext[i] * X0[i];
    dX0[i] += dXnext[i] * U[i];
  }
  denseBackward(gemm, B, d, d, Xl, W, dU, dW, db, dXl, fast);
  for (let i = 0; i < n; i++) dXl[i] += dXnext[i];
}

/** The head: logit[r] = wc · C[r] + wd · H[r] + bias (C is B x dc, H is B x dh). */
export function headForward(B: number, dc: number, C: Float32Array, dh: number, Hd: Float32Array, wc: Float32Array, wd: Float32Array, bias: number, logits: Float32Array | Float64Array): void {
  for (let r = 0; r < B; r++) {
    let s = bias;
    const oc = r * dc;
    for (let j = 0; j < dc; j++) s += wc[j] * C[oc + j];
    const oh = r * dh;
    for (let j = 0; j < dh; j++) s += wd[j] * Hd[oh + j];
    logits[r] = s;
  }
}

/** The head backward: dwc += sum_r g_r C[r], dwd += sum_r g_r H[r], dbias += sum g (skipped when null); dC = g wc, dH = g wd. */
export function headBackward(
  B: number,
  dc: number,
  C: Float32Array,
  dh: number,
  Hd: Float32Array,
  wc: Float32Array,
  wd: Float32Array,
  g: Float32Array | Float64Array,
  dwc: Float32Array | null,
  dwd: Float32Array | null,
  dbias: Float32Array | null,
  dC: Float32Array,
  dH: Float32Array,
): void {
  let sb = 0;
  for (let r = 0; r < B; r++) {
    const gr = g[r];
    sb += gr;
    const oc = r * dc;
    if (dwc) for (let j = 0; j < dc; j++) dwc[j] += gr * C[oc + j];
    for (let j = 0; j < dc; j++) dC[oc + j] = gr * wc[j];
    const oh = r * dh;
    if (dwd) for (let j = 0; j < dh; j++) dwd[j] += gr * Hd[oh + j];
    for (let j = 0; j < dh; j++) dH[oh + j] = gr * wd[j];
  }
  if (dbias) dbias[0] += sb;
}

/** Mean binary log loss of logits z against labels y, and its gradient dz = (sigmoid(z) - y) / B. */
export function logLossGrad(B: number, z: ArrayLike<number>, y: ArrayLike<number>, dz: Float32Array | Float64Array): number {
  let s = 0;
  for (let r = 0; r < B; r++) {
    const x = z[r];
    // softplus(x) - y x, stable on both sides
    s += (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))) - y[r] * x;
    dz[r] = (1 / (1 + Math.exp(-x)) - y[r]) / B;
  }
  return s / B;
}

/**
 * Listwise softmax cross-entropy over groups (a user's candidates): rows segs[g] .. segs[g+1] of z form
 * group g; loss_g = -sum_i (y_i / Y) log softmax(z)_i with Y = sum_i y_i, averaged over the groups with
 * Y > 0 (the others get no gradient); dz_i = (softmax(z)_i - y_i / Y) / G.
 */
export function softmaxGroupGrad(z: ArrayLike<number>, y: ArrayLike<number>, segs: Int32Array, nSegs: number, dz: Float32Array | Float64Array): number {
  let G = 0;
  for (let g = 0; g < nSegs; g++) {
    let Y = 0;
    for (let i = segs[g]; i < segs[g + 1]; i++) Y += y[i];
    if (Y > 0) G++;
  }
  let loss = 0;
  for (let g = 0; g < nSegs; g++) {
    const a = segs[g];
    const b = segs[g + 1];
    let Y = 0;
    let m = -Infinity;
    for (let i = a; i < b; i++) {
      Y += y[i];
      if (z[i] > m) m = z[i];
    }
    if (Y === 0) {
      for (let i = a; i < b; i++) dz[i] = 0;
      continue;
    }
    let s = 0;
    for (let i = a; i < b; i++) s += Math.exp(z[i] - m);
    const lse = m + Math.log(s);
    for (let i = a; i < b; i++) {
      const t = y[i] / Y;
      loss -= t * (z[i] - lse);
      dz[i] = (Math.exp(z[i] - lse) - t) / G;
    }
  }
  return G > 0 ? loss / G : 0;
}

/** Allocates one array (Float32Array in kernel memory for speed; tests pass Float64Array makers). */
export type Alloc = (n: number) => Float32Array;

/** What the net computes with: the gemm, an allocator, optional fused kernels. */
export interface NetKernels {
  gemm: Gemm;
  /** y = M x (rows x cols, row-major), for the head at scoring time; absent: the head's plain loop. */
  gemv?: (rows: number, cols: number, m: Float32Array, x: Float32Array, y: Float32Array) => void;
  alloc: Alloc;
  allocInt32?: (n: number) => Int32Array;
  /** Gives back an array `alloc` / `allocInt32` made (kernel memory is not garbage-collected). */
  free?: (a: Float32Array | Int32Array) => void;
  fast: TrainKernels | null;
  /** The backend itself: scoring runs on its DCN kernels when it has them (`DcnScorer`). */
  backend?: KernelBackend;
}

/**
 * The network over flat params, with scratch for batches of up to `capacity` rows. x0 is built by the
 * caller (the encoder) into `x0` (capacity x d0) with the embedded inputs' codes in `codes` (capacity x
 * slots: each input's slots in turn); `gatherEmbeddings` writes the (averaged) table rows in.
 */
export class DcnNet {
  readonly layout: DcnLayout;
  readonly x0: Float32Array;
  readonly codes: Int32Array;
  /** xs[l] = x_l (xs[0] is x0's copy for the cross stack... x0 itself), us[l] = W_l x_l + b_l. */
  private readonly xs: Float32Array[];
  private readonly us: Float32Array[];
  /** acts[0] = x0, acts[l] = the l-th hidden output. */
  private readonly acts: Float32Array[];
  readonly logits: Float32Array;
  private readonly dxs: Float32Array[];
  private readonly dU: Float32Array;
  private readonly dActs: Float32Array[];
  readonly dX0: Float32Array;
  readonly dz: Float32Array;
  private headScratch: Float32Array | null = null;
  /** Every array this net took from kernel memory (given back by dispose). */
  private readonly allocated: (Float32Array | Int32Array)[];
  /** The sparse gradients of the embedding tables. */
  readonly rowGrads: RowGrad[];
  /** The embedded inputs (x0 order) and their slots per row in `codes`. */
  readonly inputs: EmbeddedInput[];
  readonly slots: number;
  /** Per input, the batch's bags as the shared pooling reads them (`bags`: each row's valid codes, or the extra row). */
  private readonly bags: { offsets: Int32Array; indices: Int32Array; weights: Float32Array }[];

  constructor(
    readonly shape: DcnShape,
    readonly k: NetKernels,
    readonly capacity: number,
  ) {
    this.allocated = [];
    const L = (this.layout = dcnLayout(shape));
    const B = capacity;
    const d0 = L.d0;
    this.x0 = this.mem(B * d0);
    this.inputs = embeddedInputs(shape);
    this.slots = this.inputs.reduce((a, i) => a + i.slots, 0);
    this.codes = new Int32Array(B * this.slots);
    this.bags = this.inputs.map((i) => ({ offsets: new Int32Array(B + 1), indices: new Int32Array(B * i.slots), weights: new Float32Array(B * i.slots).fill(1) }));
    this.xs = [this.x0];
    this.us = [];
    for (let l = 0; l < shape.cross; l++) {
      this.us.push(this.mem(B * d0));
      this.xs.push(this.mem(B * d0));
    }
    this.acts = [this.x0, ...shape.hidden.map((h) => this.mem(B * h))];
    this.logits = this.mem(B);
    this.dxs = this.xs.map(() => this.mem(B * d0));
    this.dX0 = this.dxs[0];
    this.dU = this.mem(B * d0);
    this.dActs = [this.mem(B * d0), ...shape.hidden.map((h) => this.mem(B * h))];
    this.dz = this.mem(B);
    this.rowGrads = shape.vocab.map((v) => new RowGrad(v + 1, shape.embedDim, 256, (n) => this.mem(n), k.allocInt32 ? (n) => this.memInt(n) : undefined));
  }

  private mem(n: number): Float32Array {
    const a = this.k.alloc(n);
    this.allocated.push(a);
    return a;
  }

  private memInt(n: number): Int32Array {
    const a = this.k.allocInt32!(n);
    this.allocated.push(a);
    return a;
  }

  /** Gives the net's scratch back to the kernel memory; the net is unusable afterwards. */
  dispose(): void {
    if (this.k.free) for (const a of this.allocated) this.k.free(a);
    this.allocated.length = 0;
  }

  /**
   * Writes each row's embedded inputs into x0: input t's block is the mean of the rows of its table that
   * its slots' codes name (`poolForward`, the two-tower's pooling); a code outside 0..vocab-1 is skipped,
   * and an input with no valid code reads the table's extra row.
   */
  gatherEmbeddings(params: Float32Array, B: number): void {
    const L = this.layout;
    const e = this.shape.embedDim;
    const S = this.slots;
    let first = 0;
    this.inputs.forEach(({ table, slots }, t) => {
      const V = this.shape.vocab[table];
      const { offsets, indices, weights } = this.bags[t];
      let n = 0;
      for (let r = 0; r < B; r++) {
        const from = n;
        for (let q = 0; q < slots; q++) {
          const c = this.codes[r * S + first + q];
          if (c >= 0 && c < V) indices[n++] = c;
        }
        if (n === from) indices[n++] = V;
        offsets[r + 1] = n;
      }
      poolForward(offsets, indices, weights, B, params, L.tables[table].offset, e, this.x0, L.d0, L.embedCol + t * e);
      first += slots;
    });
  }

  /** Logits of rows 0..B-1 of x0 (embeddings gathered) into `logits`. */
  forward(params: Float32Array, B: number): Float32Array {
    const L = this.layout;
    const { gemm, fast } = this.k;
    const d0 = L.d0;
    const view = (s: Span) => params.subarray(s.offset, s.offset + s.length);
    for (let l = 0; l < this.shape.cross; l++) {
      crossForward(gemm, B, d0, this.x0, this.xs[l], view(L.crossW[l]), view(L.crossB[l]), this.us[l], this.xs[l + 1], fast);
    }
    for (let l = 0; l + 1 < L.sizes.length; l++) {
      const nout = L.sizes[l + 1];
      denseForward(gemm, B, L.sizes[l], nout, this.acts[l], view(L.mlpW[l]), view(L.mlpB[l]), this.acts[l + 1], fast);
      if (fast) fast.relu(this.acts[l + 1], B * nout);
      else reluForward(this.acts[l + 1], B * nout);
    }
    const dh = L.headDeep.length;
    const C = this.xs[this.shape.cross];
    const Hd = this.acts[this.acts.length - 1];
    if (this.k.gemv) {
      // the head as two matrix-vector products: z = C wc + H wd + bias
      const gemv = this.k.gemv;
      const z = this.logits;
      const t = (this.headScratch ??= this.mem(this.capacity));
      gemv(B, d0, C, view(L.headCross), z);
      if (dh > 0) gemv(B, dh, Hd, view(L.headDeep), t);
      const bias = params[L.headBias.offset];
      for (let r = 0; r < B; r++) z[r] += (dh > 0 ? t[r] : 0) + bias;
      return z;
    }
    headForward(B, d0, C, dh, Hd, view(L.headCross), view(L.headDeep), params[L.headBias.offset], this.logits);
    return this.logits;
  }

  /**
   * Backward from dz (d loss / d logit per row, in `dz`) after `forward`: dense gradients added into
   * grad[denseStart ..] (same layout as params), table gradients into `rowGrads` (cleared by the caller),
   * and d loss / d x0 left in `dX0`. grad null: d/d x0 only (no weight gradients: attributions).
   */
  backward(params: Float32Array, B: number, grad: Float32Array | null, embeddings = true): void {
    const L = this.layout;
    const { gemm, fast } = this.k;
    const d0 = L.d0;
    const C = this.shape.cross;
    const view = (a: Float32Array, s: Span) => a.subarray(s.offset, s.offset + s.length);
    const gview = (s: Span) => (grad ? grad.subarray(s.offset, s.offset + s.length) : null);
    const nH = this.acts.length - 1;
    const dh = L.headDeep.length;
    // the head writes d/dx_C into dxs[C] (or dX0 when there is no cross layer: then it is added below)
    const dC = C > 0 ? this.dxs[C] : this.dU;
    headBackward(B, d0, this.xs[C], dh, this.acts[nH], view(params, L.headCross), view(params, L.headDeep), this.dz, gview(L.headCross), gview(L.headDeep), gview(L.headBias), dC, this.dActs[nH]);
    // the MLP first: its input gradient lands in dActs[0], kept apart from the cross stack's dX0
    for (let l = nH - 1; l >= 0; l--) {
      const nout = L.sizes[l + 1];
      if (fast) fast.reluBackward(this.acts[l + 1], this.dActs[l + 1], B * nout);
      else reluBackward(this.acts[l + 1], this.dActs[l + 1], B * nout);
      denseBackward(gemm, B, L.sizes[l], nout, this.acts[l], view(params, L.mlpW[l]), this.dActs[l + 1], gview(L.mlpW[l]), gview(L.mlpB[l]), this.dActs[l], fast);
    }
    const n = B * d0;
    if (C === 0) {
      for (let i = 0; i < n; i++) this.dX0[i] = this.dU[i] + (nH > 0 ? this.dActs[0][i] : 0);
    } else {
      // dX0 collects: the MLP's input gradient, each layer's x0 ⊙ u term, and x_0's own path (dxs[0] = dX0)
      const acc = this.dActs[0];
      if (nH === 0) acc.fill(0, 0, n);
      for (let l = C - 1; l >= 0; l--) {
        // dxs[l] is written by crossBackward (dxs[0] is dX0 itself: its x0 ⊙ u term goes to acc first)
        crossBackward(gemm, B, d0, this.x0, this.xs[l], view(params, L.crossW[l]), this.us[l], this.dxs[l + 1], this.dU, gview(L.crossW[l]), gview(L.crossB[l]), this.dxs[l], acc, fast);
      }
      for (let i = 0; i < n; i++) this.dX0[i] += acc[i];
    }
    if (embeddings) this.scatterEmbeddings(B);
  }

  /** Adds dX0's embedding columns into the tables' sparse gradients (`poolBackward`: a bag's split evenly over its codes), for the bags `gatherEmbeddings` built. */
  scatterEmbeddings(B: number): void {
    const L = this.layout;
    const e = this.shape.embedDim;
    this.inputs.forEach(({ table }, t) => {
      const { offsets, indices, weights } = this.bags[t];
      poolBackward(offsets, indices, weights, B, e, this.dX0, L.d0, L.embedCol + t * e, this.rowGrads[table]);
    });
  }

}
