// Input bounds and the error shape on a real port (issue 15, points 5 and 7): one timestamp rule for the
// HTTP path and the data loader; 415, 431 and a `__proto__` key answer {"error": {"code", "message",
// "field"}} like every other error; an unknown category is a 400 naming the known ones; counters are
// in /metrics from the start; reloads are logged, and an empty reload body means the --model path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError, loadDataset, MAX_TIMESTAMP, resolvePreset } from '../data/index.ts';
import { builtinRegistry, Engine, fixtureDataset, MAX_EVENT_TIMESTAMP, readModelDir, trainModel } from '../pipeline/index.ts';
import { startServer, type RunningServer } from './index.ts';
import { httpCall, type CallResult } from './http.fixture.ts';

const KEY = 'bounds-key';
let root = '';
let modelA = '';
let modelB = '';
let server: RunningServer;
const said: string[] = [];

async function call(method: string, path: string, opts: { body?: string; headers?: Record<string, string> } = {}): Promise<CallResult> {
  return httpCall(server.url + path, method, { raw: opts.body, headers: opts.headers, key: KEY });
}

const json = (v: unknown) => ({ body: JSON.stringify(v), headers: { 'content-type': 'application/json' } });

/** The documented error shape, with the status, code and field given. */
function assertError(r: { status: number; json: any; type: string }, status: number, code: string, field: string | undefined, what: string): void {
  assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
  assert.match(r.type, /application\/json/, what);
  assert.deepEqual(Object.keys(r.json), ['error'], what);
  assert.equal(r.json.error.code, code, what);
  assert.equal(typeof r.json.error.message, 'string', what);
  assert.equal(r.json.error.field, field, what);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tandem-bounds-'));
  modelA = join(root, 'a');
  modelB = join(root, 'b');
  const registry = builtinRegistry();
  const config = { sources: [{ kind: 'ease', params: { lambda: 10 } }], fallbacks: [{ kind: 'popularity' }] };
  await trainModel(modelA, { dataset: fixtureDataset(), registry, config, holdout: 0 });
  await trainModel(modelB, { dataset: fixtureDataset(), registry, config, holdout: 0, seed: 2 });
  server = await startServer({ model: modelA, port: 0, apiKey: KEY, store: `sqlite:${join(root, 'events.db')}`, reloadOnSighup: false, log: (l) => said.push(l) });
});

