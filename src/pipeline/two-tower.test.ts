import { test } from 'node:test';
import assert from 'node:assert/strict';
import { userQuery } from '../retrieval/index.ts';
import { createPipeline, listPipelines } from './registry.ts';
import { tinyDataset } from '../retrieval/two-tower/test-fixture.ts';
import './two-tower.ts';

test("'two-tower' is registered; fit picks epochs on validation, refits, and recommends unseen items", async () => {
  assert.ok(listPipelines().some((p) => p.name === 'two-tower'));
  const train = tinyDataset(30, 40, 12);
  const p = createPipeline('two-tower', { epochs: 3, embeddingDim: 8, hidden: '16', dim: 8, batchSize: 16, temperature: 0.2 });
  const lines: string[] = [];
  await p.fit({ train, seed: 1, threads: 1, log: (l) => lines.push(l) });
  assert.ok(lines.some((l) => /validation chose \d+ epochs/.test(l)), lines.join('\n'));
  const q = userQuery(train, 0);
  const seen = new Set(q.history);
  const recs = p.recommend(q, 10, seen);
  assert.equal(recs.length, 10);
  for (const i of recs) assert.ok(!seen.has(i));
  assert.equal(new Set(recs).size, 10);
  assert.throws(() => createPipeline('two-tower', { hidden: '16,x' }), /'hidden'/);
  assert.throws(() => createPipeline('two-tower', { loss: 'hinge' }), /'loss'/);
});
