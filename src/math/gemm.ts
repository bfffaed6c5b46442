import { gemv } from './kernels.ts';
import { getEnvironmentData, isMainThread, setEnvironmentData } from 'node:worker_threads';
import { createWasmBackend, staleWarning, type WasmMemory, type WasmModule } from './wasm/backend.ts';

/**
 * General matrix product on row-major Float32Arrays, BLAS-style:
 *   C = alpha * op(A) * op(B) + beta * C,   op(X) = X or X^T,
 * op(A) is m x k, op(B) is k x n, C is m x n; lda/ldb/ldc are row strides (in elements).
 * Offsets are expressed with subarray views. This plain loop is the reference every fast backend
 * is held to by a differential test.
 * @example gemmRef(false, true, m, n, k, 1, x, k, w, k, 0, y, n) // y = x * w^T (dense layer forward)
 */
export function gemmRef(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * lda + i] : a[i * lda + p];
        const bv = transB ? b[j * ldb + p] : b[p * ldb + j];
        s += av * bv;
      }
      const idx = i * ldc + j;
      c[idx] = alpha * s + (beta === 0 ? 0 : beta * c[idx]);
    }
  }
}

export type Gemm = typeof gemmRef;

/**
 * A set of dense kernels plus the memory they run fastest on. The WebAssembly backend can only read
 * arrays inside its own (shared) linear memory without copying, so callers that care about speed
 * allocate their weights and activations with `alloc`. Arrays from elsewhere still work (copied).
 */
export interface KernelBackend {
  readonly name: string;
  readonly gemm: Gemm;
  /** y = M x for row-major M (rows x cols): y[r] = sum_c M[r*cols+c] * x[c]. */
  gemv(rows: number, cols: number, m: Float32Array, x: Float32Array, y: Float32Array): void;
  /** A zero-filled Float32Array of n elements, in memory this backend reads without copying and
   * that worker threads can share (SharedArrayBuffer-backed). */
  alloc(n: number): Float32Array;
  /**
   * Gives back an array `alloc` (or `train.allocInt32`) returned on this thread, once nothing reads it
   * any more: later allocations reuse its bytes. A no-op where the garbage collector owns the memory.
   */
  free(arr: Float32Array | Int32Array): void;
  /** The shared memory `alloc` draws from, for backends that have one (post it to workers). */
  readonly memory?: WasmMemory;
  /** Fused training kernels (the WebAssembly backend has them; the plain one does not: callers then
   * run their own reference code, which is what the fast kernels are held to). */
  readonly train?: TrainKernels;
  /** Scoring kernels of the DCN ranker (the WebAssembly backend has them; src/ranking/deep's plain
   * forward pass is their reference). */
  readonly dcn?: DcnKernels;
}

/**
 * The DCN encoder's fitted arrays, in the backend's memory: numeric slot k reads column cols[k],
 * log-compresses when logs[k], standardises with mean / invStd (float64, 2 floats each in the
 * Float32Array holders) and sets indicator slot miss[k] (-1: none) when missing; table t reads column
 * tcols[t] (vocab[t]: its extra row) and copies e floats from byte address tables[t] + code * e * 4.
 */
export interface DcnEncodePlan {
  N: number;
  cols: Int32Array;
  logs: Int32Array;
  miss: Int32Array;
  mean: Float32Array;
  invStd: Float32Array;
  nMissing: number;
  clip: number;
  T: number;
  tcols: Int32Array;
  vocab: Int32Array;
  tables: Int32Array;
  e: number;
}

/**
 * Scoring kernels of the DCN ranker; every array in the backend's memory.
 * @example
 *   const p = be.alloc(dcn.packedSize(256, 75)); dcn.pack(W, b, 256, 75, p);
 *   dcn.dense(1, 500, 75, 256, x0, 75, p, h, 256, null); // h = relu(x0 W^T + b)
 */
export interface DcnKernels {
  /** Floats of a packed dense layer of nout x nin (weight panels, then the bias). */
  packedSize(nout: number, nin: number): number;
  /** Packs W (nout x nin, row-major) and b for `dense`. */
  pack(W: Float32Array, b: Float32Array, nout: number, nin: number, dst: Float32Array): void;
  /**
   * U = X W^T + b over B rows (X row stride ldx), then Y (row stride ldy) = U (mode 0), max(U, 0)
   * (mode 1), or X0 ⊙ U + X (mode 2: a cross layer, nout = nin, X0 with stride ldx, Y apart from X).
   */
  dense(mode: 0 | 1 | 2, B: number, nin: number, nout: number, X: Float32Array, ldx: number, packed: Float32Array, Y: Float32Array, ldy: number, X0: Float32Array | null): void;
  /** The encoder over B rows of x (B x F) into x0 (B x d0, embedding rows copied in) and codes (B x T). */
  encode(x: Float32Array, F: number, B: number, plan: DcnEncodePlan, x0: Float32Array, d0: number, codes: Int32Array): void;
}

