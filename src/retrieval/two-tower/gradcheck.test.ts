// Central-difference gradient checks of every hand-written op, in float64: the layers run on
// Float64Arrays (through the reference gemm, which computes in doubles) so the checks are tight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gemmRef, Rng } from '../../math/index.ts';
import { FeatureSpace, TowerBatch } from '../../features/index.ts';
import { denseBackward, denseForward, l2NormalizeBackward, l2NormalizeForward, poolBackward, poolForward, RowGrad } from '../../math/index.ts';
import { bceLoss, softmaxLoss } from './loss.ts';
import { initParams, StepScratch, TwoTowerNet, type StepLoss } from './model.ts';
import { tinyDataset } from './test-fixture.ts';
import { checkGradient, f64, rand } from '../../math/gradcheck.fixture.ts';




test('dense layer: input, weight and bias gradients', () => {
  const rng = new Rng(1);
  const [B, nin, nout] = [3, 4, 5];
  const X = rand(rng, B * nin);
  const W = rand(rng, nout * nin);
  const b = rand(rng, nout);
  const R = rand(rng, B * nout); // loss = sum R * Y
  const Y = f64(B * nout);
  const f = () => {
    denseForward(gemmRef, B, nin, nout, X, W, b, Y);
    let s = 0;
    for (let i = 0; i < Y.length; i++) s += R[i] * Y[i];
    return s;
  };
  const dW = f64(nout * nin);
  const db = f64(nout);
  const dX = f64(B * nin);
  denseBackward(gemmRef, B, nin, nout, X, W, R, dW, db, dX);
  checkGradient(X, f, dX, 'dX');
  checkGradient(W, f, dW, 'dW');
  checkGradient(b, f, db, 'db');
});

test('L2 normalisation: gradient through x / ||x||', () => {
  const rng = new Rng(2);
  const [B, k] = [3, 6];
  const E = rand(rng, B * k);
  const R = rand(rng, B * k);
  const out = f64(B * k);
  const norms = new Float64Array(B);
  const f = () => {
    l2NormalizeForward(E, B, k, out, norms);
    let s = 0;
    for (let i = 0; i < out.length; i++) s += R[i] * out[i];
    return s;
  };
  f();
  const dE = f64(B * k);
  l2NormalizeBackward(out, norms, R, B, k, dE);
  checkGradient(E, f, dE, 'dE');
});

for (const dim of [3, 8]) {
  test(`weighted mean pooling (dim ${dim}${dim % 4 ? '' : ', unrolled path'}): table gradients, repeated and signed entries, empty bag`, () => {
    const rng = new Rng(3);
    const rows = 5;
    const T = rand(rng, 2 + rows * dim); // table at offset 2
    const offsets = new Int32Array([0, 3, 3, 6]);
    const indices = new Int32Array([1, 4, 1, 0, 2, 3]);
    const weights = new Float32Array([1, 0.5, 2, -1, 1, 0.25]);
    const B = 3;
    const ldx = dim + 4;
    const X = f64(B * ldx);
    const R = rand(rng, B * ldx);
    const f = () => {
      poolForward(offsets, indices, weights, B, T, 2, dim, X, ldx, 2);
      let s = 0;
      for (let r = 0; r < B; r++) for (let j = 0; j < dim; j++) s += R[r * ldx + 2 + j] * X[r * ldx + 2 + j];
      return s;
    };
    const g = new RowGrad(rows, dim, 1, f64);
    poolBackward(offsets, indices, weights, B, dim, R, ldx, 2, g);
    const dense = new Float64Array(T.length);
    for (let s = 0; s < g.n; s++) for (let j = 0; j < dim; j++) dense[2 + g.rows[s] * dim + j] = g.grads[s * dim + j];
    checkGradient(T, f, dense, 'dT');
    assert.equal(g.n, 5, 'five distinct rows touched');
    g.clear();
    assert.equal(g.n, 0);
    assert.ok(g.slot.every((v) => v === -1));
  });
}

test('softmax loss with log-Q, shared negatives, duplicate masking and negative feedback', () => {
  const rng = new Rng(4);
  const [B, C] = [4, 7];
  const S = rand(rng, B * C);
  const logQ = Float32Array.from({ length: C }, () => rng.normal());
  const colItem = new Int32Array([10, 11, 10, 12, 13, 11, 14]); // duplicates of 10 and 11
  const w = new Float32Array([1, 2, 0.5, -1]);
  const dS = f64(B * C);
  const scratch = f64(B * C);
  softmaxLoss(B, C, S, 0.3, logQ, colItem, w, dS);
  checkGradient(S, () => softmaxLoss(B, C, S, 0.3, logQ, colItem, w, scratch), dS, 'dS');
  assert.equal(dS[0 * C + 2], 0, 'a duplicate of the positive is masked');
});

