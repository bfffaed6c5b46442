// Experiments in the service: arms served by their own model versions, exposures logged before the
// answer, events attributed by exposureId or by window, the /v1/experiments routes and the report.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry, disposeModel, Engine, fixtureDataset, readModelDir, trainModel } from '../pipeline/index.ts';
import { openEventLog } from '../store/index.ts';
import { startServer, type RunningServer } from './index.ts';
import { httpCall, type CallResult } from './http.fixture.ts';

const KEY = 'k';
let root = '';
let modelA = '';
let modelB = '';
let file = '';
let server: RunningServer;

async function call(method: string, path: string, body?: unknown, key: string | null = KEY): Promise<CallResult> {
  return httpCall(server.url + path, method, { body, key });
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tandem-exp-'));
  const registry = builtinRegistry();
  const dataset = fixtureDataset();
  modelA = join(root, 'model-a');
  modelB = join(root, 'model-b');
  const fallbacks = [{ kind: 'popularity' }];
  await trainModel(modelA, { dataset, registry, config: { sources: [{ kind: 'ease', params: { lambda: 10 } }], fallbacks }, holdout: 0 });
  await trainModel(modelB, { dataset, registry, config: { sources: [{ kind: 'ease', params: { lambda: 500 } }], fallbacks }, holdout: 0 });
  await trainModel(join(root, 'model-c'), { dataset, registry, config: { sources: [{ kind: 'ease', params: { lambda: 50 } }], fallbacks }, holdout: 0 });
  file = join(root, 'experiments.json');
  await writeFile(file, JSON.stringify({ experiments: [{ name: 'ab', arms: [{ name: 'control' }, { name: 'treatment', model: modelB }], start: '2020-01-01', attributionHours: 1 }] }));
  server = await startServer({ model: modelA, port: 0, apiKey: KEY, store: `sqlite:${join(root, 'events.db')}`, experiments: file, log: () => {}, reloadOnSighup: false });
});

after(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

test('users are answered by their arm, sticky, and every answer carries its logged exposure', async () => {
  const versionA = server.service.current().engine.modelVersion;
  const arms = new Map<string, string>();
  for (let u = 0; u < 40; u++) {
    const r = await call('GET', `/v1/users/${u}/recommendations?k=5`);
    assert.equal(r.status, 200);
    assert.equal(r.json.experiment, 'ab');
    assert.match(r.json.exposureId, /^[0-9a-f-]{36}$/);
    assert.ok(['control', 'treatment'].includes(r.json.arm));
    assert.equal(r.json.modelVersion === versionA, r.json.arm === 'control', 'control is the served model, treatment the other');
    arms.set(String(u), r.json.arm);
  }
  assert.ok([...arms.values()].includes('control') && [...arms.values()].includes('treatment'), 'both arms get users');
  for (let u = 0; u < 10; u++) assert.equal((await call('GET', `/v1/users/${u}/recommendations`)).json.arm, arms.get(String(u)), 'sticky');
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /tandem_exposures_logged_total 50/);
  const log = server.service.log;
  const exposures = (await log.read(0)).filter((e) => e.kind === 'exposure');
  assert.equal(exposures.length, 50);
  assert.ok(exposures.every((e) => e.kind === 'exposure' && e.items.length > 0 && e.experiment === 'ab'));
});

test('events name their exposure or are attributed by window; the report reads them back', async () => {
  const r = await call('GET', '/v1/users/u-report/recommendations?k=4');
  const [first, second] = r.json.items.map((x: { id: string }) => x.id);
  const now = Date.now() / 1000;
  const stored = await call('POST', '/v1/events', { events: [{ user: 'u-report', item: first, type: 'purchase', value: 9, exposureId: r.json.exposureId, timestamp: now }, { user: 'u-report', item: second, timestamp: now }] });
  assert.equal(stored.status, 200, JSON.stringify(stored.json));
  const bad = await call('POST', '/v1/events', { events: [{ user: 'u', item: first, exposureId: '' }] });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, 'events[0].exposureId');
  const rep = await call('GET', '/v1/experiments/ab/report');
  assert.equal(rep.status, 200);
  const arm = rep.json.arms.find((a: { name: string }) => a.name === r.json.arm);
  assert.equal(arm.metrics.purchase.events, 1);
  assert.ok(arm.metrics.view.events >= 1);
  assert.equal(rep.json.attribution.attributed, 2);
  assert.match(rep.json.method, /delta method/);
  assert.equal((await call('GET', '/v1/experiments/nope/report')).status, 404);
  // an answer with no items shows nothing: no exposure logged, no exposureId
  const before = (await server.service.log.read(0)).length;
  const all = Array.from({ length: 80 }, (_, i) => `i${i}`).join(',');
  const empty = await call('GET', `/v1/users/u-empty/recommendations?exclude=${all}`);
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.json.items, []);
  assert.equal(empty.json.experiment, 'ab');
  assert.equal(empty.json.exposureId, undefined);
  assert.equal((await server.service.log.read(0)).length, before);
});

