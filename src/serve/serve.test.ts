// Integration tests: the real server on a free port, a model trained on a small dataset, every route.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry, fixtureDataset, trainModel } from '../pipeline/index.ts';
import { startServer, type RunningServer } from './index.ts';
import { httpCall, type CallResult } from './http.fixture.ts';

const KEY = 'test-key';
let root = '';
let modelA = '';
let modelB = '';
let server: RunningServer;

const genreOf = (id: string): number => Number(id.slice(1)) % 4;

async function call(method: string, path: string, body?: unknown, opts: { key?: string | null; raw?: string; headers?: Record<string, string> } = {}): Promise<CallResult> {
  const headers = opts.raw !== undefined ? { 'content-type': 'application/json', ...(opts.headers ?? {}) } : opts.headers;
  return httpCall(server.url + path, method, { body, raw: opts.raw, headers, key: opts.key === undefined ? KEY : opts.key });
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tandem-serve-'));
  const registry = builtinRegistry();
  const dataset = fixtureDataset();
  modelA = join(root, 'model-a');
  modelB = join(root, 'model-b');
  const fallbacks = [{ kind: 'segments' }, { kind: 'content' }, { kind: 'popularity' }];
  await trainModel(modelA, { dataset, registry, config: { sources: [{ kind: 'ease', params: { lambda: 10 } }], fallbacks }, holdout: 0 });
  await trainModel(modelB, { dataset, registry, config: { sources: [{ kind: 'ease', params: { lambda: 20 } }], fallbacks }, holdout: 0 });
  server = await startServer({ model: modelA, port: 0, apiKey: KEY, store: `sqlite:${join(root, 'events.db')}`, bodyLimit: 64 * 1024, log: () => {} });
});

