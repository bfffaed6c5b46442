import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gemmRef, getKernelBackend } from '../../math/index.ts';
import { auc } from '../gbdt/metrics.ts';
import { fitEncoder, Encoder } from './encoder.ts';
import { DcnModel, EXPLAIN_BATCH } from './model.ts';
import type { NetKernels } from './net.ts';
import { bagSet, crossSet } from './test-fixture.ts';
import { trainDcn, type DcnTrainParams } from './train.ts';

const P: DcnTrainParams = { embedDim: 4, crossLayers: 2, hidden: [16, 8], embed: true, clip: 5, learningRate: 0.01, l2: 0, batchSize: 64, epochs: 12, patience: 3, stopMetric: 'logloss', objective: 'binary', ensemble: 1 };
const RUN = { seed: 3, threads: 1, log: () => {} };
const JS: NetKernels = { gemm: gemmRef, alloc: (n) => new Float32Array(n), fast: null };

test('encoder: log-compressed standardised numbers, missing indicators, unknown codes to the extra row', () => {
  const x = Float32Array.of(1, 0, 2, 3, NaN, 9, 1, 200, NaN, 5, 100, 1);
  const spec = fitEncoder(x, 4, 3, Int32Array.of(0, 0, 4), true, 5);
  assert.deepEqual(spec.numeric, [0, 1]);
  assert.deepEqual(spec.categorical, [2]);
  assert.deepEqual(spec.log, [0, 1], 'the column reaching 50 with no negative value is log-compressed');
  assert.deepEqual(spec.missing, [-1, 0], 'only the column with a NaN gets an indicator');
  const enc = new Encoder(spec);
  const d0 = 3;
  const x0 = new Float32Array(4 * d0);
  const codes = new Int32Array(4);
  enc.encode(x, null, 0, 4, d0, x0, codes);
  assert.deepEqual(Array.from(codes), [2, 4, 4, 1], 'code 9 (outside the vocabulary of 4) and NaN read the extra row');
  assert.equal(x0[1 * d0 + 1], 0);
  assert.equal(x0[1 * d0 + 2], 1, 'missing indicator set');
  assert.equal(x0[0 * d0 + 2], 0);
  const mean = (Math.log1p(0) + Math.log1p(200) + Math.log1p(100)) / 3;
  assert.ok(x0[2 * d0 + 1] > 0 && Math.abs(x0[2 * d0 + 1] * spec.std[1] - (Math.log1p(200) - mean)) < 1e-5);
});

test('encoder: embed-only id columns are embedded, or left out (not read as numbers) without embedding', () => {
  const x = Float32Array.of(1, 7, 2, 3, 0, 9, 1, 5, 5);
  const card = Int32Array.of(0, 10, 0);
  const ids = Uint8Array.of(0, 1, 0);
  assert.deepEqual(fitEncoder(x, 3, 3, card, true, 5, ids).categorical, [1]);
  const off = fitEncoder(x, 3, 3, card, false, 5, ids);
  assert.deepEqual(off.categorical, []);
  assert.deepEqual(off.numeric, [0, 2]);
});

test('training learns the cross term and the codes (AUC on held-out rows), and stops early on validation', async () => {
  const train = crossSet(40, 50, 1);
  const valid = crossSet(10, 50, 2);
  const r = await trainDcn(train, valid, P, RUN);
  assert.ok(r.bestEpoch >= 1 && r.bestEpoch <= r.trainLoss.length);
  assert.equal(r.validHistory.length, r.trainLoss.length);
  const test = crossSet(10, 50, 3);
  const p = new Float64Array(test.nRows);
  r.model.predict(test.features, test.nRows, p);
  const a = auc(p, test.labels);
  assert.ok(a > 0.8, `AUC ${a}`);
  // without the cross layers and the MLP the product a*b cannot be fitted: a linear head does worse
  const lin = await trainDcn(train, valid, { ...P, crossLayers: 0, hidden: [] }, RUN);
  lin.model.predict(test.features, test.nRows, p);
  assert.ok(auc(p, test.labels) < a - 0.03, `linear AUC ${auc(p, test.labels)} vs ${a}`);
});

