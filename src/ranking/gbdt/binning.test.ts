import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../math/index.ts';
import { BinMapper, quantileCuts, sortFloat64 } from './binning.ts';
import { GbdtParamError, paramDocs, paramFlag, paramOptionDefs, paramsFromOptions, resolveParams } from './options.ts';

test('quantile cuts: one bin per distinct value when few, about equal counts when many', () => {
  assert.deepEqual(Array.from(quantileCuts(Float64Array.of(1, 1, 2, 5, 5), 255)), [1.5, 3.5]);
  const rng = new Rng(1);
  const v = Float64Array.from({ length: 10000 }, () => rng.next()).sort();
  const c = quantileCuts(v, 10);
  assert.equal(c.length, 9);
  for (let k = 0; k < 9; k++) assert.ok(Math.abs(c[k] - (k + 1) / 10) < 0.03, `cut ${k} = ${c[k]}`);
  // a heavy value keeps its own bin and cuts stay strictly increasing
  const heavy = Float64Array.from({ length: 1000 }, (_, i) => (i < 600 ? 0 : i)).sort();
  const ch = quantileCuts(heavy, 20);
  for (let k = 1; k < ch.length; k++) assert.ok(ch[k] > ch[k - 1]);
  assert.ok(ch[0] > 0 && ch[0] < 600);
  assert.equal(quantileCuts(new Float64Array(0), 255).length, 0);
});

test('bin of v is the number of cuts <= v, so bin <= k exactly when v < threshold(k); NaN gets the last bin', () => {
  const rng = new Rng(2);
  const n = 2000;
  const F = 3;
  const x = new Float32Array(n * F);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.05 ? NaN : i % 3 === 2 ? rng.int(4) : rng.normal();
  const data = { features: x, nRows: n, nFeatures: F, labels: new Float32Array(n) };
  const m = BinMapper.fit(data, 32, 500, 1);
  const cols = m.binColumns(data);
  assert.equal(m.valueBins(2), 4, 'four distinct values, four bins');
  for (let f = 0; f < F; f++) {
    for (let r = 0; r < n; r++) {
      const v = x[r * F + f];
      const b = cols[f * n + r];
      assert.equal(b, m.bin(f, v));
      if (Number.isNaN(v)) {
        assert.equal(b, m.valueBins(f));
        continue;
      }
      for (let k = 0; k < m.valueBins(f); k++) assert.equal(b <= k, v < m.threshold(f, k), `f${f} v=${v} k=${k}`);
    }
  }
  // column-major input gives the same bins
  const xc = new Float32Array(n * F);
  for (let r = 0; r < n; r++) for (let f = 0; f < F; f++) xc[f * n + r] = x[r * F + f];
  const mc = BinMapper.fit({ ...data, features: xc, layout: 'col' }, 32, 500, 1);
  assert.deepEqual(mc.cuts, m.cuts);
  assert.deepEqual(mc.binColumns({ ...data, features: xc, layout: 'col' }), cols);
});

test('options: defaults filled, every bad value named', () => {
  const p = resolveParams({ numLeaves: 63 });
  assert.equal(p.numLeaves, 63);
  assert.equal(p.learningRate, 0.1);
  assert.throws(() => resolveParams({ learningRate: 0 }), (e: Error) => e instanceof GbdtParamError && e.param === 'learningRate');
  assert.throws(() => resolveParams({ maxBin: 256 }), /'maxBin': 256 is outside \[2, 255\]/);
  assert.throws(() => resolveParams({ numLeaves: 2.5 }), /'numLeaves': 2.5 is not an integer/);
  assert.throws(() => resolveParams({ metric: 'map' as never }), /'metric'/);
  assert.throws(() => resolveParams({ numLeafs: 3 } as never), /'numLeafs': unknown parameter/);
  assert.match(paramDocs(), /\| `minDataInLeaf` \| 20 \|/);
});

test('options: CLI flags come from the schema and parse back to validated parameters', () => {
  assert.equal(paramFlag('minSumHessianInLeaf'), 'min-sum-hessian-in-leaf');
  assert.equal(paramFlag('lambdaL2'), 'lambda-l2');
  const defs = paramOptionDefs('gbdt-');
  assert.equal(defs['gbdt-num-leaves'].default, 31);
  assert.deepEqual(Object.keys(defs).length, 20);
  // what cli/args.ts parseArgs gives for --gbdt-num-leaves 63 --gbdt-objective lambdarank (defaults filled)
  const options: Record<string, unknown> = Object.fromEntries(Object.entries(defs).map(([k, d]) => [k, d.default]));
  options['gbdt-num-leaves'] = 63;
  options['gbdt-objective'] = 'lambdarank';
  const p = paramsFromOptions(options, 'gbdt-');
  assert.equal(p.numLeaves, 63);
  assert.equal(p.objective, 'lambdarank');
  const bad = { ...options, 'gbdt-max-bin': 300 };
  assert.throws(() => paramsFromOptions(bad, 'gbdt-'), /'maxBin': 300 is outside/);
});

test('sortFloat64 (radix) agrees with a comparison sort: negatives, zeros, ties, tiny and huge values', () => {
  const rng = new Rng(3);
  for (const n of [0, 5, 255, 256, 3000]) {
    const a = Float64Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 0 : i % 11 === 0 ? -1e-300 : i % 13 === 0 ? 1e300 : i % 5 === 0 ? 3 : rng.normal() * 10 ** rng.int(6)));
    const ref = Array.from(a).sort((x, y) => x - y);
    assert.deepEqual(Array.from(sortFloat64(a)), ref);
  }
  // on a subarray view with an offset, leaving the rest alone
  const big = Float64Array.from({ length: 1000 }, (_, i) => 1000 - i);
  sortFloat64(big.subarray(100, 900));
  assert.equal(big[99], 901);
  assert.equal(big[100], 101);
  assert.equal(big[899], 900);
  assert.equal(big[900], 100);
});
