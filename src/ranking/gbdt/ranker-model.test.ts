// The GBDT ranker kind on rows with embed-only id columns: the trees never read them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check } from '../../schema/index.ts';
import { crossSet } from '../deep/test-fixture.ts';
import type { RankerTrainingSet } from '../ranker/training.ts';
import { GBDT_RANKER_PARAMS, gbdtRankerKind } from './ranker-model.ts';

const RUN = { seed: 2, threads: 1, log: () => {} };
const PARAMS = check(GBDT_RANKER_PARAMS, { numRounds: 20, earlyStoppingRounds: 0, minDataInLeaf: 5 });

/** The set with an id column (embed-only) inserted at column 1, holding `ids[r]`. */
function withId(s: RankerTrainingSet, id: (r: number) => number): RankerTrainingSet {
  const F = s.nFeatures;
  const x = new Float32Array(s.nRows * (F + 1));
  for (let r = 0; r < s.nRows; r++) {
    x[r * (F + 1)] = s.features[r * F];
    x[r * (F + 1) + 1] = id(r);
    x.set(s.features.subarray(r * F + 1, (r + 1) * F), r * (F + 1) + 2);
  }
  const card = s.cardinalities!;
  return { ...s, features: x, nFeatures: F + 1, featureNames: [s.featureNames[0], 'id_item', ...s.featureNames.slice(1)], cardinalities: Int32Array.of(card[0], 50, ...card.slice(1)), embedOnly: Uint8Array.from({ length: F + 1 }, (_, f) => (f === 1 ? 1 : 0)) };
}

test('gbdt: embed-only columns are left out: the same trees as without them, scores blind to them, kept through save and load', async (t) => {
  const base = crossSet(20, 30, 4);
  const set = withId(base, (r) => r % 50);
  const plain = await gbdtRankerKind.train({ train: base, valid: null }, PARAMS, RUN);
  const m = await gbdtRankerKind.train({ train: set, valid: null }, PARAMS, RUN);
  assert.equal(m.nFeatures, set.nFeatures);
  const a = new Float64Array(base.nRows);
  const b = new Float64Array(base.nRows);
  plain.predict(base.features, base.nRows, a);
  m.predict(set.features, set.nRows, b);
  assert.deepEqual(b, a, 'bit for bit the model trained without the column');
  const other = withId(base, (r) => (r * 7) % 50);
  m.predict(other.features, other.nRows, b);
  assert.deepEqual(b, a, 'another id changes nothing');
  const c = new Float64Array(set.nFeatures + 1);
  m.contributions!(set.features, 3, c);
  assert.equal(c[1], 0, 'the id column contributes nothing');
  const z = new Float64Array(set.nRows);
  m.margins!(set.features, set.nRows, z);
  assert.ok(Math.abs(c.reduce((s, v) => s + v, 0) - z[3]) < 1e-9, 'the contributions still add up to the margin');
  const dir = await mkdtemp(join(tmpdir(), 'tandem-gbdt-ids-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await m.save(dir);
  const back = await gbdtRankerKind.load(dir, PARAMS);
  assert.equal(back.nFeatures, set.nFeatures);
  back.predict(set.features, set.nRows, b);
  assert.deepEqual(b, a);
});
