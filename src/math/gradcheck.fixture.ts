// Central-difference gradient checks for the hand-written maths of every neural model (two-tower, DCN):
// the ops run on Float64Arrays (through the reference gemm, which computes in doubles), so the checks are tight.
import assert from 'node:assert/strict';
import type { Rng } from './rng.ts';

/** A Float64Array typed as the Float32Array the ops take: the checks run the same code in doubles. */
export const f64 = (n: number): Float32Array => new Float64Array(n) as unknown as Float32Array;

/** The central-difference step. */
export const H = 1e-6;

/** Analytic `a` against numeric `n`, within 1e-6 + 1e-5 relative. */
export function close(a: number, n: number, what: string): void {
  assert.ok(Math.abs(a - n) <= 1e-6 + 1e-5 * Math.abs(n), `${what}: analytic ${a} vs numeric ${n}`);
}

/** `n` standard normal draws (times `scale`) in doubles. */
export function rand(rng: Rng, n: number, scale = 1): Float32Array {
  const a = f64(n);
  for (let i = 0; i < n; i++) a[i] = scale * rng.normal();
  return a;
}

/** Checks d f / d x[i] against `analytic` for every i (or the listed ones), by central differences. */
export function checkGradient(x: Float32Array, f: () => number, analytic: ArrayLike<number>, what: string, idx?: number[]): void {
  for (const i of idx ?? Array.from({ length: x.length }, (_, k) => k)) {
    const v = x[i];
    x[i] = v + H;
    const fp = f();
    x[i] = v - H;
    const fm = f();
    x[i] = v;
    close(analytic[i], (fp - fm) / (2 * H), `${what}[${i}]`);
  }
}
