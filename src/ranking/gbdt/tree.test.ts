import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../math/index.ts';
import { GbdtModel } from './model.ts';
import { FlatForest, ceilFloat32, predictNodeRef, treeToObject, type Tree } from './tree.ts';

/** A random tree with `leaves` leaves over F features (random shapes, thresholds, default directions). */
function randomTree(rng: Rng, leaves: number, F: number): Tree {
  const ni = leaves - 1;
  const t: Tree = {
    feature: new Int32Array(ni), threshold: new Float64Array(ni), defaultLeft: new Uint8Array(ni), left: new Int32Array(ni), right: new Int32Array(ni),
    gain: new Float64Array(ni), nodeValue: new Float64Array(ni), nodeCount: new Float64Array(ni),
    leafValue: Float64Array.from({ length: leaves }, () => rng.normal()), leafCount: new Float64Array(leaves),
  };
  // grow by splitting a random open leaf slot; slots hold child references still to be assigned
  const open: { node: number; side: 0 | 1 }[] = [];
  let nextLeaf = 0;
  for (let k = 0; k < ni; k++) {
    t.feature[k] = rng.int(F);
    t.threshold[k] = rng.next() < 0.05 ? Infinity : rng.normal();
    t.defaultLeft[k] = rng.int(2);
    if (k > 0) {
      const s = open.splice(rng.int(open.length), 1)[0];
      if (s.side === 0) t.left[s.node] = k;
      else t.right[s.node] = k;
    }
    open.push({ node: k, side: 0 }, { node: k, side: 1 });
  }
  for (const s of open) {
    if (s.side === 0) t.left[s.node] = ~nextLeaf++;
    else t.right[s.node] = ~nextLeaf++;
  }
  if (ni === 0) nextLeaf = 1;
  assert.equal(nextLeaf, leaves);
  return t;
}

test('the flat batch predictor equals the recursive reference (Float32 and Float64 rows, NaN, tree limits)', () => {
  const rng = new Rng(11);
  const F = 7;
  const trees = Array.from({ length: 40 }, (_, i) => randomTree(rng, i % 9 === 0 ? 1 : 2 + rng.int(40), F));
  const forest = new FlatForest(trees, F, 0.25);
  const objs = trees.map(treeToObject);
  const n = 700; // more than one row block
  const x64 = new Float64Array(n * F);
  for (let i = 0; i < x64.length; i++) {
    const u = rng.next();
    // NaN, exact threshold hits (< semantics) and ordinary values
    x64[i] = u < 0.1 ? NaN : u < 0.2 ? trees[rng.int(40)].threshold[0] ?? 0 : rng.normal();
  }
  const x32 = Float32Array.from(x64);
  // the same rows without NaN take the kernel without the missing-value term
  const x32clean = x32.map((v) => (Number.isNaN(v) ? 0.5 : v));
  // NaN in a few rows only (as in ranker rows): clean and NaN rows walk separately and must land in place
  const x32rare = x32clean.map((v, i) => (Math.floor(i / F) % 37 === 5 && i % F === 3 ? NaN : v));
  for (const x of [x64, x32, x32clean, x32rare]) {
    const out = new Float64Array(n);
    forest.predictRaw(x, n, out);
    const lim = new Float64Array(n);
    forest.predictRaw(x, n, lim, 13);
    for (let r = 0; r < n; r++) {
      const row = x.subarray(r * F, (r + 1) * F);
      let s = 0.25;
      let s13 = 0.25;
      objs.forEach((o, k) => {
        const v = predictNodeRef(o, row);
        s += v;
        if (k < 13) s13 += v;
      });
      assert.ok(Math.abs(out[r] - s) < 1e-12, `row ${r}: ${out[r]} vs ${s}`);
      assert.ok(Math.abs(lim[r] - s13) < 1e-12);
    }
  }
  assert.throws(() => forest.predictRaw(x64, n + 1, new Float64Array(n + 1)), /need nRows\*nFeatures/);
  assert.throws(() => forest.predictRaw(x64, n, new Float64Array(3)), /out has length 3/);
});