after(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

test('health, readiness, OpenAPI and metrics', async () => {
  assert.deepEqual((await call('GET', '/healthz')).json, { status: 'ok' });
  const ready = await call('GET', '/readyz');
  assert.equal(ready.json.ready, true);
  assert.equal(ready.json.items, 80);
  const api = (await call('GET', '/openapi.json')).json;
  assert.equal(api.openapi, '3.1.0');
  for (const p of ['/v1/users/{id}/recommendations', '/v1/recommendations', '/v1/items/{id}/similar', '/v1/events', '/v1/items/{id}', '/v1/users/{id}', '/v1/admin/reload', '/healthz', '/readyz', '/metrics']) {
    assert.ok(api.paths[p], `OpenAPI lists ${p}`);
  }
  assert.ok(api.paths['/v1/events'].post.requestBody.content['application/json'].schema.properties.events);
  assert.deepEqual(api.paths['/v1/items/{id}'].put.security, [{ bearer: [] }, { apiKey: [] }]);
  const m = await call('GET', '/metrics');
  assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
  assert.match(m.text, /tandem_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1/);
  assert.match(m.text, /tandem_http_request_duration_seconds_bucket\{method="GET",route="\/readyz",le="0.001"\}/);
  assert.match(m.text, /tandem_index_items 80/);
  assert.match(m.text, /tandem_model_info\{version="[^"]+",tandem="[^"]+"\} 1/);
});

test('GET recommendations: shape, exclude, category, and bad parameters named', async () => {
  const r = await call('GET', '/v1/users/u2/recommendations?k=5');
  assert.equal(r.status, 200);
  assert.equal(r.json.user, 'u2');
  assert.deepEqual(Object.keys(r.json), ['user', 'modelVersion', 'strategy', 'items']);
  assert.equal(typeof r.json.modelVersion, 'string');
  assert.equal(r.json.strategy, 'personal');
  assert.equal(r.json.items.length, 5);
  for (const it of r.json.items) {
    assert.equal(typeof it.id, 'string');
    assert.equal(typeof it.score, 'number');
    assert.equal(it.source, 'ease');
    assert.match(it.explanation, /found by ease/);
    // the explanation as data: what found it, what raised it, which rules changed its score
    assert.deepEqual(Object.keys(it.reasons), ['foundBy', 'rankedUpBy', 'adjustments', 'fallback']);
    assert.equal(it.reasons.foundBy[0].source, 'ease');
    assert.equal(it.reasons.fallback, null);
  }
  assert.ok(r.json.items.filter((x: { id: string }) => genreOf(x.id) === 2).length >= 4);
  const ex = await call('GET', `/v1/users/u2/recommendations?k=5&exclude=${r.json.items[0].id},${r.json.items[1].id}`);
  assert.ok(!ex.json.items.some((x: { id: string }) => x.id === r.json.items[0].id || x.id === r.json.items[1].id));
  const cat = await call('GET', '/v1/users/u2/recommendations?k=4&category=g3');
  assert.equal(cat.json.items.length, 4);
  assert.ok(cat.json.items.every((x: { id: string }) => genreOf(x.id) === 3));
  const dflt = await call('GET', '/v1/users/u2/recommendations');
  assert.equal(dflt.json.items.length, 10);
  for (const [q, field] of [['k=0', 'k'], ['k=101', 'k'], ['k=abc', 'k'], ['k=2.5', 'k'], ['colour=red', 'colour']] as const) {
    const bad = await call('GET', `/v1/users/u2/recommendations?${q}`);
    assert.equal(bad.status, 400, q);
    assert.equal(bad.json.error.field, field, q);
    assert.equal(bad.json.error.code, 'bad_request');
  }
  const cold = await call('GET', '/v1/users/nobody/recommendations?k=3');
  assert.equal(cold.json.strategy, 'popularity');
  assert.match(cold.json.items[0].explanation, /no history or known features/);
  assert.equal(cold.json.items[0].reasons.fallback, cold.json.items[0].explanation);
});

test('POST recommendations for an anonymous user, with bad bodies named', async () => {
  const r = await call('POST', '/v1/recommendations', { recent: ['i1', 'i5'], k: 4 }, { key: null });
  assert.equal(r.status, 200);
  assert.equal(r.json.strategy, 'personal');
  assert.ok(r.json.items.filter((x: { id: string }) => genreOf(x.id) === 1).length >= 3);
  assert.ok(!r.json.items.some((x: { id: string }) => x.id === 'i1' || x.id === 'i5'));
  const f = await call('POST', '/v1/recommendations', { features: { country: 'c0', age: 30 }, k: 3 }, { key: null });
  assert.equal(f.json.strategy, 'features');
  assert.match(f.json.items[0].explanation, /country=c0/);
  const cases: [unknown, string][] = [
    [{ recent: ['nope'] }, 'recent[0]'],
    [{ recent: 'i1' }, 'recent'],
    [{ recent: [5] }, 'recent[0]'],
    [{ k: '5' }, 'k'],
    [{ k: 500 }, 'k'],
    [{ colour: 'red' }, 'colour'],
    [{ features: { planet: 'mars' } }, 'features.planet'],
    [{ features: { age: 'old' } }, 'features.age'],
  ];
  for (const [body, field] of cases) {
    const bad = await call('POST', '/v1/recommendations', body, { key: null });
    assert.equal(bad.status, 400, JSON.stringify(body));
    assert.equal(bad.json.error.field, field, JSON.stringify(body) + ' ' + bad.text);
  }
  const malformed = await call('POST', '/v1/recommendations', undefined, { raw: '{"k": 3,', key: null });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.json.error.field, 'body');
  const big = await call('POST', '/v1/recommendations', { recent: Array.from({ length: 900 }, () => 'i1'.repeat(50)) }, { key: null });
  assert.equal(big.status, 400);
  assert.equal(big.json.error.field, 'body');
  assert.match(big.json.error.message, /larger than the limit/);
});

test('similar items, and 404 for unknown items and routes', async () => {
  const r = await call('GET', '/v1/items/i2/similar?k=5');
  assert.equal(r.status, 200);
  assert.equal(r.json.item, 'i2');
  assert.equal(r.json.strategy, 'similar');
  assert.ok(r.json.items.filter((x: { id: string }) => genreOf(x.id) === 2).length >= 4);
  assert.equal((await call('GET', '/v1/items/zzz/similar')).status, 404);
  const long = 'x'.repeat(200);
  assert.equal((await call('GET', `/v1/users/${long}/recommendations?k=2`)).json.user, long);
  const tooLong = await call('GET', `/v1/users/${'x'.repeat(300)}/recommendations`);
  assert.equal(tooLong.status, 414, 'an id longer than 256 characters: URI too long');
  assert.equal(typeof tooLong.json.error.message, 'string');
  const badUrl = await call('GET', '/v1/users/%E0%A4%A/recommendations');
  assert.equal(badUrl.status, 400);
  assert.equal(badUrl.json.error.code, 'bad_request');
  const nf = await call('GET', '/v2/nothing');
  assert.equal(nf.status, 404);
  assert.equal(nf.json.error.code, 'not_found');
});

