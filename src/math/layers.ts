/**
 * Dense layers shared by every neural model (the two-tower's towers, the DCN ranker), forward and backward, on flat row-major arrays.
 * Dense maths goes through a KernelBackend's gemm, so a fast backend speeds every product;
 * tests pass a float64 gemm and Float64Arrays to check gradients by central differences.
 */
import type { Gemm, TrainKernels } from './gemm.ts';

/** Y (B x nout) = X (B x nin) W^T + b, W stored nout x nin. */
export function denseForward(gemm: Gemm, B: number, nin: number, nout: number, X: Float32Array, W: Float32Array, bias: Float32Array, Y: Float32Array, fast: TrainKernels | null = null): void {
  if (fast) fast.biasRows(Y, B, nout, bias);
  else for (let r = 0; r < B; r++) for (let j = 0; j < nout; j++) Y[r * nout + j] = bias[j];
  gemm(false, true, B, nout, nin, 1, X, nin, W, nin, 1, Y, nout);
}

/**
 * Given dY (B x nout): dW += dY^T X, db += colsum(dY), and dX = dY W when dX is given.
 * Gradients accumulate (beta 1) so several losses may add into one buffer. dW and db null: the input
 * gradient only (attributions need no weight gradients: half the products).
 */
export function denseBackward(
  gemm: Gemm,
  B: number,
  nin: number,
  nout: number,
  X: Float32Array,
  W: Float32Array,
  dY: Float32Array,
  dW: Float32Array | null,
  db: Float32Array | null,
  dX: Float32Array | null,
  fast: TrainKernels | null = null,
): void {
  if (dW) gemm(true, false, nout, nin, B, 1, dY, nout, X, nin, 1, dW, nin);
  if (db && fast) fast.colSumAdd(dY, B, nout, db);
  else if (db) {
    for (let r = 0; r < B; r++) {
      const o = r * nout;
      for (let j = 0; j < nout; j++) db[j] += dY[o + j];
    }
  }
  if (dX) gemm(false, false, B, nin, nout, 1, dY, nout, W, nin, 0, dX, nin);
}

/** In place: y = max(0, y) over n values. */
export function reluForward(Y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) if (Y[i] < 0) Y[i] = 0;
}

/** In place: dY = 0 where the ReLU output was 0. */
export function reluBackward(Y: Float32Array, dY: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) if (Y[i] <= 0) dY[i] = 0;
}

/**
 * out[r] = E[r] / n_r with n_r = sqrt(||E[r]||^2 + 1e-6), smooth at 0 (a dead ReLU layer can output a
 * zero vector); norms[r] keeps n_r for the backward pass, whose formula is the same as for ||E[r]||.
 */
export function l2NormalizeForward(E: Float32Array, B: number, k: number, out: Float32Array, norms: Float32Array | Float64Array): void {
  for (let r = 0; r < B; r++) {
    const o = r * k;
    let s = 0;
    for (let j = 0; j < k; j++) s += E[o + j] * E[o + j];
    const n = Math.sqrt(s + 1e-6);
    norms[r] = n;
    const inv = 1 / n;
    for (let j = 0; j < k; j++) out[o + j] = E[o + j] * inv;
  }
}

/** dE = (dOut - out (out . dOut)) / n: the Jacobian of x / n(x) applied to dOut. */
export function l2NormalizeBackward(out: Float32Array, norms: Float32Array | Float64Array, dOut: Float32Array, B: number, k: number, dE: Float32Array): void {
  for (let r = 0; r < B; r++) {
    const o = r * k;
    let d = 0;
    for (let j = 0; j < k; j++) d += out[o + j] * dOut[o + j];
    const inv = 1 / norms[r];
    for (let j = 0; j < k; j++) dE[o + j] = (dOut[o + j] - out[o + j] * d) * inv;
  }
}

// One row's accumulator, in float64: summing a bag in doubles then scaling once is faster than
// updating the float32 output per entry, and more precise.
let acc = new Float64Array(256);

function accFor(dim: number): Float64Array {
  if (acc.length < dim) acc = new Float64Array(dim);
  return acc;
}

/**
 * Weighted mean-pooling of embedding rows: X[r, xOff .. xOff+dim) = sum_e w_e T[idx_e] / sum_e |w_e|
 * over row r's bag entries (zeros for an empty bag). T is the table at params[tOff ..].
 */
export function poolForward(
  offsets: Int32Array,
  indices: Int32Array,
  weights: Float32Array,
  B: number,
  params: Float32Array,
  tOff: number,
  dim: number,
  X: Float32Array,
  ldx: number,
  xOff: number,
): void {
  const a4 = accFor(dim);
  const unrolled = (dim & 3) === 0;
  for (let r = 0; r < B; r++) {
    const a = offsets[r];
    const b = offsets[r + 1];
    for (let j = 0; j < dim; j++) a4[j] = 0;
    let z = 0;
    for (let e = a; e < b; e++) {
      const w = weights[e];
      z += Math.abs(w);
      const base = tOff + indices[e] * dim;
      if (unrolled) {
        for (let j = 0; j < dim; j += 4) {
          a4[j] += w * params[base + j];
          a4[j + 1] += w * params[base + j + 1];
          a4[j + 2] += w * params[base + j + 2];
          a4[j + 3] += w * params[base + j + 3];
        }
      } else {
        for (let j = 0; j < dim; j++) a4[j] += w * params[base + j];
      }
    }
    const inv = z === 0 ? 0 : 1 / z;
    const o = r * ldx + xOff;
    for (let j = 0; j < dim; j++) X[o + j] = a4[j] * inv;
  }
}