test('the WebAssembly walk gives the TypeScript walk\'s doubles bit for bit (NaN in some rows, tree limits, more rows than one staging block)', (t) => {
  const rng = new Rng(21);
  const F = 9;
  const trees = Array.from({ length: 60 }, (_, i) => randomTree(rng, i % 11 === 0 ? 1 : 2 + rng.int(63), F));
  const fast = new FlatForest(trees, F, -0.7);
  if (!fast.usesKernel) {
    t.skip('the WebAssembly kernels are not built (npm run build:wasm) or TANDEM_KERNELS=js');
    return;
  }
  const ref = new FlatForest(trees, F, -0.7, 'js');
  assert.equal(ref.usesKernel, false);
  for (const n of [1, 3, 500, 2500]) {
    const x = new Float32Array(n * F);
    for (let i = 0; i < x.length; i++) {
      const u = rng.next();
      x[i] = u < 0.03 ? NaN : u < 0.1 ? trees[rng.int(60)].threshold[0] ?? 0 : rng.normal();
    }
    for (const lim of [undefined, 17, 0]) {
      const a = new Float64Array(n + 2).fill(9);
      const b = new Float64Array(n + 2).fill(9);
      fast.predictRaw(x, n, a, lim);
      ref.predictRaw(x, n, b, lim);
      for (let r = 0; r < n + 2; r++) if (!Object.is(a[r], b[r])) assert.fail(`n=${n}, treeLimit ${lim}: row ${r} is ${a[r]}, the TypeScript walk gives ${b[r]}`);
    }
  }
});

test('flat contributions equal the model\'s contributions over the tree objects, bit for bit (NaN, Float32 and Float64 rows)', () => {
  const rng = new Rng(5);
  const F = 6;
  const trees = Array.from({ length: 30 }, (_, i) => randomTree(rng, i % 7 === 0 ? 1 : 2 + rng.int(30), F));
  for (const t of trees) for (let k = 0; k < t.nodeValue.length; k++) t.nodeValue[k] = rng.normal();
  const model = new GbdtModel({ objective: 'binary', nFeatures: F, baseScore: -0.3, trees });
  const n = 200;
  const x64 = Float64Array.from({ length: n * F }, () => (rng.next() < 0.15 ? NaN : rng.normal()));
  const x32 = Float32Array.from(x64);
  const want = new Float64Array(F + 1);
  const got = new Float64Array(F + 2).fill(7); // longer than needed: the extra cell stays
  for (const x of [x64, x32]) {
    for (let r = 0; r < n; r++) {
      model.contributions(x.subarray(r * F, (r + 1) * F), want);
      model.forest.contributions(x, r * F, got);
      assert.deepEqual(Array.from(got.subarray(0, F + 1)), Array.from(want), `row ${r}`);
      assert.equal(got[F + 1], 7);
    }
  }
  assert.throws(() => model.forest.contributions(x64, 0, new Float64Array(F)), /need 7/);
});

test('ceilFloat32: for every float32 v, v < t exactly when v < ceilFloat32(t)', () => {
  const rng = new Rng(12);
  const b = new Float32Array(1);
  const u = new Int32Array(b.buffer);
  for (let i = 0; i < 2000; i++) {
    const t = i % 10 === 0 ? Math.fround(rng.normal()) : rng.normal() * 10 ** (rng.int(12) - 6);
    const c = ceilFloat32(t);
    assert.equal(Math.fround(c), c);
    assert.ok(c >= t);
    // the float32 neighbours of t: the ones where the comparison could differ
    b[0] = Math.fround(t);
    for (let k = -2; k <= 2; k++) {
      const w = new Float32Array(1);
      new Int32Array(w.buffer)[0] = u[0] + k;
      const v = w[0];
      assert.equal(v < t, v < c, `t=${t} v=${v}`);
    }
  }
  assert.equal(ceilFloat32(Infinity), Infinity);
  assert.equal(ceilFloat32(0), 0);
});
