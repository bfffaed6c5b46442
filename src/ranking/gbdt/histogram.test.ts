import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type GbdtKernelSet, Rng, createGbdtKernels } from '../../math/index.ts';
import { KernelArena } from './kernels.ts';
import { type HistContext, type SplitParams, buildHistograms, findBestSplit, histogramRef, leafScore, SPLIT_STRIDE } from './histogram.ts';

/** Random binned data: feature f has nv[f] value bins plus a missing bin, about 10% missing. */
function setup(n: number, nv: number[], seed: number, unitHess: boolean) {
  const rng = new Rng(seed);
  const F = nv.length;
  const bins = new Uint8Array(n * F);
  for (let f = 0; f < F; f++) for (let r = 0; r < n; r++) bins[f * n + r] = rng.next() < 0.1 ? nv[f] : rng.int(nv[f]);
  const grad = Float64Array.from({ length: n }, () => rng.normal());
  const hess = Float64Array.from({ length: n }, () => (unitHess ? 1 : 0.05 + rng.next()));
  const binOffset = new Int32Array(F + 1);
  for (let f = 0; f < F; f++) binOffset[f + 1] = binOffset[f] + nv[f] + 1;
  const slotSize = binOffset[F] * 2;
  const ctx: HistContext = {
    nRows: n, bins, idx: new Int32Array(n), og: new Float64Array(n), oh: new Float64Array(n), binOffset, slotSize,
    hist: new Float64Array(3 * slotSize), feats: Int32Array.from({ length: F }, (_, f) => f), rowBins: null, nFeatures: F,
  };
  return { ctx, grad, hess, rng };
}

function gatherInto(ctx: HistContext, rows: number[], grad: Float64Array, hess: Float64Array, at: number): void {
  rows.forEach((r, i) => {
    ctx.idx[at + i] = r;
    ctx.og[at + i] = grad[r];
    ctx.oh[at + i] = hess[r];
  });
}

for (const layout of ['col', 'row', 'col-direct', 'row-direct'] as const) test(`${layout} histograms (4-feature and single-feature loops, a feature subset) and subtraction agree with the plain definition`, () => {
  const nv = [3, 255, 17, 1, 40, 8, 2, 9, 4]; // 7 of 9 features used: one group of four, then the one-at-a-time loop
  const n = 500;
  const { ctx, grad, hess, rng } = setup(n, nv, 1, false);
  ctx.feats = Int32Array.of(8, 0, 1, 2, 4, 5, 6);
  if (layout.endsWith('direct')) {
    // the gradients read in place at each row, nothing gathered
    ctx.direct = true;
    ctx.og = grad;
    ctx.oh = hess;
  }
  const gather = (c: HistContext, rows: number[], g: Float64Array, h: Float64Array, at: number) => (c.direct ? rows.forEach((r, i) => (c.idx[at + i] = r)) : gatherInto(c, rows, g, h, at));
  if (layout.startsWith('row')) {
    ctx.rowBins = new Uint8Array(n * nv.length);
    for (let f = 0; f < nv.length; f++) for (let r = 0; r < n; r++) ctx.rowBins[r * nv.length + f] = ctx.bins[f * n + r];
  }
  const parent: number[] = [];
  for (let r = 0; r < n; r++) if (rng.next() < 0.7) parent.push(r);
  const small = parent.filter(() => rng.next() < 0.3);
  const inSmall = new Set(small);
  const large = parent.filter((r) => !inSmall.has(r));
  gather(ctx, parent, grad, hess, 0);
  buildHistograms(ctx, 0, parent.length, 0, -1, 0, 7);
  gather(ctx, small, grad, hess, 0);
  buildHistograms(ctx, 0, small.length, 1, 0, 0, 7); // slot 0 becomes the large child
  for (const f of ctx.feats) {
    const o = ctx.binOffset[f] * 2;
    const len = (nv[f] + 1) * 2;
    const refSmall = histogramRef(ctx.bins, n, small, grad, hess, f, nv[f] + 1);
    const refLarge = histogramRef(ctx.bins, n, large, grad, hess, f, nv[f] + 1);
    for (let j = 0; j < len; j++) {
      assert.ok(Math.abs(ctx.hist[ctx.slotSize + o + j] - refSmall[j]) < 1e-9, `small f${f} [${j}]`);
      assert.ok(Math.abs(ctx.hist[o + j] - refLarge[j]) < 1e-9, `large f${f} [${j}]`);
    }
  }
});

