import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check } from '../../schema/index.ts';
import { assertSameScores, crossSet } from '../deep/test-fixture.ts';
import type { RankerModel } from '../model/model.ts';
import { BLEND_PARAMS, BlendModel, blendRankerKind, chooseWeight } from './blend.ts';

/** A model whose log-odds are one column of the row. */
function columnModel(col: number, F: number): RankerModel {
  return {
    kind: `col${col}`,
    nFeatures: F,
    margins: (x, n, out) => {
      for (let i = 0; i < n; i++) out[i] = x[i * F + col];
    },
    predict(x, n, out) {
      this.margins!(x, n, out);
      for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-out[i]));
    },
    contributions: (x, row, out) => {
      out.fill(0);
      out[col] = x[row * F + col];
    },
    save: async () => {},
    summary: () => ({}),
  };
}

test('the blend averages log-odds with weight w on the first model; contributions are the weighted sums', () => {
  const F = 3;
  const x = Float32Array.of(1, 2, 0, -3, 0.5, 0);
  const m = new BlendModel(columnModel(0, F), columnModel(1, F), 0.25);
  const z = new Float64Array(2);
  m.margins(x, 2, z);
  assert.deepEqual(Array.from(z), [0.25 * 1 + 0.75 * 2, 0.25 * -3 + 0.75 * 0.5]);
  const p = new Float64Array(2);
  m.predict(x, 2, p);
  assert.ok(Math.abs(p[0] - 1 / (1 + Math.exp(-z[0]))) < 1e-15);
  const c = new Float64Array(F + 1);
  m.contributions(x, 1, c);
  assert.deepEqual(Array.from(c), [0.25 * -3, 0.75 * 0.5, 0, 0]);
  assert.throws(() => new BlendModel(columnModel(0, F), columnModel(1, 4), 0.5), /the gbdt takes 3 features, the dcn 4/);
});

/** The cascade's expected log-odds the plain way: both models on every row, the top by a full sort. */
function cascadeReference(zg: Float64Array, zd: Float64Array, w: number, top: number): Float64Array {
  const idx = Array.from(zg, (_, i) => i).sort((i, j) => zg[j] - zg[i] || i - j).slice(0, top);
  const d = idx.reduce((s, i) => s + (zd[i] - zg[i]), 0) / top;
  const z = Float64Array.from(zg, (v) => v + (1 - w) * d);
  for (const i of idx) z[i] = w * zg[i] + (1 - w) * zd[i];
  return z;
}

test('the cascade (dcnTop): the DCN sees only the GBDT\'s top n rows of a request; the rest get the GBDT\'s log-odds plus the mean difference; held to a plain reference', () => {
  const F = 3;
  const n = 40;
  const x = new Float32Array(n * F);
  for (let i = 0; i < x.length; i++) x[i] = Math.round(Math.sin(i * 12.9898) * 43758.5453 % 1 * 8) / 4; // ties on purpose
  const seen: number[] = [];
  const dcn = columnModel(1, F);
  const inner = dcn.margins!;
  dcn.margins = (xs, m, out) => {
    seen.push(m);
    inner(xs, m, out);
  };
  const zg = Float64Array.from({ length: n }, (_, i) => x[i * F]);
  const zd = Float64Array.from({ length: n }, (_, i) => x[i * F + 1]);
  for (const [w, top] of [[0.6, 7], [0.3, 1], [0.9, 39]] as const) {
    const m = new BlendModel(columnModel(0, F), dcn, w, {}, null, false, top);
    seen.length = 0;
    const p = new Float64Array(n);
    m.predictRequest(x, n, p);
    assert.deepEqual(seen, [top], 'the DCN scored the top rows only');
    const ref = cascadeReference(zg, zd, w, top);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(p[i] - 1 / (1 + Math.exp(-ref[i]))) < 1e-12, `w ${w} top ${top} row ${i}: ${p[i]} vs ${ref[i]}`);
  }
  // a request no larger than n, or a weight that leaves one model out: the plain blend, bit for bit
  for (const [w, top] of [[0.6, 40], [0.6, 100], [1, 5], [0, 5]] as const) {
    const m = new BlendModel(columnModel(0, F), columnModel(1, F), w, {}, null, false, top);
    const a = new Float64Array(n);
    const b = new Float64Array(n);
    m.predictRequest(x, n, a);
    m.predict(x, n, b);
    assert.deepEqual(a, b, `w ${w} top ${top}`);
  }
  assert.throws(() => new BlendModel(columnModel(0, F), columnModel(1, F), 0.5, {}, null, true, 5), /dcnTop \(the cascade\) goes with combine 'weight' only/);
  assert.throws(() => new BlendModel(columnModel(0, F), columnModel(1, F), 0.5, {}, null, false, 0), /dcnTop must be a positive integer/);
});

