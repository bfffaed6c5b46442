// The training step's flop savers held to the plain step: the deduplicated softmax (the item tower
// once per distinct (item, id dropped) of a batch, the softmax over those columns with each one's
// multiplicity) against one item row per positive, and the first layer per distinct table row of a
// field of few values (FieldProjection) against pooling then multiplying: the same loss and the
// same gradients, within float32 summation order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWasmBackend, getKernelBackend, jsBackend, optimizerStateSize, Rng, type KernelBackend, type WasmKernelBackend } from '../../math/index.ts';
import { FeatureSpace } from '../../features/index.ts';
import { featureOptions, resolveConfig, type TwoTowerConfig } from './config.ts';
import { buildExamples, TrainerCore } from './core.ts';
import { softmaxLoss, softmaxLossFast } from './loss.ts';
import { initParams, TwoTowerNet } from './model.ts';
import { tinyDataset } from './test-fixture.ts';
import { TwoTowerModel } from './two-tower.ts';

const wasm = createWasmBackend();

/** |a - b| <= abs + rel |b| elementwise. */
function near(a: ArrayLike<number>, b: ArrayLike<number>, n: number, abs: number, rel: number, what: string): void {
  for (let i = 0; i < n; i++) assert.ok(Math.abs(a[i] - b[i]) <= abs + rel * Math.abs(b[i]), `${what}[${i}]: dedup ${a[i]} vs plain ${b[i]}`);
}

/**
 * A batch written out (one column per positive, then `extra` shared negatives) and deduplicated:
 * B rows, keys (item, dropped) with repeats, scores T[i][key] so copies of a key score the same.
 */
function batch(seed: number, B: number, extra: number, withLogQ: boolean) {
  const rng = new Rng(seed);
  const keys: number[] = [];
  for (let i = 0; i < B; i++) keys.push(rng.int(Math.max(2, B >> 1)) * 2 + (rng.next() < 0.3 ? 1 : 0)); // item = key >> 1
  for (let k = 0; k < extra; k++) keys.push(-1 - k); // negatives: their own keys
  const itemOf = (key: number) => (key >= 0 ? key >> 1 : rng.int(B >> 1));
  const score = new Map<number, Float32Array>();
  const lq = new Map<number, number>();
  const negItem = new Map<number, number>();
  for (const key of keys) {
    if (!score.has(key)) score.set(key, Float32Array.from({ length: B }, () => rng.normal() * 0.7));
    if (key < 0) negItem.set(key, itemOf(key));
    // log-Q is per item among the positives (every copy of an item the same), per draw for negatives
    const item = key >= 0 ? key >> 1 : negItem.get(key)!;
    const lk = key >= 0 ? item : key;
    if (!lq.has(lk)) lq.set(lk, -2 - 3 * rng.next());
  }
  const item = (key: number) => (key >= 0 ? key >> 1 : negItem.get(key)!);
  const lqOf = (key: number) => lq.get(key >= 0 ? key >> 1 : key)!;
  const w = Float32Array.from({ length: B }, (_, i) => (i % 7 === 3 ? -1.5 : 0.5 + rng.next()));
  // written out
  const C = B + extra;
  const S = new Float32Array(B * C);
  const colItem = new Int32Array(C);
  const logQ = withLogQ ? new Float32Array(C) : null;
  for (let j = 0; j < C; j++) {
    colItem[j] = item(keys[j]);
    if (logQ) logQ[j] = lqOf(keys[j]);
    for (let i = 0; i < B; i++) S[i * C + j] = score.get(keys[j])![i];
  }
  // deduplicated: distinct positive keys in first-seen order, then the negatives
  const cols: number[] = [];
  const colOf = new Map<number, number>();
  const count: number[] = [];
  const pos = new Int32Array(B);
  for (let i = 0; i < B; i++) {
    let c = colOf.get(keys[i]);
    if (c === undefined) {
      c = cols.length;
      colOf.set(keys[i], c);
      cols.push(keys[i]);
      count.push(0);
    }
    count[c]++;
    pos[i] = c;
  }
  for (let k = 0; k < extra; k++) {
    colOf.set(keys[B + k], cols.length);
    cols.push(keys[B + k]);
    count.push(1);
  }
  const Cd = cols.length;
  const Sd = new Float32Array(B * Cd);
  const colItemD = new Int32Array(Cd);
  const logQd = withLogQ ? new Float32Array(Cd) : null;
  const lnCount = Float32Array.from(count, (c) => Math.log(c));
  for (let c = 0; c < Cd; c++) {
    colItemD[c] = item(cols[c]);
    if (logQd) logQd[c] = lqOf(cols[c]);
    for (let i = 0; i < B; i++) Sd[i * Cd + c] = score.get(cols[c])![i];
  }
  // written-out column j -> its deduplicated column
  const colOfJ = Int32Array.from(keys, (key) => colOf.get(key)!);
  return { B, C, S, colItem, logQ, w, Cd, Sd, colItemD, logQd, lnCount, pos, colOfJ };
}