/**
 * Training kernels of a fast backend. Every array must live in the backend's memory (`alloc`, or
 * `allocInt32`): they are read and written in place, and anything else is refused with a RangeError.
 * Each mirrors a plain TypeScript reference: the two-tower's softmaxLoss, poolForward, poolBackward,
 * and the Optimizer's Adam updates.
 * @example
 *   const t = getKernelBackend().train;
 *   if (t) total = t.softmaxXent(B, C, S, 1 / tau, logQ, colItem, w, 1 / B, dS);
 */
export interface TrainKernels {
  /** dst[i] = exp(src[i]) for i < n: polynomial exp, relative error about 1e-7; 0 below -87.33. */
  expArray(src: Float32Array, dst: Float32Array, n: number): void;
  /**
   * In-batch softmax cross-entropy over the B x C scores S (row i's positive is column p_i = pos[i],
   * or i without `pos`): logits S_ij invTau - logQ_j + lnCount_j, columns j != p_i holding row i's own
   * item masked, the positive's own logit without lnCount (a deduplicated column of c copies counts
   * c times as a negative, once as the positive). Only rows with w_i >= 0 (rows with w_i < 0 are left
   * untouched for the caller). Writes dS = w_i (p_ij - [j = p_i]) invTau invB and returns
   * sum_i w_i (logsumexp_j z_ij - z_ip_i).
   */
  softmaxXent(B: number, C: number, S: Float32Array, invTau: number, logQ: Float32Array | null, colItem: Int32Array, w: Float32Array, invB: number, dS: Float32Array, pos?: Int32Array | null, lnCount?: Float32Array | null): number;
  /** Weighted mean pooling: X[r*ldx + xOff + j] = sum_e w_e table[idx_e*dim + j] / sum_e |w_e| (0 for an empty bag). */
  bagPool(offsets: Int32Array, indices: Int32Array, weights: Float32Array, B: number, table: Float32Array, dim: number, X: Float32Array, ldx: number, xOff: number): void;
  /** Whether x[0 .. n) are all finite (no NaN, no infinity). */
  allFinite(x: Float32Array, n: number): boolean;
  /** bagPool adding into X (X[r*ldx + xOff + j] += the pooled value) instead of writing it. */
  bagPoolAdd(offsets: Int32Array, indices: Int32Array, weights: Float32Array, B: number, table: Float32Array, dim: number, X: Float32Array, ldx: number, xOff: number): void;
  /** Pooling backward as a scatter-add: entry e of a row with z = sum |w| > 0 adds w_e dX[r] / z into grads at element dst[e]. */
  bagScatter(offsets: Int32Array, weights: Float32Array, dst: Int32Array, B: number, dim: number, dX: Float32Array, ldx: number, xOff: number, grads: Float32Array): void;
  /**
   * bagScatter's slot map: dst[e] = element offset in grads of the compact gradient row of entry e's
   * table row (a new slot, rows[n] = row, slot[row] = n, zeroed gradient, the first time a row is
   * seen; 0 for entries of rows whose weights are all 0). Returns the new count, or -(n + 1) when
   * rows / grads are full: grow them and call again (mapped rows keep their slots).
   */
  bagSlots(offsets: Int32Array, indices: Int32Array, weights: Float32Array, B: number, slot: Int32Array, rows: Int32Array, n: number, grads: Float32Array, dim: number, dst: Int32Array): number;
  /** Adam over n floats: p, m, v, g are views starting at element 0 of the span. */
  adamDense(p: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, n: number, lr: number, b1: number, b2: number, eps: number, l2: number): void;
  /** Lazy Adam on table rows: rows[r] of the table (p, m, v start at its element 0) takes g[r*dim ..). */
  adamRows(p: Float32Array, m: Float32Array, v: Float32Array, rows: Int32Array, nRows: number, dim: number, g: Float32Array, lr: number, b1: number, b2: number, eps: number, l2: number): void;
  /** e = d e + (1 - d) p over n floats. */
  emaUpdate(e: Float32Array, p: Float32Array, n: number, d: number): void;
  /** Y[r*n + j] = bias[j] for r < B (a dense layer's output before Y += X W^T). */
  biasRows(Y: Float32Array, B: number, n: number, bias: Float32Array): void;
  /** y = max(0, y) over n values. */
  relu(Y: Float32Array, n: number): void;
  /** dY = 0 where Y <= 0, over n values. */
  reluBackward(Y: Float32Array, dY: Float32Array, n: number): void;
  /** db[j] += sum_r dY[r*n + j] over r < B (a bias gradient). */
  colSumAdd(dY: Float32Array, B: number, n: number, db: Float32Array): void;
  /** out[r] = E[r] / sqrt(|E[r]|^2 + 1e-6) over B rows of k; norms[r] keeps the divisor. */
  l2Normalize(E: Float32Array, B: number, k: number, out: Float32Array, norms: Float32Array): void;
  /** dE[r] = (dOut[r] - out[r] (out[r] . dOut[r])) / norms[r]. */
  l2NormalizeBackward(out: Float32Array, norms: Float32Array, dOut: Float32Array, B: number, k: number, dE: Float32Array): void;
  /** A zero-filled Int32Array of n elements in the backend's memory. */
  allocInt32(n: number): Int32Array;
}