/**
 * Sparse gradient of one embedding table: the rows a batch touched and their summed gradients,
 * compactly (slot map from table row to gradient row), so the optimiser updates only those rows.
 */
export class RowGrad {
  readonly slot: Int32Array;
  rows: Int32Array;
  grads: Float32Array;
  n = 0;

  /** `gradArray` / `rowArray` allocate `grads` and `rows` (and their regrowths), e.g. in kernel memory. */
  constructor(
    readonly tableRows: number,
    readonly dim: number,
    capacity = 256,
    private readonly gradArray: (n: number) => Float32Array = (n) => new Float32Array(n),
    private readonly rowArray: (n: number) => Int32Array = (n) => new Int32Array(n),
  ) {
    // the slot map lives where the rows do (kernel memory, for the slot-map kernel)
    this.slot = rowArray(tableRows).fill(-1);
    this.rows = rowArray(capacity);
    this.grads = gradArray(capacity * dim);
  }

  /** Offset in `grads` of table row `row`'s gradient, zeroed the first time the row is touched. */
  at(row: number): number {
    let s = this.slot[row];
    if (s < 0) {
      s = this.n++;
      if (s >= this.rows.length) this.grow();
      this.slot[row] = s;
      this.rows[s] = row;
      this.grads.fill(0, s * this.dim, (s + 1) * this.dim);
    }
    return s * this.dim;
  }

  /** Makes room for at least `rows` gradient rows. */
  reserve(rows: number): void {
    while (this.rows.length < rows) this.grow();
  }

  private grow(): void {
    const cap = this.rows.length * 2;
    const r = this.rowArray(cap);
    r.set(this.rows);
    this.rows = r;
    const g = this.gradArray(cap * this.dim);
    g.set(this.grads);
    this.grads = g;
  }

  /** Forgets the touched rows (only those slots are reset). */
  clear(): void {
    for (let s = 0; s < this.n; s++) this.slot[this.rows[s]] = -1;
    this.n = 0;
  }
}

/** Adds the pooling's gradient for dX[:, xOff .. xOff+dim) into the table's sparse gradient. */
export function poolBackward(offsets: Int32Array, indices: Int32Array, weights: Float32Array, B: number, dim: number, dX: Float32Array, ldx: number, xOff: number, grad: RowGrad): void {
  const g = grad;
  const d = accFor(dim);
  const unrolled = (dim & 3) === 0;
  for (let r = 0; r < B; r++) {
    const a = offsets[r];
    const b = offsets[r + 1];
    let z = 0;
    for (let e = a; e < b; e++) z += Math.abs(weights[e]);
    if (z === 0) continue;
    // d = dX[r] / z, once per row; then each entry adds w_e d to its table row's gradient
    const inv = 1 / z;
    const o = r * ldx + xOff;
    for (let j = 0; j < dim; j++) d[j] = dX[o + j] * inv;
    for (let e = a; e < b; e++) {
      const w = weights[e];
      const go = g.at(indices[e]);
      const gg = g.grads;
      if (unrolled) {
        for (let j = 0; j < dim; j += 4) {
          gg[go + j] += w * d[j];
          gg[go + j + 1] += w * d[j + 1];
          gg[go + j + 2] += w * d[j + 2];
          gg[go + j + 3] += w * d[j + 3];
        }
      } else {
        for (let j = 0; j < dim; j++) gg[go + j] += w * d[j];
      }
    }
  }
}

/**
 * poolBackward through a backend's kernels: the slot map (which compact gradient row each entry
 * adds into; rows taken in exactly poolBackward's order: every entry of a row whose weights are not
 * all 0) by bagSlots, then the scaled adds by bagScatter. `grad`'s arrays must be in kernel memory. `dst` is scratch in kernel memory
 * with room for every entry of the bag; returns it (grown when needed).
 * @example dst = poolBackwardFast(k, bag.offsets, bag.indices, bag.weights, B, 32, dX, w0, 0, rg, dst, alloc32);
 */
export function poolBackwardFast(
  k: TrainKernels,
  offsets: Int32Array,
  indices: Int32Array,
  weights: Float32Array,
  B: number,
  dim: number,
  dX: Float32Array,
  ldx: number,
  xOff: number,
  grad: RowGrad,
  dst: Int32Array,
): Int32Array {
  const n = offsets[B];
  if (dst.length < n) dst = k.allocInt32(Math.max(n, dst.length * 2));
  for (;;) {
    const r = k.bagSlots(offsets, indices, weights, B, grad.slot, grad.rows, grad.n, grad.grads, dim, dst);
    if (r >= 0) {
      grad.n = r;
      break;
    }
    // out of room: keep the rows mapped so far, grow, continue
    grad.n = -r - 1;
    grad.reserve(grad.n + 1);
  }
  k.bagScatter(offsets, weights, dst, B, dim, dX, ldx, xOff, grad.grads);
  return dst;
}
