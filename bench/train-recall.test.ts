import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSynthetic } from '../src/data/index.ts';
import { trainTwoTower } from '../src/retrieval/index.ts';
import { holdOutLatest, measureRecall } from './train-recall.ts';

test('bench train --recall-users: holds out each chosen user\'s latest event; exact index recall equals the exact scan', async () => {
  const ds = generateSynthetic({ users: 300, items: 400, interactions: 9000, seed: 3 });
  const h = holdOutLatest(ds, 40);
  assert.equal(h.users.length, 40);
  assert.equal(h.test.interactions.length, 40);
  assert.equal(h.train.interactions.length, ds.interactions.length - 40);
  const tx = h.test.interactions;
  const byTrain = h.train.byUser();
  for (let r = 0; r < tx.length; r++) {
    const u = tx.user[r];
    assert.ok(h.users.includes(u));
    // nothing the user did in training is later than the held-out event
    for (let k = byTrain.offsets[u]; k < byTrain.offsets[u + 1]; k++) assert.ok(h.train.interactions.timestamp[byTrain.rows[k]] <= tx.timestamp[r]);
  }
  assert.throws(() => holdOutLatest(h.test, 3), /no user has two interactions/); // one event per user
  const { model } = await trainTwoTower(h.train, { epochs: 1, dim: 16, embeddingDim: 8, hidden: [16] }, { threads: 1, seed: 1, log: () => {} });
  const r = measureRecall(model, h, 50);
  assert.equal(r.indexKind, 'exact'); // 400 items: below the HNSW threshold
  assert.equal(r.indexRecall, r.exactRecall);
  assert.equal(r.indexOverlap, 1);
  assert.ok(r.popularityRecall >= 0 && r.popularityRecall <= 1 && r.exactRecall >= 0 && r.exactRecall <= 1);
  assert.equal(r.users, 40);
});