test('chooseWeight: the weight whose blend ranks the validation groups best (ties: the earlier)', () => {
  // group 0: model g ranks right, d wrong; group 1: both right; so any w > 0.5 wins, the first such is 0.75
  const labels = Float32Array.of(1, 0, 1, 0);
  const valid = { features: new Float32Array(0), nRows: 4, nFeatures: 0, labels, groups: Int32Array.of(0, 2, 4), featureNames: [], groupUsers: Int32Array.of(0, 1), items: new Int32Array(4) };
  const zg = Float64Array.of(2, 0, 1, 0);
  const zd = Float64Array.of(0, 1, 1, 0);
  const r = chooseWeight(zg, zd, valid, [0, 0.25, 0.75, 1], 'ndcg');
  assert.equal(r.weight, 0.75);
  assert.equal(r.figures.length, 4);
  assert.ok(r.figures[0].value < r.figures[2].value);
  const l = chooseWeight(zg, zd, valid, [0, 0.5, 1], 'logloss');
  assert.ok([0, 0.5, 1].includes(l.weight));
});

test('the blend kind trains both models on the same rows, picks the weight on validation, saves and loads whole', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-blend-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const train = crossSet(30, 40, 21);
  const valid = crossSet(8, 40, 22);
  const params = check(BLEND_PARAMS, { gbdt: { numRounds: 30, minDataInLeaf: 10, earlyStoppingRounds: 5 }, dcn: { hidden: [16], embedDim: 4, epochs: 4, learningRate: 0.01, batchSize: 64 }, weights: [0, 0.5, 1] });
  const logs: string[] = [];
  const m = (await blendRankerKind.train({ train, valid }, params, { seed: 5, threads: 1, log: (l) => logs.push(l) })) as BlendModel;
  assert.ok([0, 0.5, 1].includes(m.weight));
  assert.ok(logs.some((l) => /^blend: gbdt weight .* chosen on 320 validation rows/.test(l)), logs.join('\n'));
  const s = m.summary();
  assert.equal(s.weight, m.weight);
  assert.ok((s.gbdt as Record<string, unknown>).trees && (s.dcn as Record<string, unknown>).bestEpoch);
  await m.save(dir);
  assertSameScores(m, await blendRankerKind.load(dir, params), valid);
  // the cascade with the trained models (a request: the first user's 40 rows), the DCN on gathered rows
  const g0 = valid.groups[1] - valid.groups[0];
  const rows = valid.features.subarray(0, g0 * valid.nFeatures);
  const zg = new Float64Array(g0);
  const zd = new Float64Array(g0);
  m.gbdt.margins!(rows, g0, zg);
  m.dcn.margins!(rows, g0, zd);
  const cascade = (await blendRankerKind.load(dir, { ...params, dcnTop: 9 })) as BlendModel;
  assert.equal(cascade.dcnTop, 9);
  const p = new Float64Array(g0);
  cascade.predictRequest(rows, g0, p);
  const ref = cascadeReference(zg, zd, m.weight, 9);
  for (let i = 0; i < g0; i++) assert.ok(Math.abs(p[i] - 1 / (1 + Math.exp(-ref[i]))) < 1e-9, `row ${i}`);
  // the refit keeps the chosen weight and each model's chosen amount of training
  const again = blendRankerKind.refitParams!(params, s) as typeof params;
  assert.equal(again.weight, m.weight);
  assert.equal(again.dcn.patience, 0);
  await writeFile(join(dir, 'blend.json'), JSON.stringify({ weight: 2 }));
  await assert.rejects(blendRankerKind.load(dir, params), /blend\.json: weight: a number in \[0, 1\], got 2/);
});

