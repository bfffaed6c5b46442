import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetBuilder, type Dataset } from '../data/index.ts';
import { Rng } from '../math/index.ts';
import { EaseSource, invertGaussJordan, invertSpd, invertSpdRowByRow } from './ease.ts';

/** Users 0..2k-1: even users take items 0..4, odd users items 5..9, each missing one item of their block. */
function checkerboard(): Dataset {
  const b = new DatasetBuilder({ user: [], item: [], eventTypes: [] });
  for (let i = 0; i < 10; i++) b.items.row(`i${i}`);
  let t = 1;
  for (let u = 0; u < 20; u++) {
    const ur = b.users.row(`u${u}`);
    const base = u % 2 === 0 ? 0 : 5;
    for (let k = 0; k < 5; k++) if (k !== (u >> 1) % 5) b.addInteraction(ur, base + k, 0, 1, t++);
  }
  return b.build();
}

test('invertSpd (four rows at a time) equals the row-by-row reference to the bit: sizes around the block of four, a sparse Gram matrix with zero entries', () => {
  const rng = new Rng(9);
  for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 37]) {
    for (const sparse of [false, true]) {
      // X^T X + I over a random (or mostly zero, as a binary user x item matrix is) X
      const rows = n + 5;
      const x = new Float64Array(rows * n);
      for (let i = 0; i < x.length; i++) x[i] = sparse ? (rng.next() < 0.15 ? 1 : 0) : rng.normal();
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < rows; k++) s += x[k * n + i] * x[k * n + j];
        a[i * n + j] = s + (i === j ? 1 : 0);
      }
      const fast = invertSpd(Float64Array.from(a), n);
      const ref = invertSpdRowByRow(Float64Array.from(a), n);
      for (let i = 0; i < n * n; i++) assert.ok(Object.is(fast[i] + 0, ref[i] + 0), `n ${n}${sparse ? ' sparse' : ''}, entry ${i}: ${fast[i]} vs ${ref[i]}`);
    }
  }
  assert.throws(() => invertSpd(new Float64Array(36).fill(1), 6), /not positive definite/);
});

test('invertSpd agrees with Gauss-Jordan on a random SPD matrix and gives A A^-1 = I', () => {
  const rng = new Rng(3);
  const n = 23;
  const x = new Float64Array(n * n);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const a = new Float64Array(n * n); // X^T X + 0.5 I
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += x[k * n + i] * x[k * n + j];
    a[i * n + j] = s + (i === j ? 0.5 : 0);
  }
  const ref = invertGaussJordan(a, n);
  const fast = invertSpd(Float64Array.from(a), n);
  for (let i = 0; i < n * n; i++) assert.ok(Math.abs(fast[i] - ref[i]) < 1e-9 * (1 + Math.abs(ref[i])), `entry ${i}: ${fast[i]} vs ${ref[i]}`);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += a[i * n + k] * fast[k * n + j];
    assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-9);
  }
  const small = invertSpd(new Float64Array([4, 2, 2, 3]), 2);
  [0.375, -0.25, -0.25, 0.5].forEach((v, i) => assert.ok(Math.abs(small[i] - v) < 1e-12));
  assert.throws(() => invertSpd(new Float64Array([1, 2, 2, 1]), 2), /not positive definite/);
});

test('EASE scores equal the closed form B = I - P diag(1/diag P) computed by the reference inverse', () => {
  const ds = checkerboard();
  const lambda = 2;
  const ease = new EaseSource({ lambda });
  ease.fit(ds);
  const n = 10;
  const g = new Float64Array(n * n);
  const x = ds.interactions;
  const bag: number[][] = Array.from({ length: ds.numUsers }, () => []);
  for (let r = 0; r < x.length; r++) bag[x.user[r]].push(x.item[r]);
  for (const items of bag) for (const i of items) for (const j of items) g[i * n + j]++;
  for (let i = 0; i < n; i++) g[i * n + i] += lambda;
  const p = invertGaussJordan(g, n);
  const q = ds.query(0);
  const want = new Float32Array(n);
  for (const h of q.history) for (let j = 0; j < n; j++) want[j] += h === j ? 0 : -p[h * n + j] / p[j * n + j];
  const got = new Float32Array(n);
  ease.scoreItems(q, Array.from({ length: n }, (_, i) => i), got);
  for (let j = 0; j < n; j++) assert.ok(Math.abs(got[j] - want[j]) < 1e-5, `item ${j}: ${got[j]} vs ${want[j]}`);
});

test('EASE recommends the missing item of the user\'s own block first, never a seen or excluded one', () => {
  const ds = checkerboard();
  const ease = new EaseSource({ lambda: 1 });
  ease.fit(ds);
  for (let u = 0; u < ds.numUsers; u++) {
    const q = ds.query(u);
    const c = ease.candidates(q, 3);
    const base = u % 2 === 0 ? 0 : 5;
    assert.equal(c.items[0], base + ((u >> 1) % 5), `user ${u}`);
    for (const i of c.items) assert.ok(!q.history.includes(i));
    for (let k = 1; k < c.scores.length; k++) assert.ok(c.scores[k - 1] >= c.scores[k]);
  }
  const q = ds.query(0);
  const c = ease.candidates(q, 10, new Set([0]));
  assert.ok(!c.items.includes(0));
  assert.equal(c.items.length, 10 - q.history.length - 1);
  assert.equal(ease.candidates(q, 0).items.length, 0);
});

test('EASE view with a recency half-life weighs recent history more; save/load round-trips', async () => {
  const ds = checkerboard();
  const ease = new EaseSource({ lambda: 1 });
  ease.fit(ds);
  const recent = ease.view({ name: 'ease-recent', halfLife: 1 });
  assert.equal(recent.name, 'ease-recent');
  // history: an item of block A long ago, then three of block B: block B should dominate the recent view
  const q = { user: -1, history: Int32Array.from([0, 5, 6, 7]) };
  const all = new Float32Array(2);
  const rec = new Float32Array(2);
  ease.scoreItems(q, [1, 8], all);
  recent.scoreItems(q, [1, 8], rec);
  assert.ok(rec[0] / rec[1] < all[0] / all[1]);
  const dir = await mkdtemp(join(tmpdir(), 'ease-'));
  try {
    await ease.save(dir);
    const back = await EaseSource.load(dir);
    const a = ease.candidates(q, 5);
    const b = back.candidates(q, 5);
    assert.deepEqual(Array.from(b.items), Array.from(a.items));
    assert.deepEqual(Array.from(b.scores), Array.from(a.scores));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.throws(() => new EaseSource({ lambda: 0 }), /lambda/);
  assert.throws(() => new EaseSource().candidates(q, 3), /fit\(\)/);
});
