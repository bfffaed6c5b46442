// Central-difference gradient checks of the DCN's ops and of the whole net, in float64: the ops run on
// Float64Arrays through the reference gemm (which computes in doubles), so the checks are tight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gemmRef, Rng } from '../../math/index.ts';
import { crossBackward, crossForward, DcnNet, headBackward, headForward, initDcnParams, logLossGrad, softmaxGroupGrad, type DcnShape, type NetKernels } from './net.ts';
import { checkGradient, f64, rand } from '../../math/gradcheck.fixture.ts';
import { gatherPooled } from './scorer.ts';

const K64: NetKernels = { gemm: gemmRef, alloc: f64, allocInt32: (n) => new Int32Array(n), fast: null };



test('cross layer: gradients of x0, x_l, W and b through x0 ⊙ (W x_l + b) + x_l', () => {
  const rng = new Rng(11);
  const [B, d] = [3, 4];
  const X0 = rand(rng, B * d);
  const Xl = rand(rng, B * d);
  const W = rand(rng, d * d);
  const b = rand(rng, d);
  const R = rand(rng, B * d); // loss = sum R * X_{l+1}
  const U = f64(B * d);
  const Xn = f64(B * d);
  const f = () => {
    crossForward(gemmRef, B, d, X0, Xl, W, b, U, Xn);
    let s = 0;
    for (let i = 0; i < Xn.length; i++) s += R[i] * Xn[i];
    return s;
  };
  f();
  const dU = f64(B * d);
  const dW = f64(d * d);
  const db = f64(d);
  const dXl = f64(B * d);
  const dX0 = f64(B * d);
  crossBackward(gemmRef, B, d, X0, Xl, W, U, R, dU, dW, db, dXl, dX0);
  checkGradient(X0, f, dX0, 'dX0');
  checkGradient(Xl, f, dXl, 'dXl');
  checkGradient(W, f, dW, 'dW');
  checkGradient(b, f, db, 'db');
});

test('head: gradients of both inputs, both weight vectors and the bias', () => {
  const rng = new Rng(12);
  const [B, dc, dh] = [3, 4, 2];
  const C = rand(rng, B * dc);
  const Hd = rand(rng, B * dh);
  const wc = rand(rng, dc);
  const wd = rand(rng, dh);
  const bias = f64(1);
  bias[0] = 0.3;
  const g = rand(rng, B); // loss = sum g * logit
  const z = new Float64Array(B);
  const f = () => {
    headForward(B, dc, C, dh, Hd, wc, wd, bias[0], z);
    return z.reduce((s, v, r) => s + g[r] * v, 0);
  };
  const [dwc, dwd, dbias, dC, dH] = [f64(dc), f64(dh), f64(1), f64(B * dc), f64(B * dh)];
  headBackward(B, dc, C, dh, Hd, wc, wd, g, dwc, dwd, dbias, dC, dH);
  checkGradient(C, f, dC, 'dC');
  checkGradient(Hd, f, dH, 'dH');
  checkGradient(wc, f, dwc, 'dwc');
  checkGradient(wd, f, dwd, 'dwd');
  checkGradient(bias, f, dbias, 'dbias');
});

test('log loss: gradient of the mean binary log loss in the logits, finite at large margins', () => {
  const z = Float64Array.of(-3, 0.2, 5, 40, -40);
  const y = Float64Array.of(0, 1, 1, 0, 1);
  const dz = new Float64Array(5);
  logLossGrad(5, z, y, dz);
  const zz = z as unknown as Float32Array;
  checkGradient(zz, () => logLossGrad(5, z, y, new Float64Array(5)), dz, 'dz', [0, 1, 2]);
  // margins of ±40 stay finite: softplus taken on the stable side
  const l = logLossGrad(5, z, y, dz);
  assert.ok(Number.isFinite(l) && l > 0);
  assert.ok(Math.abs(dz[3] - 1 / 5) < 1e-12 && Math.abs(dz[4] + 1 / 5) < 1e-12);
});

