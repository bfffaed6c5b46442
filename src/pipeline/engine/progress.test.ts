// A fit reports every long step through the run settings' Progress: each stage under its name, the
// ranker's rows (the L1 fit on the earlier window, then users), the ranker model's rounds, and scoring.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSplit, splitDataset } from '../../data/index.ts';
import { RecordingProgress } from '../../math/progress.fixture.ts';
import { Engine } from './engine.ts';
import { fitEngine } from './fit.ts';
import { fixtureDataset } from './fixture.ts';
import { builtinRegistry } from './registry.ts';
import { scoreEngine } from './score.ts';
import { trainModel } from './train.ts';

const TWO_TOWER = { epochs: 2, batchSize: 64, dim: 8, hidden: [16], embeddingDim: 8 };
const CONFIG = {
  sources: [{ kind: 'ease', params: { lambda: 10 } }, { kind: 'itemknn' }, { kind: 'two-tower', params: TWO_TOWER }],
  fallbacks: [{ kind: 'popularity' }],
  candidates: 30,
  ranker: { kind: 'gbdt', params: { numRounds: 15, earlyStoppingRounds: 0, minDataInLeaf: 5 } },
};

test('fitEngine reports every stage, the ranker rows by user, the L1 fit under them, and the GBDT rounds', async () => {
  const ds = fixtureDataset({ users: 120, items: 80, perUser: 12 });
  const p = new RecordingProgress();
  await fitEngine(ds, CONFIG, builtinRegistry(), { seed: 1, progress: p.scope('two-stage') });
  const names = p.tasks.map((t) => t.name);
  for (const want of [
    'two-stage > ranker rows > ease > gram matrix',
    'two-stage > ranker rows > itemknn > neighbour rows',
    'two-stage > ranker rows > two-tower > picking epochs > batches',
    'two-stage > ranker rows > two-tower > refit > batches',
    'two-stage > ranker rows > users',
    'two-stage > ranker > gbdt',
    'two-stage > ease > gram matrix',
    'two-stage > itemknn > neighbour rows',
    'two-stage > two-tower > refit > batches',
    'two-stage > popularity',
  ]) {
    assert.ok(names.includes(want), `${want} not among ${names.join(' | ')}`);
  }
  assert.ok(names.some((n) => /^two-stage > ease > inverse \(\d+ items\)$/.test(n)));
  // the order of the work: rows (and the L1 under them) before the ranker, the ranker before the final stages
  assert.ok(names.indexOf('two-stage > ranker rows > users') < names.indexOf('two-stage > ranker > gbdt'));
  assert.ok(names.indexOf('two-stage > ranker > gbdt') < names.indexOf('two-stage > ease > gram matrix'));
  const users = p.named(/ranker rows > users$/)[0];
  assert.ok(users.total > 0 && users.done === users.total && users.unit === 'users');
  const gbdt = p.named(/ranker > gbdt$/)[0];
  assert.deepEqual([gbdt.total, gbdt.done, gbdt.unit], [15, 15, 'rounds']);
  const epochs = p.named(/two-stage > two-tower > refit > batches$/)[0];
  assert.ok(epochs.notes.includes('epoch 1/2') || epochs.notes.includes('epoch 1/1'), epochs.notes.join());
  assert.ok(p.tasks.every((t) => t.finished), `unfinished: ${p.tasks.filter((t) => !t.finished).map((t) => t.name).join(', ')}`);
});

test('scoring reports its users; trainModel names the held-out fit and the fit on all data apart', async (t) => {
  const ds = fixtureDataset({ users: 80, items: 60 });
  const { train, test: held } = splitDataset(ds, parseSplit('user-temporal:0.2'));
  const config = { sources: [{ kind: 'ease', params: { lambda: 10 } }], fallbacks: [{ kind: 'popularity' }] };
  const { model } = await fitEngine(train, config, builtinRegistry());
  const p = new RecordingProgress();
  const r = scoreEngine(new Engine(model), train, held, { ks: [10], progress: p });
  assert.deepEqual(p.tasks.map((x) => [x.name, x.total, x.done, x.finished]), [['scoring', r.users, r.users, true]]);

  const root = await mkdtemp(join(tmpdir(), 'tandem-progress-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const q = new RecordingProgress();
  await trainModel(join(root, 'm'), { dataset: ds, config, holdout: 0.2, progress: q });
  const names = q.tasks.map((x) => x.name);
  assert.ok(names.includes('held-out > ease > gram matrix') && names.includes('held-out > scoring') && names.includes('all data > ease > gram matrix'), names.join(' | '));
});

test('without a progress reporter a fit reports nothing and still fits (the library default)', async () => {
  const ds = fixtureDataset({ users: 40, items: 30 });
  const { model } = await fitEngine(ds, { sources: [{ kind: 'itemknn' }] }, builtinRegistry());
  assert.equal(model.stages.length, 1);
});

test('a bag of GBDTs reports each of its models as a task of its own', async () => {
  const ds = fixtureDataset({ users: 80, items: 60, perUser: 10 });
  const p = new RecordingProgress();
  const config = { sources: [{ kind: 'ease', params: { lambda: 10 } }], candidates: 20, ranker: { kind: 'gbdt', params: { numRounds: 6, earlyStoppingRounds: 0, minDataInLeaf: 5, bags: 2 } } };
  await fitEngine(ds, config, builtinRegistry(), { progress: p });
  assert.deepEqual(p.named(/^ranker > gbdt/).map((t) => [t.name, t.total, t.done, t.finished]), [['ranker > gbdt 1/2', 6, 6, true], ['ranker > gbdt 2/2', 6, 6, true]]);
});
