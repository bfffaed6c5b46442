// `tandem bench serve`: the HTTP service on a synthetic catalog (or a given model), driven from a
// second process on loopback with a bounded number of requests; latency at a fixed rate, throughput
// at saturation, and event ingestion with the stored events counted afterwards.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSynthetic } from '../src/data/index.ts';
import { builtinRegistry, trainModel } from '../src/pipeline/index.ts';
import { startServer } from '../src/serve/index.ts';
import { parseArgs, type OptionDefs } from '../src/schema/index.ts';
import { replicaBench } from './serve-replicas.ts';
import type { Command } from '../src/schema/index.ts';

const options = {
  items: { type: 'number', description: 'synthetic catalog size', default: 1000000 },
  users: { type: 'number', description: 'synthetic users', default: 100000 },
  interactions: { type: 'number', description: 'synthetic interactions', default: 2000000 },
  model: { type: 'string', description: 'serve this model directory instead of training on synthetic data' },
  requests: { type: 'number', description: 'recommendation requests at the fixed rate', default: 20000 },
  rate: { type: 'number', description: 'requests per second of the latency phase', default: 100 },
  'throughput-requests': { type: 'number', description: 'requests of the saturation phase (default: min(requests, 5000))' },
  concurrency: { type: 'number', description: 'concurrent requests in the saturation phase', default: 8 },
  candidates: { type: 'number', description: 'candidates per source per request', default: 500 },
  k: { type: 'number', description: 'items per answer', default: 10 },
  events: { type: 'number', description: 'events to send', default: 200000 },
  batch: { type: 'number', description: 'events per POST /v1/events', default: 500 },
  'event-concurrency': { type: 'number', description: 'concurrent event batches', default: 4 },
  stages: { type: 'list', of: 'string', description: 'candidate sources to train on the synthetic data (two-tower retrieval is exact: slow on large catalogs until it sits on the HNSW index)', default: ['ease'] },
  ranker: { type: 'string', description: "L2 ranker trained on the synthetic data (e.g. 'gbdt'); none by default" },
  'ranker-params': { type: 'string', description: 'the ranker stage\'s settings as JSON (e.g. \'{"params":{"numRounds":200},"training":{"negativesPerPositive":10}}\')', default: '{}' },
  'ease-items': { type: 'number', description: 'EASE keeps this many most popular items (dense items^2 weights)', default: 3000 },
  'in-process': { type: 'number', description: 'recommendations timed in the server process before the HTTP phases (service time and CPU per request, apart from loopback and queueing)', default: 1000 },
  seed: { type: 'number', description: 'random seed', default: 42 },
  embedding: { type: 'number', integer: true, min: 0, description: "the synthetic items carry a content vector column of this width (the generator's `embedding`; the ranker reads its cosines, and with contentDims its axis products)", default: 0 },
  replicas: { type: 'number', integer: true, min: 1, description: 'serve through this many `tandem serve` child processes on --store/--live (shared: postgres://, redis://), measured in the same run against one replica on SQLite + memory', default: 1 },
  store: { type: 'string', description: 'with --replicas: the shared event log, postgres://USER@HOST:PORT/DB (a schema of its own is made and dropped unless ?schema= is given)' },
  live: { type: 'string', description: 'with --replicas: the shared live state, redis://HOST:PORT/DB (a key prefix of its own, deleted after, unless ?prefix= is given)' },
  json: { type: 'string', description: 'write the result JSON here' },
} satisfies OptionDefs;

async function syntheticModel(dir: string, o: { items: number; users: number; interactions: number; seed: number; embedding: number; 'ease-items': number; stages: string[]; ranker?: string; 'ranker-params': string }): Promise<{ seconds: { generate: number; train: number } }> {
  let rankerParams: Record<string, unknown>;
  try {
    rankerParams = JSON.parse(o['ranker-params']) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`--ranker-params: not JSON (${(e as Error).message})`);
  }
  if (typeof rankerParams !== 'object' || rankerParams === null || Array.isArray(rankerParams)) throw new Error('--ranker-params: expected a JSON object');
  const t0 = performance.now();
  const dataset = generateSynthetic({ items: o.items, users: o.users, interactions: o.interactions, seed: o.seed, embedding: o.embedding });
  const t1 = performance.now();
  console.error(`generated ${dataset.numItems} items, ${dataset.numUsers} users, ${dataset.interactions.length} interactions in ${((t1 - t0) / 1000).toFixed(1)} s`);
  const registry = builtinRegistry();
  if (o.ranker && !registry.rankers.has(o.ranker)) throw new Error(`--ranker: unknown ranker '${o.ranker}' (known: ${[...registry.rankers.keys()].join(', ')})`);
  for (const k of o.stages) if (!registry.sources.has(k)) throw new Error(`--stages: unknown source '${k}' (known: ${[...registry.sources.keys()].join(', ')})`);
  const sources = o.stages.map((kind) => (kind === 'ease' ? { kind, params: { maxItems: o['ease-items'] } } : { kind }));
  const config = { sources, fallbacks: [{ kind: 'popularity' }], ranker: o.ranker ? { kind: o.ranker, ...rankerParams } : null };
  await trainModel(dir, { dataset, registry, config, holdout: 0, seed: o.seed, log: (l) => console.error(l) });
  return { seconds: { generate: (t1 - t0) / 1000, train: (performance.now() - t1) / 1000 } };
}

