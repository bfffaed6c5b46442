import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, symmetricEigen } from './index.ts';

test('symmetricEigen: a 2x2 by hand', () => {
  const { values, vectors } = symmetricEigen(Float64Array.of(2, 1, 1, 2), 2);
  assert.ok(Math.abs(values[0] - 3) < 1e-12 && Math.abs(values[1] - 1) < 1e-12);
  assert.ok(Math.abs(vectors[0] - Math.SQRT1_2) < 1e-12 && Math.abs(vectors[1] - Math.SQRT1_2) < 1e-12);
});

test('symmetricEigen: A = V diag(values) Vᵀ, V orthonormal, values descending, on random covariances', () => {
  const rng = new Rng(5);
  for (const n of [1, 3, 16, 64]) {
    // a covariance of 3n random points (rank-deficient for small samples is fine too)
    const m = 3 * n;
    const x = Float64Array.from({ length: m * n }, () => rng.normal() * (1 + rng.next()));
    const a = new Float64Array(n * n);
    for (let r = 0; r < m; r++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] += (x[r * n + i] * x[r * n + j]) / m;
    const { values, vectors } = symmetricEigen(a, n);
    let scale = 0;
    for (const v of a) scale = Math.max(scale, Math.abs(v));
    for (let k = 1; k < n; k++) assert.ok(values[k - 1] >= values[k]);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let rec = 0;
        let dot = 0;
        for (let k = 0; k < n; k++) {
          rec += values[k] * vectors[k * n + i] * vectors[k * n + j];
          dot += vectors[i * n + k] * vectors[j * n + k];
        }
        assert.ok(Math.abs(rec - a[i * n + j]) < 1e-9 * scale, `n ${n}: A[${i}][${j}] ${a[i * n + j]} rebuilt as ${rec}`);
        assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-10, `n ${n}: v${i}.v${j} = ${dot}`);
      }
    }
    // each vector's largest component is positive
    for (let k = 0; k < n; k++) {
      let big = 0;
      for (let i = 0; i < n; i++) if (Math.abs(vectors[k * n + i]) > Math.abs(big)) big = vectors[k * n + i];
      assert.ok(big > 0);
    }
  }
});
