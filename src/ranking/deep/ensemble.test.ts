import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DcnEnsemble } from './ensemble.ts';
import { DCN_PARAMS, dcnRankerKind } from './ranker-model.ts';
import { DcnModel } from './model.ts';
import { check } from '../../schema/index.ts';
import { assertSameScores, crossSet } from './test-fixture.ts';
import { trainDcn } from './train.ts';

const params = (more: Record<string, unknown>) => check(DCN_PARAMS, { embedDim: 4, crossLayers: 1, hidden: [16, 8], learningRate: 0.01, batchSize: 64, epochs: 3, ...more }, { path: 'dcn' });
const RUN = { seed: 5, threads: 1, log: () => {} };

test('dcn ensemble: member k is the single network trained at seed + k, bit for bit; the model averages their logits and attributions', async () => {
  const train = crossSet(16, 30, 21);
  const valid = crossSet(4, 30, 22);
  const e = await dcnRankerKind.train({ train, valid }, params({ ensemble: 3 }), RUN);
  assert.ok(e instanceof DcnEnsemble && e.members.length === 3);
  const n = train.nRows;
  const each: Float64Array[] = [];
  for (let k = 0; k < 3; k++) {
    const alone = (await trainDcn(train, valid, params({}), { ...RUN, seed: RUN.seed + k })).model;
    assert.deepEqual(Buffer.from(e.members[k].params.buffer, e.members[k].params.byteOffset, e.members[k].params.byteLength), Buffer.from(alone.params.buffer, alone.params.byteOffset, alone.params.byteLength), `network ${k}`);
    const z = new Float64Array(n);
    alone.margins(train.features, n, z);
    each.push(z);
  }
  assert.notDeepEqual(each[0], each[1], 'other seeds give other networks');
  const z = new Float64Array(n);
  e.margins(train.features, n, z);
  const p = new Float64Array(n);
  e.predict(train.features, n, p);
  for (let i = 0; i < n; i++) {
    const mean = (each[0][i] + each[1][i] + each[2][i]) / 3;
    assert.ok(Math.abs(z[i] - mean) < 1e-12, `row ${i}: ${z[i]} vs ${mean}`);
    assert.ok(Math.abs(p[i] - 1 / (1 + Math.exp(-mean))) < 1e-12);
  }
  // attributions: the members' mean, adding up to the mean logit
  const F = train.nFeatures;
  const out = new Float64Array(F + 1);
  const part = new Float64Array(F + 1);
  for (const row of [0, 7]) {
    e.contributions(train.features, row, out);
    const sum = out.reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(sum - z[row]) < 1e-4, `row ${row}: ${sum} vs ${z[row]}`);
    const ref = new Float64Array(F + 1);
    for (const m of e.members) {
      m.contributions(train.features, row, part);
      for (let f = 0; f <= F; f++) ref[f] += part[f] / 3;
    }
    for (let f = 0; f <= F; f++) assert.ok(Math.abs(out[f] - ref[f]) < 1e-9, `row ${row} column ${f}`);
  }
  const s = e.summary();
  assert.equal(s.members, 3);
  assert.equal((s.bestEpochs as number[]).length, 3);
  assert.ok(typeof s.bestEpoch === 'number' && s.bestEpoch >= 1);
});

test('dcn ensemble: saved and loaded through the kind with the same scores; a member count that differs from the parameters is refused naming the file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-dcn-ens-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const train = crossSet(10, 30, 23);
  const p = params({ ensemble: 2, epochs: 2 });
  const e = await dcnRankerKind.train({ train, valid: null }, p, RUN);
  await e.save(dir);
  assertSameScores(e, await dcnRankerKind.load(dir, p), train);
  await assert.rejects(dcnRankerKind.load(dir, params({ ensemble: 3, epochs: 2 })), /dcn-ensemble\.json: members: the parameters say 3 networks, the file 2/);
  // a single-network model directory is not an ensemble's
  await assert.rejects(dcnRankerKind.load(join(dir, 'net-0'), p), /dcn-ensemble\.json/);
  const json = JSON.parse(await readFile(join(dir, 'dcn-ensemble.json'), 'utf8'));
  await writeFile(join(dir, 'dcn-ensemble.json'), JSON.stringify({ ...json, format: 'other' }));
  await assert.rejects(dcnRankerKind.load(dir, p), /dcn-ensemble\.json: format: expected 'tandem-dcn-ensemble'/);
  assert.ok((await DcnModel.load(join(dir, 'net-1'))).nFeatures === train.nFeatures);
  assert.throws(() => new DcnEnsemble([e instanceof DcnEnsemble ? e.members[0] : (e as DcnModel)]), /needs two networks or more/);
});

test('a blend whose DCN is an ensemble saves and loads whole; the residual blend, which trains one DCN, refuses an ensemble', async (t) => {
  const { BLEND_PARAMS, blendRankerKind } = await import('../blend/index.ts');
  const dir = await mkdtemp(join(tmpdir(), 'tandem-blend-ens-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const train = crossSet(12, 30, 24);
  const valid = crossSet(4, 30, 25);
  const bp = check(BLEND_PARAMS, { gbdt: { numRounds: 10, minDataInLeaf: 10 }, dcn: { hidden: [8], embedDim: 4, epochs: 2, learningRate: 0.01, batchSize: 64, ensemble: 2 }, weight: 0.6 });
  const m = await blendRankerKind.train({ train, valid }, bp, RUN);
  await m.save(dir);
  assertSameScores(m, await blendRankerKind.load(dir, bp), valid);
  await assert.rejects(blendRankerKind.train({ train, valid }, { ...bp, combine: 'residual' }, RUN), /combine 'residual' trains one DCN.*ensemble must be 1, got 2/);
});