/** Times `n` recommendations in this process (after a warm-up): wall-clock quantiles and CPU time per request. */
function timeInProcess(rec: { recommend(r: { user: string; k: number }): unknown }, users: readonly string[], n: number, k: number): { p50Ms: number; p99Ms: number; meanMs: number; cpuMsPerRequest: number } {
  for (let i = 0; i < Math.min(100, n); i++) rec.recommend({ user: users[i % users.length], k });
  const t = new Float64Array(n);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    rec.recommend({ user: users[(i * 7919) % users.length], k });
    t[i] = performance.now() - t0;
  }
  const cpu = process.cpuUsage(cpu0);
  const mean = t.reduce((a, b) => a + b, 0) / n;
  t.sort();
  const q = (p: number) => Math.round(t[Math.min(n - 1, Math.floor(p * n))] * 1000) / 1000;
  return { p50Ms: q(0.5), p99Ms: q(0.99), meanMs: Math.round(mean * 1000) / 1000, cpuMsPerRequest: Math.round(((cpu.user + cpu.system) / 1000 / n) * 1000) / 1000 };
}

/** The upper bound of the histogram bucket holding quantile `q` of a route's GET latency, and the share within 25 ms. */
function serverQuantile(text: string, route: string, q: number): { bucketMs: number; within25: number } {
  const buckets: [number, number][] = [];
  const re = /^tandem_http_request_duration_seconds_bucket\{method="GET",route="([^"]+)",le="([^"]+)"\} (\d+)$/gm;
  for (const m of text.matchAll(re)) if (m[1] === route) buckets.push([m[2] === '+Inf' ? Infinity : Number(m[2]) * 1000, Number(m[3])]);
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  const hit = buckets.find(([, n]) => n >= q * total);
  const at25 = buckets.find(([le]) => le === 25);
  return { bucketMs: hit ? hit[0] : NaN, within25: total && at25 ? Math.round((at25[1] / total) * 1e4) / 1e4 : NaN };
}