test('softmax over deduplicated columns = the written-out softmax: loss, and dS summed over each column\'s copies', () => {
  for (const [seed, B, extra, withLogQ] of [[1, 16, 0, true], [2, 33, 5, true], [3, 64, 3, false], [4, 9, 0, false]] as const) {
    const b = batch(seed, B, extra, withLogQ);
    assert.ok(b.Cd < b.C, 'the batch has duplicates');
    const dS = new Float32Array(B * b.C);
    const dSd = new Float32Array(B * b.Cd);
    const plain = softmaxLoss(B, b.C, b.S, 0.05, b.logQ, b.colItem, b.w, dS);
    const dedup = softmaxLoss(B, b.Cd, b.Sd, 0.05, b.logQd, b.colItemD, b.w, dSd, B, b.pos, b.lnCount);
    assert.ok(Math.abs(dedup - plain) <= 1e-6 * Math.abs(plain), `loss: dedup ${dedup} vs plain ${plain} (seed ${seed})`);
    const summed = new Float64Array(B * b.Cd);
    for (let i = 0; i < B; i++) for (let j = 0; j < b.C; j++) summed[i * b.Cd + b.colOfJ[j]] += dS[i * b.C + j];
    let scale = 0;
    for (let i = 0; i < B; i++) scale = Math.max(scale, Math.abs(b.w[i]) / (0.05 * B));
    near(dSd, summed, B * b.Cd, 1e-6 * scale, 1e-5, `dS (seed ${seed})`);
    // the kernel on the deduplicated form, against the reference on it
    const k = wasm.train;
    const S = wasm.alloc(B * b.Cd);
    S.set(b.Sd);
    const colItem = k.allocInt32(b.Cd);
    colItem.set(b.colItemD);
    const pos = k.allocInt32(B);
    pos.set(b.pos);
    const lnCount = wasm.alloc(b.Cd);
    lnCount.set(b.lnCount);
    const w = wasm.alloc(B);
    w.set(b.w);
    let logQ: Float32Array | null = null;
    if (b.logQd) {
      logQ = wasm.alloc(b.Cd);
      logQ.set(b.logQd);
    }
    const dF = wasm.alloc(B * b.Cd).fill(NaN); // every entry must be written
    const fast = softmaxLossFast(k, B, b.Cd, S, 0.05, logQ, colItem, w, dF, B, pos, lnCount);
    assert.ok(Math.abs(fast - dedup) <= 1e-5 * Math.abs(dedup) + 1e-6, `kernel loss ${fast} vs ${dedup} (seed ${seed})`);
    near(dF, dSd, B * b.Cd, 1e-5 * scale, 1e-5, `kernel dS (seed ${seed})`);
  }
});

test('softmax kernel: a positive column outside the batch is refused by name', () => {
  const k = wasm.train;
  const pos = k.allocInt32(2);
  pos.set([0, 2]);
  assert.throws(() => k.softmaxXent(2, 2, wasm.alloc(4), 1, null, k.allocInt32(2), wasm.alloc(2), 0.5, wasm.alloc(4), pos, null), /softmaxXent: pos\[1\] = 2 is outside the 2 columns/);
});

test('softmax kernel: a NaN score anywhere in a row makes the loss NaN (the trainer then names the tensor)', () => {
  const k = wasm.train;
  for (const C of [8, 11]) {
    for (const at of [1, 5, C - 1]) {
      const S = wasm.alloc(2 * C);
      for (let i = 0; i < S.length; i++) S[i] = 0.1 * i;
      S[at] = NaN;
      const colItem = k.allocInt32(C);
      for (let j = 0; j < C; j++) colItem[j] = j;
      const w = wasm.alloc(2).fill(1);
      assert.ok(Number.isNaN(k.softmaxXent(2, C, S, 1, null, colItem, w, 0.5, wasm.alloc(2 * C))), `NaN at column ${at} of ${C}`);
    }
  }
});

const CFG: Partial<TwoTowerConfig> = { embeddingDim: 8, hidden: [12], dim: 8, batchSize: 64, temperature: 0.2, idDropout: 0.3, coldDropout: 0.2 };

