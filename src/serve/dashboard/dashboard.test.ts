// The dashboard's routes through fastify's inject (no socket): the page and its files, and every
// read-only view checked against the public API's answers and the model's data.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineRankerKind, RANKER_KINDS, type RankerModel } from '../../ranking/index.ts';
import { SOURCE_KINDS } from '../../retrieval/index.ts';
import { schema } from '../../schema/index.ts';
import { fixtureDataset, makeRegistry, trainModel } from '../../pipeline/index.ts';
import { createService, type Service } from '../index.ts';
import { trainingHistories } from './index.ts';

const KEY = 'k3y';
let root = '';
let svc: Service; // ranked by a ranker that reverses the L1 order
let plain: Service; // the same sources, no ranker

/** A ranker model that scores each candidate by its L1 position: the final order is L1's, reversed. */
function reverseModel(names: readonly string[]): RankerModel {
  const at = names.indexOf('l1_position');
  return {
    kind: 'reverse',
    nFeatures: names.length,
    predict: (x, n, out) => {
      for (let i = 0; i < n; i++) out[i] = x[i * names.length + at];
    },
    save: async (dir) => (await import('node:fs/promises')).writeFile(join(dir, 'names.json'), JSON.stringify(names)),
    summary: () => ({}),
  };
}
const reverseKind = defineRankerKind({
  kind: 'reverse',
  description: 'L1 order reversed (a test fixture)',
  params: schema({}),
  train: async ({ train }) => reverseModel(train.featureNames),
  load: async (dir, _p, read = async (f) => (await import('node:fs/promises')).readFile(f)) => reverseModel(JSON.parse(Buffer.from(await read(join(dir, 'names.json'))).toString('utf8'))),
});
const EASE = [{ kind: 'ease', params: { lambda: 10 } }];
const FALLBACKS = [{ kind: 'segments' }, { kind: 'content' }, { kind: 'popularity' }];

const get = async (s: Service, url: string) => {
  const r = await s.app.inject({ method: 'GET', url });
  return { status: r.statusCode, json: r.headers['content-type']?.toString().includes('json') ? r.json() : null, text: r.body, type: String(r.headers['content-type']) };
};

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tandem-dash-'));
  const registry = makeRegistry(SOURCE_KINDS, [...RANKER_KINDS, reverseKind]);
  const dataset = fixtureDataset();
  await trainModel(join(root, 'ranked'), { dataset, registry, config: { sources: EASE, fallbacks: FALLBACKS, ranker: { kind: 'reverse' } }, holdout: 0 });
  await trainModel(join(root, 'plain'), { dataset, registry, config: { sources: EASE, fallbacks: FALLBACKS }, holdout: 0 });
  svc = await createService({ model: join(root, 'ranked'), registry, apiKey: KEY, store: 'memory' });
  plain = await createService({ model: join(root, 'plain'), registry, store: 'memory' });
});

after(async () => {
  await svc?.close();
  await plain?.close();
  await rm(root, { recursive: true, force: true });
});