test('the listwise (softmax) objective trains on whole groups and ranks held-out groups well', async () => {
  const train = crossSet(40, 50, 1);
  const valid = crossSet(10, 50, 2);
  const r = await trainDcn(train, valid, { ...P, objective: 'softmax', batchSize: 120 }, RUN);
  const test = crossSet(10, 50, 3);
  const z = new Float64Array(test.nRows);
  r.model.margins(test.features, test.nRows, z);
  assert.ok(auc(z, test.labels) > 0.8, `AUC ${auc(z, test.labels)}`);
  const again = await trainDcn(train, valid, { ...P, objective: 'softmax', batchSize: 120 }, RUN);
  assert.deepEqual(again.validHistory, r.validHistory, 'reproducible');
});

test('single-thread seeded training is reproducible bit for bit; another seed differs', async () => {
  const train = crossSet(20, 40, 4);
  const valid = crossSet(5, 40, 5);
  const a = await trainDcn(train, valid, { ...P, epochs: 3 }, RUN);
  const b = await trainDcn(train, valid, { ...P, epochs: 3 }, RUN);
  assert.deepEqual(Buffer.from(a.model.params.buffer, a.model.params.byteOffset, a.model.params.byteLength), Buffer.from(b.model.params.buffer, b.model.params.byteOffset, b.model.params.byteLength));
  assert.deepEqual(a.validHistory, b.validHistory);
  const c = await trainDcn(train, valid, { ...P, epochs: 3 }, { ...RUN, seed: 4 });
  assert.notDeepEqual(Array.from(c.model.params.subarray(0, 50)), Array.from(a.model.params.subarray(0, 50)));
});

test("the backend's kernels (WebAssembly when built) score as the plain reference does", async () => {
  const train = crossSet(12, 50, 6);
  const { model } = await trainDcn(train, null, { ...P, epochs: 2 }, RUN);
  const ref = new DcnModel(model.encoder.spec, model.embedDim, model.cross, model.hidden, model.params, {}, JS);
  const n = train.nRows; // 600 > 512: two scoring passes
  const fast = new Float64Array(n);
  const slow = new Float64Array(n);
  model.margins(train.features, n, fast);
  ref.margins(train.features, n, slow);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(fast[i] - slow[i]) < 1e-4 * (1 + Math.abs(slow[i])), `row ${i}: ${fast[i]} vs ${slow[i]}`);
  assert.ok(getKernelBackend().name.length > 0);
});

test("the fused scoring pass (DCN kernels) gives the plain pass's logits: odd row counts, NaN, unknown codes, every net shape", async () => {
  const train = crossSet(12, 50, 8);
  const x = train.features.slice();
  // unknown and missing codes read the extra row; infinities are missing
  x[4] = 9;
  x[9] = NaN;
  x[14] = 2.5;
  x[5 * 3 + 0] = Infinity;
  const n = 603; // 512 + 91: a full chunk and a short one whose last row block is not a multiple of 4
  const rows = new Float32Array(n * 5);
  for (let i = 0; i < rows.length; i++) rows[i] = x[i % x.length];
  for (const shape of [{}, { crossLayers: 0 }, { hidden: [] as number[] }, { crossLayers: 1, hidden: [7] }]) {
    const { model } = await trainDcn(train, null, { ...P, epochs: 1, ...shape }, RUN);
    const be = getKernelBackend();
    if (!be.dcn) {
      assert.equal(model.scoringPath, 'plain');
      continue;
    }
    assert.equal(model.scoringPath, 'fused', 'the fused pass runs where the backend has DCN kernels');
    const fast = new Float64Array(n);
    const plain = new Float64Array(n);
    const ref = new Float64Array(n);
    model.margins(rows, n, fast);
    model.plainMargins(rows, n, plain);
    new DcnModel(model.encoder.spec, model.embedDim, model.cross, model.hidden, model.params, {}, JS).margins(rows, n, ref);
    for (let i = 0; i < n; i++) {
      assert.ok(Math.abs(fast[i] - plain[i]) < 1e-4 * (1 + Math.abs(plain[i])), `${JSON.stringify(shape)} row ${i}: ${fast[i]} vs ${plain[i]}`);
      assert.ok(Math.abs(fast[i] - ref[i]) < 1e-4 * (1 + Math.abs(ref[i])), `${JSON.stringify(shape)} row ${i}: ${fast[i]} vs reference ${ref[i]}`);
    }
    // new weights in place: the packed copy follows
    const p2 = model.params.map((v) => v * 0.5);
    model.setParams(p2);
    model.margins(rows, 10, fast);
    model.plainMargins(rows, 10, plain);
    for (let i = 0; i < 10; i++) assert.ok(Math.abs(fast[i] - plain[i]) < 1e-4 * (1 + Math.abs(plain[i])));
    model.dispose();
  }
});

