import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DatasetBuilder, Vocabulary } from './index.ts';

test('Vocabulary maps known values densely and hashes unseen ones into buckets', () => {
  const v = new Vocabulary(8);
  assert.equal(v.add('a'), 0);
  assert.equal(v.add('b'), 1);
  assert.equal(v.add('a'), 0);
  assert.equal(v.encode('b'), 1);
  const u = v.encode('never-seen');
  assert.ok(u >= 2 && u < 10);
  assert.equal(v.encode('never-seen'), u);
  assert.equal(v.capacity, 10);
  assert.equal(new Vocabulary(0).encode('x'), -1);
  assert.deepEqual(Vocabulary.fromJSON(v.toJSON()).values, ['a', 'b']);
});

test('DatasetBuilder builds columns with missing values and orders user histories by (time, item)', () => {
  const b = new DatasetBuilder({
    user: [{ name: 'age', kind: 'numeric' }],
    item: [
      { name: 'genres', kind: 'multi-categorical' },
      { name: 'title', kind: 'text' },
      { name: 'cat', kind: 'categorical' },
      { name: 'emb', kind: 'vector', dim: 2 },
    ],
    eventTypes: [
      { name: 'view', weight: 1, negative: false },
      { name: 'buy', weight: 5, negative: false },
    ],
  });
  const u0 = b.users.row('alice');
  b.users.set(u0, 'age', 31);
  const i0 = b.items.row('m1');
  b.items.set(i0, 'genres', 'Drama|Comedy');
  b.items.set(i0, 'title', 'The Big Sleep');
  b.items.set(i0, 'emb', [0.5, -1]);
  const i1 = b.items.row('m2');
  b.items.set(i1, 'cat', 'x');
  const u1 = b.users.row('bob');
  b.addInteraction(u0, i1, b.eventType('buy'), 1, 200);
  b.addInteraction(u0, i0, b.eventType('view'), 1, 100);
  b.addInteraction(u1, i1, 0, 1, 100);
  b.addInteraction(u0, i0, 0, 1, 200);
  const ds = b.build();
  assert.equal(ds.numUsers, 2);
  assert.equal(ds.numItems, 2);
  const age = ds.users.column('age');
  assert.ok(age?.kind === 'numeric' && age.values[0] === 31 && Number.isNaN(age.values[1]));
  const g = ds.items.column('genres');
  assert.ok(g?.kind === 'multi-categorical');
  assert.deepEqual(Array.from(g.offsets), [0, 2, 2]);
  assert.deepEqual(g.vocab.values, ['Drama', 'Comedy']);
  const t = ds.items.column('title');
  assert.ok(t?.kind === 'text');
  assert.deepEqual(t.vocab.values, ['the', 'big', 'sleep']);
  const c = ds.items.column('cat');
  assert.ok(c?.kind === 'categorical' && c.codes[0] === -1 && c.codes[1] === 0);
  const e = ds.items.column('emb');
  assert.ok(e?.kind === 'vector' && e.values[1] === -1 && Number.isNaN(e.values[2]));
  const { offsets, rows } = ds.byUser();
  assert.deepEqual(Array.from(offsets), [0, 3, 4]);
  // alice: (100, m1), (200, m1) before (200, m2) since item index 0 < 1
  assert.deepEqual(Array.from(rows.subarray(0, 3)), [1, 3, 0]);
  assert.equal(b.eventType('nope'), -1);
  assert.throws(() => b.users.set(0, 'height', 1), /unknown feature 'height'/);
  assert.throws(() => b.users.set(0, 'age', 'old'), /not a finite number/);
});