/** `tandem bench serve`. */
export const serveBench: Command = {
  name: 'serve',
  summary: 'HTTP service latency, throughput and event ingestion on a synthetic catalog',
  usage: 'tandem bench serve [--items 1000000] [--requests 20000] [--rate 100] [--ranker gbdt] [--replicas 2 --store postgres://… --live redis://…] [--json out.json]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    const tmp = await mkdtemp(join(tmpdir(), 'tandem-bench-serve-'));
    // other work on the machine shows up in the tail latencies: record it
    const loadStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
    try {
      let modelDir = o.model;
      let setup: Record<string, unknown> = {};
      if (!modelDir) {
        modelDir = join(tmp, 'model');
        setup = await syntheticModel(modelDir, o);
      }
      if (o.replicas > 1 || o.store !== undefined || o.live !== undefined) return await replicaBench(o, modelDir, tmp, setup);
      const apiKey = randomBytes(12).toString('hex');
      const server = await startServer({ model: modelDir, port: 0, apiKey, store: `sqlite:${join(tmp, 'events.db')}`, candidates: o.candidates, bodyLimit: 16 * 1024 * 1024, log: () => {} });
      const rec = server.service.current().engine;
      const m = rec.manifest;
      // known users with history, and live items, as the driver's id pools
      const users = rec.activeUsers(5000);
      const items = rec.liveItems(100000);
      const inProcess = o['in-process'] > 0 && users.length > 0 ? timeInProcess(rec, users, o['in-process'], o.k) : null;
      if (inProcess) console.error(`in process (${o['in-process']} recommendations): p50 ${inProcess.p50Ms} ms, p99 ${inProcess.p99Ms} ms, CPU ${inProcess.cpuMsPerRequest} ms per request`);
      const planFile = join(tmp, 'plan.json');
      const throughputRequests = o['throughput-requests'] ?? Math.min(o.requests, 5000);
      await writeFile(planFile, JSON.stringify({ url: server.url, apiKey, users, items, k: o.k, requests: o.requests, rate: o.rate, concurrency: o.concurrency, throughputRequests, events: o.events, batch: o.batch, eventConcurrency: o['event-concurrency'], seed: o.seed }));
      console.error(`serving model ${m.modelVersion} (${m.data.items} items, stages: ${m.stages.map((x) => x.name).join(', ')}, ranker: ${m.ranker?.kind ?? 'none'}) at ${server.url}; driving ${o.requests} requests at ${o.rate}/s, ${throughputRequests} at concurrency ${o.concurrency}, ${o.events} events`);
      const driver = fileURLToPath(new URL('./serve-driver.ts', import.meta.url));
      const out = await new Promise<string>((resolve, reject) => {
        // tsx resolved from this file, not from the working directory: the bench runs from anywhere
        const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), driver, planFile], { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        child.stdout.on('data', (d: Buffer) => (text += d.toString()));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`load driver exited with code ${code}`))));
      }).catch(async (err: unknown) => {
        await server.close(); // a failed driver must not leave the service holding the process open
        throw err;
      });
      const r = JSON.parse(out.trim().split('\n').pop()!) as {
        rate: { p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number; achievedRps: number };
        throughput: { rps: number; p50Ms: number; p99Ms: number };
        events: { perSecond: number; sent: number; batches: number; p99BatchMs: number };
        errors: number;
      };
      const stored = (await server.service.log.counts()).events;
      // the server's own view (handler latency histogram): separates service time from loopback and driver delays
      const metricsText = (await server.service.app.inject({ method: 'GET', url: '/metrics' })).body;
      const server99 = serverQuantile(metricsText, '/v1/users/:id/recommendations', 0.99);
      const rssMB = Math.round(process.memoryUsage().rss / 2 ** 20);
      await server.close();
      const result = {
        recommend: { p50Ms: r.rate.p50Ms, p95Ms: r.rate.p95Ms, p99Ms: r.rate.p99Ms, rps: r.throughput.rps, maxMs: r.rate.maxMs, rateRps: r.rate.achievedRps, requests: o.requests, saturation: { concurrency: o.concurrency, requests: throughputRequests, p50Ms: r.throughput.p50Ms, p99Ms: r.throughput.p99Ms } },
        events: { perSecond: r.events.perSecond, sent: r.events.sent, stored, lost: r.events.sent - stored, batch: o.batch, p99BatchMs: r.events.p99BatchMs },
        errors: r.errors,
        model: { version: m.modelVersion, items: m.data.items, users: m.data.users, interactions: m.data.interactions, stages: m.stages.map((x) => x.name), ranker: m.ranker?.kind ?? null, candidatesPerSource: o.candidates, k: o.k },
        server: { p99BucketMs: server99.bucketMs, shareWithin25Ms: server99.within25 },
        inProcess,
        loadAverage: { start: loadStart, end: os.loadavg().map((x) => Math.round(x * 100) / 100) },
        serverRssMB: rssMB,
        setup,
      };
      console.log(`recommend at ${o.rate}/s (${o.requests} requests): p50 ${result.recommend.p50Ms} ms, p95 ${result.recommend.p95Ms} ms, p99 ${result.recommend.p99Ms} ms, max ${result.recommend.maxMs} ms`);
      console.log(`recommend at saturation (concurrency ${o.concurrency}): ${result.recommend.rps} req/s (p50 ${r.throughput.p50Ms} ms, p99 ${r.throughput.p99Ms} ms)`);
      console.log(`events: ${result.events.perSecond}/s in batches of ${o.batch}; sent ${result.events.sent}, stored ${stored}, lost ${result.events.lost}`);
      if (inProcess) console.log(`in process: p50 ${inProcess.p50Ms} ms, p99 ${inProcess.p99Ms} ms, CPU ${inProcess.cpuMsPerRequest} ms per request (${Math.round(1000 / inProcess.cpuMsPerRequest)} requests per CPU-second)`);
      console.log(`server side: p99 within ${server99.bucketMs} ms (histogram bucket), ${(server99.within25 * 100).toFixed(2)}% within 25 ms`);
      console.log(`errors ${r.errors}; server RSS ${rssMB} MB; load average ${result.loadAverage.start.join(' ')} -> ${result.loadAverage.end.join(' ')} (${os.cpus().length} cores)`);
      if (o.json) await writeFile(o.json, JSON.stringify(result, null, 2) + '\n');
      return r.errors === 0 && result.events.lost === 0 ? 0 : 1;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  },
};
