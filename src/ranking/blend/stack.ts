/**
 * A learned stacker for the blend: logistic regression on both models' log-odds and their products with
 * a few standardised row columns (e.g. the user's event count and the item's popularity, log-compressed),
 * so the weight of each model can move with the kind of user and item:
 *   z = b + θg zg + θd zd + Σ_k (θgk zg + θdk zd) s_k,   s_k = (log1p(max(x_k, 0)) − μ_k) / σ_k (0 when missing).
 * Fitted by Newton's method (ridge λ on every θ but b) on the validation rows, which neither model trained on.
 */
import { finiteMoments } from '../deep/encoder.ts';

/** The fitted stacker, as blend.json stores it. */
export interface StackSpec {
  /** The row columns s_k reads, and their log1p means and deviations. */
  columns: number[];
  names: string[];
  mean: number[];
  std: number[];
  /** [b, θg, θd, θg1, θd1, θg2, θd2, ...]. */
  theta: number[];
}

/** s_k of row r: the standardised log-compressed column value, 0 when missing. */
function side(x: Float32Array, F: number, r: number, col: number, mean: number, std: number): number {
  const v = x[r * F + col];
  return v - v === 0 ? (Math.log1p(Math.max(0, v)) - mean) / std : 0;
}

/** The design row of (zg, zd, s): [1, zg, zd, zg s_1, zd s_1, ...] into phi. */
function design(zg: number, zd: number, s: ArrayLike<number>, K: number, phi: Float64Array): void {
  phi[0] = 1;
  phi[1] = zg;
  phi[2] = zd;
  for (let k = 0; k < K; k++) {
    phi[3 + 2 * k] = zg * s[k];
    phi[4 + 2 * k] = zd * s[k];
  }
}

/** The design matrix (n x P, P = 3 + 2K) of the rows. */
export function stackDesign(spec: Pick<StackSpec, 'columns' | 'mean' | 'std'>, x: Float32Array, F: number, n: number, zg: ArrayLike<number>, zd: ArrayLike<number>): Float64Array {
  const K = spec.columns.length;
  const P = 3 + 2 * K;
  const X = new Float64Array(n * P);
  const s = new Float64Array(K);
  const phi = new Float64Array(P);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < K; k++) s[k] = side(x, F, r, spec.columns[k], spec.mean[k], spec.std[k]);
    design(zg[r], zd[r], s, K, phi);
    X.set(phi, r * P);
  }
  return X;
}

/**
 * Penalised mean log loss of θ on the design X (n x P) and labels y, its gradient into `grad`, and
 * (when `hess` is given) its Hessian (P x P): L = mean softplus(z) − y z + λ/2 Σ_{j≥1} θ_j².
 */
export function stackLoss(theta: Float64Array, X: Float64Array, y: ArrayLike<number>, n: number, P: number, lambda: number, grad: Float64Array, hess: Float64Array | null): number {
  grad.fill(0);
  hess?.fill(0);
  let loss = 0;
  for (let r = 0; r < n; r++) {
    const o = r * P;
    let z = 0;
    for (let j = 0; j < P; j++) z += theta[j] * X[o + j];
    loss += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - y[r] * z;
    const p = 1 / (1 + Math.exp(-z));
    // dL/dθ = mean (p − y) φ;  d²L/dθ² = mean p (1 − p) φ φᵀ
    const g = p - y[r];
    for (let j = 0; j < P; j++) grad[j] += g * X[o + j];
    if (hess) {
      const w = p * (1 - p);
      for (let i = 0; i < P; i++) for (let j = 0; j <= i; j++) hess[i * P + j] += w * X[o + i] * X[o + j];
    }
  }
  const inv = 1 / Math.max(1, n);
  loss *= inv;
  for (let j = 0; j < P; j++) grad[j] *= inv;
  if (hess) {
    for (let i = 0; i < P; i++) for (let j = 0; j <= i; j++) hess[j * P + i] = hess[i * P + j] *= inv;
  }
  for (let j = 1; j < P; j++) {
    loss += 0.5 * lambda * theta[j] * theta[j];
    grad[j] += lambda * theta[j];
    if (hess) hess[j * P + j] += lambda;
  }
  return loss;
}