/** Brute force: every (feature, threshold bin, missing direction) from the rows themselves, exact counts. */
function bruteForce(ctx: HistContext, nv: number[], rows: number[], grad: Float64Array, hess: Float64Array, sp: SplitParams) {
  let G = 0;
  let H = 0;
  for (const r of rows) {
    G += grad[r];
    H += hess[r];
  }
  const parent = leafScore(G, H, sp.lambdaL1, sp.lambdaL2);
  let best = { gain: sp.minGainToSplit, f: -1, t: 0, dl: 0 };
  for (let f = 0; f < nv.length; f++) {
    const hasMissing = rows.some((r) => ctx.bins[f * ctx.nRows + r] === nv[f]);
    const tries: [number, number][] = [];
    for (let t = 0; t < (hasMissing ? nv[f] : nv[f] - 1); t++) tries.push([t, 0]);
    if (hasMissing) for (let t = 0; t < nv[f] - 1; t++) tries.push([t, 1]);
    for (const [t, dl] of tries) {
      let lg = 0, lh = 0, lc = 0;
      for (const r of rows) {
        const b = ctx.bins[f * ctx.nRows + r];
        if (b === nv[f] ? dl === 1 : b <= t) {
          lg += grad[r];
          lh += hess[r];
          lc++;
        }
      }
      const rc = rows.length - lc;
      if (lc < sp.minDataInLeaf || rc < sp.minDataInLeaf || lh < sp.minSumHessianInLeaf || H - lh < sp.minSumHessianInLeaf) continue;
      const gain = leafScore(lg, lh, sp.lambdaL1, sp.lambdaL2) + leafScore(G - lg, H - lh, sp.lambdaL1, sp.lambdaL2) - parent;
      if (gain > best.gain + 1e-9) best = { gain, f, t, dl };
    }
  }
  return { best, G, H };
}

test('the best split found from histograms is the brute-force best (both missing directions, L1/L2)', () => {
  const nv = [5, 12, 3, 30, 1];
  for (const [seed, unit, sp] of [
    [2, true, { lambdaL1: 0, lambdaL2: 0, minDataInLeaf: 3, minSumHessianInLeaf: 0, minGainToSplit: 0 }],
    [3, true, { lambdaL1: 0.5, lambdaL2: 2, minDataInLeaf: 10, minSumHessianInLeaf: 0, minGainToSplit: 0 }],
    [4, false, { lambdaL1: 0, lambdaL2: 1, minDataInLeaf: 0, minSumHessianInLeaf: 0.5, minGainToSplit: 0 }],
  ] as [number, boolean, SplitParams][]) {
    const n = 300;
    const { ctx, grad, hess, rng } = setup(n, nv, seed, unit);
    const rows: number[] = [];
    for (let r = 0; r < n; r++) if (rng.next() < 0.5) rows.push(r);
    gatherInto(ctx, rows, grad, hess, 0);
    buildHistograms(ctx, 0, rows.length, 0, -1, 0, nv.length);
    const { best, G, H } = bruteForce(ctx, nv, rows, grad, hess, sp);
    const out = new Float64Array(SPLIT_STRIDE);
    findBestSplit(ctx, sp, 0, G, H, rows.length, 0, nv.length, out, 0);
    assert.ok(best.f >= 0, 'the fixture has a valid split');
    assert.ok(Math.abs(out[0] - best.gain) < 1e-9, `seed ${seed}: gain ${out[0]} vs ${best.gain}`);
    assert.deepEqual([out[1], out[2], out[3]], [best.f, best.t, best.dl], `seed ${seed}`);
    // feature ranges reduced in order give the same answer as one pass
    const a = new Float64Array(SPLIT_STRIDE);
    const b = new Float64Array(SPLIT_STRIDE);
    findBestSplit(ctx, sp, 0, G, H, rows.length, 0, 2, a, 0);
    findBestSplit(ctx, sp, 0, G, H, rows.length, 2, nv.length, b, 0);
    assert.deepEqual(Array.from(b[0] > a[0] ? b : a), Array.from(out));
  }
});

/** The GBDT kernels in `bytes` of their own memory, or null with the test skipped when they are not built. */
function kernelsOrSkip(t: { skip(message: string): void }, bytes: number): GbdtKernelSet | null {
  try {
    return createGbdtKernels({ bytes });
  } catch (e) {
    t.skip(`kernels not built: ${(e as Error).message}`);
    return null;
  }
}

