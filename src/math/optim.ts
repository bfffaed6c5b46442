/**
 * Optimisers over one flat parameter array: Adam and Adagrad, each with a dense update for a range of
 * parameters (MLP weights) and a lazy sparse update for the rows of an embedding table that a batch
 * touched (only those rows' parameters and moments move). State lives in flat arrays the caller may
 * allocate in shared memory, so Hogwild workers update one model.
 */
import type { TrainKernels } from './gemm.ts';

export type OptimizerKind = 'adam' | 'adagrad';

export interface OptimizerConfig {
  kind: OptimizerKind;
  /** Base learning rate; each step may scale it (schedule) through `beginStep(lr)`. */
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 regularisation: adds l2 * w to the gradient of every updated parameter (decoupled from the loss). */
  l2?: number;
  /** Adagrad's initial accumulator value. */
  adagradInit?: number;
}

/** Float32 state arrays one optimiser needs for `n` parameters (Adam: m and v; Adagrad: accumulators). */
export function optimizerStateSize(kind: OptimizerKind, n: number): number {
  return kind === 'adam' ? 2 * n : n;
}

/**
 * One optimiser over params[0..n). `state` holds its moments (length optimizerStateSize(kind, n)),
 * zero-filled for a fresh start; pass a shared array so several threads update one model.
 * @example
 *   const opt = new Optimizer({ kind: 'adam', lr: 1e-3 }, params, new Float32Array(2 * params.length));
 *   opt.beginStep(); opt.updateDense(0, 10, grad, 0); opt.updateRows(100, 8, rows, nRows, rowGrads);
 */
export class Optimizer {
  readonly kind: OptimizerKind;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly l2: number;
  /** Steps taken by this optimiser instance (each Hogwild worker counts its own). */
  t = 0;
  private lrT = 0;
  private readonly m: Float32Array;
  private readonly v: Float32Array;

  constructor(
    readonly config: OptimizerConfig,
    readonly params: Float32Array,
    readonly state: Float32Array,
    initState = true,
    /** A backend's training kernels: Adam's updates then run there (params, state and gradients must
     * live in its memory). Adagrad, and float64 gradients, always take the plain loops. */
    readonly fast: TrainKernels | null = null,
  ) {
    this.kind = config.kind;
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.999;
    this.eps = config.eps ?? (config.kind === 'adam' ? 1e-8 : 1e-10);
    this.l2 = config.l2 ?? 0;
    const n = params.length;
    if (state.length < optimizerStateSize(this.kind, n)) {
      throw new Error(`Optimizer: state has ${state.length} elements, ${this.kind} needs ${optimizerStateSize(this.kind, n)}`);
    }
    if (this.kind === 'adam') {
      this.m = state.subarray(0, n);
      this.v = state.subarray(n, 2 * n);
    } else {
      this.m = state.subarray(0, n);
      this.v = this.m;
      if (initState) this.m.fill(config.adagradInit ?? 0.1);
    }
  }

  /** Starts a step with learning rate `lr` (the schedule's value), folding Adam's bias corrections into it. */
  beginStep(lr = this.config.lr): void {
    this.t++;
    if (this.kind === 'adam') {
      // lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t): Adam's bias correction on the step size
      this.lrT = (lr * Math.sqrt(1 - Math.pow(this.beta2, this.t))) / (1 - Math.pow(this.beta1, this.t));
    } else {
      this.lrT = lr;
    }
  }

  /** Updates params[off .. off+n) from grad[gOff .. gOff+n). */
  updateDense(off: number, n: number, grad: Float32Array | Float64Array, gOff: number): void {
    const p = this.params;
    const m = this.m;
    const v = this.v;
    const l2 = this.l2;
    const lr = this.lrT;
    const eps = this.eps;
    if (this.kind === 'adam' && this.fast && grad instanceof Float32Array) {
      this.fast.adamDense(p.subarray(off, off + n), m.subarray(off, off + n), v.subarray(off, off + n), grad.subarray(gOff, gOff + n), n, lr, this.beta1, this.beta2, eps, l2);
    } else if (this.kind === 'adam') {
      const b1 = this.beta1;
      const b2 = this.beta2;
      for (let i = 0; i < n; i++) {
        const j = off + i;
        const g = grad[gOff + i] + l2 * p[j];
        // m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  w -= lr_t m / (sqrt v + eps)
        const mi = b1 * m[j] + (1 - b1) * g;
        const vi = b2 * v[j] + (1 - b2) * g * g;
        m[j] = mi;
        v[j] = vi;
        p[j] -= (lr * mi) / (Math.sqrt(vi) + eps);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const j = off + i;
        const g = grad[gOff + i] + l2 * p[j];
        // acc += g^2;  w -= lr g / (sqrt acc + eps)
        const a = m[j] + g * g;
        m[j] = a;
        p[j] -= (lr * g) / (Math.sqrt(a) + eps);
      }
    }
  }

  /**
   * Lazy sparse update of an embedding table stored at params[tableOff ..] with `dim` columns:
   * row rows[r] gets gradient grads[r*dim .. (r+1)*dim) for r < nRows. Untouched rows keep their
   * parameters and moments (lazy Adam: their moments do not decay).
   */
  updateRows(tableOff: number, dim: number, rows: Int32Array, nRows: number, grads: Float32Array | Float64Array): void {
    if (this.kind === 'adam' && this.fast && grads instanceof Float32Array) {
      const end = this.params.length;
      this.fast.adamRows(this.params.subarray(tableOff, end), this.m.subarray(tableOff, end), this.v.subarray(tableOff, end), rows, nRows, dim, grads, this.lrT, this.beta1, this.beta2, this.eps, this.l2);
      return;
    }
    for (let r = 0; r < nRows; r++) this.updateDense(tableOff + rows[r] * dim, dim, grads, r * dim);
  }
}

/** Learning-rate schedules: a multiplier of the base rate at step `t` of `total`. */
export type LrSchedule = 'constant' | 'linear' | 'cosine';

/**
 * The multiplier of the base learning rate: linear warm-up over `warmup` steps, then constant,
 * linear decay to `floor`, or cosine decay to `floor` at step `total`.
 * @example lr * lrMultiplier('cosine', step, totalSteps, 100, 0.1)
 */
export function lrMultiplier(schedule: LrSchedule, t: number, total: number, warmup = 0, floor = 0): number {
  if (warmup > 0 && t < warmup) return (t + 1) / warmup;
  if (schedule === 'constant' || total <= warmup) return 1;
  const x = Math.min(1, Math.max(0, (t - warmup) / (total - warmup)));
  if (schedule === 'linear') return floor + (1 - floor) * (1 - x);
  return floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * x));
}
