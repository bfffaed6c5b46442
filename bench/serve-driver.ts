// The load generator of `tandem bench serve`, run as a second process: it reads its plan from the
// JSON file named by argv[2], drives the service on loopback with a bounded number of requests, and
// prints one JSON result line on stdout.
import { readFileSync } from 'node:fs';
import http from 'node:http';

interface Plan {
  url: string;
  apiKey: string;
  users: string[];
  items: string[];
  k: number;
  requests: number;
  rate: number;
  concurrency: number;
  throughputRequests: number;
  events: number;
  batch: number;
  eventConcurrency: number;
  seed: number;
  /** Several replicas: requests go round the list (default: [url]). */
  urls?: string[];
  /** Where events go (default: urls). */
  eventUrls?: string[];
  /** The phases to run (default all three). */
  phases?: ('rate' | 'throughput' | 'events')[];
  /** Skip the warm-up. */
  noWarmup?: boolean;
}

const plan = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Plan;
const targets = (plan.urls ?? [plan.url]).map((u) => new URL(u));
const eventTargets = (plan.eventUrls ?? plan.urls ?? [plan.url]).map((u) => new URL(u));
let turn = 0;
// node:http with keep-alive: lighter than fetch, so the driver takes less of the CPU it shares with the server
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function request(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  // round the replicas (one, unless the plan names several)
  const list = method === 'POST' ? eventTargets : targets;
  const target = list[turn++ % list.length];
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.hostname, port: target.port, method, path, agent, headers: body !== undefined ? { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
let state = plan.seed >>> 0 || 1;
const rand = (n: number): number => {
  // xorshift32: enough to spread requests over users
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state % n;
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let errors = 0;

async function recommend(): Promise<number> {
  const u = plan.users[rand(plan.users.length)];
  const t = performance.now();
  const res = await request('GET', `/v1/users/${encodeURIComponent(u)}/recommendations?k=${plan.k}`);
  if (res.status !== 200) errors++;
  return performance.now() - t;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function openLoop(): Promise<{ p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number; achievedRps: number }> {
  const n = plan.requests;
  const lat = new Float64Array(n);
  const interval = 1000 / plan.rate;
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = t0 + i * interval - performance.now();
    if (wait > 1) await sleep(wait);
    pending.push(recommend().then((ms) => void (lat[i] = ms)));
    if (pending.length >= 256) await Promise.all(pending.splice(0, 128));
  }
  await Promise.all(pending);
  const seconds = (performance.now() - t0) / 1000;
  lat.sort();
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return { p50Ms: r(percentile(lat, 50)), p95Ms: r(percentile(lat, 95)), p99Ms: r(percentile(lat, 99)), maxMs: r(lat[n - 1]), achievedRps: r(n / seconds) };
}

async function closedLoop(): Promise<{ rps: number; p50Ms: number; p99Ms: number; driverCpuMsPerRequest: number }> {
  const m = plan.throughputRequests;
  const lat = new Float64Array(m);
  let next = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: plan.concurrency }, async () => {
      while (next < m) {
        const i = next++;
        lat[i] = await recommend();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  lat.sort();
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  // the driver's own CPU: on one machine it comes out of the replicas' budget
  return { rps: r(m / seconds), p50Ms: r(percentile(lat, 50)), p99Ms: r(percentile(lat, 99)), driverCpuMsPerRequest: r((cpu.user + cpu.system) / 1000 / m) };
}

async function events(): Promise<{ perSecond: number; sent: number; batches: number; p99BatchMs: number }> {
  const batches = Math.ceil(plan.events / plan.batch);
  const lat = new Float64Array(batches);
  let next = 0;
  let sent = 0;
  const ts = Math.floor(Date.now() / 1000);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: plan.eventConcurrency }, async () => {
      while (next < batches) {
        const b = next++;
        const n = Math.min(plan.batch, plan.events - b * plan.batch);
        const evs = [];
        for (let j = 0; j < n; j++) evs.push({ user: plan.users[rand(plan.users.length)], item: plan.items[rand(plan.items.length)], timestamp: ts });
        const t = performance.now();
        const res = await request('POST', '/v1/events', JSON.stringify({ events: evs }), { authorization: `Bearer ${plan.apiKey}` });
        const body = JSON.parse(res.body) as { stored?: number };
        lat[b] = performance.now() - t;
        if (res.status === 200) sent += body.stored ?? 0;
        else errors++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  lat.sort();
  return { perSecond: Math.round(sent / seconds), sent, batches, p99BatchMs: Math.round(percentile(lat, 99) * 1000) / 1000 };
}

// warm-up: JIT and connections, not measured
const phases = plan.phases ?? ['rate', 'throughput', 'events'];
if (!plan.noWarmup) for (let i = 0; i < Math.min(200 * targets.length, plan.requests); i++) await recommend();
errors = 0;
const rate = phases.includes('rate') ? await openLoop() : null;
const throughput = phases.includes('throughput') ? await closedLoop() : null;
const ev = phases.includes('events') ? await events() : null;
process.stdout.write(JSON.stringify({ rate, throughput, events: ev, errors }) + '\n');
agent.destroy();
