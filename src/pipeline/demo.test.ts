import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fixtureDataset } from './engine/index.ts';
import { join } from 'node:path';
import { builtinRegistry, checkEngineConfig, DEMO_PARAMS, DEMO_PIPELINES, listPipelines, pipelineConfig, readManifest, runDemo } from './index.ts';

const TINY = { users: 300, items: 150, interactions: 9000 };

test('runDemo: progress, the table, and example users with their recommendations', async () => {
  const logs: string[] = [];
  const out: string[] = [];
  const { report, model } = await runDemo({ data: TINY, pipelines: ['popularity', 'itemknn', 'not-registered'], showUsers: 2, log: (m) => logs.push(m), print: (t) => out.push(t) });
  assert.equal(model, null);
  assert.deepEqual(report.results.map((r) => r.pipeline), ['popularity', 'itemknn']);
  assert.ok(logs.some((l) => l.startsWith('[1/3]')) && logs.some((l) => l.startsWith('[3/3]')));
  const text = out.join('\n');
  assert.match(text, /^pipeline +ndcg@10/m);
  assert.equal((text.match(/^user u\d+ /gm) ?? []).length, 2);
  assert.equal((text.match(/recommended:/g) ?? []).length, 2);
  await assert.rejects(runDemo({ pipelines: ['not-registered'] }), /none of the demo pipelines is registered/);
});

test('the demo parameters are valid for every registered demo pipeline', () => {
  const registered = new Set(listPipelines().map((p) => p.name));
  for (const name of Object.keys(DEMO_PARAMS)) assert.ok(DEMO_PIPELINES.includes(name), name);
  const ds = fixtureDataset();
  for (const name of DEMO_PIPELINES.filter((n) => registered.has(n))) checkEngineConfig(pipelineConfig(name, DEMO_PARAMS[name] ?? {}, ds), builtinRegistry());
});

test('runDemo with a model directory: the engine trained on every event, read back, its recommendations explained', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-demo-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'model');
  const logs: string[] = [];
  const out: string[] = [];
  const data = { users: 200, items: 100, interactions: 5000 };
  const { model } = await runDemo({ data, pipelines: ['popularity'], showUsers: 2, modelDir: dir, log: (m) => logs.push(m), print: (t) => out.push(t) });
  assert.ok(model);
  assert.equal(model.dir, dir);
  assert.equal(model.exampleUsers.length, 2);
  const registry = builtinRegistry();
  const manifest = await readManifest(dir, registry);
  assert.equal(manifest.modelVersion, model.modelVersion);
  assert.equal(manifest.data.interactions, data.interactions);
  assert.deepEqual((manifest.parameters.demo as { evaluation: { pipeline: string }[] }).evaluation.map((e) => e.pipeline), ['popularity']);
  // the model is the two-stage pipeline with the demo's parameters: what the table measures is what npm start serves
  assert.deepEqual(manifest.config, checkEngineConfig(pipelineConfig('two-stage', DEMO_PARAMS['two-stage'], fixtureDataset()), registry));
  assert.deepEqual(manifest.stages.map((s) => s.name), ['ease', 'ease-h10', 'two-tower', 'segments', 'content', 'popularity']);
  assert.equal(manifest.ranker?.kind, 'gbdt');
  assert.ok(logs.some((l) => l.startsWith('[4/5]')) && logs.some((l) => l.startsWith('[5/5]')));
  assert.ok(logs.some((l) => /two-tower: fitted on 5000 events/.test(l)), logs.join('\n'));
  const text = out.join('\n');
  for (const id of model.exampleUsers) assert.match(text, new RegExp(`^user ${id} \\(personal\\):$`, 'm'));
  // the engine's explanations name the sources that found each item and the ranker features that raised it
  assert.equal((text.match(/score [\d.]+: found by [a-z0-9-]+ #\d+/g) ?? []).length, 10);
  assert.ok(/ranked up by /.test(text), text);
  await assert.rejects(runDemo({ data, pipelines: ['popularity'], modelDir: dir }), /exists/);
});
