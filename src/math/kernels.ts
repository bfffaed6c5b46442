/**
 * Plain TypeScript vector kernels: the reference implementations. Fast paths (WebAssembly SIMD) live
 * beside them and are held to these by differential tests. Destination comes last (Gorse's habit).
 */
type Vec = Float32Array | Float64Array;

/** sum_i a[aOff+i] * b[bOff+i] for i < n */
export function dot(a: Vec, aOff: number, b: Vec, bOff: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[aOff + i] * b[bOff + i];
  return s;
}

/** y[yOff+i] += alpha * x[xOff+i] */
export function axpy(alpha: number, x: Vec, xOff: number, y: Vec, yOff: number, n: number): void {
  for (let i = 0; i < n; i++) y[yOff + i] += alpha * x[xOff + i];
}

/** dst[i] = a[i] * c */
export function scaleTo(a: Vec, c: number, dst: Vec): void {
  for (let i = 0; i < a.length; i++) dst[i] = a[i] * c;
}

/**
 * Index of the first value of a[from .. to) that is NaN or infinite, or -1: the check every loader
 * runs over stored weights, and the serving path over scores.
 * @example if (firstNonFinite(weights) >= 0) throw new Error('ease-weights.f32: not finite')
 */
export function firstNonFinite(a: ArrayLike<number>, from = 0, to = a.length): number {
  for (let i = from; i < to; i++) {
    // x - x is 0 for finite x and NaN for NaN and +-Infinity: one test for both
    if (a[i] - a[i] !== 0) return i;
  }
  return -1;
}

/** L2 norm of a[off .. off+n) */
export function norm2(a: Vec, off: number, n: number): number {
  return Math.sqrt(dot(a, off, a, off, n));
}

/**
 * y = M x for row-major M (rows x cols) starting at mOff: y[r] = sum_c M[r*cols+c] * x[c].
 */
export function gemv(m: Vec, mOff: number, rows: number, cols: number, x: Vec, xOff: number, y: Vec, yOff: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const base = mOff + r * cols;
    for (let c = 0; c < cols; c++) s += m[base + c] * x[xOff + c];
    y[yOff + r] = s;
  }
}