test('the stacker (combine stack): fitted on the validation rows, served the same after save and load, contributions add up to its log-odds', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-blend-stack-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const train = crossSet(30, 40, 23);
  const valid = crossSet(8, 40, 24);
  const params = check(BLEND_PARAMS, { gbdt: { numRounds: 30, minDataInLeaf: 10, earlyStoppingRounds: 5 }, dcn: { hidden: [16], embedDim: 4, epochs: 3, learningRate: 0.01, batchSize: 64 }, combine: 'stack', stackColumns: ['count'] });
  const logs: string[] = [];
  const m = (await blendRankerKind.train({ train, valid }, params, { seed: 5, threads: 1, log: (l) => logs.push(l) })) as BlendModel;
  assert.ok(m.stack && m.stack.theta.length === 5, 'a stacker on one column: b, θg, θd and two products');
  assert.equal(m.dcnTop, null, 'the stacker scores every candidate (dcnTop, 100 by default, is for combine weight)');
  assert.ok(logs.some((l) => /^blend: stacker on count fitted on 320 validation rows/.test(l)), logs.join('\n'));
  assert.equal(blendRankerKind.refitParams!(params, m.summary()), null, 'no refit without rows to fit the stacker on');
  await m.save(dir);
  const back = await blendRankerKind.load(dir, params);
  const a = new Float64Array(valid.nRows);
  const b = new Float64Array(valid.nRows);
  m.margins(valid.features, valid.nRows, a);
  back.margins!(valid.features, valid.nRows, b);
  assert.deepEqual(a, b);
  const F = valid.nFeatures;
  const c = new Float64Array(F + 1);
  m.contributions(valid.features, 7, c);
  const sum = c.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(sum - a[7]) < 1e-4 * (1 + Math.abs(a[7])), `${sum} vs ${a[7]}`);
  await assert.rejects(blendRankerKind.train({ train, valid }, { ...params, stackColumns: ['nope'] }, { seed: 5, threads: 1, log: () => {} }), /stackColumns: no ranker column 'nope'/);
});

test('combine residual: the DCN trains on top of the GBDT\'s log-odds (z = z_gbdt + z_dcn), starts at them, and is served the same after save and load', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-blend-res-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const train = crossSet(30, 40, 31);
  const valid = crossSet(8, 40, 32);
  const dcn = { hidden: [16], embedDim: 4, epochs: 4, learningRate: 0.01, batchSize: 64 };
  const params = check(BLEND_PARAMS, { gbdt: { numRounds: 30, minDataInLeaf: 10, earlyStoppingRounds: 5 }, dcn, combine: 'residual' });
  const m = (await blendRankerKind.train({ train, valid }, params, { seed: 5, threads: 1, log: () => {} })) as BlendModel;
  assert.equal(m.residual, true);
  assert.equal(m.dcnTop, null);
  const n = valid.nRows;
  const z = new Float64Array(n);
  const zg = new Float64Array(n);
  const zd = new Float64Array(n);
  m.margins(valid.features, n, z);
  m.gbdt.margins!(valid.features, n, zg);
  m.dcn.margins!(valid.features, n, zd);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(z[i] - (zg[i] + zd[i])) < 1e-9);
  const c = new Float64Array(train.nFeatures + 1);
  m.contributions(valid.features, 3, c);
  assert.ok(Math.abs(c.reduce((s, v) => s + v, 0) - z[3]) < 1e-4, 'contributions add up to z');
  // the DCN starts as nothing on top of the trees: zero epochs of training would score as the GBDT alone
  const { trainDcn } = await import('../deep/train.ts');
  const { backendKernels } = await import('../deep/model.ts');
  const zt = new Float64Array(train.nRows);
  m.gbdt.margins!(train.features, train.nRows, zt);
  const zero = await trainDcn(train, valid, { ...params.dcn, epochs: 1, learningRate: 1e-12 }, { seed: 5, threads: 1, log: () => {} }, backendKernels(), { train: zt, valid: zg });
  const z0 = new Float64Array(n);
  zero.model.margins(valid.features, n, z0);
  assert.ok(z0.every((v) => Math.abs(v) < 1e-6), 'the head starts at zero');
  await m.save(dir);
  const back = await blendRankerKind.load(dir, params);
  const b = new Float64Array(n);
  back.margins!(valid.features, n, b);
  assert.deepEqual(b, z);
});