test('the page, its script and styles, and uPlot are served from the project', async () => {
  const page = await get(svc, '/');
  assert.equal(page.status, 200);
  assert.match(page.type, /text\/html/);
  assert.match(page.text, /\/dashboard\/app\.js/);
  assert.doesNotMatch(page.text, /https?:\/\//, 'no CDN');
  for (const [url, type] of [['/dashboard/app.js', 'javascript'], ['/dashboard/style.css', 'css'], ['/dashboard/vendor/uplot.js', 'javascript'], ['/dashboard/vendor/uplot.css', 'css']]) {
    const r = await get(svc, url);
    assert.equal(r.status, 200, url);
    assert.match(r.type, new RegExp(type));
    assert.ok(r.text.length > 100);
  }
  assert.equal((await get(svc, '/dashboard/../package.json')).status, 404);
});

test('overview: the manifest\u2019s version, sizes, stages and ranker', async () => {
  const o = (await get(svc, '/dashboard/api/overview')).json;
  const m = svc.current().engine.manifest;
  assert.equal(o.modelVersion, m.modelVersion);
  assert.equal(o.createdAt, m.createdAt);
  assert.deepEqual(o.data, m.data);
  assert.equal(o.stats.items, 80);
  assert.deepEqual(o.stages.map((s: { kind: string; role: string }) => `${s.role}:${s.kind}`), ['source:ease', 'fallback:segments', 'fallback:content', 'fallback:popularity']);
  assert.equal(o.candidates, 200);
  assert.equal(o.ranker.kind, 'reverse');
  assert.ok(o.schema.items.includes('genre (multi-categorical)'));
  assert.deepEqual(o.trainingHistory, []);
});

test('user page: the recommendations are the API\u2019s, and the L1 order is the order without the ranker', async () => {
  for (const user of ['u0', 'u7', 'u13']) {
    const api = (await get(svc, `/v1/users/${user}/recommendations?k=8`)).json;
    const v = (await get(svc, `/dashboard/api/users/${user}?k=8&history=5`)).json;
    assert.deepEqual(v.recommendations.map((r: { id: string; score: number }) => [r.id, r.score]), api.items.map((r: { id: string; score: number }) => [r.id, r.score]));
    assert.equal(v.strategy, api.strategy);
    assert.equal(v.hasRanker, true);
    const noRanker = (await get(plain, `/v1/users/${user}/recommendations?k=8`)).json;
    // the L1 view is the same request without the ranker: the final list of the same sources without one
    assert.deepEqual(v.l1.map((r: { id: string }) => r.id), noRanker.items.map((r: { id: string }) => r.id));
    assert.notDeepEqual(v.l1.map((r: { id: string }) => r.id), v.recommendations.map((r: { id: string }) => r.id), 'the reversing ranker changed the order');
    // one source, no ranker: the L1 view equals the final list
    const p = (await get(plain, `/dashboard/api/users/${user}?k=8`)).json;
    assert.deepEqual(p.l1.map((r: { id: string }) => r.id), p.recommendations.map((r: { id: string }) => r.id));
    assert.equal(p.l1.length, 8);
    // history: newest first, at most 5, with the genre as category
    assert.equal(v.history.length, 5);
    assert.equal(v.historyLength, 8);
    for (let i = 1; i < v.history.length; i++) assert.ok(v.history[i - 1].timestamp >= v.history[i].timestamp);
    assert.match(v.history[0].category, /^g\d$/);
    assert.deepEqual(v.features, { country: `c${Number(user.slice(1)) % 4}`, age: 20 + (Number(user.slice(1)) % 40) });
    for (const r of v.recommendations) assert.deepEqual(r.foundBy.map((f: { source: string }) => f.source), ['ease']);
  }
});

test('an event posted through the API shows at the top of the user\u2019s history; writes still need the key', async () => {
  const denied = await svc.app.inject({ method: 'POST', url: '/v1/events', payload: { events: [{ user: 'u3', item: 'i1' }] } });
  assert.equal(denied.statusCode, 401);
  const before = (await get(svc, '/dashboard/api/users/u3')).json;
  const ok = await svc.app.inject({ method: 'POST', url: '/v1/events', headers: { authorization: `Bearer ${KEY}` }, payload: { events: [{ user: 'u3', item: 'i2', type: 'purchase', timestamp: 1_800_000_000 }] } });
  assert.equal(ok.statusCode, 200);
  const afterView = (await get(svc, '/dashboard/api/users/u3')).json;
  assert.equal(afterView.historyLength, before.historyLength + 1);
  assert.deepEqual({ item: afterView.history[0].item, type: afterView.history[0].type, live: afterView.history[0].live }, { item: 'i2', type: 'purchase', live: true });
  assert.ok(!afterView.recommendations.some((r: { id: string }) => r.id === 'i2'), 'a seen item is excluded');
  const live = (await get(svc, '/dashboard/api/live/snapshot')).json;
  assert.equal(live.latest[0].user, 'u3');
  assert.equal(live.latest[0].item, 'i2');
  assert.ok(live.eventsApplied >= 1);
  // a brand-new user appears in the user search once it has events
  await svc.app.inject({ method: 'POST', url: '/v1/events', headers: { 'x-api-key': KEY }, payload: { events: [{ user: 'newcomer', item: 'i5' }] } });
  assert.deepEqual((await get(svc, '/dashboard/api/users?q=newcom')).json.users, ['newcomer']);
});

test('item page: features, similar items as the API gives them, and a timeline of its interactions', async () => {
  const v = (await get(svc, '/dashboard/api/items/i6?k=5')).json;
  assert.deepEqual(v.features, { genre: ['g2'], price: 5 + (6 % 7) });
  const api = (await get(svc, '/v1/items/i6/similar?k=5')).json;
  assert.deepEqual(v.similar.map((s: { id: string }) => s.id), api.items.map((s: { id: string }) => s.id));
  const ds = fixtureDataset();
  const it = ds.items.ids.get('i6');
  let n = 0;
  for (let r = 0; r < ds.interactions.length; r++) if (ds.interactions.item[r] === it) n++;
  assert.equal(v.timeline.count.reduce((a: number, b: number) => a + b, 0), n);
  assert.equal(v.timeline.start.length, v.timeline.count.length);
  assert.equal((await get(svc, '/dashboard/api/items/nope')).status, 404);
  assert.deepEqual((await get(svc, '/dashboard/api/items?q=i7&limit=3')).json.items.map((x: { id: string }) => x.id), ['i7', 'i70', 'i71']);
});

test('form data: user features with their values, popular items most popular first', async () => {
  const f = (await get(svc, '/dashboard/api/form')).json;
  const country = f.features.find((x: { name: string }) => x.name === 'country');
  assert.deepEqual([...country.values].sort(), ['c0', 'c1', 'c2', 'c3']);
  const age = f.features.find((x: { name: string }) => x.name === 'age');
  assert.deepEqual([age.min, age.max], [20, 59]);
  for (let i = 1; i < f.popular.length; i++) assert.ok(f.popular[i - 1].popularity >= f.popular[i].popularity);
  const d = (await get(svc, '/dashboard/api/describe?items=i5,nope')).json;
  assert.deepEqual(d.items, [{ id: 'i5', title: '', category: 'g1' }, { id: 'nope', title: '', category: '' }]);
});

test('bad query parameters name the field', async () => {
  const r = await get(svc, '/dashboard/api/users/u1?k=0');
  assert.equal(r.status, 400);
  assert.match(r.text, /k: must be an integer from 1 to/);
});

test('training history: any per-epoch array in the manifest is found, wherever it sits', () => {
  const m = { ...svc.current().engine.manifest, parameters: { twoTower: { history: [{ epoch: 1, loss: 0.9, recall: 0.1, note: 'x' }, { epoch: 2, loss: 0.7, recall: 0.2 }] } } };
  assert.deepEqual(trainingHistories(m), [{ path: 'parameters.twoTower.history', title: 'twoTower / history', epochs: [{ epoch: 1, loss: 0.9, recall: 0.1 }, { epoch: 2, loss: 0.7, recall: 0.2 }] }]);
  // the trainer's own place: parameters.training.<stage>.<run>, titled by stage and run
  const t = { ...m, parameters: { training: { 'two-tower': { valid: [{ epoch: 1, loss: 1 }], fit: [{ epoch: 1, loss: 1 }] } } } };
  assert.deepEqual(trainingHistories(t).map((h) => h.title), ['two-tower (validation run)', 'two-tower (final fit)']);
});

test('the live stream sends snapshots, and an open stream does not keep the service from closing', { timeout: 20_000 }, async () => {
  const s = await createService({ model: join(root, 'plain'), store: 'memory' });
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (s.app.server.address() as { port: number }).port;
  const res = await fetch(`http://127.0.0.1:${port}/dashboard/api/live`);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = res.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  const snap = JSON.parse(/data: (.*)\n\n/.exec(first)![1]);
  assert.equal(snap.modelVersion, s.current().engine.modelVersion);
  assert.equal(snap.eventsApplied, 0);
  await s.close(); // would hang here if the stream held the server open
  assert.equal((await reader.read()).done, true);
});

test('item search: an exact id first, then ids containing the text, and titles holding every word', async () => {
  const { generateSynthetic } = await import('../../data/index.ts');
  const { builtinRegistry, Engine, fitEngine } = await import('../../pipeline/index.ts');
  const { searchItems } = await import('./index.ts');
  const ds = generateSynthetic({ users: 50, items: 300, interactions: 1500, seed: 4 });
  const rec = new Engine((await fitEngine(ds, { sources: [{ kind: 'popularity' }] }, builtinRegistry())).model);
  const label = (id: string): string => rec.catalog.label(rec.catalog.index(id));
  // the slow obvious reference: build every title as a string
  const reference = (q: string): string[] => {
    const words = q.toLowerCase().split(/\s+/).filter(Boolean);
    return ds.items.ids.values.filter((id) => id.toLowerCase().includes(q.toLowerCase()) || (words.length > 0 && words.every((w) => label(id).toLowerCase().split(' ').some((t) => t.includes(w)))));
  };
  const title = label('i17');
  const [w1, w2] = title.split(' ');
  for (const q of [w1, `${w1} ${w2 ?? ''}`.trim(), w1.slice(1, 3), 'i1', 'zzz', `${w2 ?? w1} ${w1}`]) {
    const got = searchItems(rec, q, 1000).map((x) => x.id);
    assert.deepEqual([...got].sort(), reference(q).sort(), q);
  }
  assert.equal(searchItems(rec, 'i17', 5)[0].id, 'i17');
  assert.equal(searchItems(rec, 'i17', 5)[0].title, title);
});
