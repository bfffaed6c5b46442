// Integration tests on a real port for issue 15: a model directory cannot smuggle in bad bytes (the
// integrity rules and the smoke check, through POST /v1/admin/reload and `tandem serve` start-up, the
// old model serving on), a failing stage degrades to the others, /readyz says when the model cannot
// answer, and the API key cannot be switched off by accident.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { builtinRegistry, fixtureDataset, makeRegistry, trainModel } from '../pipeline/index.ts';
import { RANKER_KINDS } from '../ranking/index.ts';
import { defineSourceKind, PopularitySource, SOURCE_KINDS, type CandidateSource } from '../retrieval/index.ts';
import { schema } from '../schema/index.ts';
import { createService, startServer, type RunningServer } from './index.ts';
import { httpCall, type CallResult } from './http.fixture.ts';

const KEY = 'hardening-key';
const BIN = fileURLToPath(new URL('../../bin/tandem.mjs', import.meta.url));
let root = '';
let good = '';
let server: RunningServer;
const lines: string[] = [];

const TWO_TOWER = { kind: 'two-tower', params: { epochs: 2, validate: false, embeddingDim: 8, hidden: [16], dim: 8 } };

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<CallResult> {
  return httpCall(server.url + path, method, { body, headers, key: KEY });
}

/** A copy of the good model with `damage` applied. */
async function damaged(name: string, damage: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(root, name);
  await cp(good, dir, { recursive: true });
  await damage(dir);
  return dir;
}

const editManifest = (fn: (m: any) => void) => async (dir: string) => {
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  fn(m);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
};

/** The bypass: the file left out of `files`, part of it overwritten with 1e30 and NaN at the same size. */
async function poisonTwoTower(dir: string, opts: { relist: boolean }): Promise<void> {
  const file = join(dir, 'stages/two-tower/two-tower.bin');
  const bin = await readFile(file);
  const f = new Float32Array(bin.buffer, bin.byteOffset, Math.floor(bin.byteLength / 4));
  for (let i = Math.floor(f.length / 4); i < Math.floor(f.length / 2); i++) f[i] = i % 2 ? 1e30 : NaN;
  await writeFile(file, bin);
  await editManifest((m) => {
    if (opts.relist) m.files['stages/two-tower/two-tower.bin'] = { bytes: bin.byteLength, sha256: createHash('sha256').update(bin).digest('hex') };
    else delete m.files['stages/two-tower/two-tower.bin'];
  })(dir);
}

/** Runs `tandem serve` on `model`; resolves with its exit code and output, or 'listening' (then stops it). */
function serveCli(args: string[], env: Record<string, string> = {}): Promise<{ outcome: 'listening' | number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--store', 'memory', ...args], { env: { ...process.env, TANDEM_API_KEY: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const timer = setTimeout(() => {
      if (!done) child.kill('SIGKILL');
      reject(new Error(`tandem serve neither listened nor exited in time:\n${out}`));
    }, 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (!done && /listening on http/.test(out)) {
        done = true;
        clearTimeout(timer);
        child.once('exit', () => resolve({ outcome: 'listening', out }));
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ outcome: code ?? -1, out });
    });
  });
}

// A source that loads like popularity and then does what `mode` says: a stage failing at request time.
let mode: 'ok' | 'throw' | 'nan' = 'ok';
class Flaky implements CandidateSource {
  constructor(
    readonly name: string,
    private readonly inner: PopularitySource,
  ) {}
  fit(train: Parameters<CandidateSource['fit']>[0]) {
    return this.inner.fit(train);
  }
  candidates(...args: Parameters<CandidateSource['candidates']>) {
    if (mode === 'throw') throw new Error('flaky stage: simulated failure');
    const r = this.inner.candidates(...args);
    if (mode === 'nan' && r.scores.length) return { items: r.items, scores: r.scores.map(() => NaN) };
    return r;
  }
  save(dir: string) {
    return this.inner.save(dir);
  }
}
const flakyKind = defineSourceKind({
  kind: 'flaky',
  description: 'popularity that fails on demand (a test fixture)',
  params: schema({}),
  personalized: false,
  create: (_p, ctx) => new Flaky(ctx.name, new PopularitySource({ name: ctx.name })),
  load: async (dir, _p, ctx) => new Flaky(ctx.name, await PopularitySource.load(dir, ctx.name, ctx.files)),
});
const flakyRegistry = makeRegistry([...SOURCE_KINDS, flakyKind], RANKER_KINDS);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tandem-harden-'));
  good = join(root, 'good');
  await trainModel(good, { dataset: fixtureDataset(), registry: builtinRegistry(), config: { sources: [TWO_TOWER, { kind: 'ease', params: { lambda: 10 } }], fallbacks: [{ kind: 'popularity' }] }, holdout: 0 });
  server = await startServer({ model: good, port: 0, apiKey: KEY, store: 'memory', reloadOnSighup: false, log: (l) => lines.push(l) });
});