test('events: auth, durable storage, history updates at once, rejected batches change nothing', async () => {
  const top = (await call('GET', '/v1/users/u6/recommendations?k=3')).json.items[0].id;
  assert.equal((await call('POST', '/v1/events', { events: [{ user: 'u6', item: top }] }, { key: null })).status, 401);
  assert.equal((await call('POST', '/v1/events', { events: [{ user: 'u6', item: top }] }, { key: 'wrong' })).status, 401);
  const events = async (): Promise<number> => (await server.service.log.counts()).events;
  const before = await events();
  const ok = await call('POST', '/v1/events', { events: [{ user: 'u6', item: top, type: 'purchase', timestamp: 1_800_000_000, value: 2 }] });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.stored, 1);
  assert.equal(await events(), before + 1);
  assert.ok(!(await call('GET', '/v1/users/u6/recommendations?k=10')).json.items.some((x: { id: string }) => x.id === top));
  const viaKeyHeader = await call('POST', '/v1/events', { events: [{ user: 'newbie', item: 'i3' }, { user: 'newbie', item: 'i7' }] }, { key: null, headers: { 'x-api-key': KEY } });
  assert.equal(viaKeyHeader.json.stored, 2);
  const nb = (await call('GET', '/v1/users/newbie/recommendations?k=4')).json;
  assert.equal(nb.strategy, 'personal');
  assert.ok(nb.items.filter((x: { id: string }) => genreOf(x.id) === 3).length >= 3);
  const n = await events();
  const cases: [unknown, string][] = [
    [{ events: [{ user: 'a', item: 'i1' }, { user: 'a', item: 'ghost' }] }, 'events[1].item'],
    [{ events: [{ user: 'a', item: 'i1', type: 'teleport' }] }, 'events[0].type'],
    [{ events: [{ user: 'a', item: 'i1', value: 'x' }] }, 'events[0].value'],
    [{ events: [{ user: 'a', item: 'i1', extra: 1 }] }, 'events[0].extra'],
    [{ events: [{ item: 'i1' }] }, 'events[0].user'],
    [{ events: [] }, 'events'],
    [{}, 'events'],
  ];
  for (const [body, field] of cases) {
    const bad = await call('POST', '/v1/events', body);
    assert.equal(bad.status, 400, JSON.stringify(body));
    assert.equal(bad.json.error.field, field, bad.text);
  }
  assert.equal((await call('POST', '/v1/events', undefined, { raw: '{"events": [' })).status, 400);
  assert.equal(await events(), n, 'nothing of a rejected batch is stored');
  assert.equal(server.service.current().engine.stats().eventsObserved, 3);
  const live = await server.service.current().state.user('newbie');
  assert.deepEqual(live?.events.map((e) => e.item), ['i3', 'i7'], 'the live state holds the new events');
});

