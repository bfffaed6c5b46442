import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../math/index.ts';
import { GbdtModel, GbdtParamError, trainGbdt, type GbdtData } from './index.ts';

function grid(n: number, f: (x: number) => number): GbdtData {
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = i / n;
    y[i] = f(x[i]);
  }
  return { features: x, nRows: n, nFeatures: 1, labels: y };
}

/** A synthetic binary set: a nonlinear logit of 6 features, feature 5 missing in 10% of rows. */
function binarySet(n: number, seed: number, F = 6): GbdtData {
  const rng = new Rng(seed);
  const x = new Float32Array(n * F);
  const y = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    for (let f = 0; f < F; f++) x[r * F + f] = rng.normal();
    const o = r * F;
    const z = 1.5 * x[o] * x[o + 1] + 2 * Math.sin(x[o + 2]) + x[o + 3];
    y[r] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    if (rng.next() < 0.1) x[o + 5] = NaN;
  }
  return { features: x, nRows: n, nFeatures: F, labels: y };
}

test('a step function is learnt with one split at the step', async () => {
  const d = grid(200, (x) => (x < 0.37 ? 1 : 5));
  const { model } = await trainGbdt(d, { objective: 'regression', numRounds: 1, learningRate: 1, numLeaves: 2, minDataInLeaf: 1 });
  const t = model.treeObjects()[0];
  assert.equal(t.kind, 'split');
  if (t.kind !== 'split') return;
  assert.equal(t.feature, 0);
  // the threshold lies between the last x below the step and the first above it
  assert.ok(t.threshold > 73 / 200 && t.threshold <= 74 / 200, `threshold ${t.threshold}`);
  const out = new Float64Array(2);
  model.predictRaw(Float64Array.of(0.1, 0.9), 2, out);
  assert.ok(Math.abs(out[0] - 1) < 1e-9 && Math.abs(out[1] - 5) < 1e-9, `predictions ${out}`);
});

test('a monotone function is fitted closely and its fit is monotone', async () => {
  const d = grid(1000, (x) => Math.exp(2 * x));
  const { model } = await trainGbdt(d, { objective: 'regression', numRounds: 200, learningRate: 0.2, numLeaves: 8, minDataInLeaf: 5 });
  const xs = Float64Array.from({ length: 99 }, (_, i) => (i + 1) / 100);
  const out = new Float64Array(xs.length);
  model.predictRaw(xs, xs.length, out);
  for (let i = 0; i < xs.length; i++) {
    assert.ok(Math.abs(out[i] - Math.exp(2 * xs[i])) < 0.05, `x=${xs[i]}: ${out[i]} vs ${Math.exp(2 * xs[i])}`);
    if (i > 0) assert.ok(out[i] >= out[i - 1] - 1e-9, `not monotone at x=${xs[i]}`);
  }
});

test('lambdarank puts the relevant item first in every toy query', async () => {
  // 30 queries of 5 items; the relevant one has the largest feature 0, feature 1 is noise
  const rng = new Rng(9);
  const nq = 30;
  const x = new Float64Array(nq * 5 * 2);
  const y = new Float64Array(nq * 5);
  const groups = new Int32Array(nq + 1);
  for (let q = 0; q < nq; q++) {
    groups[q + 1] = (q + 1) * 5;
    const rel = rng.int(5);
    for (let i = 0; i < 5; i++) {
      const r = q * 5 + i;
      x[r * 2] = i === rel ? 1 + rng.next() : rng.next();
      x[r * 2 + 1] = rng.normal();
      y[r] = i === rel ? 1 : 0;
    }
  }
  const d: GbdtData = { features: x, nRows: nq * 5, nFeatures: 2, labels: y, groups };
  const { model } = await trainGbdt(d, { objective: 'lambdarank', numRounds: 20, numLeaves: 4, minDataInLeaf: 2, learningRate: 0.3 });
  const out = new Float64Array(nq * 5);
  model.predictRaw(x, nq * 5, out);
  for (let q = 0; q < nq; q++) {
    let best = q * 5;
    for (let r = q * 5; r < (q + 1) * 5; r++) if (out[r] > out[best]) best = r;
    assert.equal(y[best], 1, `query ${q}: the relevant item is not first`);
  }
});

