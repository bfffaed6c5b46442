import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reloadBench, slope } from './reload.ts';
import { runCaptured } from '../src/math/console.fixture.ts';

test('slope: least squares of y on x', () => {
  assert.equal(slope([1, 2, 3, 4], [2, 4, 6, 8]), 2);
  assert.ok(Math.abs(slope([1, 2, 3, 4, 5], [10, 10.1, 9.9, 10, 10])) < 0.05);
  assert.ok(Number.isNaN(slope([1], [1])));
});

test('tandem bench reload trains two small models, reloads them alternately and prints RSS rows and the slope', async () => {
  const { code, out } = await runCaptured(reloadBench, ['--count', '6', '--every', '3', '--warmup', '2', '--items', '60', '--users', '40', '--interactions', '800']);
  assert.equal(code, 0, out);
  assert.match(out, /^reload {2}RSS MB {2}heap MB {2}external MB {2}kernel memory MB$/m);
  assert.match(out, /^ {5}3 +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+$/m);
  assert.match(out, /^ {5}6 +[\d.]+/m);
  assert.match(out, /^RSS slope after 2 reloads: -?[\d.]+ MB per reload \(least squares over 4 reloads; goal < 0\.05\); 6 reloads in [\d.]+ s, 0 errors$/m);
  await assert.rejects(reloadBench.run(['--model', 'only-one']), /give two model directories/);
});
