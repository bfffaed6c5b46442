import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tinyDataset } from '../retrieval/two-tower/test-fixture.ts';
import { builtinRegistry, Engine, fitEngine, listPipelines, pipelineConfig, resolvePipelineParams } from './index.ts';

test("'two-tower' is registered; its stage picks epochs on a validation slice of its training data, refits, and recommends unseen items", async () => {
  assert.ok(listPipelines().some((p) => p.name === 'two-tower'));
  const train = tinyDataset(30, 40, 12);
  const config = pipelineConfig('two-tower', { epochs: 3, embeddingDim: 8, hidden: '16', dim: 8, batchSize: 16, temperature: 0.2 }, train);
  const lines: string[] = [];
  const { model } = await fitEngine(train, config, builtinRegistry(), { seed: 1, log: (l) => lines.push(l) });
  assert.ok(lines.some((l) => /validation chose \d+ epochs/.test(l)), lines.join('\n'));
  const engine = new Engine(model);
  const seen = new Set(Array.from(train.query(0).history, (i) => train.items.ids.values[i]));
  const recs = engine.recommend({ user: train.users.ids.values[0], k: 10 }).items.map((r) => r.id);
  assert.equal(recs.length, 10);
  for (const i of recs) assert.ok(!seen.has(i));
  assert.equal(new Set(recs).size, 10);
  assert.throws(() => resolvePipelineParams('two-tower', { hidden: '16,x' }), /hidden\[1\]: .*"x" is not a finite number/);
  assert.throws(() => resolvePipelineParams('two-tower', { loss: 'hinge' }), /loss: .*'hinge' is not one of softmax, bce/);
});
