import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../schema/index.ts';
import { dataSourceFromFlags, evaluateCommand, parsePipelineParams } from './evaluate.ts';

test('evaluate flags: one data source, NAME.KEY=VALUE parameters', () => {
  const base = { synthetic: false, users: 10, items: 10, interactions: 10, dim: 4, seed: 1 };
  assert.throws(() => dataSourceFromFlags(base), UsageError);
  assert.throws(() => dataSourceFromFlags({ ...base, synthetic: true, config: 'x.json' }), /exactly one/);
  assert.throws(() => dataSourceFromFlags({ ...base, dataset: 'movielens-100k' }), /--data DIR/);
  assert.deepEqual(dataSourceFromFlags({ ...base, dataset: 'movielens-100k', data: 'd' }), { kind: 'preset', name: 'movielens-100k', dir: 'd' });
  assert.deepEqual(parsePipelineParams(['itemknn.neighbours=20', 'itemknn.value=log'], ['itemknn']), { itemknn: { neighbours: '20', value: 'log' } });
  assert.throws(() => parsePipelineParams(['neighbours=20'], ['itemknn']), /NAME.KEY=VALUE/);
  assert.throws(() => parsePipelineParams(['popularity.halfLifeDays=3'], ['itemknn']), /not among --pipelines/);
});

test('tandem evaluate --synthetic writes the results JSON in the documented shape', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-eval-'));
  const log = console.log;
  const err = console.error;
  const out: string[] = [];
  console.log = (s: string) => out.push(s);
  console.error = () => {};
  try {
    const code = await evaluateCommand.run(['--synthetic', '--users', '300', '--items', '150', '--interactions', '8000', '--param', 'itemknn.neighbours=30', '--json', join(dir, 'r.json'), '--quiet']);
    assert.equal(code, 0);
    const r = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8'));
    assert.deepEqual(Object.keys(r), ['dataset', 'results']);
    assert.equal(r.dataset.users, 300);
    assert.equal(r.dataset.interactions, 8000);
    assert.deepEqual(r.results.map((x: { pipeline: string }) => x.pipeline), ['popularity', 'itemknn']);
    for (const x of r.results) {
      for (const k of ['ndcg@10', 'recall@10', 'recall@20', 'recall@50', 'recall@100', 'hr@10', 'mrr@10', 'precision@10', 'coverage@10']) assert.equal(typeof x.metrics[k], 'number');
      assert.equal(typeof x.trainSeconds, 'number');
      assert.equal(typeof x.evalSeconds, 'number');
    }
    assert.match(out.join('\n'), /^pipeline +ndcg@10 +recall@10/m);
    await assert.rejects(evaluateCommand.run(['--synthetic', '--pipelines', 'nope']), /unknown pipeline 'nope'/);
    await assert.rejects(evaluateCommand.run(['--synthetic', '--train', 'a.tsv']), /--train and --test go together/);
  } finally {
    console.log = log;
    console.error = err;
    await rm(dir, { recursive: true, force: true });
  }
});

test('evaluate --model (in process) and --url (the service over HTTP) give the figures evaluate gives the same configuration', async (t) => {
  const { generateSynthetic, parseSplit, splitDataset } = await import('../../data/index.ts');
  const { builtinRegistry, Engine, fitEngine, scoreEngine, scoreService, trainModel } = await import('../../pipeline/index.ts');
  const { startServer } = await import('../../serve/index.ts');
  const dir = await mkdtemp(join(tmpdir(), 'tandem-eval-model-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ds = generateSynthetic({ users: 300, items: 150, interactions: 8000, seed: 42 });
  const { train, test: te } = splitDataset(ds, parseSplit('user-temporal:0.2'));
  const config = { sources: [{ kind: 'ease', params: { lambda: 50 } }, { kind: 'itemknn', params: { neighbours: 30 } }], fallbacks: [{ kind: 'popularity' }], candidates: 40 };
  await trainModel(join(dir, 'm'), { dataset: train, config, holdout: 0 });
  const direct = scoreEngine(new Engine((await fitEngine(train, config, builtinRegistry())).model), train, te, { ks: [10, 100] });
  const server = await startServer({ model: join(dir, 'm'), port: 0, store: 'memory', log: () => {} });
  try {
    const served = await scoreService(server.url, train, te, { ks: [10, 100] });
    assert.equal(served.failed, 0);
    assert.deepEqual(served.metrics, direct.metrics, 'over HTTP: the figures of the same configuration fitted in process');
  } finally {
    await server.close();
  }
});

test('tandem evaluate stops with an error naming an empty train or test file (exit 1, no table)', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'tandem-eval-empty-'));
  writeFileSync(join(dir, 'empty.tsv'), '');
  writeFileSync(join(dir, 'train.tsv'), '1\t1\t5\t881250950\n2\t10\t4\t881250949\n');
  const data = ['--dataset', 'movielens-100k', '--data', 'src/data/fixtures/ml-100k-mini', '--pipelines', 'popularity'];
  const { main } = await import('../main.ts');
  for (const [train, test, side] of [['empty.tsv', 'train.tsv', 'train'], ['train.tsv', 'empty.tsv', 'test']] as const) {
    const out: string[] = [];
    const log = console.log;
    const err = console.error;
    console.log = (...a: unknown[]) => void out.push(a.join(' '));
    console.error = (...a: unknown[]) => void out.push(a.join(' '));
    let code: number;
    try {
      code = await main(['evaluate', ...data, '--train', join(dir, train), '--test', join(dir, test)]);
    } finally {
      console.log = log;
      console.error = err;
    }
    assert.equal(code, 1, out.join('\n'));
    assert.match(out.join('\n'), new RegExp(`empty\\.tsv: no interactions \\(it holds no rows\\); the ${side} side needs interactions`));
    assert.doesNotMatch(out.join('\n'), /ndcg@10/, 'no table');
  }
  await rm(dir, { recursive: true, force: true });
});

test('--shape sets the synthetic generator options and names a bad one', async () => {
  const { syntheticShape } = await import('../../pipeline/index.ts');
  const base = { synthetic: false, users: 10, items: 10, interactions: 10, dim: 4, seed: 1 };
  assert.deepEqual(dataSourceFromFlags({ ...base, synthetic: true, shape: ['titleTaste=1', 'itemNoise=0.5'] }), { kind: 'synthetic', options: { titleTaste: 1, itemNoise: 0.5, users: 10, items: 10, interactions: 10, dim: 4, seed: 1 } });
  assert.throws(() => dataSourceFromFlags({ ...base, config: 'x.json', shape: ['titleTaste=1'] }), /give --synthetic too/);
  assert.throws(() => syntheticShape(['colour=1']), (e: Error) => e instanceof UsageError && /'colour' is unknown \(known: .*titleTaste/.test(e.message));
  assert.throws(() => syntheticShape(['titleTaste=2']), /'titleTaste': 2 is not a number in \[0, 1\]/);
  assert.throws(() => syntheticShape(['titleTaste=lots']), /titleTaste=lots: not a number/);
  assert.throws(() => syntheticShape(['users=5']), /give it as --users/);
});
