// The train and recommend commands end to end on committed fixtures: every feature kind goes
// through the model directory and back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelDir, builtinRegistry, Engine } from '../../pipeline/index.ts';
import { trainCommand } from './train.ts';
import { recommendCommand } from './recommend.ts';

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  const err = console.error;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  console.error = () => {};
  try {
    const code = await fn();
    return { code, out: lines.join('\n') };
  } finally {
    console.log = log;
    console.error = err;
  }
}

test('tandem train --config writes a model that tandem recommend reads (every feature kind round-trips)', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-cli-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const out = join(root, 'shop-model');
  const tr = await capture(() => trainCommand.run(['--config', 'src/data/fixtures/shop/shop.json', '--out', out, '--holdout', '0', '--stages', 'ease', '--ranker', 'none', '--json']));
  assert.equal(tr.code, 0);
  const summary = JSON.parse(tr.out);
  assert.deepEqual(summary.stages, ['ease']);
  const model = await readModelDir(out, builtinRegistry());
  const kinds = model.dataset.items.columns.map((c) => c.kind).sort();
  assert.deepEqual(kinds, ['categorical', 'multi-categorical', 'numeric', 'text', 'vector']);
  const engine = new Engine(model);
  assert.equal(engine.catalog.columns[engine.business.categoryCol].name, 'category', 'the first categorical column by default');
  const rec = await capture(() => recommendCommand.run(['--model', out, '--user', 'u1', '-k', '2', '--json']));
  assert.equal(rec.code, 0);
  const r = JSON.parse(rec.out);
  assert.equal(r.user, 'u1');
  assert.ok(r.items.length >= 1);
  const table = await capture(() => recommendCommand.run(['--model', out, '--user', 'stranger', '-k', '2']));
  assert.match(table.out, /user stranger: popularity/);
  await assert.rejects(recommendCommand.run(['--model', out]), /either --user ID or --item ID --similar/);
  await assert.rejects(trainCommand.run(['--config', 'src/data/fixtures/shop/shop.json', '--out', out, '--holdout', '0', '--stages', 'ease', '--ranker', 'none']), /already exists/);
  // a typo in the engine configuration stops the command before any fit, naming the parameter
  await assert.rejects(trainCommand.run(['--config', 'src/data/fixtures/shop/shop.json', '--out', join(root, 'y'), '--param', 'candidats=5']), /candidats: pipeline 'two-stage' parameter unknown parameter.*did you mean 'candidates'/);
  await assert.rejects(trainCommand.run(['--config', 'src/data/fixtures/shop/shop.json', '--out', join(root, 'y'), '--ranker', 'deepfm']), /ranker\.kind: unknown ranker kind 'deepfm' \(known: gbdt, dcn, blend\)/);
});

test('tandem train with no ranker flag trains the two-stage engine: its sources, the GBDT ranker, held-out metrics', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-cli-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const out = join(root, 'synth');
  const tr = await capture(() => trainCommand.run(['--synthetic', '--users', '300', '--items', '200', '--interactions', '6000', '--param', 'twoTowerEpochs=2', '--out', out, '--json']));
  assert.equal(tr.code, 0);
  const s = JSON.parse(tr.out);
  assert.deepEqual(s.stages, ['ease', 'ease-h10', 'two-tower']);
  assert.deepEqual(s.fallbacks, ['segments', 'content', 'popularity']);
  assert.equal(s.ranker, 'gbdt');
  assert.equal(s.candidates, 200);
  assert.ok(s.metrics['recall@100'] > 0, JSON.stringify(s.metrics));
  const model = await readModelDir(out, builtinRegistry());
  assert.equal(model.manifest.data.items, 200);
  assert.ok(model.ranker, 'the model directory holds the ranker');
  const r = new Engine(model).recommend({ user: model.dataset.users.ids.values[3], k: 5 });
  assert.equal(r.strategy, 'personal');
  assert.ok(r.items.every((x) => x.explanation.rankedUpBy.length > 0 || x.explanation.fallback !== null), 'the ranker explains its items');
  assert.deepEqual(model.manifest.parameters.source, { synthetic: { users: 300, items: 200, interactions: 6000, seed: 42 } });
  await assert.rejects(trainCommand.run(['--synthetic', '--dataset', 'movielens-100k', '--out', join(root, 'x')]), /exactly one of/);
});

test('tandem train refuses an empty u.data, naming it, and writes no model', async (t) => {
  const { cp, writeFile } = await import('node:fs/promises');
  const { existsSync } = await import('node:fs');
  const root = await mkdtemp(join(tmpdir(), 'tandem-cli-empty-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await cp('src/data/fixtures/ml-100k-mini', join(root, 'ml'), { recursive: true });
  await writeFile(join(root, 'ml/u.data'), '');
  const out = join(root, 'model');
  await assert.rejects(trainCommand.run(['--dataset', 'movielens-100k', '--data', join(root, 'ml'), '--stages', 'popularity', '--ranker', 'none', '--holdout', '0', '--out', out]), /ml\/u\.data: no interactions \(it holds no rows\)/);
  assert.equal(existsSync(out), false, 'no model directory written');
  // and the API refuses a dataset without interactions too
  const { trainModel, fixtureDataset } = await import('../../pipeline/index.ts');
  const empty = fixtureDataset({ users: 3, items: 4, perUser: 0 });
  await assert.rejects(trainModel(join(root, 'm2'), { dataset: empty, config: { sources: [{ kind: 'popularity' }] }, holdout: 0 }), /no interactions to train on; no model written/);
  assert.equal(existsSync(join(root, 'm2')), false);
});
