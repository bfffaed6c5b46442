import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSynthetic, parseSplit, splitDataset } from '../data/index.ts';
import { ParamError } from '../schema/index.ts';
import { builtinRegistry, checkEngineConfig, defaultEngineConfig, engineConfigFromFlags, listPipelines, pipelineConfig, pipelineSpec, registerPipeline, resolvePipelineParams, runEvaluation } from './index.ts';

const ds = generateSynthetic({ users: 400, items: 200, interactions: 12000, seed: 8 });
const { train, test: te } = splitDataset(ds, parseSplit('user-temporal:0.2'));
const registry = builtinRegistry();

test('pipelines are engine configurations: built-ins, checked parameters, open to new ones', () => {
  const names = listPipelines().map((p) => p.name);
  for (const n of ['popularity', 'itemknn', 'ease', 'two-tower', 'two-stage']) assert.ok(names.includes(n), n);
  assert.deepEqual(resolvePipelineParams('itemknn', { neighbours: '50' }), { neighbours: 50, shrink: 0, value: 'sum', historyHalfLife: 0, tune: false });
  assert.throws(() => resolvePipelineParams('itemknn', { neighbors: 5 }), (e: Error) => e instanceof ParamError && /neighbors: pipeline 'itemknn' parameter unknown parameter \(known: neighbours.*did you mean 'neighbours'/.test(e.message));
  assert.throws(() => resolvePipelineParams('itemknn', { neighbours: 2.5 }), /neighbours: .*2.5 is not an integer/);
  assert.throws(() => resolvePipelineParams('itemknn', { value: 'max' }), /value: .*'max' is not one of sum, log, binary/);
  assert.throws(() => pipelineSpec('nope'), /unknown pipeline 'nope' \(known: .*popularity/);
  assert.throws(() => registerPipeline({ ...pipelineSpec('popularity') }), /already registered/);
  registerPipeline({ name: 'test-ease-100', description: 'EASE at lambda 100 (a fixture for the open registry)', params: {}, config: () => ({ sources: [{ kind: 'ease', params: { lambda: 100 } }] }) });
  const c = checkEngineConfig(pipelineConfig('test-ease-100', {}, train), registry);
  assert.equal((c.sources[0].params as { lambda: number }).lambda, 100);
  // every built-in pipeline's configuration is a valid engine configuration
  for (const n of names) checkEngineConfig(pipelineConfig(n, {}, train), registry);
});

test("tandem train's default engine is the two-stage pipeline; flags override it", () => {
  const d = checkEngineConfig(defaultEngineConfig(), registry);
  assert.deepEqual(d, checkEngineConfig(pipelineConfig('two-stage', {}, train), registry));
  assert.deepEqual(d.sources.map((s) => s.name), ['ease', 'ease-h10', 'two-tower']);
  assert.deepEqual(d.fallbacks.map((s) => s.name), ['segments', 'content', 'popularity']);
  assert.equal(d.ranker?.kind, 'gbdt');
  const none = checkEngineConfig(engineConfigFromFlags({ ranker: 'none', candidates: 50 }, train), registry);
  assert.equal(none.ranker, null);
  assert.equal(none.candidates, 50);
  const knn = checkEngineConfig(engineConfigFromFlags({ stages: ['itemknn', 'popularity'] }, train), registry);
  assert.deepEqual(knn.sources.map((s) => s.kind), ['itemknn', 'popularity']);
  const p = checkEngineConfig(engineConfigFromFlags({ params: { candidates: '300', easeRecent: '' } }, train), registry);
  assert.equal(p.candidates, 300);
  assert.deepEqual(p.sources.map((s) => s.name), ['ease', 'two-tower']);
  // --ranker blend / dcn on the default pipeline: the two-stage pipeline made for that ranker
  const blend = checkEngineConfig(engineConfigFromFlags({ ranker: 'blend' }, train), registry);
  assert.deepEqual(blend, checkEngineConfig(pipelineConfig('two-stage-blend', {}, train), registry));
  assert.equal((blend.ranker?.features as { ids?: string } | undefined)?.ids, 'item', "the blend's id column");
  assert.deepEqual(checkEngineConfig(engineConfigFromFlags({ ranker: 'dcn', params: { candidates: '150' } }, train), registry), checkEngineConfig(pipelineConfig('two-stage-dcn', { candidates: '150' }, train), registry));
  assert.deepEqual(blend, checkEngineConfig(engineConfigFromFlags({ pipeline: 'two-stage', ranker: 'blend' }, train), registry), 'the CLI names two-stage by default');
  // another pipeline or an engine file: the kind swapped into that configuration, with its own defaults
  const kinded = checkEngineConfig(engineConfigFromFlags({ engine: pipelineConfig('two-stage', {}, train) as Record<string, unknown>, ranker: 'blend' }, train), registry);
  assert.equal(kinded.ranker?.kind, 'blend');
  assert.equal((kinded.ranker?.features as { ids?: string } | undefined)?.ids ?? 'none', 'none');
  // the two-tower's vectors as DCN inputs: the features name the stage; a pipeline without it is refused
  const vec = checkEngineConfig(pipelineConfig('two-stage-blend', { vectors: '8' }, train), registry);
  assert.deepEqual([vec.ranker?.features.vectors, vec.ranker?.features.vectorDims], ['two-tower', 8]);
  assert.equal(blend.ranker?.features.vectors, 'two-tower', "the blend reads the two-tower's vectors");
  assert.equal(blend.ranker?.features.vectorDims, 4);
  assert.equal(checkEngineConfig(pipelineConfig('two-stage-dcn', {}, train), registry).ranker?.features.vectors, null, 'the DCN alone does not');
  assert.throws(() => checkEngineConfig(pipelineConfig('two-stage-blend', { vectors: '4', sources: 'itemknn' }, train), registry), /ranker\.features\.vectors: 'two-tower' is not among the sources \(ease, ease-h10, itemknn\)/);
  // an ensemble of two-towers: independently seeded sources of one kind
  const tt = checkEngineConfig(engineConfigFromFlags({ params: { twoTowers: '2' } }, train), registry);
  assert.deepEqual(tt.sources.map((s) => s.name), ['ease', 'ease-h10', 'two-tower', 'two-tower-2']);
  assert.deepEqual(tt.sources.slice(2).map((s) => (s.params as { seedOffset: number }).seedOffset), [0, 1]);
});

test('runEvaluation: each pipeline fitted as an engine and scored through its request path; the JSON shape', async () => {
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
  const fit = report.results[0].fit as { tuning: { chosen: { halfLifeDays: number }; tuning: { metric: number }[] } };
  assert.ok(fit.tuning.tuning.length === 7);
  assert.ok([0, 3, 7, 14, 30, 90, 365].includes(fit.tuning.chosen.halfLifeDays));
});

test('on synthetic data item-kNN clearly beats popularity, through the engine (the signal is learnable)', async () => {
  const big = generateSynthetic({ users: 1500, items: 800, interactions: 50000, seed: 21 });
  const sides = splitDataset(big, parseSplit('user-temporal:0.2'));
  const report = await runEvaluation({ ...sides, pipelines: ['popularity', 'itemknn'], params: { itemknn: { neighbours: 100 } }, ks: [10] });
  const [pop, knn] = report.results.map((r) => r.metrics['ndcg@10']);
  assert.ok(knn > 1.5 * pop, `item-kNN ndcg@10 ${knn} vs popularity ${pop}`);
});

test("two-stage --tune: EASE's strength on EASE alone, then the GBDT's leaves and rate on rows built once, all on the validation split", async () => {
  const lines: string[] = [];
  const report = await runEvaluation({ train, test: te, pipelines: ['two-stage'], params: { 'two-stage': { tune: true, sources: '', numRounds: 15, candidates: 30 } }, log: (l) => lines.push(l) });
  const fit = report.results[0].fit as { tuning: { chosen: Record<string, unknown>; tuning: { setting: Record<string, unknown>; metric: number }[] } };
  assert.equal(fit.tuning.tuning.length, 5 + 6);
  assert.ok([125, 250, 500, 1000, 2000].includes(fit.tuning.chosen.easeLambda as number));
  assert.ok([15, 31, 63].includes(fit.tuning.chosen.numLeaves as number));
  assert.ok([0.03, 0.1].includes(fit.tuning.chosen.learningRate as number));
  assert.equal(lines.filter((l) => l.includes('validation split')).length, 1, 'tuned on the validation split of train');
});