test('listwise softmax loss: gradient over groups; a group without a positive gets none', () => {
  const z = Float64Array.of(0.5, -1, 2, 0.3, 1, -0.2, 0.7);
  const y = Float64Array.of(1, 0, 1, 0, 0, 0, 1);
  const segs = Int32Array.of(0, 3, 5, 7); // groups [0,3) with 2 positives, [3,5) none, [5,7) one
  const dz = new Float64Array(7);
  softmaxGroupGrad(z, y, segs, 3, dz);
  checkGradient(z as unknown as Float32Array, () => softmaxGroupGrad(z, y, segs, 3, new Float64Array(7)), dz, 'dz');
  assert.equal(dz[3], 0);
  assert.equal(dz[4], 0);
});

/** A small net in float64 with every kind of input, random weights (biases too) and random x0. */
function smallNet(shape: DcnShape, B: number, seed: number) {
  const rng = new Rng(seed);
  const net = new DcnNet(shape, K64, B);
  const L = net.layout;
  const params = f64(L.total);
  initDcnParams(L, shape.embedDim, params, rng);
  // non-zero biases and larger embeddings so every path carries gradient
  for (let i = 0; i < L.total; i++) if (params[i] === 0) params[i] = 0.1 * rng.normal();
  for (const t of L.tables) for (let i = 0; i < t.length; i++) params[t.offset + i] = 0.5 * rng.normal();
  const x0 = rand(rng, B * L.d0);
  // every slot's code: valid ones, a repeated one, and (in bags) -1 and vocab (no code): some rows' bags
  // have no valid code and read the extra row
  const slotVocab = net.inputs.flatMap((i) => Array.from({ length: i.slots }, () => shape.vocab[i.table]));
  const S = net.slots;
  for (let r = 0; r < B; r++) {
    for (let t = 0; t < S; t++) net.codes[r * S + t] = shape.inputs ? ((r * 3 + t * 2) % (slotVocab[t] + 2)) - 1 : (r + t) % (slotVocab[t] + 1);
  }
  const labels = Float64Array.from({ length: B }, (_, r) => r % 2);
  const loss = () => {
    net.x0.set(x0);
    net.gatherEmbeddings(params, B);
    const z = net.forward(params, B);
    return logLossGrad(B, z, labels, new Float64Array(B));
  };
  return { net, params, x0, labels, loss, L };
}

for (const [name, shape] of [
  ['cross layers and MLP', { numeric: 3, missing: 1, vocab: [3, 2], embedDim: 2, cross: 2, hidden: [5, 3] }],
  ['cross layers only', { numeric: 3, missing: 1, vocab: [2], embedDim: 2, cross: 3, hidden: [] }],
  ['MLP only', { numeric: 2, missing: 0, vocab: [2], embedDim: 3, cross: 0, hidden: [4] }],
  // id_user and id_item beside a small code: large tables a batch touches a few rows of
  ['id tables', { numeric: 2, missing: 1, vocab: [3, 40, 60], embedDim: 4, cross: 1, hidden: [4] }],
  // bags: averaged slots, two inputs sharing a table (the item's tags and the user's), a single slot
  ['bags', { numeric: 2, missing: 1, vocab: [3, 5, 4], inputs: [{ table: 0, slots: 1 }, { table: 1, slots: 3 }, { table: 1, slots: 2 }, { table: 2, slots: 4 }], embedDim: 2, cross: 2, hidden: [3] }],
] as [string, DcnShape][]) {
  test(`whole net (${name}): every parameter's gradient, embedding rows (sparse) and the input gradient`, () => {
    const B = 4;
    const { net, params, x0, labels, loss, L } = smallNet(shape, B, 13);
    loss();
    logLossGrad(B, net.logits, labels, net.dz);
    const grad = f64(L.total);
    for (const g of net.rowGrads) g.clear();
    net.backward(params, B, grad);
    const dX0 = Float64Array.from(net.dX0.subarray(0, B * L.d0));
    // dense part
    const dense = Array.from({ length: L.total - L.denseStart }, (_, k) => L.denseStart + k);
    checkGradient(params, loss, grad, 'dense', dense);
    // embedding tables: the sparse row gradients, and 0 for rows no example touched
    const full = new Float64Array(L.total);
    net.rowGrads.forEach((g, t) => {
      for (let s = 0; s < g.n; s++) for (let j = 0; j < shape.embedDim; j++) full[L.tables[t].offset + g.rows[s] * shape.embedDim + j] = g.grads[s * shape.embedDim + j];
    });
    checkGradient(params, loss, full, 'tables', Array.from({ length: L.denseStart }, (_, k) => k));
    // the input gradient (numeric and missing columns: the embedding columns are overwritten by the gather)
    const numericCols: number[] = [];
    for (let r = 0; r < B; r++) for (let j = 0; j < L.embedCol; j++) numericCols.push(r * L.d0 + j);
    checkGradient(x0, loss, dX0, 'dX0', numericCols);
    // the attributions' backward (no weight gradients) leaves the same input gradient, bit for bit
    loss();
    logLossGrad(B, net.logits, labels, net.dz);
    net.backward(params, B, null, false);
    assert.deepEqual(Array.from(net.dX0.subarray(0, B * L.d0)), Array.from(dX0), 'dX0 without weight gradients');
  });
}