/** Plain TypeScript backend: the reference. */
export const jsBackend: KernelBackend = {
  name: 'js',
  gemm: gemmRef,
  gemv: (rows, cols, m, x, y) => gemv(m, 0, rows, cols, x, 0, y, 0),
  alloc: (n: number) => new Float32Array(new SharedArrayBuffer(Math.max(1, n) * 4)).subarray(0, n),
  free: () => {},
};

/** Options of `getKernelBackend` (only the first call in a thread decides). */
export interface KernelBackendOptions {
  /** Attach to this kernel memory (another thread's `backend.memory`). A worker thread does so by
   * default with the memory of the thread that spawned it, if that one had made its backend first. */
  memory?: WasmMemory;
  /** The compiled kernels the memory was made with (that thread's `backend.module`). A worker thread
   * inherits it with the memory; without it a thread compiles kernels.wasm itself, which fails to
   * attach (JS fallback with a warning) if the file was rebuilt since the memory's maker loaded it. */
  module?: WasmModule;
}

let current: KernelBackend | undefined;
// Worker threads inherit environment data from their parent at spawn: that is how a worker finds
// the parent's kernel memory without being handed it.
const MEMORY_KEY = 'tandem.kernelMemory';
// ... and the module the memory was made with, so a worker never re-reads a kernels.wasm rebuilt meanwhile.
const MODULE_KEY = 'tandem.kernelModule';

/**
 * The fastest backend this thread can run: WebAssembly SIMD (src/math/wasm) when its module is built
 * and loads, else the plain TypeScript one, with a one-line warning on stderr. Created once per thread;
 * every later call returns the same backend. `TANDEM_KERNELS=js` forces the reference kernels,
 * `TANDEM_KERNELS=wasm` makes a failure to load the WebAssembly ones an error instead of a fallback.
 * A worker thread attaches to the kernel memory of the thread that spawned it (when that thread made
 * its backend before spawning), so views of `alloc`ed arrays posted to it are read in place there too.
 * @example
 *   const be = getKernelBackend();
 *   const w = be.alloc(128 * 200), x = be.alloc(512 * 200), y = be.alloc(512 * 128);
 *   be.gemm(false, true, 512, 128, 200, 1, x, 200, w, 200, 0, y, 128); // y = x w^T
 */
export function getKernelBackend(options: KernelBackendOptions = {}): KernelBackend {
  if (current) {
    // The JS backend (forced or fallback) reads any SharedArrayBuffer, so only a wasm one can conflict.
    if (options.memory && current.memory && current.memory !== options.memory) {
      throw new Error('getKernelBackend: this thread already has a kernel backend on another memory; pass { memory } on the first call');
    }
    return current;
  }
  const mode = process.env.TANDEM_KERNELS ?? '';
  if (mode === 'js') return (current = jsBackend);
  if (mode !== '' && mode !== 'wasm') throw new Error(`TANDEM_KERNELS must be 'js' or 'wasm', got '${mode}'`);
  try {
    const inherited = !options.memory && !isMainThread ? (getEnvironmentData(MEMORY_KEY) as WasmMemory | undefined) : undefined;
    const memory = options.memory ?? inherited;
    // the inherited module belongs with the inherited memory only; an explicit memory brings its own (or none)
    const module = options.module ?? (inherited ? (getEnvironmentData(MODULE_KEY) as WasmModule | undefined) : undefined);
    const be = createWasmBackend({ memory, module });
    current = be;
    setEnvironmentData(MEMORY_KEY, be.memory);
    setEnvironmentData(MODULE_KEY, be.module);
    const stale = staleWarning();
    if (stale) process.stderr.write(`tandem: warning: ${stale}\n`);
  } catch (err) {
    if (mode === 'wasm') throw err;
    process.stderr.write(`tandem: warning: ${(err as Error).message}; using the slower TypeScript kernels\n`);
    current = jsBackend;
  }
  return current;
}
