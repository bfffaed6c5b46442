import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spreadBench, spreadOf } from './spread.ts';
import { runCaptured } from '../src/math/console.fixture.ts';

test('spreadOf: mean, sample standard deviation, median and range', () => {
  const s = spreadOf([1, 2, 3, 4]);
  assert.equal(s.mean, 2.5);
  assert.ok(Math.abs(s.std - Math.sqrt(5 / 3)) < 1e-12);
  assert.deepEqual([s.median, s.min, s.max, s.range], [2.5, 1, 4, 3]);
  assert.deepEqual(spreadOf([0.2]), { mean: 0.2, std: 0, median: 0.2, min: 0.2, max: 0.2, range: 0 });
  assert.equal(spreadOf([3, 1, 2]).median, 2);
  assert.throws(() => spreadOf([]), /no values/);
});

/** Runs the bench with console output captured. */
const run = (argv: string[]) => runCaptured(spreadBench, argv);

test('tandem bench spread fits the two-tower with N seeds on one split; one seed reproduces bit for bit', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-spread-'));
  try {
    const data = ['--synthetic', '--users', '200', '--items', '300', '--interactions', '4000', '--quiet'];
    const param = ['--param', 'epochs=2,batchSize=128,dim=8,hidden=16,embeddingDim=8'];
    const { code, out } = await run([...data, ...param, '--seeds', '3', '--seed', '5', '--json', join(dir, 's.json')]);
    assert.equal(code, 0);
    const r = JSON.parse(await readFile(join(dir, 's.json'), 'utf8'));
    assert.equal(r.pipeline, 'two-tower');
    assert.deepEqual(r.seeds.map((s: { seed: number }) => s.seed), [5, 6, 7]);
    const nd = r.seeds.map((s: { metrics: Record<string, number> }) => s.metrics['ndcg@10']);
    assert.deepEqual(r.summary['ndcg@10'], spreadOf(nd));
    assert.ok(new Set(nd).size > 1, 'the seeds give different fits');
    assert.match(out, /^ {3}std {6}0\.\d{4} {6}0\.\d{4}$/m);
    assert.match(out, /ndcg@10 0\.\d{4} ± 0\.\d{4} \(std; range 0\.\d{4}\), recall@100 .* over 3 seeds/);
    // the same seed again: the same figures (the two-tower trains on one thread by default)
    await run([...data, ...param, '--seeds', '1', '--seed', '6', '--json', join(dir, 'again.json')]);
    const again = JSON.parse(await readFile(join(dir, 'again.json'), 'utf8'));
    assert.deepEqual(again.seeds[0].metrics, r.seeds[1].metrics);
    await assert.rejects(run(['--synthetic', '--pipeline', 'nope']), /unknown pipeline 'nope'/);
    await assert.rejects(run(['--synthetic', '--param', 'epoch=2']), /epoch/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
