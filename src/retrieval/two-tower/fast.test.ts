// The two-tower's fast path (the backend's WebAssembly training kernels) held to its plain reference:
// the softmax loss, the pooling forward and backward, and a whole training step, on the same inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWasmBackend, Rng, type WasmKernelBackend } from '../../math/index.ts';
import { FeatureSpace, TowerBatch } from '../../features/index.ts';
import { poolBackward, poolBackwardFast, poolForward, RowGrad } from '../../math/index.ts';
import { softmaxLoss, softmaxLossFast } from './loss.ts';
import { initParams, StepScratch, TwoTowerNet, type StepLoss } from './model.ts';
import { tinyDataset } from './test-fixture.ts';

const be: WasmKernelBackend = createWasmBackend({ fma: false });
const k = be.train;
const i32 = (n: number) => k.allocInt32(n);

/** |a - b| <= abs + rel |b| elementwise over n values. */
function near(a: ArrayLike<number>, b: ArrayLike<number>, n: number, abs: number, rel: number, what: string): void {
  for (let i = 0; i < n; i++) assert.ok(Math.abs(a[i] - b[i]) <= abs + rel * Math.abs(b[i]), `${what}[${i}]: fast ${a[i]} vs reference ${b[i]}`);
}

test('softmax loss: kernel vs reference (log-Q, masked duplicates, negative feedback, C not a multiple of 4)', () => {
  const rng = new Rng(3);
  for (const [B, C, withLogQ] of [[8, 8, true], [7, 13, true], [16, 19, false], [1, 1, false], [64, 67, true]] as const) {
    const S = be.alloc(B * C);
    for (let i = 0; i < S.length; i++) S[i] = rng.normal() * 0.6;
    const colItem = i32(C);
    for (let j = 0; j < C; j++) colItem[j] = rng.int(Math.max(2, C >> 1)); // many duplicates
    const w = be.alloc(B);
    for (let i = 0; i < B; i++) w[i] = i % 5 === 3 ? -1.5 : 0.5 + rng.next();
    const logQ = withLogQ ? be.alloc(C) : null;
    if (logQ) for (let j = 0; j < C; j++) logQ[j] = -2 - 3 * rng.next();
    const dRef = new Float32Array(B * C);
    const dFast = be.alloc(B * C);
    dFast.fill(NaN); // every entry must be written
    const ref = softmaxLoss(B, C, S, 0.05, logQ, colItem, w, dRef);
    const fast = softmaxLossFast(k, B, C, S, 0.05, logQ, colItem, w, dFast);
    assert.ok(Math.abs(fast - ref) <= 1e-5 * Math.abs(ref) + 1e-6, `loss ${fast} vs ${ref} (B ${B}, C ${C})`);
    // gradients are w (p - [j = i]) / (tau B): compare at that scale
    let scale = 0;
    for (let i = 0; i < B; i++) scale = Math.max(scale, Math.abs(w[i]) / (0.05 * B));
    near(dFast, dRef, B * C, 1e-5 * scale, 1e-5, `dS (B ${B}, C ${C})`);
    for (let i = 0; i < B; i++) for (let j = 0; j < C; j++) if (j !== i && colItem[j] === colItem[i]) assert.equal(dFast[i * C + j], 0, 'a masked duplicate gets no gradient');
  }
});

test('softmax kernel refuses arrays outside the kernel memory, by name', () => {
  const S = be.alloc(4);
  assert.throws(() => k.softmaxXent(2, 2, S, 1, null, new Int32Array(2), be.alloc(2), 0.5, be.alloc(4)), /softmaxXent: colItem is not in the kernel memory/);
  assert.throws(() => k.softmaxXent(2, 2, S, 1, null, i32(2), be.alloc(2), 0.5, be.alloc(3)), /softmaxXent: dS has 3 elements, needs 4/);
});