test('the WebAssembly histogram kernels equal the TypeScript loops bit for bit (both layouts, direct and gathered, missing bins, subtraction)', (t) => {
  const set = kernelsOrSkip(t, 8 << 20);
  if (!set) return;
  const nv = [3, 255, 17, 1, 40, 8, 2, 9, 4];
  const F = nv.length;
  const n = 3000;
  for (const layout of ['row', 'col'] as const) {
    for (const direct of [true, false]) {
      const { ctx: js, grad, hess, rng } = setup(n, nv, 11, false);
      js.feats = Int32Array.of(8, 0, 1, 2, 4, 5, 6);
      // the same arrays in the kernels' memory
      const arena = new KernelArena(set);
      const view = arena.view.bind(arena);
      const wa: HistContext = {
        ...js,
        bins: view(Uint8Array, n * F),
        idx: view(Int32Array, n),
        og: view(Float64Array, n),
        oh: view(Float64Array, n),
        hist: view(Float64Array, js.hist.length),
        feats: view(Int32Array, F),
        rowBins: layout === 'row' ? view(Uint8Array, n * F) : null,
        binOffset: view(Int32Array, F + 1),
        hb: view(Int32Array, 2 * F),
        kout: view(Float64Array, SPLIT_STRIDE),
        kern: set.kernels,
        direct,
      };
      wa.binOffset.set(js.binOffset);
      js.direct = direct;
      wa.bins.set(js.bins);
      wa.feats.set(js.feats);
      if (layout === 'row') {
        js.rowBins = new Uint8Array(n * F);
        for (let f = 0; f < F; f++) for (let r = 0; r < n; r++) js.rowBins[r * F + f] = js.bins[f * n + r];
        wa.rowBins!.set(js.rowBins);
      }
      // junk in the histograms: building must clear what it writes
      js.hist.fill(7.5);
      wa.hist.fill(7.5);
      if (direct) {
        js.og = grad;
        js.oh = hess;
        wa.og.set(grad);
        wa.oh.set(hess);
      }
      const parent: number[] = [];
      for (let r = 0; r < n; r++) if (rng.next() < 0.8) parent.push(r);
      const small = parent.filter(() => rng.next() < 0.3);
      for (const c of [js, wa]) {
        const place = (rows: number[]) =>
          rows.forEach((r, i) => {
            c.idx[i] = r;
            if (!direct) {
              c.og[i] = grad[r];
              c.oh[i] = hess[r];
            }
          });
        place(parent);
        buildHistograms(c, 0, parent.length, 0, -1, 0, 7);
        place(small);
        // two ranges (a 4-feature group and a tail), the larger sibling by subtraction
        buildHistograms(c, 0, small.length, 1, 0, 0, 5);
        buildHistograms(c, 0, small.length, 1, 0, 5, 7);
        buildHistograms(c, 0, Math.min(7, small.length), 2, -1, 2, 3); // fewer rows than an unroll
      }
      const label = `${layout}-wise, ${direct ? 'direct' : 'gathered'}`;
      assert.ok(wa.hist.some((v, i) => v !== 7.5 && v !== 0 && i < js.slotSize), `${label}: the kernels wrote nothing`);
      for (let i = 0; i < js.hist.length; i++) if (!Object.is(js.hist[i], wa.hist[i])) assert.fail(`${label}: hist[${i}] = ${wa.hist[i]}, the TypeScript loop gives ${js.hist[i]}`);
      // and both agree with the plain definition on the small child
      const f = 1;
      const ref = histogramRef(js.bins, n, small, grad, hess, f, nv[f] + 1);
      for (let j = 0; j < ref.length; j++) assert.ok(Math.abs(wa.hist[js.slotSize + js.binOffset[f] * 2 + j] - ref[j]) < 1e-9, `${label}: reference bin ${j >> 1}`);
    }
  }
});

