import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DatasetBuilder, type EntityTable } from '../../data/index.ts';
import { ItemCatalog } from '../../features/index.ts';
import { check, ParamError } from '../../schema/index.ts';
import { BUSINESS_PARAMS, BusinessLayer, type BusinessConfig } from './business.ts';

/** The business layer over a fresh live catalog of `items`, with checked rules. */
function layer(items: EntityTable, rules: Partial<BusinessConfig> = {}): BusinessLayer {
  return new BusinessLayer(new ItemCatalog(items), check(BUSINESS_PARAMS, rules));
}

/** Six items: price, a category, genres, stock, a 2-d embedding. */
function catalog(): EntityTable {
  const b = new DatasetBuilder({
    user: [],
    item: [
      { name: 'price', kind: 'numeric' },
      { name: 'cat', kind: 'categorical' },
      { name: 'genres', kind: 'multi-categorical' },
      { name: 'stock', kind: 'numeric' },
      { name: 'emb', kind: 'vector', dim: 2 },
    ],
    eventTypes: [],
  });
  const rows: [number, string, string, number, number[]][] = [
    [1, 'x', 'a|b', 5, [1, 0]],
    [4, 'x', 'a', 5, [1, 0.1]],
    [100, 'y', 'c', 5, [0, 1]],
    [2, 'y', 'b|c', 0, [0.5, 0.5]],
    [3, 'z', 'a|c', 1, [-1, 0]],
    [NaN, 'z', 'd', NaN, [0, -1]],
  ];
  rows.forEach(([price, cat, genres, stock, emb], i) => {
    const r = b.items.row(`i${i}`);
    if (price === price) b.items.set(r, 'price', price);
    b.items.set(r, 'cat', cat);
    b.items.set(r, 'genres', genres);
    if (stock === stock) b.items.set(r, 'stock', stock);
    b.items.set(r, 'emb', emb);
  });
  return b.build().items;
}

const all = Int32Array.from([0, 1, 2, 3, 4, 5]);
const rank = [0, 1, 2, 3, 4, 5];

test('value blend: P(action) x price^alpha reorders by expected revenue; missing value is neutral', () => {
  const items = catalog();
  const p = [0.5, 0.4, 0.1, 0.05, 0.02, 0.3];
  const pick = (alpha: number) => Array.from(layer(items, { valueFeature: 'price', valueExponent: alpha }).select(all, 6, p, rank, 6).order);
  // alpha 1: 0.5, 1.6, 10, 0.1, 0.06, 0.3 (no price)
  assert.deepEqual(pick(1), [2, 1, 0, 5, 3, 4]);
  assert.deepEqual(pick(0), [0, 1, 5, 2, 3, 4]);
  const biz = layer(items, { valueFeature: 'price', valueExponent: 0.5 });
  assert.ok(Math.abs(biz.finalScore(1, 0.4) - 0.8) < 1e-12);
  const r = biz.select(all, 6, p, rank, 2);
  assert.deepEqual(Array.from(r.order), [2, 1]);
  assert.ok(Math.abs(r.scores[0] - 1) < 1e-6);
});

test('boosts and demotions multiply the score of items with the attribute', () => {
  const items = catalog();
  const p = [0.5, 0.4, 0.3, 0.2, 0.1, 0.05];
  const biz = layer(items, { boosts: [{ feature: 'genres', value: 'c', factor: 3 }, { feature: 'cat', value: 'x', factor: 0.5 }] });
  // finals: 0.25, 0.2, 0.9, 0.6, 0.3, 0.05
  assert.deepEqual(Array.from(biz.select(all, 6, p, rank, 6).order), [2, 3, 4, 0, 1, 5]);
  assert.throws(() => layer(items, { boosts: [{ feature: 'price', value: '1', factor: 2 }] }), /boosts\[0\]\.feature.*numeric/);
  assert.throws(() => layer(items, { boosts: [{ feature: 'nope', value: '1', factor: 2 }] }), /no column 'nope'/);
});