test('the experiments routes: list with memory per arm model, create (file written back), stop; errors name the field', async () => {
  const list = await call('GET', '/v1/experiments');
  assert.equal(list.json.experiments[0].status, 'running');
  assert.equal(list.json.models.length, 1, 'one extra model loaded');
  assert.equal(typeof list.json.models[0].memoryBytes, 'number');
  assert.ok(list.json.models[0].diskBytes > 0, 'the model directory has files');
  const bad = await call('POST', '/v1/experiments', { name: 'x', arms: [{ name: 'a', share: -1 }, { name: 'b' }] });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, 'arms[0].share');
  assert.equal((await call('POST', '/v1/experiments', { name: 'ab', arms: [{ name: 'a' }, { name: 'b' }] })).status, 409);
  const missing = await call('POST', '/v1/experiments', { name: 'gone', arms: [{ name: 'a', model: join(root, 'model-c') }, { name: 'b', model: join(root, 'no-such-model') }] });
  assert.equal(missing.status, 422);
  assert.match(missing.json.error.message, /experiment 'gone' not created, a model of its arms was refused: .*no-such-model: no such model directory/);
  const after = (await call('GET', '/v1/experiments')).json;
  assert.equal(after.experiments.length, 1, 'nothing of it kept');
  assert.equal(after.models.length, 1, 'the model it did load was let go');
  assert.equal((await call('POST', '/v1/experiments', { name: 'il', arms: [{ name: 'mix', interleave: ['served', modelB] }] }, null)).status, 401);
  const created = await call('POST', '/v1/experiments', { name: 'il', arms: [{ name: 'mix', interleave: ['served', modelB] }] });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const stopped = await call('POST', '/v1/experiments/ab/stop');
  assert.equal(stopped.json.status, 'stopped');
  assert.equal((await call('POST', '/v1/experiments/none/stop')).status, 404);
  const written = JSON.parse(await readFile(file, 'utf8'));
  assert.deepEqual(written.experiments.map((e: { name: string }) => e.name), ['ab', 'il']);
  assert.notEqual(written.experiments[0].stop, null);
  // with ab stopped, users fall to the interleaving experiment: both teams' items, teams logged
  const r = await call('GET', '/v1/users/7/recommendations?k=6');
  assert.equal(r.json.arm, 'mix');
  const x = (await server.service.log.read(0)).find((e) => e.kind === 'exposure' && e.id === r.json.exposureId);
  assert.ok(x && x.kind === 'exposure' && x.teams!.length === r.json.items.length);
  assert.deepEqual(x.items, r.json.items.map((i: { id: string }) => i.id));
});

test('variant arms of the served model: ranker off, another candidate count (answers as an engine built so)', async () => {
  const bad = await call('POST', '/v1/experiments', { name: 'v', arms: [{ name: 'mix', interleave: ['served', modelB], ranker: false }] });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, 'arms[0].ranker');
  assert.equal((await call('POST', '/v1/experiments/il/stop')).status, 200);
  const created = await call('POST', '/v1/experiments', { name: 'variants', arms: [{ name: 'l1', ranker: false }, { name: 'few', candidates: 3 }] });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  assert.deepEqual(created.json.arms.map((a: { ranker: boolean; candidates: number | null }) => [a.ranker, a.candidates]), [[false, null], [true, 3]]);
  const written = JSON.parse(await readFile(file, 'utf8'));
  assert.deepEqual(written.experiments[2].arms.map((a: Record<string, unknown>) => [a.ranker, a.candidates]), [[false, undefined], [undefined, 3]]);
  const model = await readModelDir(modelA, builtinRegistry());
  const few = new Engine(model, { candidates: 3, maxK: 100 });
  const plainL1 = new Engine(model, { maxK: 100 });
  const seen = new Set<string>();
  for (let u = 1; u <= 20; u++) {
    const r = await call('GET', `/v1/users/u${u}/recommendations?k=5`);
    assert.equal(r.json.experiment, 'variants');
    seen.add(r.json.arm);
    const want = r.json.arm === 'few' ? few.recommend({ user: `u${u}`, k: 5 }) : plainL1.recommend({ user: `u${u}`, k: 5, ranker: false });
    assert.deepEqual(r.json.items.map((x: { id: string }) => x.id), want.items.map((x) => x.id), `u${u} in ${r.json.arm}`);
  }
  assert.deepEqual([...seen].sort(), ['few', 'l1']);
  disposeModel(model);
});

test('another handle on the log (as tandem experiment report opens it) reads the exposures', async () => {
  const log = await openEventLog(`sqlite:${join(root, 'events.db')}`);
  try {
    const n = (await log.read(0)).filter((e) => e.kind === 'exposure').length;
    assert.ok(n >= 52);
  } finally {
    await log.close();
  }
});

