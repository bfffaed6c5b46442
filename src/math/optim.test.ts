import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Optimizer, optimizerStateSize, lrMultiplier } from './optim.ts';
import { Rng } from './rng.ts';

// Plain float64 Adam, textbook form (explicit bias-corrected moments), as the reference.
function adamRef(p: Float64Array, g: Float64Array, steps: number, lr: number, l2: number): Float64Array {
  const w = Float64Array.from(p);
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  for (let t = 1; t <= steps; t++) {
    for (let i = 0; i < w.length; i++) {
      const gi = g[i] * t + l2 * w[i]; // a gradient that changes with t
      m[i] = 0.9 * m[i] + 0.1 * gi;
      v[i] = 0.999 * v[i] + 0.001 * gi * gi;
      const mh = m[i] / (1 - 0.9 ** t);
      const vh = v[i] / (1 - 0.999 ** t);
      w[i] -= (lr * mh) / (Math.sqrt(vh) + 1e-8 / Math.sqrt(1 - 0.999 ** t));
    }
  }
  return w;
}

test('Adam dense update matches the textbook float64 reference', () => {
  const rng = new Rng(3);
  const n = 17;
  const p0 = Float64Array.from({ length: n }, () => rng.normal());
  const g = Float64Array.from({ length: n }, () => rng.normal());
  const params = Float32Array.from(p0);
  const opt = new Optimizer({ kind: 'adam', lr: 0.01, l2: 0.1 }, params, new Float32Array(optimizerStateSize('adam', n)));
  const gt = new Float32Array(n);
  for (let t = 1; t <= 5; t++) {
    for (let i = 0; i < n; i++) gt[i] = g[i] * t;
    opt.beginStep();
    opt.updateDense(0, n, gt, 0);
  }
  const ref = adamRef(p0, g, 5, 0.01, 0.1);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(params[i] - ref[i]) < 1e-5, `param ${i}: ${params[i]} vs ${ref[i]}`);
});

test('first Adam step moves every parameter by lr against its gradient sign', () => {
  const params = new Float32Array([1, -2, 3]);
  const opt = new Optimizer({ kind: 'adam', lr: 0.1 }, params, new Float32Array(6));
  opt.beginStep();
  opt.updateDense(0, 3, new Float32Array([0.5, -3, 1e-3]), 0);
  assert.deepEqual(Array.from(params, (x) => Math.round(x * 1e4) / 1e4), [0.9, -1.9, 2.9]);
});

for (const kind of ['adam', 'adagrad'] as const) {
  test(`${kind}: lazy row update equals the dense update on touched rows and leaves other rows alone`, () => {
    const rng = new Rng(9);
    const rows = 6;
    const dim = 4;
    const base = 3; // the table sits after 3 other parameters
    const n = base + rows * dim;
    const init = Float32Array.from({ length: n }, () => rng.normal());
    const a = Float32Array.from(init);
    const b = Float32Array.from(init);
    const oa = new Optimizer({ kind, lr: 0.05, l2: 0.01 }, a, new Float32Array(optimizerStateSize(kind, n)));
    const ob = new Optimizer({ kind, lr: 0.05, l2: 0.01 }, b, new Float32Array(optimizerStateSize(kind, n)));
    const touched = new Int32Array([4, 1]);
    const grads = Float32Array.from({ length: 2 * dim }, () => rng.normal());
    const dense = new Float32Array(n - base);
    dense.set(grads.subarray(0, dim), 4 * dim);
    dense.set(grads.subarray(dim, 2 * dim), 1 * dim);
    oa.beginStep();
    oa.updateRows(base, dim, touched, 2, grads);
    ob.beginStep();
    for (const r of [4, 1]) {
      ob.updateDense(base + r * dim, dim, dense, r * dim);
    }
    for (let i = 0; i < n; i++) {
      const row = i < base ? -1 : Math.floor((i - base) / dim);
      if (row === 4 || row === 1) assert.ok(Math.abs(a[i] - b[i]) < 1e-7, `param ${i}`);
      else assert.equal(a[i], init[i], `untouched param ${i} moved`);
    }
  });

  test(`${kind}: minimises a quadratic whose gradient is checked by central differences`, () => {
    const c = [1.5, -0.5, 2];
    const f = (w: ArrayLike<number>) => 0.5 * ((w[0] - c[0]) ** 2 + 3 * (w[1] - c[1]) ** 2 + 0.1 * (w[2] - c[2]) ** 2);
    const grad = (w: ArrayLike<number>) => [w[0] - c[0], 3 * (w[1] - c[1]), 0.1 * (w[2] - c[2])];
    const w0 = [0.3, 0.2, -0.7];
    const h = 1e-6;
    const g0 = grad(w0);
    for (let i = 0; i < 3; i++) {
      const wp = w0.slice();
      const wm = w0.slice();
      wp[i] += h;
      wm[i] -= h;
      assert.ok(Math.abs((f(wp) - f(wm)) / (2 * h) - g0[i]) < 1e-6);
    }
    const w = Float32Array.from(w0);
    const opt = new Optimizer({ kind, lr: kind === 'adam' ? 0.05 : 0.5 }, w, new Float32Array(optimizerStateSize(kind, 3)));
    const before = f(w);
    for (let t = 0; t < 2000; t++) {
      opt.beginStep();
      opt.updateDense(0, 3, Float32Array.from(grad(w)), 0);
    }
    assert.ok(f(w) < before * 1e-3, `loss ${f(w)} from ${before}`);
  });
}

test('optimizer rejects a state array that is too short', () => {
  assert.throws(() => new Optimizer({ kind: 'adam', lr: 1 }, new Float32Array(4), new Float32Array(4)), /adam needs 8/);
});

test('lrMultiplier: warm-up then cosine and linear decay to the floor', () => {
  assert.equal(lrMultiplier('constant', 50, 100), 1);
  assert.equal(lrMultiplier('cosine', 0, 100, 10), 0.1);
  assert.equal(lrMultiplier('cosine', 10, 110, 10), 1);
  assert.ok(Math.abs(lrMultiplier('cosine', 110, 110, 10, 0.1) - 0.1) < 1e-12);
  assert.ok(Math.abs(lrMultiplier('linear', 60, 110, 10, 0) - 0.5) < 1e-12);
});
