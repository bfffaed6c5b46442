import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../math/index.ts';
import { binaryObjective, lambdarankObjective, regressionObjective, type Objective } from './objectives.ts';

/** Central differences of loss (gradient) and of the analytic gradient (hessian diagonal), in float64. */
function checkDerivatives(o: Objective, scores: Float64Array, labels: Float64Array, weights: Float64Array | undefined, groups: Int32Array | undefined): void {
  const n = scores.length;
  const grad = new Float64Array(n);
  const hess = new Float64Array(n);
  o.gradients(scores, labels, weights, groups, grad, hess);
  const eps = 1e-5;
  const g2 = new Float64Array(n);
  const h2 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    scores[i] = s + eps;
    const lp = o.loss(scores, labels, weights, groups);
    o.gradients(scores, labels, weights, groups, g2, h2);
    const gp = g2[i];
    scores[i] = s - eps;
    const lm = o.loss(scores, labels, weights, groups);
    o.gradients(scores, labels, weights, groups, g2, h2);
    const gm = g2[i];
    scores[i] = s;
    const numGrad = (lp - lm) / (2 * eps);
    const numHess = (gp - gm) / (2 * eps);
    assert.ok(Math.abs(numGrad - grad[i]) < 1e-6 * Math.max(1, Math.abs(grad[i])), `${o.name} grad[${i}]: analytic ${grad[i]}, numeric ${numGrad}`);
    assert.ok(Math.abs(numHess - hess[i]) < 1e-5 * Math.max(1, Math.abs(hess[i])), `${o.name} hess[${i}]: analytic ${hess[i]}, numeric ${numHess}`);
  }
}

test('binary log loss: gradient and hessian match central differences, with weights', () => {
  const rng = new Rng(3);
  const n = 12;
  const scores = Float64Array.from({ length: n }, () => rng.normal() * 3);
  const labels = Float64Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : i % 3 === 1 ? 0 : 0.3));
  const weights = Float64Array.from({ length: n }, () => 0.5 + rng.next());
  checkDerivatives(binaryObjective, scores, labels, undefined, undefined);
  checkDerivatives(binaryObjective, scores, labels, weights, undefined);
});

test('squared error: gradient and hessian match central differences, with weights', () => {
  const rng = new Rng(4);
  const n = 10;
  const scores = Float64Array.from({ length: n }, () => rng.normal());
  const labels = Float64Array.from({ length: n }, () => rng.normal() * 2);
  const weights = Float64Array.from({ length: n }, () => rng.next() * 2);
  checkDerivatives(regressionObjective, scores, labels, weights, undefined);
});

test('lambdarank: gradient and hessian match central differences of its pairwise surrogate', () => {
  const rng = new Rng(5);
  // three groups; scores distinct so a small step does not change the ranking
  const groups = Int32Array.of(0, 6, 9, 17);
  const n = 17;
  const scores = Float64Array.from({ length: n }, (_, i) => rng.normal() + i * 1e-3);
  const labels = Float64Array.from({ length: n }, () => rng.int(4));
  const weights = Float64Array.from({ length: n }, () => 0.5 + rng.next());
  checkDerivatives(lambdarankObjective(30, 1), scores, labels, undefined, groups);
  checkDerivatives(lambdarankObjective(3, 1.7), scores, labels, weights, groups);
});

test('lambdarank: the more relevant item of a pair is pushed up, and all-zero groups get nothing', () => {
  const o = lambdarankObjective(10, 1);
  const scores = Float64Array.of(0.5, 0.2, 0.1, 0, 0);
  const labels = Float64Array.of(0, 2, 0, 0, 0);
  const groups = Int32Array.of(0, 3, 5);
  const g = new Float64Array(5);
  const h = new Float64Array(5);
  o.gradients(scores, labels, undefined, groups, g, h);
  assert.ok(g[1] < 0, 'relevant item: negative gradient raises its score');
  assert.ok(g[0] > 0 && g[2] > 0);
  assert.ok(Math.abs(g[0] + g[1] + g[2]) < 1e-12, 'pair gradients cancel within a group');
  assert.equal(g[3], 0);
  assert.equal(h[4], 0);
});

test('initial scores: log-odds of the weighted mean for binary, weighted mean for squared error', () => {
  const y = Float64Array.of(1, 0, 0, 0);
  assert.ok(Math.abs(binaryObjective.initScore(y, undefined) - Math.log(0.25 / 0.75)) < 1e-12);
  const w = Float64Array.of(3, 1, 1, 1);
  assert.ok(Math.abs(binaryObjective.initScore(y, w) - 0) < 1e-12);
  assert.equal(regressionObjective.initScore(Float64Array.of(1, 3), Float64Array.of(1, 3)), 2.5);
  assert.throws(() => binaryObjective.checkLabels(Float64Array.of(0, 2), 'labels'), /labels\[1\].*\[0, 1\]/);
});

test('lambdarank: a pair weight is the NDCG change of swapping the two items', () => {
  const o = lambdarankObjective(10, 1);
  // two items, the relevant one ranked first (tie broken by row): swapping costs 1 - 1/log2(3)
  const g = new Float64Array(2);
  const h = new Float64Array(2);
  o.gradients(Float64Array.of(0, 0), Float64Array.of(1, 0), undefined, Int32Array.of(0, 2), g, h);
  const delta = 1 - 1 / Math.log2(3);
  assert.ok(Math.abs(g[0] + 0.5 * delta) < 1e-12, `grad ${g[0]}`);
  assert.ok(Math.abs(h[0] - 0.25 * delta) < 1e-12, `hess ${h[0]}`);
  // graded labels 2 and 1 at ranks 1 and 3 of three: (2^2 - 2^1) (1 - 1/2) / IDCG
  const g3 = new Float64Array(3);
  const h3 = new Float64Array(3);
  o.gradients(Float64Array.of(3, 2, 1), Float64Array.of(2, 0, 1), undefined, Int32Array.of(0, 3), g3, h3);
  const idcg = 3 + 1 / Math.log2(3);
  const rho = (d: number) => 1 / (1 + Math.exp(d));
  // row 2 (label 1, rank 3) gains from the pair with row 1 (label 0, rank 2) and loses to row 0
  const d21 = (1 * (1 / Math.log2(3) - 0.5)) / idcg;
  const d02 = (2 * (1 - 0.5)) / idcg;
  assert.ok(Math.abs(g3[2] - (-d21 * rho(1 - 2) + d02 * rho(3 - 1))) < 1e-12, `grad ${g3[2]}`);
});