after(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

test('integrity: the issue’s bypass (two-tower.bin unlisted, overwritten with 1e30/NaN) is refused by reload, the old model serving on', async () => {
  const version = (await call('GET', '/readyz')).json.modelVersion;
  const bypass = await damaged('bypass', (d) => poisonTwoTower(d, { relist: false }));
  const r = await call('POST', '/v1/admin/reload', { model: bypass });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.code, 'model_refused');
  assert.match(r.json.error.message, /stages\/two-tower\/two-tower\.bin: not listed in the manifest's files/);
  // the same bytes listed with their own checksum: the weights are checked finite on load
  const relisted = await damaged('relisted', (d) => poisonTwoTower(d, { relist: true }));
  const r2 = await call('POST', '/v1/admin/reload', { model: relisted });
  assert.equal(r2.status, 422, r2.text);
  assert.match(r2.json.error.message, /two-tower\.bin: tensor 'params' holds (NaN|1e\+30) .*weights must be finite/);
  const ready = await call('GET', '/readyz');
  assert.equal(ready.status, 200);
  assert.equal(ready.json.modelVersion, version, 'the old model keeps serving');
  const recs = await call('GET', '/v1/users/u2/recommendations?k=5');
  assert.equal(recs.status, 200);
  assert.equal(recs.json.items.length, 5);
  assert.ok(recs.json.items.every((x: { score: number }) => Number.isFinite(x.score)));
  assert.ok(lines.some((l) => /reload \(API\) of .*bypass refused, still serving/.test(l)), 'the refusal is logged');
});

test('integrity: an unlisted file, a listed file nobody reads, and manifests with no stages, a bogus feature kind or a newer Tandem are refused', async () => {
  const cases: [string, (d: string) => Promise<void>, RegExp][] = [
    ['extra-file', (d) => writeFile(join(d, 'stages/ease/notes.txt'), 'hello'), /stages\/ease\/notes\.txt: not listed in the manifest's files/],
    [
      'listed-unread',
      async (d) => {
        const bytes = Buffer.from('unused');
        await writeFile(join(d, 'stages/ease/unused.bin'), bytes);
        await editManifest((m) => (m.files['stages/ease/unused.bin'] = { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }))(d);
      },
      /stages\/ease\/unused\.bin: listed in the manifest but not read by any stage/,
    ],
    ['no-stages', editManifest((m) => (m.stages = [])), /stages: must hold at least 1 entry/],
    ['no-sources', editManifest((m) => ((m.stages = []), (m.config.sources = []))), /at least 1 entry/],
    ['bogus-kind', editManifest((m) => (m.schema.item[0].kind = 'bogus')), /schema\.item\[0\]\.kind: unknown feature kind 'bogus' \(known: id, categorical/],
    ['bogus-user-kind', editManifest((m) => (m.schema.user[0].kind = 'bogus')), /schema\.user\[0\]\.kind: unknown feature kind 'bogus'/],
    ['newer-tandem', editManifest((m) => (m.tandemVersion = '99.0.0')), /tandemVersion: written by Tandem 99\.0\.0, newer than this Tandem/],
    ['newer-minor', editManifest((m) => (m.tandemVersion = '0.99.0')), /tandemVersion: written by Tandem 0\.99\.0, newer/],
    ['not-a-version', editManifest((m) => (m.tandemVersion = 'latest')), /tandemVersion: 'latest' is not a version/],
    ['newer-format', editManifest((m) => (m.formatVersion = 3)), /format version 3; this Tandem reads version 2/],
    ['escaping-path', editManifest((m) => (m.stages[1].path = '../good/stages/ease')), /stages\[1\]\.path: '\.\.\/good\/stages\/ease' must be a relative path inside the model directory/],
  ];
  const version = (await call('GET', '/readyz')).json.modelVersion;
  for (const [name, damage, re] of cases) {
    const dir = await damaged(name, damage);
    const r = await call('POST', '/v1/admin/reload', { model: dir });
    assert.equal(r.status, 422, `${name}: ${r.text}`);
    assert.match(r.json.error.message, re, name);
  }
  // a patch release of this Tandem reads it
  const patch = await damaged('patch', editManifest((m) => (m.tandemVersion = m.tandemVersion.replace(/\.\d+$/, '.99'))));
  assert.equal((await call('POST', '/v1/admin/reload', { model: patch })).status, 200);
  assert.notEqual((await call('GET', '/readyz')).json.modelVersion, undefined);
  assert.equal((await call('POST', '/v1/admin/reload', { model: good })).status, 200);
  assert.equal((await call('GET', '/readyz')).json.modelVersion, version);
});

test('integrity: `tandem serve --model` refuses the bypass and the bad manifests at start-up, and starts on the good model', async () => {
  const bypass = join(root, 'bypass');
  const r = await serveCli(['--model', bypass, '--no-auth']);
  assert.equal(r.outcome, 1, r.out);
  assert.match(r.out, /two-tower\.bin: not listed in the manifest's files/);
  assert.doesNotMatch(r.out, /listening on/);
  for (const [name, re] of [['no-stages', /at least 1 entry/], ['bogus-kind', /unknown feature kind 'bogus'/], ['newer-tandem', /newer than this Tandem/]] as const) {
    const x = await serveCli(['--model', join(root, name), '--no-auth']);
    assert.equal(x.outcome, 1, `${name}: ${x.out}`);
    assert.match(x.out, re, name);
  }
  const ok = await serveCli(['--model', good, '--no-auth']);
  assert.equal(ok.outcome, 'listening', ok.out);
});

test('smoke check: a model whose stage answers NaN loads but is refused before the swap, by reload and at start-up', async () => {
  const dir = join(root, 'flaky-model');
  mode = 'ok';
  await trainModel(dir, { dataset: fixtureDataset(), registry: flakyRegistry, config: { sources: [{ kind: 'flaky' }], fallbacks: [] }, holdout: 0 });
  const base = await startServer({ model: dir, port: 0, store: 'memory', registry: flakyRegistry, reloadOnSighup: false, log: () => {} });
  try {
    const v = ((await (await fetch(`${base.url}/readyz`)).json()) as any).modelVersion;
    mode = 'nan';
    const r = await fetch(`${base.url}/v1/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: dir }) });
    const j = (await r.json()) as any;
    assert.equal(r.status, 422, JSON.stringify(j));
    assert.match(j.error.message, /the smoke check failed .*stage 'flaky' failed: candidate score 0 is NaN/);
    assert.equal(((await (await fetch(`${base.url}/readyz`)).json()) as any).modelVersion, v, 'the old model keeps serving');
    await assert.rejects(createService({ model: dir, store: 'memory', registry: flakyRegistry, log: () => {} }), /smoke check failed/);
  } finally {
    mode = 'ok';
    await base.close();
  }
});

test('a failing stage degrades to the other sources (logged, counted), never a 500; /readyz says 503 when nothing answers', async () => {
  const dir = join(root, 'two-stage-flaky');
  mode = 'ok';
  await trainModel(dir, { dataset: fixtureDataset(), registry: flakyRegistry, config: { sources: [{ kind: 'ease', params: { lambda: 10 } }, { kind: 'flaky' }], fallbacks: [{ kind: 'popularity' }] }, holdout: 0 });
  const alone = join(root, 'flaky-alone');
  await trainModel(alone, { dataset: fixtureDataset(), registry: flakyRegistry, config: { sources: [{ kind: 'flaky' }], fallbacks: [] }, holdout: 0 });
  const said: string[] = [];
  const s = await startServer({ model: dir, port: 0, store: 'memory', registry: flakyRegistry, reloadOnSighup: false, log: (l) => said.push(l) });
  const get = async (p: string) => {
    const res = await fetch(s.url + p);
    return { status: res.status, json: (await res.json()) as any };
  };
  try {
    const metric = async () => Number((await (await fetch(`${s.url}/metrics`)).text()).match(/^tandem_stage_failures_total\{stage="flaky"\} (\d+)$/m)?.[1] ?? NaN);
    assert.equal(await metric(), 0, 'the counter is there at 0 before any failure');
    for (const m of ['throw', 'nan'] as const) {
      mode = m;
      const r = await get('/v1/users/u2/recommendations?k=5');
      assert.equal(r.status, 200, `${m}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.items.length, 5);
      assert.ok(r.json.items.every((x: { source: string }) => x.source === 'ease'));
      assert.equal((await get('/v1/items/i2/similar?k=3')).status, 200);
    }
    assert.ok((await metric()) >= 2);
    assert.ok(said.some((l) => /warning: stage 'flaky' of model .* failed.*the other stages answered: flaky stage: simulated failure/.test(l)), said.join('\n'));
    await new Promise((r) => setTimeout(r, 1100));
    const degraded = await get('/readyz');
    assert.equal(degraded.status, 200, `the other stages answer: still ready (${JSON.stringify(degraded.json)})`);
    assert.deepEqual(degraded.json.degraded, ['flaky']);
    // a model whose only stage fails cannot answer
    mode = 'ok';
    assert.equal((await fetch(`${s.url}/v1/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: alone }) })).status, 200);
    mode = 'throw';
    assert.equal((await get('/v1/users/u2/recommendations?k=5')).status, 200, 'an empty answer, not a 500');
    await new Promise((r) => setTimeout(r, 1100));
    const down = await get('/readyz');
    assert.equal(down.status, 503);
    assert.equal(down.json.ready, false);
    assert.match(down.json.reason, /no items \(it had some when the model was loaded\)/);
    assert.ok(said.some((l) => /not ready: model .* cannot answer/.test(l)));
    mode = 'ok';
    await new Promise((r) => setTimeout(r, 1100));
    // the next check sees it answer again (a failure marked it for re-checking)
    const up = await get('/readyz');
    assert.equal(up.status, 200, JSON.stringify(up.json));
    assert.equal(up.json.ready, true);
  } finally {
    mode = 'ok';
    await s.close();
  }
});

test('auth: the Bearer scheme is case-insensitive; an empty key is refused, `--no-auth` must be said', async () => {
  const events = { events: [{ user: 'u1', item: 'i1' }] };
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) assert.equal((await call('POST', '/v1/events', events, { authorization: `${scheme} ${KEY}` })).status, 200, scheme);
  assert.equal((await call('POST', '/v1/events', events, { authorization: `bearer ${KEY}x` })).status, 401);
  assert.equal((await call('POST', '/v1/events', events, { authorization: `Basic ${KEY}` })).status, 401);
  await assert.rejects(createService({ model: good, store: 'memory', apiKey: '', log: () => {} }), /apiKey: empty/);
  // `--api-key "$KEY"` with KEY unset, and TANDEM_API_KEY set empty: refused before listening
  const empty = await serveCli(['--model', good, '--api-key', '']);
  assert.equal(empty.outcome, 2, empty.out);
  assert.match(empty.out, /--api-key is empty .*--no-auth/);
  const env = await serveCli(['--model', good], { TANDEM_API_KEY: '' });
  assert.equal(env.outcome, 2, env.out);
  assert.match(env.out, /TANDEM_API_KEY is set but empty/);
  // `--api-key $KEY --port 0` unquoted, KEY unset: the next option is not the key
  const swallowed = await serveCli(['--model', good, '--api-key', '--port', '0']);
  assert.equal(swallowed.outcome, 2, swallowed.out);
  assert.match(swallowed.out, /option '--api-key' needs a value, got the option '--port'/);
  const both = await serveCli(['--model', good, '--api-key', 'k', '--no-auth']);
  assert.equal(both.outcome, 2, both.out);
  const open = await serveCli(['--model', good, '--no-auth']);
  assert.equal(open.outcome, 'listening', open.out);
  assert.match(open.out, /--no-auth: write and admin routes need no key/);
  const keyed = await serveCli(['--model', good, '--api-key', 's3cret']);
  assert.equal(keyed.outcome, 'listening', keyed.out);
  assert.match(keyed.out, /API key required for writes/);
});
