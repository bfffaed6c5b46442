// Reloads give back what the replaced model held outside the JS heap (issue 15, point 2): the
// WebAssembly kernel memory never shrinks, and before this every load of a two-tower model took a new
// slice of it (weights, tower scratch, the index's vectors) that nothing freed. On a real port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getKernelBackend, type WasmKernelBackend } from '../math/index.ts';
import { builtinRegistry, fixtureDataset, makeRegistry, trainModel } from '../pipeline/index.ts';
import { RANKER_KINDS } from '../ranking/index.ts';
import { defineSourceKind, PopularitySource, SOURCE_KINDS, type CandidateSource } from '../retrieval/index.ts';
import { schema } from '../schema/index.ts';
import { startServer, type RunningServer } from './index.ts';

let root = '';

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tandem-reload-mem-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function reload(server: RunningServer, model: string): Promise<string> {
  const r = await fetch(`${server.url}/v1/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model }) });
  const j = (await r.json()) as { modelVersion: string };
  assert.equal(r.status, 200, JSON.stringify(j));
  return j.modelVersion;
}

test('reloading two-tower models (exact and HNSW index) over and over keeps the kernel memory where two models hold it', async (t) => {
  const be = getKernelBackend() as WasmKernelBackend;
  if (!be.name.startsWith('wasm')) return t.skip('the WebAssembly kernels are not in use (TANDEM_KERNELS=js or not built)');
  const tt = (index: string) => ({ kind: 'two-tower', params: { epochs: 1, validate: false, embeddingDim: 8, hidden: [16], dim: 8, index: { kind: index } } });
  const a = join(root, 'exact');
  const b = join(root, 'hnsw');
  const fallbacks = [{ kind: 'popularity' }];
  await trainModel(a, { dataset: fixtureDataset(), registry: builtinRegistry(), config: { sources: [tt('exact')], fallbacks }, holdout: 0 });
  await trainModel(b, { dataset: fixtureDataset(), registry: builtinRegistry(), config: { sources: [tt('hnsw')], fallbacks }, holdout: 0 });
  const server = await startServer({ model: a, port: 0, store: 'memory', reloadOnSighup: false, log: () => {} });
  try {
    const cycle = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await reload(server, i % 2 ? a : b);
        const r = await fetch(`${server.url}/v1/users/u${i % 60}/recommendations?k=5`);
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      }
    };
    await cycle(4);
    const bytes = be.memory.buffer.byteLength;
    const held = be.usage?.().liveBytes;
    await cycle(60);
    assert.equal(be.memory.buffer.byteLength, bytes, 'the kernel memory did not grow');
    assert.equal(be.usage?.().liveBytes, held, 'every replaced model gave its kernel memory back');
  } finally {
    await server.close();
  }
});

test('a request runs to its end on the model it started on; that model is disposed when the request ends, not at the swap', async () => {
  const disposed: string[] = [];
  let loads = 0;
  class Tracked implements CandidateSource {
    constructor(
      readonly name: string,
      private readonly inner: PopularitySource,
      private readonly tag: string,
    ) {}
    fit(train: Parameters<CandidateSource['fit']>[0]) {
      return this.inner.fit(train);
    }
    candidates(...args: Parameters<CandidateSource['candidates']>) {
      if (disposed.includes(this.tag)) throw new Error('used after dispose');
      return this.inner.candidates(...args);
    }
    save(dir: string) {
      return this.inner.save(dir);
    }
    dispose() {
      disposed.push(this.tag);
    }
  }
  const kind = defineSourceKind({
    kind: 'tracked',
    description: 'popularity that records its dispose (a test fixture)',
    params: schema({}),
    personalized: false,
    create: (_p, ctx) => new Tracked(ctx.name, new PopularitySource({ name: ctx.name }), 'fit'),
    load: async (dir, _p, ctx) => new Tracked(ctx.name, await PopularitySource.load(dir, ctx.name, ctx.files), `load-${++loads}`),
  });
  const registry = makeRegistry([...SOURCE_KINDS, kind], RANKER_KINDS);
  const m1 = join(root, 'tracked-1');
  const m2 = join(root, 'tracked-2');
  for (const [dir, seed] of [[m1, 1], [m2, 2]] as const) await trainModel(dir, { dataset: fixtureDataset(), registry, config: { sources: [{ kind: 'tracked' }], fallbacks: [] }, holdout: 0, seed });
  const server = await startServer({ model: m1, port: 0, store: 'memory', registry, reloadOnSighup: false, log: () => {} });
  try {
    const first = ((await (await fetch(`${server.url}/readyz`)).json()) as { modelVersion: string }).modelVersion;
    // a request whose body is still on its way: it has started (pinned to the first model)
    const u = new URL(server.url);
    const body = JSON.stringify({ recent: ['i1'], k: 3 });
    let answer = '';
    const req = request({ host: u.hostname, port: u.port, path: '/v1/recommendations', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
    const done = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.on('data', (d) => (answer += d));
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
    });
    req.write(body.slice(0, 5));
    await new Promise((r) => setTimeout(r, 100));
    const second = await reload(server, m2);
    assert.notEqual(second, first);
    assert.deepEqual(disposed, [], 'the first model still has a request running on it');
    req.end(body.slice(5));
    assert.equal(await done, 200, answer);
    assert.equal(JSON.parse(answer).modelVersion, first, 'the request finished on the model it started on');
    for (let i = 0; i < 50 && disposed.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(disposed, ['load-1'], 'disposed once its last request ended');
    // with nothing else in flight, the replaced model goes as soon as the reload's own request ends
    await reload(server, m1);
    for (let i = 0; i < 50 && disposed.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(disposed, ['load-1', 'load-2']);
  } finally {
    await server.close();
  }
  assert.deepEqual(disposed, ['load-1', 'load-2', 'load-3'], 'closing the service disposes the serving model');
});

test('an open dashboard event stream does not hold a replaced model', async (t) => {
  const be = getKernelBackend() as WasmKernelBackend;
  if (!be.name.startsWith('wasm')) return t.skip('the WebAssembly kernels are not in use (TANDEM_KERNELS=js or not built)');
  const a = join(root, 'stream-a');
  const b = join(root, 'stream-b');
  // the same configuration and data: both models hold the same kernel memory
  const config = { sources: [{ kind: 'two-tower', params: { epochs: 1, validate: false, embeddingDim: 8, hidden: [16], dim: 8 } }], fallbacks: [{ kind: 'popularity' }] };
  await trainModel(a, { dataset: fixtureDataset(), registry: builtinRegistry(), config, holdout: 0 });
  await trainModel(b, { dataset: fixtureDataset(), registry: builtinRegistry(), config, holdout: 0, seed: 2 });
  const server = await startServer({ model: a, port: 0, store: 'memory', reloadOnSighup: false, log: () => {} });
  const ac = new AbortController();
  try {
    const one = be.usage().liveBytes;
    const stream = await fetch(`${server.url}/dashboard/api/live`, { signal: ac.signal });
    assert.equal(stream.status, 200);
    await reload(server, b);
    await reload(server, a);
    for (let i = 0; i < 50 && be.usage().liveBytes !== one; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(be.usage().liveBytes, one, 'one model in the kernel memory: the one the stream started on went when it was replaced');
  } finally {
    ac.abort();
    await server.close();
  }
});
