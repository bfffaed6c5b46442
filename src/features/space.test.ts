import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DatasetBuilder } from '../data/index.ts';
import { BagBatch } from './bags.ts';
import { FeatureSpace, TowerBatch } from './space.ts';

function ds() {
  const b = new DatasetBuilder({
    user: [
      { name: 'country', kind: 'categorical', buckets: 4 },
      { name: 'age', kind: 'numeric' },
    ],
    item: [
      { name: 'tags', kind: 'multi-categorical', buckets: 4 },
      { name: 'price', kind: 'numeric' },
      { name: 'emb', kind: 'vector', dim: 2 },
    ],
    eventTypes: [
      { name: 'view', weight: 1, negative: false },
      { name: 'buy', weight: 4, negative: false },
      { name: 'skip', weight: 2, negative: true },
    ],
  });
  for (let i = 0; i < 5; i++) {
    const r = b.items.row(`i${i}`);
    b.items.set(r, 'tags', i === 4 ? [] : [`t${i % 2}`, 'all']);
    if (i !== 3) b.items.set(r, 'price', 10 * (i + 1));
    b.items.set(r, 'emb', [i, -i]);
  }
  for (let u = 0; u < 3; u++) {
    const r = b.users.row(`u${u}`);
    b.users.set(r, 'country', u === 2 ? 'de' : 'fr');
    b.users.set(r, 'age', 20 + 10 * u);
  }
  b.addInteraction(0, 0, 0, 1, 10);
  b.addInteraction(0, 1, 1, 1, 20);
  b.addInteraction(0, 2, 2, 1, 30);
  b.addInteraction(1, 1, 0, 1, 10);
  // user 2 and item 3 / 4 never interact
  return b.build();
}

test('BagBatch: rows of entries, growth beyond the initial capacity', () => {
  const b = new BagBatch(1, 1);
  b.reset();
  for (let r = 0; r < 5; r++) {
    b.reserve(r);
    for (let k = 0; k < r; k++) b.push(r * 10 + k, k);
    b.endRow();
  }
  assert.equal(b.rows, 5);
  assert.deepEqual(Array.from(b.offsets.subarray(0, 6)), [0, 0, 1, 3, 6, 10]);
  assert.deepEqual(Array.from(b.indices.subarray(6, 10)), [40, 41, 42, 43]);
});

test('FeatureSpace: tables, bags and dense block for known entities', () => {
  const d = ds();
  const fs = FeatureSpace.fit(d, { dim: 4, numericBuckets: 2, historyLength: 2, recencyDecay: 0.5 });
  assert.deepEqual(fs.tables.map((t) => t.name), ['item.id', 'item.tags', 'item.price.bucket', 'user.id', 'user.country', 'user.age.bucket']);
  assert.deepEqual(fs.user.bags.map((b) => b.name), ['user.id', 'user.country', 'user.age.bucket', 'history']);
  assert.equal(fs.historyTable, 0, 'the history shares the item-id table');
  assert.equal(fs.item.denseWidth, 1 + 2);
  const ib = new TowerBatch(fs.item, 2);
  fs.appendItem(ib, 1);
  fs.appendItem(ib, 4);
  // item 1: its id row; item 4 never interacted: OOV row (numItems + buckets = 5)
  assert.deepEqual(Array.from(ib.bags[0].indices.subarray(0, 2)), [1, 5]);
  // item 4 has no tags: the missing row, the last of the table
  const tagRows = fs.tables[1].rows;
  assert.equal(ib.bags[1].indices[ib.bags[1].offsets[1]], tagRows - 1);
  // price z-scored over known prices (10, 20, 30, 50), vector passed through
  const mean = 27.5;
  const std = Math.sqrt(((10 - mean) ** 2 + (20 - mean) ** 2 + (30 - mean) ** 2 + (50 - mean) ** 2) / 4);
  assert.ok(Math.abs(ib.dense[0] - (20 - mean) / std) < 1e-6);
  assert.deepEqual(Array.from(ib.dense.subarray(1, 3)), [1, -1]);
});