test('items and users: upsert makes an item recommendable, delete removes it at once', async () => {
  assert.equal((await call('PUT', '/v1/items/new-1', { features: { genre: ['g1'], price: 9 } }, { key: null })).status, 401);
  const put = await call('PUT', '/v1/items/new-1', { features: { genre: ['g1'], price: 9 } });
  assert.deepEqual(put.json, { id: 'new-1', created: true });
  assert.equal((await call('PUT', '/v1/items/new-1', { features: { genre: ['g1'], price: 8 } })).json.created, false);
  const bad = await call('PUT', '/v1/items/new-2', { features: { price: 'cheap' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, 'features.price');
  assert.equal((await call('PUT', '/v1/items/new-2', { genre: ['g1'] })).json.error.field, 'features');
  const sim = await call('GET', '/v1/items/new-1/similar?k=3');
  assert.equal(sim.json.strategy, 'content');
  assert.ok(sim.json.items.every((x: { id: string }) => genreOf(x.id) === 1));
  const evs = Array.from({ length: 40 }, (_, i) => ({ user: `buyer${i}`, item: 'new-1', type: 'purchase' }));
  assert.equal((await call('POST', '/v1/events', { events: evs })).json.stored, 40);
  assert.equal((await call('GET', '/v1/users/someone-new/recommendations?k=3')).json.items[0].id, 'new-1');
  assert.equal((await call('GET', '/readyz')).json.items, 81);
  assert.equal((await call('DELETE', '/v1/items/new-1', undefined, { key: null })).status, 401);
  assert.deepEqual((await call('DELETE', '/v1/items/new-1')).json, { id: 'new-1', deleted: true });
  assert.ok(!(await call('GET', '/v1/users/someone-new/recommendations?k=50')).json.items.some((x: { id: string }) => x.id === 'new-1'));
  assert.equal((await call('DELETE', '/v1/items/new-1')).status, 404);
  assert.equal((await call('GET', '/v1/items/new-1/similar')).status, 404);
  const user = await call('PUT', '/v1/users/fresh-user', { features: { country: 'c3' } });
  assert.deepEqual(user.json, { id: 'fresh-user', created: true });
  const fr = (await call('GET', '/v1/users/fresh-user/recommendations?k=4')).json;
  assert.equal(fr.strategy, 'features');
  assert.ok(fr.items.filter((x: { id: string }) => genreOf(x.id) === 3).length >= 3);
  assert.equal((await call('PUT', '/v1/users/fresh-user', { features: { planet: 'x' } })).json.error.field, 'features.planet');
});

test('reload: a good model swaps in with the live log replayed; a broken one is refused; SIGHUP reloads', async () => {
  const v1 = (await call('GET', '/readyz')).json.modelVersion;
  assert.equal((await call('POST', '/v1/admin/reload', { model: modelB }, { key: null })).status, 401);
  const ok = await call('POST', '/v1/admin/reload', { model: modelB });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.previousVersion, v1);
  assert.notEqual(ok.json.modelVersion, v1);
  assert.ok(ok.json.replayed >= 40);
  const v2 = ok.json.modelVersion;
  assert.equal((await call('GET', '/readyz')).json.modelVersion, v2);
  // the new model kept what the service learned: the new user's events and the deletion
  assert.equal((await call('GET', '/v1/users/newbie/recommendations?k=4')).json.strategy, 'personal');
  assert.equal((await call('GET', '/v1/items/new-1/similar')).status, 404);
  assert.equal((await call('GET', '/v1/users/fresh-user/recommendations?k=4')).json.strategy, 'features');

  const broken = join(root, 'broken');
  await cp(modelA, broken, { recursive: true });
  await writeFile(join(broken, 'data/items.bin'), 'garbage');
  const refused = await call('POST', '/v1/admin/reload', { model: broken });
  assert.equal(refused.status, 422);
  assert.match(refused.json.error.message, /items\.bin/);
  assert.equal((await call('POST', '/v1/admin/reload', { model: join(root, 'nowhere') })).status, 422);
  assert.equal((await call('GET', '/readyz')).json.modelVersion, v2, 'the old model keeps serving');
  assert.equal((await call('GET', '/v1/users/u2/recommendations?k=3')).status, 200);

  // SIGHUP reloads the configured directory (model A)
  process.emit('SIGHUP', 'SIGHUP');
  for (let i = 0; i < 100 && (await call('GET', '/readyz')).json.modelVersion === v2; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal((await call('GET', '/readyz')).json.modelVersion, v1);
  const m = await call('GET', '/metrics');
  assert.match(m.text, /tandem_model_reloads_total 2/);
  assert.match(m.text, /tandem_model_reload_failures_total 2/);
});

test('a restarted service replays the event log into its model', async () => {
  const { createService } = await import('./index.ts');
  const again = await createService({ model: modelA, store: `sqlite:${join(root, 'events.db')}` });
  try {
    const { engine, state } = again.current();
    assert.equal(engine.recommend({ user: 'newbie', live: await state.user('newbie'), k: 3 }).strategy, 'personal');
    assert.equal(engine.recommend({ user: 'fresh-user', live: await state.user('fresh-user'), k: 3 }).strategy, 'features');
    assert.equal(engine.hasItem('new-1'), false, 'the deletion was replayed after the upsert');
    assert.equal(engine.stats().eventsObserved, (await server.service.log.counts()).events);
  } finally {
    await again.close();
  }
});
