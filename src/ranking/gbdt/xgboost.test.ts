import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { importXgboostJson, loadXgboostModel } from './index.ts';

const dir = new URL('./fixtures/', import.meta.url);
const expected = JSON.parse(readFileSync(new URL('xgb-expected.json', dir), 'utf8')) as {
  nFeatures: number;
  rows: (number | null)[][];
  models: Record<string, { file: string; objective: string; margin: number[]; prediction: number[] }>;
};
const F = expected.nFeatures;
const n = expected.rows.length;
const x = new Float32Array(n * F);
expected.rows.forEach((r, i) => r.forEach((v, f) => (x[i * F + f] = v === null ? NaN : v)));

for (const [name, m] of Object.entries(expected.models)) {
  test(`XGBoost ${m.objective} model: our predictions match XGBoost's own (margin and output)`, () => {
    const model = loadXgboostModel(new URL(m.file, dir).pathname);
    assert.equal(model.source, 'xgboost');
    assert.equal(model.nFeatures, F);
    assert.equal(model.objective, name === 'binary' ? 'binary' : name === 'regression' ? 'regression' : 'lambdarank');
    const raw = new Float64Array(n);
    const out = new Float64Array(n);
    model.predictRaw(x, n, raw);
    model.predict(x, n, out);
    for (let i = 0; i < n; i++) {
      // XGBoost sums leaves in float32: allow its rounding
      const tol = 1e-5 * Math.max(1, Math.abs(m.margin[i]));
      assert.ok(Math.abs(raw[i] - m.margin[i]) < tol, `${name} row ${i}: margin ${raw[i]}, xgboost ${m.margin[i]}`);
      assert.ok(Math.abs(out[i] - m.prediction[i]) < tol, `${name} row ${i}: prediction ${out[i]}, xgboost ${m.prediction[i]}`);
      assert.ok(Math.abs(model.predictRowRef(x.subarray(i * F, (i + 1) * F)) - raw[i]) < 1e-12, 'reference predictor agrees');
    }
  });
}

test('XGBoost import: base_score goes through the logit for binary:logistic, as is for the others', () => {
  const bin = loadXgboostModel(new URL('xgb-binary.json', dir).pathname);
  assert.ok(Math.abs(bin.baseScore - Math.log(0.3 / 0.7)) < 1e-6);
  const reg = loadXgboostModel(new URL('xgb-regression.json', dir).pathname);
  assert.ok(Math.abs(reg.baseScore - 0.25) < 1e-7);
});

test('XGBoost import: unsupported models are refused with the reason', () => {
  const json = JSON.parse(readFileSync(new URL('xgb-binary.json', dir), 'utf8'));
  const withObjective = (name: string) => ({ ...json, learner: { ...json.learner, objective: { name } } });
  assert.throws(() => importXgboostJson(withObjective('multi:softprob')), /multi:softprob' is not supported/);
  assert.throws(() => importXgboostJson({ ...json, learner: { ...json.learner, gradient_booster: { ...json.learner.gradient_booster, name: 'dart' } } }), /dart.*only gbtree/);
  const cat = structuredClone(json);
  cat.learner.gradient_booster.model.trees[3].split_type[0] = 1;
  assert.throws(() => importXgboostJson(cat), /trees\[3\]: node 0 is a categorical split/);
  const badFeature = structuredClone(json);
  badFeature.learner.gradient_booster.model.trees[1].split_indices[0] = 9;
  assert.throws(() => importXgboostJson(badFeature), /trees\[1\]: node 0 splits on feature 9/);
  assert.throws(() => importXgboostJson([]), /expected an object/);
});
