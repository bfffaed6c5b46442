// The DCN's scoring kernels against plain loops: packed dense layers with the bias, ReLU or cross-layer
// store fused (odd row and column counts: the edge tiles), plain and fused multiply-add builds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWasmBackend } from './backend.ts';
import { Rng } from '../rng.ts';

/** The plain reference: U = X W^T + b, then mode 0 U, mode 1 max(U, 0), mode 2 X0 ⊙ U + X. */
function denseRef(mode: number, B: number, nin: number, nout: number, X: Float32Array, ldx: number, W: Float32Array, b: Float32Array, X0: Float32Array | null): Float64Array {
  const Y = new Float64Array(B * nout);
  for (let r = 0; r < B; r++) {
    for (let j = 0; j < nout; j++) {
      let u = b[j];
      for (let p = 0; p < nin; p++) u += X[r * ldx + p] * W[j * nin + p];
      Y[r * nout + j] = mode === 1 ? (u < 0 ? 0 : u) : mode === 2 ? X0![r * ldx + j] * u + X[r * ldx + j] : u;
    }
  }
  return Y;
}

for (const fma of [false, true]) {
  const be = createWasmBackend({ fma });
  const k = be.dcn;

  for (const [B, nin, nout, mode] of [
    [1, 3, 5, 0],
    [7, 13, 13, 2],
    [130, 75, 75, 2],
    [67, 75, 21, 1],
    [9, 256, 128, 1],
    [4, 8, 8, 0],
  ] as const) {
    test(`${be.name}: dense mode ${mode}, ${B} x ${nin} -> ${nout}, vs the plain loops`, () => {
      const rng = new Rng(B * 31 + nin);
      const ldx = nin + 3;
      const fill = (a: Float32Array) => {
        for (let i = 0; i < a.length; i++) a[i] = rng.normal();
        return a;
      };
      const X = fill(be.alloc(B * ldx));
      const X0 = fill(be.alloc(B * ldx));
      const W = fill(be.alloc(nout * nin));
      const b = fill(be.alloc(nout));
      const packed = be.alloc(k.packedSize(nout, nin));
      k.pack(W, b, nout, nin, packed);
      const ldy = nout + 2;
      const Y = be.alloc(B * ldy).fill(7);
      k.dense(mode, B, nin, nout, X, ldx, packed, Y, ldy, mode === 2 ? X0 : null);
      const want = denseRef(mode, B, nin, nout, X, ldx, W, b, X0);
      for (let r = 0; r < B; r++) {
        for (let j = 0; j < nout; j++) {
          const g = Y[r * ldy + j];
          const w = want[r * nout + j];
          assert.ok(Math.abs(g - w) < 1e-4 * (1 + Math.abs(w)) * Math.sqrt(nin), `row ${r} col ${j}: ${g} vs ${w}`);
        }
        for (let j = nout; j < ldy; j++) assert.equal(Y[r * ldy + j], 7, 'nothing written past the row');
      }
      if (mode === 1) assert.ok(Array.from(want).some((v) => v === 0), 'some ReLU outputs are 0');
    });
  }

  test(`${be.name}: dense refuses arrays outside the kernel memory and a cross layer without x0`, () => {
    const packed = be.alloc(k.packedSize(4, 4));
    assert.throws(() => k.dense(0, 2, 4, 4, new Float32Array(8), 4, packed, be.alloc(8), 4, null), /not in the kernel memory/);
    assert.throws(() => k.dense(2, 2, 4, 4, be.alloc(8), 4, packed, be.alloc(8), 4, null), /needs nout = nin and X0/);
  });
}