test('the dashboard page renders the experiments and their reports from the public JSON', async () => {
  const js = await fetch(`${server.url}/dashboard/experiments.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type')!, /javascript/);
  // the page's renderer is a browser module; loaded by URL (web/ is the page's folder, not a layer)
  const { experimentsHtml } = (await import(new URL('../../web/experiments.js', import.meta.url).href)) as { experimentsHtml: (l: unknown, r: Record<string, unknown>) => string };
  const listing = (await call('GET', '/v1/experiments')).json;
  const reports: Record<string, any> = {};
  for (const e of listing.experiments) reports[e.name] = (await call('GET', `/v1/experiments/${e.name}/report`)).json;
  const html = experimentsHtml(listing, reports);
  assert.match(html, /data-experiment="ab"/);
  assert.match(html, /data-experiment="variants"/);
  assert.match(html, /data-arm="control" data-type="purchase"/);
  assert.match(html, /data-arm="treatment"/);
  assert.match(html, /sample-ratio check/);
  assert.doesNotMatch(html, /MISMATCH/);
  reports.ab.srm.mismatch = true;
  assert.match(experimentsHtml(listing, reports), /MISMATCH/);
  assert.match(experimentsHtml({ experiments: [], models: [] }, {}), /No experiments/);
  const page = await (await fetch(`${server.url}/`)).text();
  assert.match(page, /href="#\/experiments"/);
});

test('a bad experiments file stops the service at start-up, naming the file and the field', async () => {
  const bad = join(root, 'bad.json');
  await writeFile(bad, JSON.stringify({ experiments: [{ name: 'x', arms: [{ name: 'a' }, { name: 'b', shar: 2 }] }] }));
  await assert.rejects(startServer({ model: modelA, port: 0, store: 'memory', experiments: bad, log: () => {}, reloadOnSighup: false }), /bad\.json: experiments\[0\]\.arms\[1\]\.shar: unknown parameter .*did you mean 'share'/);
  await assert.rejects(startServer({ model: modelA, port: 0, store: 'memory', experiments: join(root, 'none.json'), log: () => {}, reloadOnSighup: false }), /none\.json: cannot read the experiments file \(ENOENT\)/);
  await writeFile(bad, JSON.stringify({ experiments: [{ name: 'x', arms: [{ name: 'a' }, { name: 'b', model: join(root, 'nothing-here') }] }] }));
  await assert.rejects(startServer({ model: modelA, port: 0, store: 'memory', experiments: bad, log: () => {}, reloadOnSighup: false }), /nothing-here: no such model directory/);
});

test('a business-rule variant arm: boosts or filters of the served model (answers as an engine built so); bad rules refuse the experiment naming the field', async () => {
  assert.equal((await call('POST', '/v1/experiments/variants/stop')).status, 200);
  const unknownField = await call('POST', '/v1/experiments', { name: 'biz', arms: [{ name: 'control' }, { name: 'sunk', business: { boost: [] } }] });
  assert.equal(unknownField.status, 400);
  assert.match(unknownField.json.error.field, /^arms\[1\]\.business\.boost/);
  const noColumn = await call('POST', '/v1/experiments', { name: 'biz', arms: [{ name: 'control' }, { name: 'sunk', business: { boosts: [{ feature: 'colour', value: 'red', factor: 0 }] } }] });
  assert.equal(noColumn.status, 422, JSON.stringify(noColumn.json));
  assert.match(noColumn.json.error.message, /arm 'sunk'/);
  const rules = { denyCategories: ['g0'], boosts: [{ feature: 'genre', value: 'g1', factor: 0.5 }] };
  const created = await call('POST', '/v1/experiments', { name: 'biz', arms: [{ name: 'control' }, { name: 'rules', business: rules }] });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  assert.deepEqual(created.json.arms[1].business, rules);
  const written = JSON.parse(await readFile(file, 'utf8'));
  assert.deepEqual(written.experiments.at(-1).arms[1].business, rules);
  const model = await readModelDir(modelA, builtinRegistry());
  const plain = new Engine(model, { maxK: 100 });
  const varied = new Engine(model, { maxK: 100, business: rules });
  const seen = new Set<string>();
  let differ = 0;
  for (let u = 1; u <= 30; u++) {
    const r = await call('GET', `/v1/users/u${u}/recommendations?k=5`);
    assert.equal(r.json.experiment, 'biz');
    seen.add(r.json.arm);
    const want = (r.json.arm === 'rules' ? varied : plain).recommend({ user: `u${u}`, k: 5 });
    assert.deepEqual(r.json.items.map((x: { id: string }) => x.id), want.items.map((x) => x.id), `u${u} in ${r.json.arm}`);
    if (r.json.arm === 'rules') {
      const ids = r.json.items.map((x: { id: string }) => x.id);
      if (JSON.stringify(ids) !== JSON.stringify(plain.recommend({ user: `u${u}`, k: 5 }).items.map((x) => x.id))) differ++;
    }
  }
  assert.deepEqual([...seen].sort(), ['control', 'rules']);
  assert.ok(differ > 0, 'the rules changed some answers');
  assert.equal((await call('POST', '/v1/experiments/biz/stop')).status, 200);
  disposeModel(model);
});
