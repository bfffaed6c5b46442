import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DatasetBuilder, selectInteractions, type Dataset } from '../data/index.ts';
import { evaluateRecommender, relevantTestItems, type Recommender } from './index.ts';

/** 3 users, 5 items; rows 0-4 train, 5-9 test. */
function fixture(): { train: Dataset; test: Dataset } {
  const b = new DatasetBuilder({
    user: [],
    item: [],
    eventTypes: [
      { name: 'view', weight: 1, negative: false },
      { name: 'dislike', weight: 1, negative: true },
    ],
  });
  const u = ['a', 'b', 'c'].map((id) => b.users.row(id));
  const i = ['i0', 'i1', 'i2', 'i3', 'i4'].map((id) => b.items.row(id));
  // train: a saw i0 then i1; b saw i2; b disliked i3; c nothing
  b.addInteraction(u[0], i[0], 0, 1, 10);
  b.addInteraction(u[0], i[1], 0, 1, 20);
  b.addInteraction(u[1], i[2], 0, 1, 10);
  b.addInteraction(u[1], i[3], 1, 1, 15);
  b.addInteraction(u[0], i[0], 0, 1, 25);
  // test: a -> i2, i2 again, i1 (already in train: not relevant); b -> i3 disliked again (negative: not relevant); c -> i4
  b.addInteraction(u[0], i[2], 0, 1, 30);
  b.addInteraction(u[0], i[2], 0, 1, 31);
  b.addInteraction(u[0], i[1], 0, 1, 32);
  b.addInteraction(u[1], i[3], 1, 1, 30);
  b.addInteraction(u[2], i[4], 0, 1, 30);
  const ds = b.build();
  return {
    train: ds.withInteractions(selectInteractions(ds.interactions, [0, 1, 2, 3, 4])),
    test: ds.withInteractions(selectInteractions(ds.interactions, [5, 6, 7, 8, 9])),
  };
}

test('relevant test items: distinct, positive, not in training', () => {
  const { train, test: te } = fixture();
  const r = relevantTestItems(train, te);
  assert.deepEqual(Array.from(r.offsets), [0, 1, 1, 2]);
  assert.deepEqual(Array.from(r.items), [2, 4]);
  assert.equal(r.users, 2);
});

test('Dataset.query: ordered by time, signed weights', () => {
  const { train } = fixture();
  const q = train.query(1);
  assert.deepEqual(Array.from(q.history), [2, 3]);
  assert.deepEqual(Array.from(q.weights!), [1, -1]);
  assert.deepEqual(Array.from(train.query(0).history), [0, 1, 0]);
});

test('evaluateRecommender: full ranking minus training items, averaged over users with relevant items', () => {
  const { train, test: te } = fixture();
  const seen: number[][] = [];
  // a fixed order 4, 3, 2, 1, 0 minus the exclusions
  const rec: Recommender = (q, n, exclude) => {
    seen.push([q.user, n, exclude.size]);
    return Int32Array.from([4, 3, 2, 1, 0].filter((x) => !exclude.has(x)).slice(0, n));
  };
  const r = evaluateRecommender(train, te, rec, { ks: [1, 2] });
  // user a (excl {0,1}): list 4, 3, 2 -> relevant {2} at position 2: nothing @1 or @2
  // user c (excl {}):    list 4, 3, ... -> relevant {4} at position 0: recall@1 1, ndcg@1 1
  // user b has no relevant item and is skipped
  assert.deepEqual(seen, [[0, 2, 2], [2, 2, 0]]);
  assert.equal(r.users, 2);
  assert.equal(r.relevant, 2);
  assert.equal(r.metrics['recall@1'], 0.5);
  assert.equal(r.metrics['ndcg@2'], 0.5);
  assert.equal(r.metrics['mrr@2'], 0.5);
  // coverage@2: a's {4, 3}, c's {4, 3} -> 2 of 5
  assert.equal(r.metrics['coverage@2'], 0.4);
  // with a scorer, AUC: a: item 2 scores 2 vs negatives 3 (3), 4 (4) -> 0; c: 4 beats all -> 1
  const s = evaluateRecommender(train, te, rec, { ks: [1], scorer: () => Float32Array.from([0, 1, 2, 3, 4]) });
  assert.equal(s.metrics.auc, 0.5);
});

test('evaluateRecommender rejects training items, duplicates, out-of-range items, mismatched splits', () => {
  const { train, test: te } = fixture();
  assert.throws(() => evaluateRecommender(train, te, () => Int32Array.from([0])), /user 0, one of the user's training items/);
  assert.throws(() => evaluateRecommender(train, te, () => Int32Array.from([4, 4])), /item 4 twice/);
  assert.throws(() => evaluateRecommender(train, te, () => Int32Array.from([9])), /catalog has 5 items/);
  const other = fixture();
  assert.throws(() => evaluateRecommender(train, other.test, () => new Int32Array(0)), /two sides of one dataset/);
});

test('maxUsers evaluates a seeded sample', () => {
  const { train, test: te } = fixture();
  const users: number[] = [];
  const r = evaluateRecommender(train, te, (q) => (users.push(q.user), new Int32Array(0)), { maxUsers: 1, seed: 3 });
  assert.equal(r.users, 1);
  assert.equal(users.length, 1);
});