test('gatherPooled (the scoring pass): each input the mean of its valid codes\' rows (none valid: the extra row), the same when a row repeats the previous row\'s codes, bit for bit the plain pass\'s poolForward', () => {
  const e = 3;
  const vocab = [4, 6];
  const inputs = [{ table: 0, slots: 1 }, { table: 1, slots: 3 }, { table: 1, slots: 2 }];
  const tables = [{ offset: 0, length: 5 * e }, { offset: 5 * e, length: 7 * e }];
  const rng = new Rng(5);
  const params = Float32Array.from({ length: 12 * e }, () => rng.normal());
  // rows 1 and 2 repeat row 0's user bag (inputs 1, 2 in part); row 3 has no valid code in input 2
  const codes = Int32Array.of(0, 1, 2, 6, 3, 3, 4, 1, 2, 6, 3, 3, 9, 1, 2, 6, 3, 3, 2, 5, 5, -1, 6, -1);
  const B = 4;
  const d0 = 2 + inputs.length * e;
  const x0 = new Float32Array(B * d0);
  gatherPooled(params, tables, vocab, inputs, e, codes, B, x0, d0, 2);
  let slot = 0;
  for (let r = 0; r < B; r++) {
    inputs.forEach((input, t) => {
      const V = vocab[input.table];
      const valid = Array.from(codes.subarray(slot, slot + input.slots)).filter((c) => c >= 0 && c < V);
      slot += input.slots;
      for (let j = 0; j < e; j++) {
        const rows = valid.length > 0 ? valid : [V];
        const want = rows.reduce((s, c) => s + params[tables[input.table].offset + c * e + j], 0) / rows.length;
        assert.ok(Math.abs(x0[r * d0 + 2 + t * e + j] - want) < 1e-6, `row ${r} input ${t} dim ${j}`);
      }
    });
  }
  // the plain pass (DcnNet, through the two-tower's poolForward) on the same tables and codes
  const net = new DcnNet({ numeric: 2, missing: 0, vocab, inputs, embedDim: e, cross: 0, hidden: [] }, { gemm: gemmRef, alloc: (n) => new Float32Array(n), fast: null }, B);
  assert.deepEqual(net.layout.tables.map((s) => s.offset), tables.map((s) => s.offset));
  const all = new Float32Array(net.layout.total);
  all.set(params);
  net.codes.set(codes);
  net.gatherEmbeddings(all, B);
  for (let r = 0; r < B; r++) assert.deepEqual(net.x0.subarray(r * d0 + 2, (r + 1) * d0), x0.subarray(r * d0 + 2, (r + 1) * d0), `row ${r}`);
});