test('contributions: gradient × input per feature, summing with the bias slot to the logit; a numeric one matches the derivative', async () => {
  const train = crossSet(10, 50, 7);
  const { model } = await trainDcn(train, null, { ...P, epochs: 2 }, RUN);
  const F = train.nFeatures;
  const out = new Float64Array(F + 1);
  const z = new Float64Array(train.nRows);
  model.margins(train.features, train.nRows, z);
  for (const row of [0, 1, 17]) {
    model.contributions(train.features, row, out);
    const sum = out.reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(sum - z[row]) < 1e-4, `row ${row}: ${sum} vs ${z[row]}`);
  }
  // column a (not log-compressed): contribution = z_a * dlogit/dz_a, with z_a = (a - mean) / std
  const row = 5;
  model.contributions(train.features, row, out);
  const x = train.features.slice(row * F, (row + 1) * F);
  const h = 1e-2;
  const at = (v: number) => {
    const y = x.slice();
    y[0] = v;
    const o = new Float64Array(1);
    model.margins(y, 1, o);
    return o[0];
  };
  const spec = model.encoder.spec;
  const dz = ((at(x[0] + h) - at(x[0] - h)) / (2 * h)) * spec.std[0];
  const za = (x[0] - spec.mean[0]) / spec.std[0];
  assert.ok(Math.abs(out[0] - za * dz) < 2e-3 * (1 + Math.abs(out[0])), `${out[0]} vs ${za * dz}`);
});

test('contributionsOf: many rows at once (several passes of EXPLAIN_BATCH, repeats, any order) give what contributions gives row by row', async () => {
  const train = bagSet(60, 5, 9);
  const { model } = await trainDcn(train, null, { ...P, epochs: 2 }, RUN);
  const F = train.nFeatures;
  const rows = Int32Array.from({ length: EXPLAIN_BATCH + 7 }, (_, k) => (k * 37 + 11) % train.nRows);
  rows[3] = rows[2];
  const many = new Float64Array(rows.length * (F + 1));
  model.contributionsOf(train.features, rows, rows.length, many);
  const one = new Float64Array(F + 1);
  rows.forEach((row, k) => {
    model.contributions(train.features, row, one);
    for (let f = 0; f <= F; f++) assert.ok(Math.abs(many[k * (F + 1) + f] - one[f]) < 1e-6 * (1 + Math.abs(one[f])), `row ${row}, column ${f}: ${many[k * (F + 1) + f]} vs ${one[f]}`);
  });
  model.dispose();
});

test('save and load: the same scores; a broken file is refused naming the file and the field', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-dcn-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const train = crossSet(10, 30, 8);
  const { model } = await trainDcn(train, null, { ...P, epochs: 2 }, RUN);
  await model.save(dir);
  const back = await DcnModel.load(dir);
  const a = new Float64Array(train.nRows);
  const b = new Float64Array(train.nRows);
  model.predict(train.features, train.nRows, a);
  back.predict(train.features, train.nRows, b);
  assert.deepEqual(a, b);
  const json = JSON.parse(await readFile(join(dir, 'dcn-model.json'), 'utf8'));
  await writeFile(join(dir, 'dcn-model.json'), JSON.stringify({ ...json, hidden: [16, -1] }));
  await assert.rejects(DcnModel.load(dir), /dcn-model\.json: hidden: positive integers/);
  await writeFile(join(dir, 'dcn-model.json'), JSON.stringify({ ...json, hidden: [16] }));
  await assert.rejects(DcnModel.load(dir), /dcn-params\.f32: \d+ bytes, the network in .*dcn-model\.json needs \d+/);
  await writeFile(join(dir, 'dcn-model.json'), JSON.stringify(json));
  const bytes = await readFile(join(dir, 'dcn-params.f32'));
  bytes.writeFloatLE(NaN, 8);
  await writeFile(join(dir, 'dcn-params.f32'), bytes);
  await assert.rejects(DcnModel.load(dir), /dcn-params\.f32: parameter 2 is not finite/);
});