test('the WebAssembly best-split kernel equals findBestSplit bit for bit (L1/L2, count and hessian limits, missing values either side)', (t) => {
  const set = kernelsOrSkip(t, 1 << 20);
  if (!set) return;
  const nv = [3, 255, 17, 1, 40, 8, 2, 9, 4];
  const F = nv.length;
  let checked = 0;
  let found = 0;
  for (let seed = 0; seed < 40; seed++) {
    const unit = seed % 3 === 0;
    const { ctx: js, grad, hess, rng } = setup(400 + seed * 37, nv, 100 + seed, unit);
    // some leaves have no missing values in some features
    if (seed % 4 === 1) for (let f = 0; f < F; f += 2) for (let r = 0; r < js.nRows; r++) if (js.bins[f * js.nRows + r] === nv[f]) js.bins[f * js.nRows + r] = 0;
    js.feats = Int32Array.of(8, 0, 1, 2, 4, 5, 6, 3, 7);
    const rows: number[] = [];
    for (let r = 0; r < js.nRows; r++) if (rng.next() < 0.6) rows.push(r);
    gatherInto(js, rows, grad, hess, 0);
    buildHistograms(js, 0, rows.length, 0, -1, 0, F);
    let G = 0;
    let H = 0;
    for (const r of rows) {
      G += grad[r];
      H += hess[r];
    }
    const base = set.base;
    const wa: HistContext = {
      ...js,
      hist: new Float64Array(set.memory.buffer, base, js.slotSize),
      binOffset: new Int32Array(set.memory.buffer, base + js.slotSize * 8, F + 1),
      feats: new Int32Array(set.memory.buffer, base + js.slotSize * 8 + 64, F),
      kout: new Float64Array(set.memory.buffer, base + js.slotSize * 8 + 128, SPLIT_STRIDE),
      kern: set.kernels,
    };
    wa.hist.set(js.hist.subarray(0, js.slotSize));
    wa.binOffset.set(js.binOffset);
    wa.feats.set(js.feats);
    const sps: SplitParams[] = [
      { lambdaL1: 0, lambdaL2: 1, minDataInLeaf: 20, minSumHessianInLeaf: 1, minGainToSplit: 0 },
      { lambdaL1: 0.7, lambdaL2: 0, minDataInLeaf: 1, minSumHessianInLeaf: 0, minGainToSplit: 0 },
      { lambdaL1: 0, lambdaL2: 0, minDataInLeaf: 0, minSumHessianInLeaf: 0, minGainToSplit: 0.5 },
      { lambdaL1: 2, lambdaL2: 5, minDataInLeaf: 60, minSumHessianInLeaf: 8, minGainToSplit: 0 },
      { lambdaL1: 0, lambdaL2: 1, minDataInLeaf: 100000, minSumHessianInLeaf: 0, minGainToSplit: 0 }, // nothing qualifies
    ];
    for (const sp of sps) {
      for (const [a, b] of [[0, F], [0, 4], [4, F], [3, 4]]) {
        const x = new Float64Array(SPLIT_STRIDE);
        const y = new Float64Array(SPLIT_STRIDE);
        findBestSplit({ ...js, kern: null }, sp, 0, G, H, rows.length, a, b, x, 0);
        findBestSplit(wa, sp, 0, G, H, rows.length, a, b, y, 0);
        for (let q = 0; q < SPLIT_STRIDE; q++) if (!Object.is(x[q], y[q])) assert.fail(`seed ${seed}, features [${a}, ${b}), ${JSON.stringify(sp)}: word ${q} is ${y[q]}, findBestSplit gives ${x[q]}`);
        checked++;
        if (x[0] > -Infinity) found++;
      }
    }
  }
  assert.ok(found > checked / 3 && found < checked, `the fixture should find splits in most cases, not all: ${found} of ${checked}`);
});

test('the WebAssembly partition kernel is the stable partition of the plain definition (missing either way, empty sides)', (t) => {
  const set = kernelsOrSkip(t, 1 << 20);
  if (!set) return;
  const rng = new Rng(31);
  const n = 5000;
  const nv = 40; // value bins 0..39, missing bin 40
  const col = new Uint8Array(set.memory.buffer, set.base, n);
  const idx = new Int32Array(set.memory.buffer, set.base + n + 64, n);
  const tmp = new Int32Array(set.memory.buffer, set.base + n + 64 + 4 * n + 64, n);
  for (let r = 0; r < n; r++) col[r] = rng.next() < 0.1 ? nv : rng.int(nv);
  for (const [bin, defLeft] of [[10, 0], [10, 1], [39, 0], [-1, 1], [0, 0], [25, 1]] as const) {
    const rows: number[] = [];
    for (let r = 0; r < n; r++) if (rng.next() < 0.6) rows.push(r);
    const start = 7;
    idx.fill(-5);
    idx.set(rows, start);
    const goLeft = (r: number) => (col[r] === nv ? defLeft === 1 : col[r] <= bin);
    const want = [...rows.filter(goLeft), ...rows.filter((r) => !goLeft(r))];
    const nl = set.kernels.gbdtPartition(idx.byteOffset, tmp.byteOffset, col.byteOffset, start, rows.length, bin, nv, defLeft);
    assert.equal(nl, rows.filter(goLeft).length, `bin ${bin}, defLeft ${defLeft}`);
    assert.deepEqual(Array.from(idx.subarray(start, start + rows.length)), want, `bin ${bin}, defLeft ${defLeft}`);
    assert.equal(idx[start - 1], -5);
    assert.equal(idx[start + rows.length], -5);
  }
});