test('binary: learns a nonlinear set and beats the prior on validation data', async () => {
  const tr = binarySet(4000, 1);
  const va = binarySet(2000, 2);
  const res = await trainGbdt(tr, { objective: 'binary', numRounds: 60, numLeaves: 15, metric: 'auc' }, { valid: va });
  assert.equal(res.metric, 'auc');
  assert.ok(res.validHistory.at(-1)! > 0.8, `valid auc ${res.validHistory.at(-1)}`);
  const p = new Float64Array(va.nRows);
  res.model.predict(va.features, va.nRows, p);
  assert.ok(p.every((v) => v > 0 && v < 1));
});

test('early stopping keeps the best round and stops after the patience', async () => {
  const tr = binarySet(1000, 3);
  const va = binarySet(1000, 4);
  const rounds: number[] = [];
  // a high learning rate and deep trees overfit quickly
  const res = await trainGbdt(tr, { objective: 'binary', numRounds: 300, numLeaves: 63, minDataInLeaf: 2, learningRate: 0.5, earlyStoppingRounds: 5 }, { valid: va, onRound: (r) => rounds.push(r) });
  const h = res.validHistory;
  assert.ok(rounds.length < 300, 'stopped early');
  const best = Math.min(...h);
  assert.equal(res.bestIteration, h.indexOf(best) + 1);
  assert.equal(h.length, res.bestIteration + 5);
  assert.equal(res.model.trees.length, res.bestIteration);
  await assert.rejects(trainGbdt(tr, { earlyStoppingRounds: 3 }), (e: Error) => e instanceof GbdtParamError && /earlyStoppingRounds/.test(e.message));
});

test('missing values: a learnt default direction sends NaN to the side that fits them', async () => {
  // y = 1 for x > 0.5 and for missing x: missing rows must go right (with the high values)
  const n = 600;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) {
      x[i] = NaN;
      y[i] = 1;
    } else {
      x[i] = i / n;
      y[i] = x[i] > 0.5 ? 1 : 0;
    }
  }
  const d: GbdtData = { features: x, nRows: n, nFeatures: 1, labels: y };
  const { model } = await trainGbdt(d, { objective: 'regression', numRounds: 1, learningRate: 1, numLeaves: 2, minDataInLeaf: 1 });
  const t = model.treeObjects()[0];
  assert.ok(t.kind === 'split' && !t.defaultLeft, 'missing goes right');
  const out = new Float64Array(3);
  model.predictRaw(Float64Array.of(NaN, 0.2, 0.8), 3, out);
  assert.ok(Math.abs(out[0] - 1) < 1e-9 && Math.abs(out[1]) < 1e-9 && Math.abs(out[2] - 1) < 1e-9, `predictions ${out}`);
  // and the mirror image: missing with the low values goes left
  for (let i = 0; i < n; i += 3) y[i] = 0;
  const m2 = (await trainGbdt(d, { objective: 'regression', numRounds: 1, learningRate: 1, numLeaves: 2, minDataInLeaf: 1 })).model;
  const t2 = m2.treeObjects()[0];
  assert.ok(t2.kind === 'split' && t2.defaultLeft, 'missing goes left');
});

test('a split of missing against present values (threshold +Infinity) predicts and survives JSON', async () => {
  const n = 100;
  const x = Float64Array.from({ length: n }, (_, i) => (i % 4 === 0 ? NaN : 1));
  const y = Float64Array.from(x, (v) => (Number.isNaN(v) ? 3 : -1));
  const { model } = await trainGbdt({ features: x, nRows: n, nFeatures: 1, labels: y }, { objective: 'regression', numRounds: 1, learningRate: 1, numLeaves: 2, minDataInLeaf: 1 });
  assert.equal(model.trees[0].threshold[0], Infinity);
  const back = GbdtModel.fromJSON(JSON.parse(JSON.stringify(model.toJSON())));
  const out = new Float64Array(3);
  back.predictRaw(Float64Array.of(NaN, 1, 1e30), 3, out);
  assert.ok(Math.abs(out[0] - 3) < 1e-9 && Math.abs(out[1] + 1) < 1e-9 && Math.abs(out[2] + 1) < 1e-9, `predictions ${out}`);
});

