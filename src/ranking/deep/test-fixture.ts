// A small ranker training set where the answer is known: the label's log-odds are a product of two
// numeric columns (a cross term), a heavy-tailed count, a per-code effect of a categorical column, and
// a penalty when a column is missing.
import { Rng } from '../../math/index.ts';
import assert from 'node:assert/strict';
import type { RankerModel } from '../model/model.ts';
import type { RankerTrainingSet } from '../ranker/training.ts';

/** `groups` user groups of `size` rows; columns a, b, count (heavy-tailed), maybe (NaN 30% of the time), code (0..4). */
export function crossSet(groups: number, size: number, seed: number): RankerTrainingSet {
  const rng = new Rng(seed);
  const F = 5;
  const n = groups * size;
  const features = new Float32Array(n * F);
  const labels = new Float32Array(n);
  const effect = [1.5, -1, 0, 0.5, -2];
  for (let r = 0; r < n; r++) {
    const a = rng.normal();
    const b = rng.normal();
    const count = Math.floor(Math.exp(3 * rng.next()) * 30);
    const missing = rng.next() < 0.3;
    const maybe = missing ? NaN : rng.normal();
    const code = rng.int(5);
    features.set([a, b, count, maybe, code], r * F);
    const z = 2 * a * b + 0.8 * Math.log1p(count) - 3 + effect[code] + (missing ? -1 : 0.5 * maybe);
    labels[r] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  const g = new Int32Array(groups + 1);
  for (let i = 1; i <= groups; i++) g[i] = i * size;
  return {
    features,
    nRows: n,
    nFeatures: F,
    labels,
    groups: g,
    featureNames: ['a', 'b', 'count', 'maybe', 'code'],
    groupUsers: Int32Array.from({ length: groups }, (_, i) => i),
    items: Int32Array.from({ length: n }, (_, r) => r % size),
    cardinalities: Int32Array.of(0, 0, 0, 0, 5),
  };
}

/**
 * Rows where the label depends on bags: columns a (numeric), the item's tags (3 slots of codes 0..7,
 * NaN padded) and the user's tags (2 slots, the same codes, sharing the item tags' table); the log-odds
 * rise with how many of the item's tags the user has, which no single column shows.
 */
export function bagSet(groups: number, size: number, seed: number): RankerTrainingSet {
  const rng = new Rng(seed);
  const F = 6;
  const n = groups * size;
  const features = new Float32Array(n * F).fill(NaN);
  const labels = new Float32Array(n);
  for (let g = 0; g < groups; g++) {
    const u0 = rng.int(8);
    const u1 = rng.next() < 0.3 ? NaN : (u0 + 1 + rng.int(7)) % 8;
    for (let k = 0; k < size; k++) {
      const r = g * size + k;
      const a = rng.normal();
      const m = 1 + rng.int(3);
      let match = 0;
      const tags = new Set<number>();
      while (tags.size < m) tags.add(rng.int(8));
      features[r * F] = a;
      [...tags].forEach((t, j) => {
        features[r * F + 1 + j] = t;
        if (t === u0 || t === u1) match++;
      });
      features[r * F + 4] = u0;
      features[r * F + 5] = u1;
      const z = 0.5 * a + 2.5 * match - 2;
      labels[r] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    }
  }
  const gs = new Int32Array(groups + 1);
  for (let i = 1; i <= groups; i++) gs[i] = i * size;
  return {
    features,
    nRows: n,
    nFeatures: F,
    labels,
    groups: gs,
    featureNames: ['a', 'bag_tags_0', 'bag_tags_1', 'bag_tags_2', 'ubag_tags_0', 'ubag_tags_1'],
    groupUsers: Int32Array.from({ length: groups }, (_, i) => i),
    items: Int32Array.from({ length: n }, (_, r) => r % size),
    cardinalities: Int32Array.of(0, 8, 8, 8, 8, 8),
    embedOnly: Uint8Array.of(0, 1, 1, 1, 1, 1),
    embedGroups: { pool: Int32Array.of(-1, 1, 1, 1, 4, 4), table: Int32Array.of(-1, 1, 1, 1, 1, 1) },
  };
}

/** Asserts that `back` (a model read back from its directory) scores `set` exactly as `model` does. */
export function assertSameScores(model: RankerModel, back: RankerModel, set: RankerTrainingSet): void {
  const a = new Float64Array(set.nRows);
  const b = new Float64Array(set.nRows);
  model.predict(set.features, set.nRows, a);
  back.predict(set.features, set.nRows, b);
  assert.deepEqual(b, a);
}