test('a NaN loss is reported with the epoch and step', async () => {
  const train = crossSet(4, 20, 9);
  train.labels[0] = NaN;
  await assert.rejects(trainDcn(train, null, { ...P, epochs: 1, batchSize: 80 }, RUN), /dcn: the loss is not finite at epoch 1, step 1/);
});

test('bags: the encoder averages a bag\'s slots into one input and shares tables; the DCN learns a user-item tag match; fused, plain and reference passes agree; saved and loaded', async (t) => {
  const train = bagSet(60, 40, 1);
  const spec = fitEncoder(train.features, train.nRows, train.nFeatures, train.cardinalities, true, 5, train.embedOnly, train.embedGroups);
  assert.deepEqual(spec.categorical, [1], 'one table, for the item tags and the user tags');
  assert.deepEqual(spec.vocab, [8]);
  assert.deepEqual(spec.inputs, [{ columns: [1, 2, 3], table: 0 }, { columns: [4, 5], table: 0 }]);
  const codes = new Int32Array(5);
  new Encoder(spec).encodeCodes(Float32Array.of(0, 3, NaN, 9, 2, NaN), null, 0, 1, codes);
  assert.deepEqual(Array.from(codes), [3, 8, 8, 2, 8], 'a missing or unknown slot is no code (the vocabulary size)');
  // without groups, every slot is its own input and table
  assert.equal(fitEncoder(train.features, train.nRows, train.nFeatures, train.cardinalities, true, 5, train.embedOnly).inputs, undefined);

  const valid = bagSet(15, 40, 2);
  const test = bagSet(15, 40, 3);
  const r = await trainDcn(train, valid, { ...P, epochs: 15 }, RUN);
  assert.equal(r.model.summary().embedded, 2);
  const p = new Float64Array(test.nRows);
  r.model.predict(test.features, test.nRows, p);
  const a = auc(p, test.labels);
  // the user's tags alone and the item's alone say nothing of the match: a model without the bags does worse
  const plain = await trainDcn({ ...train, embedGroups: undefined }, { ...valid, embedGroups: undefined }, { ...P, epochs: 15, embed: false }, RUN);
  const q = new Float64Array(test.nRows);
  plain.model.predict(test.features, test.nRows, q);
  assert.ok(a > 0.7 && a > auc(q, test.labels) + 0.05, `AUC with bags ${a}, without ${auc(q, test.labels)}`);

  const n = 37;
  const fast = new Float64Array(n);
  const slow = new Float64Array(n);
  const ref = new Float64Array(n);
  r.model.margins(test.features, n, fast);
  r.model.plainMargins(test.features, n, slow);
  new DcnModel(r.model.encoder.spec, r.model.embedDim, r.model.cross, r.model.hidden, r.model.params, {}, JS).margins(test.features, n, ref);
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(fast[i] - slow[i]) < 1e-4 * (1 + Math.abs(slow[i])), `row ${i}: ${fast[i]} vs ${slow[i]}`);
    assert.ok(Math.abs(fast[i] - ref[i]) < 1e-4 * (1 + Math.abs(ref[i])), `row ${i}: ${fast[i]} vs reference ${ref[i]}`);
  }
  const out = new Float64Array(train.nFeatures + 1);
  r.model.contributions(test.features, 3, out);
  assert.ok(Math.abs(out.reduce((s, v) => s + v, 0) - fast[3]) < 1e-4, 'contributions add up to the logit');
  assert.equal(out[2], 0, "a bag's attribution goes to its first column");

  const dir = await mkdtemp(join(tmpdir(), 'tandem-dcn-bags-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await r.model.save(dir);
  const back = await DcnModel.load(dir);
  const b = new Float64Array(n);
  back.margins(test.features, n, b);
  assert.deepEqual(b, fast);
  const json = JSON.parse(await readFile(join(dir, 'dcn-model.json'), 'utf8'));
  json.encoder.inputs[1].table = 3;
  await writeFile(join(dir, 'dcn-model.json'), JSON.stringify(json));
  await assert.rejects(DcnModel.load(dir), /dcn-model\.json: encoder\.inputs\[1\]\.table: an index of encoder\.vocab/);
});
