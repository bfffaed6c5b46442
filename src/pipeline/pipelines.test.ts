import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSynthetic, parseSplit, splitDataset } from '../data/index.ts';
import { createPipeline, listPipelines, registerPipeline, resolveParams, pipelineSpec, runEvaluation } from './index.ts';

const ds = generateSynthetic({ users: 400, items: 200, interactions: 12000, seed: 8 });
const { train, test: te } = splitDataset(ds, parseSplit('user-temporal:0.2'));

test('registry: built-ins, checked parameters, open to new pipelines', () => {
  const names = listPipelines().map((p) => p.name);
  assert.ok(names.includes('popularity') && names.includes('itemknn'));
  assert.deepEqual(resolveParams(pipelineSpec('itemknn'), { neighbours: '50' }), { neighbours: 50, shrink: 0, value: 'sum', historyHalfLife: 0, tune: false });
  assert.throws(() => createPipeline('itemknn', { neighbors: 5 }), /pipeline 'itemknn': unknown parameter 'neighbors' \(known: neighbours/);
  assert.throws(() => createPipeline('itemknn', { neighbours: 2.5 }), /'neighbours': 2.5 is not an integer/);
  assert.throws(() => createPipeline('itemknn', { value: 'max' }), /'value': 'max' is not one of sum, log, binary/);
  assert.throws(() => createPipeline('nope'), /unknown pipeline 'nope' \(known: .*popularity/);
  assert.throws(() => registerPipeline({ ...pipelineSpec('popularity') }), /already registered/);
  registerPipeline({
    name: 'test-last-item',
    description: 'the items in index order (a fixture for the open registry)',
    params: {},
    create: () => ({
      name: 'test-last-item',
      async fit() {},
      recommend: (_q, n, ex) => Int32Array.from(Array.from({ length: ds.numItems }, (_, i) => i).filter((i) => !ex.has(i)).slice(0, n)),
    }),
  });
  assert.equal(createPipeline('test-last-item').name, 'test-last-item');
});

test('runEvaluation: fits each pipeline, reports the JSON shape, valid split only when asked', async () => {
  const lines: string[] = [];
  const report = await runEvaluation({ train, test: te, pipelines: ['popularity', 'itemknn'], params: { itemknn: { neighbours: 50 } }, log: (l) => lines.push(l) });
  assert.deepEqual(Object.keys(report), ['dataset', 'results']);
  assert.equal(report.dataset.users, 400);
  assert.equal(report.dataset.interactions, 12000);
  assert.equal(report.dataset.trainInteractions + report.dataset.testInteractions, 12000);
  assert.deepEqual(report.results.map((r) => r.pipeline), ['popularity', 'itemknn']);
  for (const r of report.results) {
    for (const k of ['ndcg@10', 'recall@10', 'recall@20', 'recall@50', 'recall@100', 'hr@10', 'mrr@10', 'precision@10', 'coverage@10']) {
      assert.ok(r.metrics[k] >= 0 && r.metrics[k] <= 1, `${r.pipeline} ${k}`);
    }
    assert.ok(r.trainSeconds >= 0 && r.evalSeconds >= 0);
  }
  assert.ok(report.results[1].metrics['ndcg@10'] > report.results[0].metrics['ndcg@10']);
  assert.ok(!lines.some((l) => l.includes('validation split')), 'no pipeline asked for valid');
  assert.equal(report.results[0].metrics.auc, undefined, 'AUC only when asked');
  const withAuc = await runEvaluation({ train, test: te, pipelines: ['popularity', 'itemknn'], auc: true, ks: [10] });
  for (const r of withAuc.results) assert.ok(r.metrics.auc > 0.5 && r.metrics.auc < 1, `${r.pipeline} auc ${r.metrics.auc}`);
});

test('tuning scores a grid on the validation split and refits the best on train', async () => {
  const lines: string[] = [];
  const report = await runEvaluation({ train, test: te, pipelines: ['popularity'], params: { popularity: { tune: true } }, log: (l) => lines.push(l) });
  assert.equal(lines.filter((l) => l.includes('validation split')).length, 1);
  assert.equal(lines.filter((l) => l.includes('popularity: valid ndcg@10')).length, 7);
  const fit = report.results[0].fit as { chosen: { halfLifeDays: number }; tuning: { metric: number }[] };
  const best = Math.max(...fit.tuning.map((t) => t.metric));
  assert.equal(fit.tuning.find((t) => t.metric === best) !== undefined, true);
  assert.ok([0, 3, 7, 14, 30, 90, 365].includes(fit.chosen.halfLifeDays));
});
