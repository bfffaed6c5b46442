// Every long fit of a candidate source reports its steps: EASE's Gram matrix and inverse, item-kNN's
// neighbour rows (on this thread and on workers), the two-tower's batches (one thread and Hogwild).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSynthetic, parseSplit, splitDataset, type Dataset } from '../data/index.ts';
import { RecordingProgress } from '../math/progress.fixture.ts';
import { EaseSource, invertSpd, ItemKnnSource, TwoTowerSource, trainTwoTower, type FitContext } from './index.ts';

const ds = generateSynthetic({ users: 300, items: 150, interactions: 6000, seed: 3 });

function ctxWith(progress: RecordingProgress, data: Dataset = ds): FitContext {
  let valid: { train: Dataset; test: Dataset } | undefined;
  return { seed: 1, threads: 1, log: () => {}, progress, valid: () => (valid ??= splitDataset(data, parseSplit('user-temporal:0.2'))) };
}

test('EASE reports the Gram matrix by users and the inverse by its share of the O(n^3) work, to the end', () => {
  const p = new RecordingProgress();
  new EaseSource({ lambda: 100 }).fit(ds, ctxWith(p));
  const [gram, inv] = p.tasks;
  assert.deepEqual([gram.name, gram.unit, gram.total, gram.done, gram.finished], ['gram matrix', 'users', ds.numUsers, ds.numUsers, true]);
  assert.match(inv.name, /^inverse \(\d+ items\)$/);
  assert.equal(inv.unit, '%');
  assert.ok(inv.updates >= 3 * 100, 'a tick per row of each of the three passes');
  assert.ok(Math.abs(inv.done - inv.total) < 1e-6 * inv.total && inv.finished);
});

test('invertSpd: the progress it reports only grows, a third of the work per pass', () => {
  const n = 30;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = (i === j ? n : 0) + 1 / (1 + Math.abs(i - j));
  const seen: number[] = [];
  invertSpd(a, n, { tick() {}, set: (d) => void seen.push(d), note() {}, finish() {} });
  assert.equal(seen.length, 3 * n);
  for (let k = 1; k < seen.length; k++) assert.ok(seen[k] > seen[k - 1]);
  const total = seen[seen.length - 1];
  assert.ok(Math.abs(seen[n - 1] - total / 3) < 1e-9 * total && Math.abs(seen[2 * n - 1] - (2 * total) / 3) < 1e-9 * total);
});

test('item-kNN reports its neighbour rows, on this thread and summed over worker threads', async () => {
  for (const threads of [1, 2]) {
    const p = new RecordingProgress();
    await new ItemKnnSource({ neighbours: 20, threads }).fit(ds, ctxWith(p));
    const [t] = p.tasks;
    assert.deepEqual([t.name, t.unit, t.total, t.done, t.finished], ['neighbour rows', 'items', ds.numItems, ds.numItems, true], `threads ${threads}`);
  }
});

test('the two-tower reports epochs x batches, on one thread and on Hogwild workers', async () => {
  for (const threads of [1, 2]) {
    const p = new RecordingProgress();
    const r = await trainTwoTower(ds, { epochs: 2, batchSize: 256, dim: 8, hidden: [16] }, { threads, progress: p.scope('two-tower'), log: () => {} });
    const [t] = p.tasks;
    assert.equal(t.name, 'two-tower > batches');
    assert.equal(t.total, 2 * Math.ceil(ds.interactions.length / 256));
    assert.ok(t.done >= t.total - threads * 2 && t.done <= t.total + threads * 2, `threads ${threads}: ${t.done} of ${t.total}`);
    assert.deepEqual(t.notes.filter((x) => /^epoch \d\/2$/.test(x)), ['epoch 1/2', 'epoch 2/2']);
    assert.ok(t.finished && r.epochs.length === 2);
  }
});

test('the two-tower source names its validation run and its refit apart', async () => {
  const p = new RecordingProgress();
  await new TwoTowerSource({ config: { epochs: 2, batchSize: 256, dim: 8, hidden: [16], patience: 5 }, validate: true, log: () => {} }).fit(ds, ctxWith(p));
  const names = p.tasks.map((t) => t.name);
  assert.deepEqual(names.filter((n) => !n.endsWith('validation')), ['picking epochs > batches', 'refit > batches', 'item index']);
  // the validation users after each epoch of the validation run (a task of its own: seconds on big data)
  const validations = p.named(/^picking epochs > validation$/);
  assert.ok(validations.length >= 1 && validations.every((t) => t.total > 0 && t.done === t.total));
  assert.ok(p.tasks.every((t) => t.finished && t.done > 0));
});

test('an HNSW index added in slices (as a fit with progress builds it) is the index added at once', async () => {
  const { createIndex } = await import('../vectors/index.ts');
  const { Rng } = await import('../math/index.ts');
  const n = 6000;
  const dim = 8;
  const rng = new Rng(5);
  const vecs = Float32Array.from({ length: n * dim }, () => rng.normal());
  const labels = Int32Array.from({ length: n }, (_, i) => i);
  const opts = { kind: 'hnsw' as const, dim, metric: 'ip' as const, expectedSize: n, M: 8, efConstruction: 40, efSearch: 32 };
  const whole = createIndex(opts);
  whole.add(vecs, labels);
  const sliced = createIndex(opts);
  for (let a = 0; a < n; a += 1000) sliced.add(vecs.subarray(a * dim, Math.min(n, a + 1000) * dim), labels.subarray(a, Math.min(n, a + 1000)));
  for (let q = 0; q < 40; q++) {
    const query = Float32Array.from({ length: dim }, () => rng.normal());
    const x = whole.search(query, 10);
    const y = sliced.search(query, 10);
    assert.deepEqual(Array.from(y.ids), Array.from(x.ids));
    assert.deepEqual(Array.from(y.scores), Array.from(x.scores));
  }
});

test("the two-tower's fit builds its item index, reported by items", async () => {
  const p = new RecordingProgress();
  const tt = new TwoTowerSource({ config: { epochs: 1, batchSize: 256, dim: 8, hidden: [16] }, validate: false, log: () => {} });
  await tt.fit(ds, ctxWith(p));
  const ix = p.named(/^item index$/)[0];
  assert.deepEqual([ix.total, ix.done, ix.unit, ix.finished], [ds.numItems, ds.numItems, 'items', true]);
  assert.equal(tt.indexOrigin, 'built');
});