test('save and load give identical predictions', async () => {
  const tr = binarySet(2000, 5);
  tr.featureNames = ['a', 'b', 'c', 'd', 'e', 'f'];
  const { model } = await trainGbdt(tr, { objective: 'binary', numRounds: 30, numLeaves: 31, minDataInLeaf: 5, baggingFraction: 0.8, featureFraction: 0.7 });
  const dir = mkdtempSync(join(tmpdir(), 'gbdt-'));
  try {
    const path = join(dir, 'm.json');
    model.save(path);
    const back = GbdtModel.load(path);
    assert.deepEqual(back.featureNames, tr.featureNames);
    const a = new Float64Array(tr.nRows);
    const b = new Float64Array(tr.nRows);
    model.predictRaw(tr.features, tr.nRows, a);
    back.predictRaw(tr.features, tr.nRows, b);
    assert.deepEqual(b, a);
    assert.deepEqual(back.featureImportance('gain'), model.featureImportance('gain'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => GbdtModel.fromJSON({ ...(model.toJSON() as object), version: 99 }), /version/);
  const bad = model.toJSON() as { trees: { left: number[] }[] };
  bad.trees[2].left[0] = 1000;
  assert.throws(() => GbdtModel.fromJSON(bad), /tree 2/);
});

test('2 threads train exactly the same model as 1 thread', async () => {
  // 20 features: three chunks of features for the threads to share
  const tr = binarySet(6000, 6, 20);
  const params = { objective: 'binary' as const, numRounds: 8, numLeaves: 31, minDataInLeaf: 5, baggingFraction: 0.9, featureFraction: 0.9, seed: 7 };
  const one = await trainGbdt(tr, params, { threads: 1 });
  const two = await trainGbdt(tr, params, { threads: 2 });
  assert.equal(one.parallelSteps, 0);
  assert.ok(two.parallelSteps > 8, `only ${two.parallelSteps} split steps ran on 2 threads`);
  assert.deepEqual(two.model.toJSON(), one.model.toJSON());
});

test('histograms reading gradients in place train exactly the model of the gathered reference (both layouts, 1 and 2 threads, bagging)', async () => {
  const tr = binarySet(5000, 6, 20);
  const params = { objective: 'binary' as const, numRounds: 6, numLeaves: 31, minDataInLeaf: 5, baggingFraction: 0.8, featureFraction: 0.9, seed: 3 };
  for (const histogramLayout of ['row', 'col'] as const) {
    const ref = await trainGbdt(tr, params, { threads: 1, gradients: 'copy', histogramLayout });
    for (const threads of [1, 2]) {
      const fast = await trainGbdt(tr, params, { threads, gradients: 'direct', histogramLayout });
      assert.deepEqual(fast.model.toJSON(), ref.model.toJSON(), `${histogramLayout}-wise, ${threads} thread(s)`);
    }
  }
  await assert.rejects(trainGbdt(tr, params, { gradients: 'gather' as 'copy' }), /settings.gradients/);
});

test('the WebAssembly histogram kernels train exactly the model of the TypeScript loops (both layouts, 1 and 2 threads, direct and gathered)', async (t) => {
  const tr = binarySet(5000, 8, 20);
  const params = { objective: 'binary' as const, numRounds: 6, numLeaves: 31, minDataInLeaf: 5, baggingFraction: 0.8, featureFraction: 0.9, seed: 5 };
  const probe = await trainGbdt(tr, { ...params, numRounds: 1 }, { kernels: 'auto' });
  if (probe.kernels !== 'wasm') {
    t.skip('the WebAssembly kernels are not built (npm run build:wasm) or TANDEM_KERNELS=js');
    return;
  }
  for (const histogramLayout of ['row', 'col'] as const) {
    const ref = await trainGbdt(tr, params, { threads: 1, kernels: 'js', histogramLayout });
    assert.equal(ref.kernels, 'js');
    for (const threads of [1, 2]) {
      for (const gradients of ['direct', 'copy'] as const) {
        const fast = await trainGbdt(tr, params, { threads, kernels: 'wasm', histogramLayout, gradients });
        assert.equal(fast.kernels, 'wasm');
        assert.deepEqual(fast.model.toJSON(), ref.model.toJSON(), `${histogramLayout}-wise, ${threads} thread(s), ${gradients}`);
      }
    }
  }
  await assert.rejects(trainGbdt(tr, params, { kernels: 'simd' as 'wasm' }), /settings.kernels/);
});

test('minDataInLeaf, maxDepth and numLeaves bound the trees', async () => {
  const tr = binarySet(2000, 8);
  const tr2: GbdtData = { ...tr, labels: Float32Array.from(tr.labels, (v, i) => v + (i % 7) * 0.1) };
  const { model } = await trainGbdt(tr2, { objective: 'regression', numRounds: 5, numLeaves: 20, maxDepth: 3, minDataInLeaf: 50 });
  for (const t of model.trees) {
    assert.ok(t.leafValue.length <= 8, 'depth 3 allows at most 8 leaves');
    // regression with unit weights: estimated counts are exact
    for (const c of t.leafCount) assert.ok(c >= 50, `leaf with ${c} rows`);
    const depth = (node: import('./tree.ts').TreeNode): number => (node.kind === 'leaf' ? 0 : 1 + Math.max(depth(node.left), depth(node.right)));
    assert.ok(depth(model.treeObjects()[0]) <= 3);
  }
  const m2 = (await trainGbdt(tr, { objective: 'binary', numRounds: 3, numLeaves: 7, minDataInLeaf: 1 })).model;
  for (const t of m2.trees) assert.equal(t.leafValue.length, 7);
});

test('regularisation: lambdaL2 shrinks leaf values, a huge minGainToSplit leaves one leaf', async () => {
  const d = grid(100, (x) => (x < 0.5 ? 0 : 10));
  const plain = (await trainGbdt(d, { objective: 'regression', numRounds: 1, learningRate: 1, numLeaves: 2, minDataInLeaf: 1 })).model;
  const l2 = (await trainGbdt(d, { objective: 'regression', numRounds: 1, learningRate: 1, numLeaves: 2, minDataInLeaf: 1, lambdaL2: 50 })).model;
  // leaf value -G/(H+λ): 50 rows at distance 5 from the mean → 5 * 50 / (50 + 50)
  assert.ok(Math.abs(Math.max(...plain.trees[0].leafValue) - 5) < 1e-9);
  assert.ok(Math.abs(Math.max(...l2.trees[0].leafValue) - 2.5) < 1e-9);
  const l1 = (await trainGbdt(d, { objective: 'regression', numRounds: 1, learningRate: 1, numLeaves: 2, minDataInLeaf: 1, lambdaL1: 100 })).model;
  // -(G - λ1 sign G)/H = (250 - 100) / 50
  assert.ok(Math.abs(Math.max(...l1.trees[0].leafValue) - 3) < 1e-9);
  const none = (await trainGbdt(d, { objective: 'regression', numRounds: 1, minGainToSplit: 1e9, minDataInLeaf: 1 })).model;
  assert.equal(none.trees[0].leafValue.length, 1);
});

test('feature importance ranks the informative features first; sample weights matter', async () => {
  const tr = binarySet(3000, 10);
  const { model } = await trainGbdt(tr, { objective: 'binary', numRounds: 20, numLeaves: 15 });
  const gain = model.featureImportance('gain');
  const split = model.featureImportance('split');
  assert.equal(split.reduce((a, b) => a + b, 0), model.trees.reduce((a, t) => a + t.feature.length, 0));
  assert.ok(gain[4] < gain[0] && gain[5] < gain[2], `gain ${gain}`);
  // weight 0 on every positive: the model predicts near 0 everywhere
  const w = Float32Array.from(tr.labels, (y) => (y > 0.5 ? 0 : 1));
  const wm = (await trainGbdt({ ...tr, weights: w }, { objective: 'binary', numRounds: 5 })).model;
  const p = new Float64Array(tr.nRows);
  wm.predict(tr.features, tr.nRows, p);
  assert.ok(Math.max(...p) < 0.01);
});

test('contributions sum to the raw score', async () => {
  const tr = binarySet(1000, 11);
  const { model } = await trainGbdt(tr, { objective: 'binary', numRounds: 10, numLeaves: 7 });
  const c = new Float64Array(model.nFeatures + 1);
  const out = new Float64Array(5);
  model.predictRaw(tr.features, 5, out);
  for (let r = 0; r < 5; r++) {
    model.contributions(tr.features.subarray(r * 6, r * 6 + 6), c);
    assert.ok(Math.abs(c.reduce((a, b) => a + b, 0) - out[r]) < 1e-9);
  }
});

test('bad data and parameters are reported by name', async () => {
  const d = grid(10, (x) => x);
  await assert.rejects(trainGbdt(d, { numLeaves: 1 }), /numLeaves.*outside/);
  await assert.rejects(trainGbdt(d, { objective: 'nope' as never }), /objective/);
  await assert.rejects(trainGbdt({ ...d, labels: new Float64Array(3) }), /data\.labels: length 3/);
  await assert.rejects(trainGbdt(d, { objective: 'lambdarank' }), /data\.groups/);
  await assert.rejects(trainGbdt({ ...d, features: Float64Array.of(1, 2, Infinity, 4, 5, 6, 7, 8, 9, 10) }), /row 2 feature 0 is Infinity/);
  await assert.rejects(trainGbdt(d, {}, { threads: 0 }), /threads/);
});