after(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

test('counters are in /metrics at 0 before anything counted them', async () => {
  const text = (await call('GET', '/metrics')).text;
  for (const line of ['tandem_events_stored_total 0', 'tandem_model_reloads_total 0', 'tandem_model_reload_failures_total 0', 'tandem_replay_skipped_total 0', 'tandem_stage_failures_total{stage="ease"} 0', 'tandem_stage_failures_total{stage="popularity"} 0']) {
    assert.ok(text.split('\n').includes(line), `${line} in\n${text}`);
  }
  assert.match(text, /^# TYPE tandem_stage_failures_total counter$/m);
});

test('event timestamps of 1e20 or 1e300 are refused on the HTTP path, by the data loader\'s own bound', async () => {
  const stored = async () => (await server.service.log.counts()).events;
  const before = await stored();
  for (const timestamp of [1e20, 1e300, MAX_TIMESTAMP, -1]) {
    const r = await call('POST', '/v1/events', json({ events: [{ user: 'u1', item: 'i1', timestamp }] }));
    assertError(r, 400, 'bad_request', 'events[0].timestamp', String(timestamp));
  }
  assert.equal(await stored(), before, 'nothing stored');
  assert.equal((await call('POST', '/v1/events', json({ events: [{ user: 'u1', item: 'i1', timestamp: MAX_TIMESTAMP - 1 }] }))).status, 200, 'the last second of 2099 is fine');
  // one rule: the engine's bound is the loader's, and both refuse the same second
  assert.equal(MAX_EVENT_TIMESTAMP, MAX_TIMESTAMP);
  const engine = new Engine(await readModelDir(modelA, builtinRegistry()));
  assert.throws(() => engine.checkEvents([{ user: 'u', item: 'i1', timestamp: 1e20 }]), /events\[0\]\.timestamp: must be seconds since the epoch, before 2100/);
  assert.throws(() => engine.checkEvents([{ user: 'u', item: 'i1', timestamp: MAX_TIMESTAMP }]), /before 2100/);
  const dir = join(root, 'ml');
  await cp(fileURLToPath(new URL('../data/fixtures/ml-100k-mini', import.meta.url)), dir, { recursive: true });
  for (const t of [MAX_TIMESTAMP, 1e20]) {
    await writeFile(join(dir, 'u.data'), `1\t1\t5\t${t}\n`);
    await assert.rejects(loadDataset(resolvePreset('movielens-100k', dir)), (e: Error) => e instanceof DataError && /u\.data:1: column 4 \(timestamp\): timestamp .* is out of range \(before 1970 or after 2099\)/.test(e.message), String(t));
  }
  await writeFile(join(dir, 'u.data'), `1\t1\t5\t${MAX_TIMESTAMP - 1}\n`);
  assert.equal((await loadDataset(resolvePreset('movielens-100k', dir))).dataset.interactions.length, 1);
});

test('415, 431 and a `__proto__` key answer in the documented error shape', async () => {
  for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
    assertError(await call('POST', '/v1/recommendations', { body: 'k=3', headers: { 'content-type': type } }), 415, 'unsupported_media_type', 'content-type', type);
  }
  const proto = await call('POST', '/v1/recommendations', { body: '{"__proto__": {"polluted": 1}, "k": 3}', headers: { 'content-type': 'application/json' } });
  assertError(proto, 400, 'bad_request', '__proto__', 'top-level __proto__');
  assert.match(proto.json.error.message, /__proto__: the key '__proto__' is not allowed/);
  const nested = await call('PUT', '/v1/items/x1', { body: '{"features": {"genre": ["g1"], "__proto__": {"a": 1}}}', headers: { 'content-type': 'application/json' } });
  assertError(nested, 400, 'bad_request', 'features.__proto__', 'nested __proto__');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // headers over node's 16 KiB: answered before any route, in the same shape
  const u = new URL(server.url);
  const big = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, path: '/healthz', headers: { 'x-big': 'a'.repeat(20_000) } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    r.on('error', reject);
    r.end();
  });
  assertError({ status: big.status, type: big.type, json: JSON.parse(big.body) }, 431, 'headers_too_large', 'headers', '431');
});

test('an unknown category answers 400 naming the known categories, not an empty list', async () => {
  for (const path of ['/v1/users/u2/recommendations?category=NoSuch', '/v1/items/i2/similar?category=NoSuch']) {
    const r = await call('GET', path);
    assertError(r, 400, 'bad_request', 'category', path);
    assert.match(r.json.error.message, /category: unknown genre 'NoSuch' \(known: g0, g1, g2, g3\)/);
  }
  const post = await call('POST', '/v1/recommendations', json({ recent: ['i1'], category: 'NoSuch' }));
  assertError(post, 400, 'bad_request', 'category', 'POST');
  assert.equal((await call('GET', '/v1/users/u2/recommendations?category=g1&k=3')).json.items.length, 3);
});

test('reloads are logged; no body (or an empty one) reloads the --model path; the icon is served', async () => {
  const v = (await call('GET', '/readyz')).json.modelVersion;
  const toB = await call('POST', '/v1/admin/reload', json({ model: modelB }));
  assert.equal(toB.status, 200, JSON.stringify(toB.json));
  assert.ok(said.some((l) => l.startsWith(`reload (API): ${v} -> ${toB.json.modelVersion} (`)), said.join('\n'));
  const bare = await call('POST', '/v1/admin/reload');
  assert.equal(bare.status, 200, JSON.stringify(bare.json));
  assert.equal(bare.json.modelVersion, v, 'the --model path again');
  const empty = await call('POST', '/v1/admin/reload', { body: '', headers: { 'content-type': 'application/json' } });
  assert.equal(empty.status, 200, JSON.stringify(empty.json));
  const refused = await call('POST', '/v1/admin/reload', json({ model: join(root, 'nowhere') }));
  assert.equal(refused.status, 422);
  assert.ok(said.some((l) => /^reload \(API\) of .*nowhere refused, still serving /.test(l)));
  const m = (await call('GET', '/metrics')).text;
  assert.match(m, /^tandem_model_reloads_total 3$/m);
  assert.match(m, /^tandem_model_reload_failures_total 1$/m);
  const icon = await fetch(`${server.url}/favicon.ico`);
  assert.equal(icon.status, 200);
  assert.match(icon.headers.get('content-type') ?? '', /image\/svg\+xml/);
});
