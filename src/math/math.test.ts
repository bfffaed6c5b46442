import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AliasTable, Rng, TopK, hashString, topKIndices } from './index.ts';

test('Rng is reproducible for a seed and differs across seeds', () => {
  const a = new Rng(7);
  const b = new Rng(7);
  const c = new Rng(8);
  const sa = Array.from({ length: 5 }, () => a.nextU32());
  assert.deepEqual(sa, Array.from({ length: 5 }, () => b.nextU32()));
  assert.notDeepEqual(sa, Array.from({ length: 5 }, () => c.nextU32()));
});

test('Rng.next is uniform in [0,1) and normal has mean 0, variance 1', () => {
  const r = new Rng(1);
  let s = 0;
  let s2 = 0;
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    const u = r.next();
    assert.ok(u >= 0 && u < 1);
    const z = r.normal();
    s += z;
    s2 += z * z;
  }
  assert.ok(Math.abs(s / n) < 0.01);
  assert.ok(Math.abs(s2 / n - 1) < 0.02);
});

test('AliasTable samples in proportion to weights', () => {
  const t = new AliasTable([1, 0, 3]);
  const r = new Rng(3);
  const c = [0, 0, 0];
  for (let i = 0; i < 100_000; i++) c[t.sample(r)]++;
  assert.equal(c[1], 0);
  assert.ok(Math.abs(c[2] / c[0] - 3) < 0.1, `ratio ${c[2] / c[0]}`);
  assert.throws(() => new AliasTable([0, 0]), /sum to 0/);
});

test('hashString is stable (saved models depend on it)', () => {
  assert.equal(hashString('abc'), hashString('abc'));
  assert.notEqual(hashString('abc'), hashString('abd'));
  assert.equal(hashString(''), hashString('', 0));
});

test('TopK matches a full sort, ties towards the smaller id', () => {
  const r = new Rng(5);
  for (let trial = 0; trial < 50; trial++) {
    const n = 1 + r.int(300);
    const k = 1 + r.int(20);
    const scores = Float32Array.from({ length: n }, () => Math.round(r.next() * 20));
    const mask = Uint8Array.from({ length: n }, () => (r.next() < 0.2 ? 1 : 0));
    const got = Array.from(topKIndices(scores, k, mask));
    const ref = Array.from({ length: n }, (_, i) => i)
      .filter((i) => !mask[i])
      .sort((a, b) => scores[b] - scores[a] || a - b)
      .slice(0, k);
    assert.deepEqual(got, ref);
  }
  const h = new TopK(2);
  h.push(1, 0.5);
  h.push(2, 0.9);
  h.push(3, 0.1);
  assert.deepEqual(Array.from(h.sorted().ids), [2, 1]);
});
