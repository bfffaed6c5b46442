// The deep ranker through the one engine: trained, written to a model directory, read back, served
// with explanations; the pipelines and the --ranker override name it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry, checkEngineConfig, Engine, readModelDir, trainModel } from './engine/index.ts';
import { fixtureDataset } from './engine/fixture.ts';
import { engineConfigFromFlags, pipelineConfig } from './index.ts';

const registry = builtinRegistry();
const FALLBACKS = [{ kind: 'segments' }, { kind: 'content' }, { kind: 'popularity' }];
const DCN = { hidden: [16], embedDim: 4, epochs: 3, batchSize: 64, learningRate: 0.01 };

for (const [kind, params] of [
  ['dcn', DCN],
  ['blend', { gbdt: { numRounds: 10, minDataInLeaf: 5 }, dcn: DCN, weights: [0, 0.5, 1] }],
] as [string, Record<string, unknown>][]) {
  test(`a ${kind} ranker trains, is written, reads back scoring the same, and explains its recommendations`, async (t) => {
    const root = await mkdtemp(join(tmpdir(), `tandem-${kind}-`));
    t.after(() => rm(root, { recursive: true, force: true }));
    const dir = join(root, 'm');
    const config = { sources: [{ kind: 'ease', params: { lambda: 10 } }], fallbacks: FALLBACKS, candidates: 30, ranker: { kind, params } };
    await trainModel(dir, { dataset: fixtureDataset(), registry, config, holdout: 0 });
    const back = await readModelDir(dir, registry);
    assert.equal(back.manifest.ranker?.kind, kind);
    assert.equal(back.ranker!.model.kind, kind);
    const engine = new Engine(back);
    const r = engine.recommend({ user: 'u3', k: 5 }).items;
    assert.equal(r.length, 5);
    for (let i = 1; i < r.length; i++) assert.ok(r[i - 1].score >= r[i].score);
    assert.ok(r.some((x) => x.explanation.rankedUpBy.length > 0), 'gradient x input attributions name features');
    // the same rows scored by the in-memory model and the one read back
    const again = await readModelDir(dir, registry);
    const a = engine.trace({ user: 'u3', k: 5 });
    const n = a.candidates.count;
    const p = new Float64Array(n);
    const q = new Float64Array(n);
    back.ranker!.model.predict(a.rows!, n, p);
    again.ranker!.model.predict(a.rows!, n, q);
    assert.deepEqual(p, q);
  });
}

test('two-stage-dcn and two-stage-blend are two-stage with another ranker; --ranker KIND starts from that kind\'s defaults', () => {
  const ds = fixtureDataset();
  const dcn = checkEngineConfig(pipelineConfig('two-stage-dcn', { crossLayers: 2 }, ds), registry);
  const base = checkEngineConfig(pipelineConfig('two-stage', {}, ds), registry);
  assert.equal(dcn.ranker!.kind, 'dcn');
  assert.equal(dcn.ranker!.params.crossLayers, 2);
  assert.deepEqual(dcn.sources, base.sources);
  const blend = checkEngineConfig(pipelineConfig('two-stage-blend', {}, ds), registry);
  assert.equal(blend.ranker!.kind, 'blend');
  assert.deepEqual((blend.ranker!.params as { gbdt: unknown }).gbdt, base.ranker!.params);
  // the ensembles chosen on valid: three DCNs alone, two in the blend with the GBDT at 0.6
  assert.equal(checkEngineConfig(pipelineConfig('two-stage-dcn', {}, ds), registry).ranker!.params.ensemble, 3);
  assert.equal((blend.ranker!.params as { dcn: { ensemble: number } }).dcn.ensemble, 2);
  assert.equal((blend.ranker!.params as { weight: number }).weight, 0.6);
  assert.equal((checkEngineConfig(pipelineConfig('two-stage-blend', { dcnEnsemble: '1' }, ds), registry).ranker!.params as { dcn: { ensemble: number } }).dcn.ensemble, 1);
  const flagged = checkEngineConfig(engineConfigFromFlags({ ranker: 'dcn' }, ds), registry);
  assert.equal(flagged.ranker!.kind, 'dcn');
  assert.deepEqual(flagged.ranker!.training, base.ranker!.training);
  assert.throws(() => checkEngineConfig({ ...base, ranker: { kind: 'dcn', params: { crossLayer: 2 } } }, registry), /ranker\.params.*crossLayer.*crossLayers/s);
});
