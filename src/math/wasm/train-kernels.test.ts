// The WebAssembly training kernels that have their reference in the math layer: exp against
// Math.exp, Adam (dense and lazy rows) against the Optimizer's plain loops, the moving average.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWasmBackend } from './backend.ts';
import { Optimizer } from '../optim.ts';
import { Rng } from '../rng.ts';

for (const fma of [false, true]) {
  const be = createWasmBackend({ fma });
  const k = be.train;
  const name = be.name;

  test(`${name}: exp vs Math.exp within 1e-6 relative over [-87, 88], 0 below the normal range`, () => {
    const n = 20003; // not a multiple of 4: the scalar tail runs too
    const x = be.alloc(n);
    const rng = new Rng(1);
    for (let i = 0; i < n; i++) x[i] = i < 2000 ? -1 + (2 * i) / 2000 : -87 + 175 * rng.next();
    x[5] = 0;
    x[n - 1] = 88.3;
    const y = be.alloc(n);
    k.expArray(x, y, n);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const want = Math.exp(x[i]);
      worst = Math.max(worst, Math.abs(y[i] - want) / want);
    }
    assert.ok(worst < 1e-6, `worst relative error ${worst}`);
    assert.equal(y[5], 1);
    const z = be.alloc(6);
    z.set([-Infinity, -88, -1000, -87.4, NaN, 0]);
    k.expArray(z, z, 6);
    assert.deepEqual(Array.from(z.subarray(0, 4)), [0, 0, 0, 0]);
    assert.equal(z[5], 1);
  });

  test(`${name}: Adam, dense and lazy rows, vs the Optimizer's plain loops`, () => {
    const n = 4 * 10 + 3; // rows of dim 10 plus a tail; dim not a multiple of 4
    const rng = new Rng(2);
    const pa = be.alloc(n);
    const sa = be.alloc(2 * n);
    for (let i = 0; i < n; i++) pa[i] = rng.normal();
    const pb = Float32Array.from(pa);
    const sb = new Float32Array(2 * n);
    const fast = new Optimizer({ kind: 'adam', lr: 0.01, l2: 0.01 }, pa, sa, true, k);
    const plain = new Optimizer({ kind: 'adam', lr: 0.01, l2: 0.01 }, pb, sb);
    const g = be.alloc(n);
    const rows = k.allocInt32(2);
    rows.set([3, 1]);
    const rg = be.alloc(20);
    for (let step = 0; step < 25; step++) {
      for (let i = 0; i < n; i++) g[i] = rng.normal();
      for (let i = 0; i < 20; i++) rg[i] = rng.normal();
      fast.beginStep();
      plain.beginStep();
      fast.updateDense(40, 3, g, 40);
      plain.updateDense(40, 3, g, 40);
      fast.updateRows(0, 10, rows, 2, rg);
      plain.updateRows(0, 10, rows, 2, rg);
    }
    for (let i = 0; i < n; i++) assert.ok(Math.abs(pa[i] - pb[i]) <= 1e-5 * (1 + Math.abs(pb[i])), `param ${i}: ${pa[i]} vs ${pb[i]}`);
    for (let i = 0; i < 2 * n; i++) assert.ok(Math.abs(sa[i] - sb[i]) <= 1e-5 * (1e-3 + Math.abs(sb[i])), `moment ${i}: ${sa[i]} vs ${sb[i]}`);
    // rows 0 and 2 were never touched: lazily left alone
    for (const r of [0, 2]) for (let j = 0; j < 10; j++) assert.equal(sa[r * 10 + j], 0);
    assert.throws(() => k.adamRows(pa, sa, sa, new Int32Array([0]), 1, 10, rg, 0.1, 0.9, 0.999, 1e-8, 0), /adamRows: rows is not in the kernel memory/);
  });

  test(`${name}: moving average e = d e + (1 - d) p`, () => {
    const n = 13;
    const e = be.alloc(n);
    const p = be.alloc(n);
    for (let i = 0; i < n; i++) {
      e[i] = i;
      p[i] = -2 * i;
    }
    k.emaUpdate(e, p, n, 0.9);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(e[i] - (0.9 * i - 0.1 * 2 * i)) < 1e-5, `e[${i}] = ${e[i]}`);
  });
}

test('allFinite and the index checks (the i32 range kernel): every position, tails, and the first offending index named', () => {
  const be = createWasmBackend();
  const k = be.train;
  for (const n of [0, 1, 3, 4, 7, 33]) {
    const x = be.alloc(n).fill(1.5);
    assert.equal(k.allFinite(x, n), true, `n ${n}`);
    for (let at = 0; at < n; at++) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        x[at] = bad;
        assert.equal(k.allFinite(x, n), false, `${bad} at ${at} of ${n}`);
        x[at] = -2.5;
      }
    }
  }
  // bag and row kernels: a negative index anywhere (vector body or tail) is refused, the first one named
  const n = 11;
  const offsets = k.allocInt32(2);
  offsets.set([0, n]);
  const w = be.alloc(n).fill(1);
  const table = be.alloc(8 * 4);
  const X = be.alloc(4);
  for (const at of [0, 5, 9, 10]) {
    const idx = k.allocInt32(n);
    for (let e = 0; e < n; e++) idx[e] = e % 8;
    idx[at] = -3;
    if (at < n - 1) idx[n - 1] = -7; // a later one too: the first is named
    assert.throws(() => k.bagPool(offsets, idx, w, 1, table, 4, X, 4, 0), new RegExp(`bagPool: indices\\[${at}\\] = -3 is negative`));
    assert.throws(() => k.bagScatter(offsets, w, idx, 1, 4, X, 4, 0, table), new RegExp(`bagScatter: dst\\[${at}\\] = -3 is negative`));
    const slot = k.allocInt32(8);
    assert.throws(() => k.bagSlots(offsets, idx, w, 1, slot, k.allocInt32(16), 0, be.alloc(64), 4, k.allocInt32(n)), new RegExp(`bagSlots: indices\\[${at}\\] = -3 is outside the table's 8 rows`));
    const p = be.alloc(32);
    assert.throws(() => k.adamRows(p, p, p, idx, n, 4, be.alloc(n * 4), 0.1, 0.9, 0.999, 1e-8, 0), new RegExp(`adamRows: rows\\[${at}\\] = -3 is negative`));
  }
  // too large: the table is too short
  const idx = k.allocInt32(n);
  idx[7] = 8;
  assert.throws(() => k.bagPool(offsets, idx, w, 1, table, 4, X, 4, 0), /bagPool: table has 32 elements, needs 36/);
});