/** Solves A x = b (P x P, symmetric positive definite) by Cholesky; A is overwritten. */
function solveSpd(A: Float64Array, b: Float64Array, P: number): Float64Array {
  for (let j = 0; j < P; j++) {
    let d = A[j * P + j];
    for (let k = 0; k < j; k++) d -= A[j * P + k] * A[j * P + k];
    // a tiny floor keeps a flat direction (a constant column) from dividing by zero
    d = Math.sqrt(Math.max(d, 1e-12));
    A[j * P + j] = d;
    for (let i = j + 1; i < P; i++) {
      let s = A[i * P + j];
      for (let k = 0; k < j; k++) s -= A[i * P + k] * A[j * P + k];
      A[i * P + j] = s / d;
    }
  }
  const x = Float64Array.from(b);
  for (let i = 0; i < P; i++) {
    for (let k = 0; k < i; k++) x[i] -= A[i * P + k] * x[k];
    x[i] /= A[i * P + i];
  }
  for (let i = P - 1; i >= 0; i--) {
    for (let k = i + 1; k < P; k++) x[i] -= A[k * P + i] * x[k];
    x[i] /= A[i * P + i];
  }
  return x;
}

/**
 * Fits the stacker on rows 0..n-1 (their features x, n x F, labels y, the models' log-odds zg, zd).
 * @example const spec = fitStack(valid.features, valid.nFeatures, valid.nRows, valid.labels, zg, zd, [3, 12], ['u_events', 'i_pop_total'], 1e-3);
 */
export function fitStack(x: Float32Array, F: number, n: number, y: ArrayLike<number>, zg: ArrayLike<number>, zd: ArrayLike<number>, columns: number[], names: string[], lambda: number): StackSpec {
  const mean: number[] = [];
  const std: number[] = [];
  for (const c of columns) {
    const { mean: mu, sd } = finiteMoments(x, F, n, c, (v) => Math.log1p(Math.max(0, v)));
    mean.push(mu);
    std.push(sd > 1e-12 ? sd : 1);
  }
  const spec = { columns, names, mean, std };
  const P = 3 + 2 * columns.length;
  const X = stackDesign(spec, x, F, n, zg, zd);
  // start at the plain average of the two log-odds
  const theta = new Float64Array(P);
  theta[1] = 0.5;
  theta[2] = 0.5;
  const grad = new Float64Array(P);
  const hess = new Float64Array(P * P);
  let loss = stackLoss(theta, X, y, n, P, lambda, grad, hess);
  for (let it = 0; it < 50; it++) {
    const step = solveSpd(hess, grad, P);
    // Newton with step halving: the loss is convex, a halved step always ends lower
    let t = 1;
    const next = new Float64Array(P);
    let nextLoss = Infinity;
    for (let h = 0; h < 30; h++) {
      for (let j = 0; j < P; j++) next[j] = theta[j] - t * step[j];
      nextLoss = stackLoss(next, X, y, n, P, lambda, grad, null);
      if (nextLoss <= loss) break;
      t *= 0.5;
    }
    if (!(nextLoss <= loss)) break;
    const done = loss - nextLoss < 1e-10;
    theta.set(next);
    loss = stackLoss(theta, X, y, n, P, lambda, grad, hess);
    if (done) break;
  }
  return { ...spec, theta: Array.from(theta) };
}

/** The stacker's log-odds of rows 0..n-1 into out, given both models' log-odds. */
export function applyStack(spec: StackSpec, x: Float32Array, F: number, n: number, zg: ArrayLike<number>, zd: ArrayLike<number>, out: Float64Array): void {
  const K = spec.columns.length;
  const th = spec.theta;
  for (let r = 0; r < n; r++) {
    let z = th[0] + th[1] * zg[r] + th[2] * zd[r];
    for (let k = 0; k < K; k++) {
      const s = side(x, F, r, spec.columns[k], spec.mean[k], spec.std[k]);
      z += (th[3 + 2 * k] * zg[r] + th[4 + 2 * k] * zd[r]) * s;
    }
    out[r] = z;
  }
}