/** One step of a deduplicating core and of a plain one from the same weights and draws: their gradients. */
function oneStep(backend: KernelBackend, extra: Partial<TwoTowerConfig>, what: 'dedup' | 'project' = 'dedup') {
  const ds = tinyDataset(30, 12, 10); // 12 items: a 64-row batch repeats most of them
  const cfg = resolveConfig({ ...CFG, ...extra });
  const fs = FeatureSpace.fit(ds, featureOptions(cfg));
  const net = new TwoTowerNet(fs, cfg.hidden, cfg.dim, cfg.normalize);
  const ex = buildExamples(ds);
  const order = Int32Array.from({ length: ex.exUser.length }, (_, i) => i);
  new Rng(9).shuffle(order);
  const run = (on: boolean) => {
    const dedup = what === 'dedup' ? on : true;
    net.userTower.projectShare = net.itemTower.projectShare = what === 'project' && !on ? 0 : 0.5;
    const params = backend.alloc(net.layout.total);
    initParams(net.layout, params, new Rng(1), 0.3);
    const core = new TrainerCore(net, cfg, ex, params, backend.alloc(optimizerStateSize('adam', params.length)), null, new Rng(2), backend, true, 1, 1, null, dedup);
    const r = core.runRange(order, 0, cfg.batchSize, { epoch: 0, stepBase: 0, stepStride: 1, totalSteps: 10 });
    const projected = [...core.scratch.user.proj, ...core.scratch.item.proj].filter((p) => p?.active).length;
    return { core, loss: r.loss, itemRows: (core as unknown as { ib: { rows: number } }).ib.rows, projected };
  };
  return { net, fs, plain: run(false), dedup: run(true) };
}

for (const backend of [jsBackend, wasm] as KernelBackend[]) {
  for (const [what, extra] of [['dedup', {}], ['dedup', { negatives: 5 }], ['dedup', { logQ: 0 }], ['project', {}], ['project', { negatives: 5, idDropout: 0 }]] as ['dedup' | 'project', Partial<TwoTowerConfig>][]) {
    const name = what === 'dedup' ? 'a deduplicated softmax step' : 'a step with fields projected per distinct row';
    test(`${backend.name}: ${name} has the plain step's loss and gradients ${JSON.stringify(extra)}`, () => {
      const { net, fs, plain, dedup } = oneStep(backend, extra, what);
      if (what === 'dedup') assert.ok(dedup.itemRows < plain.itemRows * 0.6, `item rows: ${dedup.itemRows} deduplicated of ${plain.itemRows}`);
      else assert.ok(dedup.projected >= 3 && plain.projected === 0, `fields projected: ${dedup.projected} (plain ${plain.projected})`);
      assert.ok(Math.abs(dedup.loss - plain.loss) <= 1e-5 * Math.abs(plain.loss), `loss ${dedup.loss} vs ${plain.loss}`);
      const a = dedup.core.scratch;
      const b = plain.core.scratch;
      let scale = 0;
      for (const v of b.grad) scale = Math.max(scale, Math.abs(v));
      assert.ok(scale > 0);
      near(a.grad, b.grad, b.grad.length, 2e-5 * scale, 1e-4, 'dense gradient');
      for (let t = 0; t < net.layout.tables.length; t++) {
        const ga = a.rowGrads[t];
        const gb = b.rowGrads[t];
        const dim = fs.tables[t].dim;
        assert.equal(ga.n, gb.n, `${fs.tables[t].name}: touched rows`);
        const at = new Map<number, number>();
        for (let r = 0; r < ga.n; r++) at.set(ga.rows[r], r);
        for (let r = 0; r < gb.n; r++) {
          const ra = at.get(gb.rows[r]);
          assert.ok(ra !== undefined, `${fs.tables[t].name}: row ${gb.rows[r]} has no gradient deduplicated`);
          near(ga.grads.subarray(ra * dim, (ra + 1) * dim), gb.grads.subarray(r * dim, (r + 1) * dim), dim, 2e-5 * scale, 1e-4, `${fs.tables[t].name}[${gb.rows[r]}]`);
        }
      }
    });
  }
}

test('a model whose batched towers projected fields gives all their kernel memory back on dispose', (t) => {
  const be = getKernelBackend() as WasmKernelBackend;
  if (!be.name.startsWith('wasm')) return t.skip('the WebAssembly kernels are not in use');
  const ds = tinyDataset(30, 40, 10);
  const cfg = resolveConfig(CFG);
  const fs = FeatureSpace.fit(ds, featureOptions(cfg));
  const net = new TwoTowerNet(fs, cfg.hidden, cfg.dim, cfg.normalize);
  const params = new Float32Array(net.layout.total);
  initParams(net.layout, params, new Rng(1), 0.3);
  // a first model makes the thread's own lasting scratch (gemm's packing area): measure the second
  const first = new TwoTowerModel(fs, cfg, params, { seed: 1 });
  first.embedItems();
  first.dispose();
  const before = be.usage();
  const model = new TwoTowerModel(fs, cfg, params, { seed: 1 });
  const v = model.embedItems();
  assert.ok(v.every(Number.isFinite));
  assert.ok((model as unknown as { isN: { proj: unknown[] } }).isN.proj.some((p) => p !== undefined), 'the item tower projected a field');
  model.dispose();
  assert.equal(be.usage().liveBytes, before.liveBytes, 'every array of the scratch went back');
});