test('history bag: last N events, recency-decayed, negative feedback signed, the OOV row for unknown items', () => {
  const d = ds();
  const fs = FeatureSpace.fit(d, { dim: 4, historyLength: 3, recencyDecay: 0.5 });
  const ub = new TowerBatch(fs.user, 1);
  const items = new Int32Array([0, 1, 2, 3]);
  const w = new Float32Array([1, 4, -2, 1]);
  fs.appendUser(ub, 0, items, w, 0, 4);
  const h = ub.bags[fs.user.bags.findIndex((b) => b.kind === 'history')];
  // newest first: item 3 (never seen -> OOV 5, weight 1), item 2 (-2 * 0.5), item 1 (4 * 0.25); item 0 falls out
  assert.deepEqual(Array.from(h.indices.subarray(0, 3)), [5, 2, 1]);
  assert.deepEqual(Array.from(h.weights.subarray(0, 3)), [1, -1, 1]);
});

test('separate negative bag keeps skips apart with positive weight', () => {
  const fs = FeatureSpace.fit(ds(), { dim: 4, historyLength: 5, negativeHistory: 'separate' });
  const ub = new TowerBatch(fs.user, 1);
  fs.appendUser(ub, 0, new Int32Array([0, 2]), new Float32Array([1, -2]), 0, 2);
  const pos = ub.bags[fs.user.bags.findIndex((b) => b.kind === 'history')];
  const neg = ub.bags[fs.user.bags.findIndex((b) => b.kind === 'negative-history')];
  assert.deepEqual(Array.from(pos.indices.subarray(0, pos.size)), [0]);
  assert.deepEqual([neg.indices[0], neg.weights[0], neg.size], [2, 2, 1]);
});

test('new entities from raw features: unseen categories hash into buckets, missing ones use the missing row', () => {
  const d = ds();
  const fs = FeatureSpace.fit(d, { dim: 4 });
  const ub = new TowerBatch(fs.user, 2);
  fs.appendRawUser(ub, { country: 'jp', age: 40 }, new Int32Array(0), undefined, 0, 0);
  fs.appendRawUser(ub, {}, new Int32Array(0), undefined, 0, 0);
  const c = ub.bags[1];
  const vocab = d.users.column('country')!;
  assert.ok('vocab' in vocab);
  const known = vocab.vocab.size;
  assert.ok(c.indices[0] >= known && c.indices[0] < known + 4, 'a hash bucket');
  assert.equal(c.indices[1], fs.tables[fs.user.bags[1].table].rows - 1, 'the missing row');
  assert.equal(ub.bags[0].indices[0], fs.tables[fs.user.bags[0].table].rows - 1, 'a new user is the OOV id');
  const ib = new TowerBatch(fs.item, 1);
  fs.appendRawItem(ib, { tags: 'all|brand-new', price: 20, emb: [3, 4] });
  assert.equal(ib.bags[1].size, 2);
  assert.deepEqual(Array.from(ib.dense.subarray(1, 3)), [3, 4]);
  assert.throws(() => FeatureSpace.fit(d, { itemFeatures: ['colour'] }), /item feature 'colour' is not in the dataset/);
});

test('a feature column of kind id (a zip code) encodes by its vocabulary code, not by the entity row; idDropout leaves it alone', () => {
  const b = new DatasetBuilder({ user: [{ name: 'zip', kind: 'id', buckets: 2 }], item: [], eventTypes: [{ name: 'view', weight: 1, negative: false }] });
  for (let u = 0; u < 6; u++) b.users.set(b.users.row(`u${u}`), 'zip', u < 5 ? 'z1' : 'z2'); // 5 users share one zip
  b.items.row('i0');
  for (let u = 0; u < 6; u++) b.addInteraction(u, 0, 0, 1, u);
  const fs = FeatureSpace.fit(b.build(), { dim: 4 });
  const f = fs.user.bags.findIndex((x) => x.name === 'user.zip');
  const rows = fs.tables[fs.user.bags[f].table].rows;
  const ub = new TowerBatch(fs.user, 6);
  for (let u = 0; u < 6; u++) fs.appendUser(ub, u, new Int32Array(0), undefined, 0, 0, u === 4);
  const zips = Array.from(ub.bags[f].indices.subarray(0, 6));
  for (const z of zips) assert.ok(z >= 0 && z < rows - 1, `zip row ${z} inside the table's ${rows} rows, not the missing row`);
  assert.equal(new Set(zips.slice(0, 5)).size, 1, 'users with the same zip share its row (user 4 with its id dropped too)');
  assert.notEqual(zips[5], zips[0]);
});