test('hard filters: category allow/deny lists, availability; the seen rule names what a request excludes', () => {
  const items = catalog();
  const p = [0.6, 0.5, 0.4, 0.3, 0.2, 0.1];
  assert.deepEqual([...layer(items).exclusions([0, 3], [5])].sort(), [0, 3, 5]);
  assert.deepEqual([...layer(items, { excludeSeen: false }).exclusions([0, 3], [5])], [5]);
  assert.deepEqual(Array.from(layer(items, { categoryFeature: 'cat', allowCategories: ['y', 'z'] }).select(all, 6, p, rank, 6).order), [2, 3, 4, 5]);
  assert.deepEqual(Array.from(layer(items, { categoryFeature: 'genres', denyCategories: ['a'] }).select(all, 6, p, rank, 6).order), [2, 3, 5]);
  // no category feature named: the first categorical column ('cat') is used
  assert.deepEqual(Array.from(layer(items, { denyCategories: ['x'] }).select(all, 6, p, rank, 6).order), [2, 3, 4, 5]);
  // stock 0 is unavailable; missing stock counts as available
  assert.deepEqual(Array.from(layer(items, { availabilityFeature: 'stock' }).select(all, 6, p, rank, 6).order), [0, 1, 2, 4, 5]);
  assert.throws(() => layer(items, { availabilityFeature: 'cat' }), /availabilityFeature: column 'cat' is categorical, expected numeric/);
});

test('items upserted live are filtered, boosted and valued like trained ones; deleted ones never pass', () => {
  const cat = new ItemCatalog(catalog());
  const biz = new BusinessLayer(cat, check(BUSINESS_PARAMS, { availabilityFeature: 'stock', valueFeature: 'price', boosts: [{ feature: 'genres', value: 'c', factor: 3 }] }));
  const { item } = cat.upsert('new', cat.checkRow({ price: 10, genres: ['c'], stock: 2, cat: 'x' }, 'features'));
  biz.refresh(item);
  assert.ok(biz.isAllowed(item));
  assert.equal(biz.finalScore(item, 0.1), 0.1 * 10 * 3);
  assert.deepEqual(biz.adjustments(item), [{ rule: 'genres=c', factor: 3 }, { rule: 'price', factor: 10 }]);
  cat.upsert('new', cat.checkRow({ price: 10, stock: 0 }, 'features'));
  biz.refresh(item);
  assert.ok(!biz.isAllowed(item), 'out of stock after the update');
  cat.remove('i0');
  assert.ok(!biz.isAllowed(0), 'deleted');
  const r = biz.select(Int32Array.from([0, 1, item]), 3, [0.9, 0.5, 0.8], [0, 1, 2], 3);
  assert.deepEqual(Array.from(r.order), [1]);
});

test('equal final scores keep the L1 order', () => {
  const items = catalog();
  const p = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
  assert.deepEqual(Array.from(layer(items).select(all, 6, p, [5, 3, 4, 0, 1, 2], 6).order), [3, 4, 5, 1, 2, 0]);
});

test('MMR diversity: known picks over category sets and embeddings', () => {
  const items = catalog();
  const three = Int32Array.from([0, 1, 2]);
  const p = [1.0, 0.9, 0.8];
  // category x, x, y; lambda 0.5: pick 0; then item 1: 0.5*0.5 - 0.5*1 = -0.25, item 2: 0 - 0 = 0
  const cat = layer(items, { diversityLambda: 0.5, diversityFeature: 'cat' });
  assert.deepEqual(Array.from(cat.select(three, 3, p, rank, 3).order), [0, 2, 1]);
  // lambda 1 turns it off
  assert.deepEqual(Array.from(layer(items, { diversityLambda: 1, diversityFeature: 'cat' }).select(three, 3, p, rank, 3).order), [0, 1, 2]);
  // a high lambda keeps relevance first: item 1: 0.9*0.5 - 0.1*1 = 0.35 > item 2: 0
  assert.deepEqual(Array.from(layer(items, { diversityLambda: 0.9, diversityFeature: 'cat' }).select(three, 3, p, rank, 3).order), [0, 1, 2]);
  const emb = layer(items, { diversityLambda: 0.5, diversityFeature: 'emb' });
  assert.ok(Math.abs(emb.similarity(0, 2)) < 1e-12);
  assert.ok(Math.abs(emb.similarity(0, 1) - 1 / Math.sqrt(1.01)) < 1e-6);
  assert.deepEqual(Array.from(emb.select(three, 3, p, rank, 3).order), [0, 2, 1]);
  const gen = layer(items, { diversityLambda: 0.5, diversityFeature: 'genres' });
  assert.equal(gen.similarity(0, 3), 1 / 3); // {a,b} vs {b,c}
  assert.throws(() => layer(items, { diversityLambda: 0.5 }), /diversityFeature/);
  assert.throws(() => layer(items, { diversityLambda: 1.5, diversityFeature: 'cat' }), (e: Error) => e instanceof ParamError && /diversityLambda: 1.5 is outside \[0, 1\]/.test(e.message));
});
