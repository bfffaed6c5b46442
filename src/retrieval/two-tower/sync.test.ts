import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getKernelBackend } from '../../math/index.ts';
import { trainTwoTower } from './train.ts';
import { supportsSync } from './sync.ts';
import { tinyDataset } from './test-fixture.ts';

const SMALL = { embeddingDim: 8, hidden: [16], dim: 8, batchSize: 16, epochs: 2, warmupSteps: 2, temperature: 0.2, negatives: 4 };
const skip = supportsSync(getKernelBackend()) ? false : 'synchronous steps need the wasm kernels (TANDEM_KERNELS=js trains Hogwild)';

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

// The threads sum the same float32 terms in another order (scores of their own users, gradients
// summed per thread then across threads), so weights differ from one thread's in the last bits:
// measured 1.2e-7 after one step and 2.4e-7 after 50 (weights are O(0.1-1)); 1e-5 leaves room.
const TOL = 1e-5;

test('sync: one 2-thread step on a batch equals the 1-thread step (within float summation order)', { skip }, async () => {
  const ds = tinyDataset(40, 48, 10, 2);
  // one batch holding every example: one step; no moving average, so the weights are the step's
  const cfg = { ...SMALL, batchSize: ds.interactions.length, epochs: 1, emaDecay: 0 };
  const one = await trainTwoTower(ds, cfg, { seed: 3, threads: 1, log: () => {} });
  const two = await trainTwoTower(ds, { ...cfg, parallel: 'sync' }, { seed: 3, threads: 2, log: () => {} });
  const d = maxDiff(one.model.params, two.model.params);
  assert.ok(d < TOL, `max |w1 - w2| = ${d}`);
  // the step moved the weights by far more than that (so the check is not vacuous)
  const three = await trainTwoTower(ds, { ...cfg, lr: 1e-9 }, { seed: 3, threads: 1, log: () => {} });
  assert.ok(maxDiff(one.model.params, three.model.params) > 100 * TOL);
  assert.ok(Math.abs(one.epochs[0].loss - two.epochs[0].loss) < 1e-5 * Math.abs(one.epochs[0].loss));
});

test('sync: 2 and 3 threads follow the 1-thread run over many steps (moving average included)', { skip }, async () => {
  const ds = tinyDataset(40, 48, 10, 2);
  const one = await trainTwoTower(ds, SMALL, { seed: 4, threads: 1, log: () => {} });
  for (const threads of [2, 3]) {
    const r = await trainTwoTower(ds, SMALL, { seed: 4, threads, log: () => {} });
    const d = maxDiff(one.model.params, r.model.params);
    assert.ok(d < TOL, `${threads} threads: max |w1 - w${threads}| = ${d}`);
    assert.equal(r.epochs.length, SMALL.epochs);
  }
});

test('sync: a seeded 2-thread run is reproducible bit for bit', { skip }, async () => {
  const ds = tinyDataset(40, 48, 10, 2);
  const a = await trainTwoTower(ds, SMALL, { seed: 5, threads: 2, log: () => {} });
  const b = await trainTwoTower(ds, SMALL, { seed: 5, threads: 2, log: () => {} });
  assert.deepEqual(bytes(a.model.params), bytes(b.model.params));
  assert.deepEqual(
    a.epochs.map((e) => e.loss),
    b.epochs.map((e) => e.loss),
  );
});

test('sync: a diverging step fails with the reason, and the other thread is released (no hang)', { skip }, async () => {
  const ds = tinyDataset(40, 48, 10, 2);
  await assert.rejects(trainTwoTower(ds, { ...SMALL, temperature: 1e-38 }, { seed: 1, threads: 2, log: () => {} }), /training diverged/);
});

test("parallel 'hogwild' stays selectable, and bce falls back to it with a note", async () => {
  const ds = tinyDataset(40, 48, 10, 2);
  const lines: string[] = [];
  const r = await trainTwoTower(ds, { ...SMALL, loss: 'bce' }, { seed: 1, threads: 2, log: (l) => lines.push(l) });
  assert.ok(r.model.params.every(Number.isFinite));
  if (!skip) assert.ok(lines.some((l) => /train Hogwild/.test(l)), lines.join('\n'));
  const h = await trainTwoTower(ds, { ...SMALL, parallel: 'hogwild' }, { seed: 1, threads: 2, log: (l) => lines.push(l) });
  assert.ok(h.model.params.every(Number.isFinite));
});
