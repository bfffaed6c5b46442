import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tinyDataset } from '../src/retrieval/two-tower/test-fixture.ts';
import { coldStartSplit } from './cold-start.ts';

test('coldStartSplit hides every training event of the chosen users and keeps only their test events', () => {
  const train = tinyDataset(20, 30, 8, 1);
  const test = tinyDataset(20, 30, 3, 2);
  const { train: tr, test: te, users } = coldStartSplit(train, test, 0.25, 7);
  assert.equal(users.length, 5);
  const cold = new Set(users);
  for (let r = 0; r < tr.interactions.length; r++) assert.ok(!cold.has(tr.interactions.user[r]));
  for (let r = 0; r < te.interactions.length; r++) assert.ok(cold.has(te.interactions.user[r]));
  assert.equal(tr.interactions.length + 5 * 8, train.interactions.length);
  assert.equal(te.interactions.length, 5 * 3);
  assert.deepEqual(coldStartSplit(train, test, 0.25, 7).users, users, 'seeded');
  assert.throws(() => coldStartSplit(train, test, 1.5, 7), /fraction/);
});
