import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getKernelBackend, optimizerStateSize, Rng } from '../../math/index.ts';
import { FeatureSpace } from '../../features/index.ts';
import { featureOptions, resolveConfig } from './config.ts';
import { buildExamples, TrainerCore, TrainingError } from './core.ts';
import { initParams, TwoTowerNet } from './model.ts';
import { trainTwoTower } from './train.ts';
import { TwoTowerModel } from './two-tower.ts';
import { tinyDataset } from './test-fixture.ts';

const SMALL = { embeddingDim: 8, hidden: [16], dim: 8, batchSize: 16, epochs: 3, warmupSteps: 2, temperature: 0.2 };

test('one thread and a seed: two runs give bit-for-bit identical weights', async () => {
  const ds = tinyDataset(30, 40, 10);
  const a = await trainTwoTower(ds, SMALL, { seed: 5, log: () => {} });
  const b = await trainTwoTower(ds, SMALL, { seed: 5, log: () => {} });
  assert.deepEqual(Buffer.from(a.model.params.buffer, a.model.params.byteOffset, a.model.params.byteLength), Buffer.from(b.model.params.buffer, b.model.params.byteOffset, b.model.params.byteLength));
  const c = await trainTwoTower(ds, SMALL, { seed: 6, log: () => {} });
  assert.notDeepEqual(Array.from(c.model.params.subarray(0, 50)), Array.from(a.model.params.subarray(0, 50)));
});

test('training lowers the loss and finds the taste clusters (BCE and softmax)', async () => {
  const ds = tinyDataset(40, 40, 12);
  for (const loss of ['softmax', 'bce'] as const) {
    const r = await trainTwoTower(ds, { ...SMALL, loss, negatives: loss === 'bce' ? 4 : 8, epochs: 15, lr: 0.02 }, { seed: 1, log: () => {} });
    assert.ok(r.epochs[r.epochs.length - 1].loss < r.epochs[0].loss * 0.95, `${loss}: loss ${r.epochs[0].loss} -> ${r.epochs[r.epochs.length - 1].loss}`);
    // users of cluster c (u % 4) should score cluster-c items above the others on average
    const V = r.model.embedItems();
    let inside = 0;
    let outside = 0;
    for (let u = 0; u < 8; u++) {
      const q = r.model.embedQuery(ds.query(u));
      for (let i = 0; i < ds.numItems; i++) {
        let s = 0;
        for (let j = 0; j < q.length; j++) s += q[j] * V[i * q.length + j];
        if (i % 4 === u % 4) inside += s;
        else outside += s / 3;
      }
    }
    assert.ok(inside > outside, `${loss}: in-cluster ${inside} vs ${outside}`);
  }
});

test('two Hogwild worker threads train one shared model', async () => {
  const ds = tinyDataset(40, 40, 12);
  const r = await trainTwoTower(ds, { ...SMALL, epochs: 4, parallel: 'hogwild' }, { seed: 2, threads: 2, log: () => {} });
  assert.equal(r.epochs.length, 4);
  assert.ok(r.model.params.every(Number.isFinite));
  assert.ok(r.epochs[3].loss < r.epochs[0].loss, `loss ${r.epochs[0].loss} -> ${r.epochs[3].loss}`);
});

test('early stopping keeps the best validation epoch', async () => {
  const ds = tinyDataset(30, 40, 10);
  const r = await trainTwoTower(ds, { ...SMALL, epochs: 6, patience: 2 }, { seed: 3, valid: tinyDataset(30, 40, 3, 9), validK: 10, log: () => {} });
  const recalls = r.epochs.map((e) => e.validRecall!);
  assert.equal(Math.max(...recalls), recalls[r.bestEpoch - 1]);
});

test('save then load: identical vectors for known users, new users, catalog and new items', async () => {
  const ds = tinyDataset();
  const { model } = await trainTwoTower(ds, { ...SMALL, epochs: 1 }, { seed: 4, log: () => {} });
  const dir = await mkdtemp(join(tmpdir(), 'tandem-tt-'));
  try {
    await model.save(dir);
    const back = await TwoTowerModel.load(dir);
    const q = ds.query(3);
    assert.deepEqual(back.embedQuery(q), model.embedQuery(q));
    const raw = { gender: 'F', age: 33, zip: 'never-seen-zip' };
    const hist = new Int32Array([1, 5, 9]);
    assert.deepEqual(back.embedUser(raw, hist), model.embedUser(raw, hist));
    assert.deepEqual(back.embedItems(), model.embedItems());
    const item = { genres: ['g1', 'g9'], year: 1999, title: 'a new movie', vec: [0.1, 0.2, 0.3] };
    assert.deepEqual(back.embedItem(item), model.embedItem(item));
    // the manifest names its version; a future version is refused with a clear message
    const m = JSON.parse(await readFile(join(dir, 'two-tower.json'), 'utf8'));
    m.version = 99;
    await writeFile(join(dir, 'two-tower.json'), JSON.stringify(m));
    await assert.rejects(TwoTowerModel.load(dir), /format version 99/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('new users (features only, or a few events) and new items embed to finite unit vectors', async () => {
  const ds = tinyDataset();
  const { model } = await trainTwoTower(ds, { ...SMALL, epochs: 1 }, { seed: 4, log: () => {} });
  for (const v of [model.embedUser({}), model.embedUser({ gender: 'M' }, new Int32Array([2])), model.embedItem({ genres: 'g2|g3' }), model.embedQuery({ user: -1, history: new Int32Array([4, 4]) })]) {
    assert.equal(v.length, SMALL.dim);
    let s = 0;
    for (const x of v) s += x * x;
    assert.ok(Math.abs(Math.sqrt(s) - 1) < 1e-3, `norm ${Math.sqrt(s)}`);
  }
  assert.throws(() => model.embedItem({ vec: [1, 2] }), /vec.*length 3/);
});

test('a non-finite weight stops training with the epoch, batch and tensor named', () => {
  const ds = tinyDataset();
  const cfg = resolveConfig(SMALL);
  const fs = FeatureSpace.fit(ds, featureOptions(cfg));
  const net = new TwoTowerNet(fs, cfg.hidden, cfg.dim, cfg.normalize);
  const backend = getKernelBackend();
  const params = backend.alloc(net.layout.total);
  initParams(net.layout, params, new Rng(1), cfg.initStd);
  params.fill(NaN, net.layout.tables[0].offset, net.layout.tables[0].offset + net.layout.tables[0].length);
  const core = new TrainerCore(net, cfg, buildExamples(ds), params, backend.alloc(optimizerStateSize('adam', params.length)), null, new Rng(1), backend, true);
  const order = Int32Array.from({ length: ds.interactions.length }, (_, i) => i);
  assert.throws(() => core.runRange(order, 0, order.length, { epoch: 0, stepBase: 0, stepStride: 1, totalSteps: 10 }), (e: Error) => e instanceof TrainingError && /epoch 1, batch 1: embedding table 'item.id'/.test(e.message));
});

test('config: a bad value or an unknown parameter is refused by name', () => {
  assert.throws(() => resolveConfig({ lr: -1 }), /two-tower: parameter lr: -1 is outside \(0, inf\]/);
  assert.throws(() => resolveConfig({ loss: 'hinge' as never }), /parameter loss: 'hinge' is not one of softmax, bce/);
  assert.throws(() => resolveConfig({ learningRate: 1 } as never), /learningRate: unknown parameter \(known: .*lr.*\)/);
});