for (const dim of [3, 8, 20, 32]) {
  test(`bag pooling, dim ${dim}: kernel gather and scatter vs reference (weighted, signed, repeated, empty bags)`, () => {
    const rng = new Rng(dim);
    const rows = 30;
    const tOff = 5; // the table sits inside a bigger parameter array
    const params = be.alloc(tOff + rows * dim + 7);
    for (let i = 0; i < params.length; i++) params[i] = rng.normal();
    const table = params.subarray(tOff, tOff + rows * dim);
    const B = 9;
    const offsets = i32(B + 1);
    const indices = i32(200);
    const weights = be.alloc(200);
    let n = 0;
    for (let r = 0; r < B; r++) {
      const len = r === 2 ? 0 : r === 5 ? 3 : 1 + rng.int(20);
      for (let e = 0; e < len; e++) {
        indices[n] = r === 7 ? 4 : rng.int(rows); // row 7 repeats one entry
        weights[n] = r === 5 ? 0 : (rng.next() < 0.2 ? -1 : 1) * (0.1 + rng.next()); // row 5: all-zero weights
        n++;
      }
      offsets[r + 1] = n;
    }
    const ldx = dim + 6;
    const xOff = 2;
    const Xr = new Float32Array(B * ldx);
    const Xf = be.alloc(B * ldx);
    poolForward(offsets, indices, weights, B, params, tOff, dim, Xr, ldx, xOff);
    k.bagPool(offsets, indices, weights, B, table, dim, Xf, ldx, xOff);
    near(Xf, Xr, B * ldx, 1e-6, 1e-5, 'X');
    // backward: same touched rows in the same order, same sums
    const dX = be.alloc(B * ldx);
    for (let i = 0; i < dX.length; i++) dX[i] = rng.normal();
    const gr = new RowGrad(rows, dim, 2);
    const gf = new RowGrad(rows, dim, 2, be.alloc, i32); // capacity 2: grows (in kernel memory) on the way
    poolBackward(offsets, indices, weights, B, dim, dX, ldx, xOff, gr);
    poolBackwardFast(k, offsets, indices, weights, B, dim, dX, ldx, xOff, gf, i32(4));
    assert.equal(gf.n, gr.n);
    assert.deepEqual(Array.from(gf.rows.subarray(0, gf.n)), Array.from(gr.rows.subarray(0, gr.n)));
    assert.ok(be.owns(gf.grads), 'grown gradient rows stay in kernel memory');
    near(gf.grads, gr.grads, gr.n * dim, 1e-6, 1e-5, 'row gradients');
    assert.throws(() => k.bagPool(offsets, indices, weights, B, table.subarray(0, dim), dim, Xf, ldx, xOff), /bagPool: table has/);
    const small = new RowGrad(3, dim, 2, be.alloc, i32); // a table of 3 rows: most indices fall outside
    assert.throws(() => poolBackwardFast(k, offsets, indices, weights, B, dim, dX, ldx, xOff, small, i32(4)), /bagSlots: indices\[\d+\] = \d+ is outside the table's 3 rows/);
  });
}

for (const loss of [
  { kind: 'softmax', temperature: 0.2, negatives: 3 },
  { kind: 'bce', temperature: 1, negatives: 2 },
] as StepLoss[]) {
  test(`whole training step (${loss.kind}): fast kernels vs the reference path, same loss, gradients and touched rows`, () => {
    const ds = tinyDataset();
    const fs = FeatureSpace.fit(ds, { dim: 8, historyLength: 4, recencyDecay: 0.8, numericBuckets: 3, shareItemEmbeddings: true });
    const net = new TwoTowerNet(fs, [12], 8, true);
    const params = be.alloc(net.layout.total);
    initParams(net.layout, params, new Rng(7), 0.5);
    const B = 4;
    const C = loss.kind === 'softmax' ? B + loss.negatives : B * (1 + loss.negatives);
    const bagAlloc = { f32: be.alloc, i32 };
    const ub = new TowerBatch(fs.user, B, bagAlloc);
    const ib = new TowerBatch(fs.item, C, bagAlloc);
    const hist = new Int32Array([3, 5, 7, 3, 9]);
    const hw = new Float32Array([1, 3, -1, 1, 1]);
    fs.appendUser(ub, 0, hist, hw, 0, 5);
    fs.appendUser(ub, 1, hist, hw, 1, 3);
    fs.appendUser(ub, 2, hist, hw, 0, 0);
    fs.appendUser(ub, -1, hist, hw, 2, 5);
    const colItem = i32(C);
    for (let c = 0; c < C; c++) {
      colItem[c] = (c * 3) % fs.numItems;
      fs.appendItem(ib, colItem[c], c === 1);
    }
    colItem[2] = colItem[0];
    const w = be.alloc(B);
    w.set([1, 2, -1, 0.5]);
    const logQ = loss.kind === 'softmax' ? be.alloc(C) : null;
    if (logQ) for (let c = 0; c < C; c++) logQ[c] = -1 - c * 0.1;
    const ref = new StepScratch(net, B, loss, be.alloc);
    const fast = new StepScratch(net, B, loss, be.alloc, k);
    const lr = net.step(be.gemm, params, ub, ib, colItem, w, logQ, loss, ref);
    const lf = net.step(be.gemm, params, ub, ib, colItem, w, logQ, loss, fast);
    assert.ok(Math.abs(lf - lr) <= 1e-5 * Math.abs(lr), `loss ${lf} vs ${lr}`);
    let scale = 0;
    for (const v of ref.grad) scale = Math.max(scale, Math.abs(v));
    near(fast.grad, ref.grad, ref.grad.length, 1e-5 * scale, 1e-4, 'dense gradient');
    for (let t = 0; t < net.layout.tables.length; t++) {
      const a = fast.rowGrads[t];
      const b = ref.rowGrads[t];
      assert.deepEqual(Array.from(a.rows.subarray(0, a.n)), Array.from(b.rows.subarray(0, b.n)), `${fs.tables[t].name}: touched rows`);
      near(a.grads, b.grads, b.n * fs.tables[t].dim, 1e-5 * scale, 1e-4, `${fs.tables[t].name} gradient`);
    }
  });
}
