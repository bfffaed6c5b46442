import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../math/index.ts';
import { applyStack, fitStack, stackDesign, stackLoss } from './stack.ts';

/** Rows whose label log-odds are a known stacker of zg, zd and one side column (a count). */
function rows(n: number, seed: number) {
  const rng = new Rng(seed);
  const F = 2;
  const x = new Float32Array(n * F);
  const zg = new Float64Array(n);
  const zd = new Float64Array(n);
  const y = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const count = Math.floor(Math.exp(4 * rng.next()));
    x[r * F] = rng.next() < 0.05 ? NaN : count;
    x[r * F + 1] = rng.normal();
    zg[r] = rng.normal() * 2;
    zd[r] = rng.normal() * 2;
    // the GBDT counts more for heavy users, the DCN for light ones
    const s = Math.log1p(count) - 2;
    const z = -1 + 0.6 * zg[r] + 0.4 * zd[r] + 0.3 * s * zg[r] - 0.3 * s * zd[r];
    y[r] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  return { x, F, zg, zd, y };
}

test('stacker loss: gradient and Hessian against central differences (float64)', () => {
  const { x, F, zg, zd, y } = rows(60, 1);
  const spec = { columns: [0, 1], mean: [1.5, 0.2], std: [0.9, 1.1] };
  const P = 7;
  const X = stackDesign(spec, x, F, 60, zg, zd);
  const rng = new Rng(2);
  const theta = Float64Array.from({ length: P }, () => 0.3 * rng.normal());
  const grad = new Float64Array(P);
  const hess = new Float64Array(P * P);
  const lambda = 0.05;
  stackLoss(theta, X, y, 60, P, lambda, grad, hess);
  const h = 1e-6;
  const g2 = new Float64Array(P);
  for (let j = 0; j < P; j++) {
    const t = theta[j];
    theta[j] = t + h;
    const up = stackLoss(theta, X, y, 60, P, lambda, g2, null);
    const gUp = Float64Array.from(g2);
    theta[j] = t - h;
    const down = stackLoss(theta, X, y, 60, P, lambda, g2, null);
    const gDown = Float64Array.from(g2);
    theta[j] = t;
    const num = (up - down) / (2 * h);
    assert.ok(Math.abs(num - grad[j]) < 1e-7 * (1 + Math.abs(num)), `dθ${j}: ${grad[j]} vs ${num}`);
    for (let i = 0; i < P; i++) {
      const hn = (gUp[i] - gDown[i]) / (2 * h);
      assert.ok(Math.abs(hn - hess[i * P + j]) < 1e-6 * (1 + Math.abs(hn)), `H[${i},${j}]: ${hess[i * P + j]} vs ${hn}`);
    }
  }
});

test('fitStack recovers the known weights and their interaction with a side column; applyStack is the fitted log-odds', () => {
  const { x, F, zg, zd, y } = rows(20000, 3);
  const spec = fitStack(x, F, 20000, y, zg, zd, [0], ['count'], 1e-6);
  const [b, tg, td, tgs, tds] = spec.theta;
  // s here is standardised, the generator's s = log1p(count) - 2: rescale its weights to compare
  const sd = spec.std[0];
  assert.ok(Math.abs(tg - (0.6 + 0.3 * (spec.mean[0] - 2))) < 0.08, `θg ${tg}`);
  assert.ok(Math.abs(td - (0.4 - 0.3 * (spec.mean[0] - 2))) < 0.08, `θd ${td}`);
  assert.ok(Math.abs(tgs - 0.3 * sd) < 0.08 && Math.abs(tds + 0.3 * sd) < 0.08, `θgs ${tgs}, θds ${tds}`);
  assert.ok(Math.abs(b + 1) < 0.15, `b ${b}`);
  const z = new Float64Array(3);
  applyStack(spec, x, F, 3, zg, zd, z);
  const X = stackDesign(spec, x, F, 3, zg, zd);
  for (let r = 0; r < 3; r++) {
    let want = 0;
    for (let j = 0; j < 5; j++) want += spec.theta[j] * X[r * 5 + j];
    assert.ok(Math.abs(z[r] - want) < 1e-12);
  }
});
