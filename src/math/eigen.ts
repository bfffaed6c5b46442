/**
 * Eigen-decomposition of a small symmetric matrix (cyclic Jacobi rotations, float64): the principal
 * axes of embedding tables (a few dozen dimensions), where O(n³) per sweep costs microseconds.
 */

/**
 * Eigenvalues (descending) and eigenvectors of the symmetric n x n matrix `a` (row-major, read only):
 * `vectors` holds eigenvector k in row k (unit length), a = Σ_k values[k] vₖ vₖᵀ. Each vector's sign is
 * fixed so that its largest-magnitude component is positive (the decomposition is otherwise unique only
 * up to sign).
 * @example const { values, vectors } = symmetricEigen(Float64Array.of(2, 1, 1, 2), 2); // values [3, 1]
 */
export function symmetricEigen(a: Float64Array, n: number, maxSweeps = 100): { values: Float64Array; vectors: Float64Array } {
  if (a.length !== n * n) throw new Error(`symmetricEigen: ${a.length} entries, expected ${n}x${n}`);
  const m = Float64Array.from(a);
  // v: columns are the eigenvectors as rotations accumulate
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += m[i] * m[i];
  const tol = 1e-30 * Math.max(scale, 1e-300);
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] * m[p * n + q];
    if (off <= tol) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p];
        const aqq = m[q * n + q];
        // the rotation angle that zeroes m[p][q] (Golub & Van Loan, Algorithm 8.4.1)
        const tau = (aqq - app) / (2 * apq);
        const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          // columns p and q of m
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          // rows p and q of m
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j] - m[i * n + i] || i - j);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((col, k) => {
    values[k] = m[col * n + col];
    let big = 0;
    for (let i = 0; i < n; i++) if (Math.abs(v[i * n + col]) > Math.abs(big)) big = v[i * n + col];
    const sign = big < 0 ? -1 : 1;
    for (let i = 0; i < n; i++) vectors[k * n + i] = sign * v[i * n + col];
  });
  return { values, vectors };
}