test('softmax loss over deduplicated columns (positive column per row, multiplicities, log-Q, masking, negative feedback)', () => {
  const rng = new Rng(14);
  const [B, C] = [5, 6];
  const S = rand(rng, B * C);
  const logQ = Float32Array.from({ length: C }, () => rng.normal());
  // columns 0 and 1 are item 10 (id kept, id dropped), 2 item 11, 3 item 12, then two negatives (one is item 11)
  const colItem = new Int32Array([10, 10, 11, 12, 13, 11]);
  const lnCount = Float32Array.from([3, 1, 2, 1, 1, 1], Math.log);
  const pos = new Int32Array([0, 2, 1, 3, 0]);
  const w = new Float32Array([1, 2, 0.5, -1, 1.5]);
  const dS = f64(B * C);
  const scratch = f64(B * C);
  softmaxLoss(B, C, S, 0.3, logQ, colItem, w, dS, B, pos, lnCount);
  checkGradient(S, () => softmaxLoss(B, C, S, 0.3, logQ, colItem, w, scratch, B, pos, lnCount), dS, 'dS');
  assert.equal(dS[0 * C + 1], 0, 'the other dropout variant of the positive is masked');
  assert.equal(dS[1 * C + 5], 0, 'a negative holding the positive item is masked');
});

test('BCE loss with sampled negatives and negative feedback', () => {
  const rng = new Rng(5);
  const [B, K] = [3, 2];
  const pos = rand(rng, B);
  const neg = rand(rng, B * K);
  const w = new Float32Array([1, 3, -2]);
  const dPos = f64(B);
  const dNeg = f64(B * K);
  const s1 = f64(B);
  const s2 = f64(B * K);
  bceLoss(B, K, pos, neg, 0.5, w, dPos, dNeg);
  checkGradient(pos, () => bceLoss(B, K, pos, neg, 0.5, w, s1, s2), dPos, 'dPos');
  checkGradient(neg, () => bceLoss(B, K, pos, neg, 0.5, w, s1, s2), dNeg, 'dNeg');
});

for (const loss of [
  { kind: 'softmax', temperature: 0.2, negatives: 3 },
  { kind: 'bce', temperature: 1, negatives: 2 },
] as StepLoss[]) {
  for (const normalize of [true, false]) {
    test(`whole model (${loss.kind}, normalize=${normalize}): every touched parameter's gradient`, () => {
      const ds = tinyDataset();
      const fs = FeatureSpace.fit(ds, { dim: 3, historyLength: 4, recencyDecay: 0.8, numericBuckets: 3, shareItemEmbeddings: true });
      const net = new TwoTowerNet(fs, [5], 4, normalize);
      const params = f64(net.layout.total);
      initParams(net.layout, params, new Rng(7), 0.5);
      const B = 4;
      const ub = new TowerBatch(fs.user, B);
      const C = loss.kind === 'softmax' ? B + loss.negatives : B * (1 + loss.negatives);
      const ib = new TowerBatch(fs.item, C);
      const hist = new Int32Array([3, 5, 7, 3, 9]);
      const hw = new Float32Array([1, 3, -1, 1, 1]);
      fs.appendUser(ub, 0, hist, hw, 0, 5);
      fs.appendUser(ub, 1, hist, hw, 1, 3);
      fs.appendUser(ub, 2, hist, hw, 0, 0); // no history
      fs.appendUser(ub, -1, hist, hw, 2, 5); // a user with no row
      const colItem = new Int32Array(C);
      for (let c = 0; c < C; c++) {
        colItem[c] = (c * 3) % fs.numItems;
        fs.appendItem(ib, colItem[c], c === 1);
      }
      colItem[2] = colItem[0]; // a duplicate in the batch (its features differ: only the id marks it)
      const w = new Float32Array([1, 2, -1, 0.5]);
      const logQ = loss.kind === 'softmax' ? Float32Array.from({ length: C }, (_, c) => -1 - c * 0.1) : null;
      const s = new StepScratch(net, B, loss, f64);
      const s2 = new StepScratch(net, B, loss, f64);
      // every field of at most B distinct rows takes the first layer per distinct row (FieldProjection)
      net.userTower.projectShare = net.itemTower.projectShare = 1;
      net.step(gemmRef, params, ub, ib, colItem, w, logQ, loss, s);
      assert.ok(s.user.proj.some((p) => p?.active) && s.item.proj.some((p) => p?.active), 'some fields projected');
      const f = () => net.step(gemmRef, params, ub, ib, colItem, w, logQ, loss, s2);
      // dense parameters: every one
      const dense = params.subarray(net.layout.denseStart);
      checkGradient(dense, f, s.grad, 'dense');
      // every touched embedding row, and a row nobody touched has no gradient
      let touched = 0;
      for (let t = 0; t < net.layout.tables.length; t++) {
        const g = s.rowGrads[t];
        const dim = fs.tables[t].dim;
        for (let r = 0; r < g.n; r++) {
          const base = net.layout.tables[t].offset + g.rows[r] * dim;
          checkGradient(params.subarray(base, base + dim), f, g.grads.subarray(r * dim, (r + 1) * dim), `${fs.tables[t].name}[${g.rows[r]}]`);
          touched++;
        }
      }
      assert.ok(touched > 20, `touched ${touched} rows`);
    });
  }
}
