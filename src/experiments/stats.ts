/**
 * The statistics of an experiment report: normal and chi-square tail probabilities, the exact binomial
 * sign test, and confidence intervals by the delta method (user-clustered, for ratio metrics such as
 * clicks per exposure) with a per-user bootstrap beside it as the slow reference the tests hold it to.
 */
import { Rng } from '../math/index.ts';

/** 97.5% quantile of the standard normal: the half-width of a 95% interval in standard errors. */
export const Z95 = 1.959963984540054;

/** erfc(x) (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7 everywhere). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}

/** P(Z <= z) for a standard normal Z. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** Two-sided p-value of a z statistic: P(|Z| >= |z|). */
export function twoSidedP(z: number): number {
  if (!Number.isFinite(z)) return Number.isNaN(z) ? 1 : 0;
  return Math.min(1, erfc(Math.abs(z) / Math.SQRT2));
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~15 digits). */
export function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The regularised upper incomplete gamma Q(a, x) (series below a + 1, continued fraction above). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    // P(a, x) = e^-x x^a / Γ(a + 1) · Σ x^n / ((a + 1)...(a + n))
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return Math.max(0, 1 - sum * Math.exp(lead));
  }
  // Lentz's method on the continued fraction of Q(a, x)
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.min(1, Math.exp(lead) * h);
}

/** P(X >= x) for X chi-square with `df` degrees of freedom. */
export function chiSquareSf(x: number, df: number): number {
  return gammaQ(df / 2, x / 2);
}

/**
 * Exact two-sided sign test: the probability, with p = 1/2, of a split of n at least as uneven as
 * (k, n - k). Summed in log space, so n in the millions is fine.
 * @example signTestP(9, 10) // 0.021484375
 */
export function signTestP(k: number, n: number): number {
  if (n === 0) return 1;
  const lo = Math.min(k, n - k);
  if (2 * lo === n) return 1;
  const lnHalfN = n * Math.log(0.5);
  const lnFactN = lnGamma(n + 1);
  let tail = 0;
  for (let i = 0; i <= lo; i++) tail += Math.exp(lnFactN - lnGamma(i + 1) - lnGamma(n - i + 1) + lnHalfN);
  return Math.min(1, 2 * tail);
}

/** A point estimate with its standard error and 95% interval. */
export interface Estimate {
  value: number;
  se: number;
  ci: [number, number];
}

function estimate(value: number, se: number): Estimate {
  return { value, se, ci: [value - Z95 * se, value + Z95 * se] };
}

/**
 * The mean of per-user values with the usual standard error s / sqrt(m) (sample variance, m - 1).
 * @example meanEstimate([1, 0, 0, 1]).value // 0.5
 */
export function meanEstimate(xs: ArrayLike<number>): Estimate {
  const m = xs.length;
  if (m === 0) return estimate(0, 0);
  let s = 0;
  for (let i = 0; i < m; i++) s += xs[i];
  const mean = s / m;
  let ss = 0;
  for (let i = 0; i < m; i++) ss += (xs[i] - mean) ** 2;
  return estimate(mean, m > 1 ? Math.sqrt(ss / (m - 1) / m) : 0);
}

/**
 * Σx / Σy over users (clicks per exposure) with the delta-method standard error, which treats the user
 * as the unit (a user's exposures are not independent):
 * Var(x̄/ȳ) ≈ (s_x² / ȳ² − 2 x̄ s_xy / ȳ³ + x̄² s_y² / ȳ⁴) / m.
 * @example ratioEstimate([1, 0, 2], [3, 1, 4]).value // 3 / 8
 */
export function ratioEstimate(x: ArrayLike<number>, y: ArrayLike<number>): Estimate {
  const m = x.length;
  if (m === 0) return estimate(0, 0);
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < m; i++) (sx += x[i]), (sy += y[i]);
  if (sy === 0) return estimate(0, 0);
  const mx = sx / m;
  const my = sy / m;
  if (m < 2) return estimate(mx / my, 0);
  let vxx = 0;
  let vyy = 0;
  let vxy = 0;
  for (let i = 0; i < m; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    vxx += dx * dx;
    vyy += dy * dy;
    vxy += dx * dy;
  }
  vxx /= m - 1;
  vyy /= m - 1;
  vxy /= m - 1;
  const v = (vxx / (my * my) - (2 * mx * vxy) / (my * my * my) + (mx * mx * vyy) / (my * my * my * my)) / m;
  return estimate(mx / my, Math.sqrt(Math.max(0, v)));
}

/**
 * The slow reference for `ratioEstimate`'s standard error: users resampled with replacement `reps`
 * times, the standard deviation of Σx / Σy over the resamples.
 */
export function bootstrapRatioSe(x: ArrayLike<number>, y: ArrayLike<number>, reps = 2000, seed = 1): number {
  const m = x.length;
  const rng = new Rng(seed);
  const rs: number[] = [];
  for (let r = 0; r < reps; r++) {
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < m; i++) {
      const j = rng.int(m);
      sx += x[j];
      sy += y[j];
    }
    if (sy > 0) rs.push(sx / sy);
  }
  const mean = rs.reduce((a, b) => a + b, 0) / rs.length;
  return Math.sqrt(rs.reduce((a, b) => a + (b - mean) ** 2, 0) / (rs.length - 1));
}

/** A difference of two independent estimates (treatment − control) with its interval and p-value. */
export interface Difference {
  diff: number;
  se: number;
  ci: [number, number];
  /** diff / control (null when the control is 0). */
  relative: number | null;
  pValue: number;
}

export function difference(treatment: Estimate, control: Estimate): Difference {
  const diff = treatment.value - control.value;
  const se = Math.sqrt(treatment.se ** 2 + control.se ** 2);
  const p = se > 0 ? twoSidedP(diff / se) : diff === 0 ? 1 : 0;
  return { diff, se, ci: [diff - Z95 * se, diff + Z95 * se], relative: control.value !== 0 ? diff / control.value : null, pValue: p };
}

/** Pearson's chi-square of observed counts against expected shares, and its p-value (df = k − 1). */
export function chiSquareTest(observed: readonly number[], shares: readonly number[]): { chiSquare: number; df: number; pValue: number } {
  const n = observed.reduce((a, b) => a + b, 0);
  let x = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = n * shares[i];
    if (e > 0) x += (observed[i] - e) ** 2 / e;
  }
  const df = observed.length - 1;
  return { chiSquare: x, df, pValue: df > 0 && n > 0 ? chiSquareSf(x, df) : 1 };
}
