// `tandem bench serve --replicas N --store postgres://… --live redis://…`: N `tandem serve` replicas as
// child processes on one shared log and live state, measured in the same run as one replica on SQLite
// and memory (the embedded default), with the same model and the same load driver (requests go round
// the replicas). Per setup: latency at a fixed rate, peak req/s at a fixed concurrency, the replicas' CPU
// per request (read from /proc), events/s with the events stored counted afterwards, and for the shared
// setup what following the log costs a replica that receives no writes, and Redis memory per user.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createService, startReplica, type Replica } from '../src/serve/index.ts';
import { openEventLog, openLiveState } from '../src/store/index.ts';
import { ownSchema } from './namespace.ts';

export interface ReplicaBenchOptions {
  replicas: number;
  store?: string;
  live?: string;
  requests: number;
  rate: number;
  concurrency: number;
  'throughput-requests'?: number;
  candidates: number;
  k: number;
  events: number;
  batch: number;
  'event-concurrency': number;
  seed: number;
  json?: string;
}

interface Setup {
  name: string;
  replicas: number;
  store: string;
  live: string;
}

/** User + system CPU of a process so far, in ms (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name (which may hold spaces) start at ") "
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

const cpuOf = (rs: readonly Replica[]): number => rs.reduce((a, r) => a + cpuMs(r.process.pid!), 0);

function drive(plan: Record<string, unknown>, file: string): Promise<any> {
  const driver = fileURLToPath(new URL('./serve-driver.ts', import.meta.url));
  return writeFile(file, JSON.stringify(plan)).then(
    () =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), driver, file], { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        child.stdout.on('data', (d: Buffer) => (text += d.toString()));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text.trim().split('\n').pop()!)) : reject(new Error(`load driver exited with code ${code}`))));
      }),
  );
}

/** The shared URLs with a schema and key prefix of this run's own (unless the URL names one), and how to drop them after. */
function ownNamespace(store: string, live: string): { store: string; live: string; drop: () => Promise<void> } {
  const schema = ownSchema(store);
  const tag = schema.tag;
  const l = new URL(live);
  const ownPrefix = !l.searchParams.has('prefix');
  if (ownPrefix) l.searchParams.set('prefix', tag);
  return {
    store: schema.url,
    live: l.toString(),
    drop: async () => {
      await schema.drop();
      if (ownPrefix) {
        const r = redisClient(l.toString());
        let cursor = '0';
        do {
          const [next, keys] = await r.scan(cursor, 'MATCH', `${tag}:*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length) await r.unlink(...keys);
        } while (cursor !== '0');
        r.disconnect();
      }
    },
  };
}

function redisClient(url: string): Redis {
  const u = new URL(url);
  return new Redis({ host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 6379, db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0, username: u.username || undefined, password: u.password || undefined });
}

async function redisUsedBytes(url: string): Promise<number> {
  const r = redisClient(url);
  const info = await r.info('memory');
  r.disconnect();
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

/** Runs the replica comparison on `modelDir`; returns the exit code (1 when events were lost or requests failed). */
export async function replicaBench(o: ReplicaBenchOptions, modelDir: string, tmp: string, setupInfo: Record<string, unknown>): Promise<number> {
  if (!o.store?.startsWith('postgres') || !o.live?.startsWith('redis')) throw new Error('--replicas: give --store postgres://… and --live redis://… (the shared log and live state the replicas use)');
  const ns = ownNamespace(o.store, o.live);
  const apiKey = randomBytes(12).toString('hex');
  const throughputRequests = o['throughput-requests'] ?? Math.min(o.requests, 5000);
  const loadStart = os.loadavg().map((x) => round(x, 2));

  // the id pools: known users with history and live items, from the model itself
  const probe = await createService({ model: modelDir, store: 'memory', live: 'memory', log: () => {} });
  const engine = probe.current().engine;
  const users = engine.activeUsers(5000);
  const items = engine.liveItems(100000);
  const m = engine.manifest;
  await probe.close();

  const setups: Setup[] = [
    { name: `1 replica, sqlite + memory`, replicas: 1, store: `sqlite:${join(tmp, 'events.db')}`, live: 'memory' },
    { name: `${o.replicas} replicas, postgres + redis`, replicas: o.replicas, store: ns.store, live: ns.live },
  ];
  const results: Record<string, unknown>[] = [];
  let failed = false;
  try {
    for (const s of setups) {
      const args = ['--model', modelDir, '--store', s.store, '--live', s.live, '--api-key', apiKey, '--candidates', String(o.candidates), '--body-limit', String(16 * 1024 * 1024)];
      console.error(`${s.name}: starting`);
      const replicas: Replica[] = [];
      // one at a time: the first creates the schema, and start-up is CPU-bound
      for (let i = 0; i < s.replicas; i++) replicas.push(await startReplica(args, { timeoutMs: 600_000 }));
      try {
        const urls = replicas.map((r) => r.url);
        const base = { url: urls[0], urls, apiKey, users, items, k: o.k, requests: o.requests, rate: o.rate, concurrency: o.concurrency, throughputRequests, events: o.events, batch: o.batch, eventConcurrency: o['event-concurrency'], seed: o.seed };
        const plan = join(tmp, 'plan.json');
        const rd = await drive({ ...base, phases: ['rate'] }, plan);
        const rate = rd.rate;
        const c0 = cpuOf(replicas);
        const t0 = performance.now();
        const tp = await drive({ ...base, phases: ['throughput'], noWarmup: true }, plan);
        const throughput = tp.throughput;
        const wall = (performance.now() - t0) / 1000;
        const cpuPerRequest = (cpuOf(replicas) - c0) / throughputRequests;
        const redis0 = s.live.startsWith('redis') ? await redisUsedBytes(s.live) : NaN;
        const log = await openEventLog(s.store);
        const stored0 = (await log.counts()).events;
        const ev = await drive({ ...base, phases: ['events'], noWarmup: true }, plan);
        const stored = (await log.counts()).events - stored0;
        const result: Record<string, unknown> = {
          setup: s.name,
          replicas: s.replicas,
          store: s.store.replace(/\/\/[^@]*@/, '//'),
          live: s.live,
          recommend: { p50Ms: rate.p50Ms, p95Ms: rate.p95Ms, p99Ms: rate.p99Ms, maxMs: rate.maxMs, rateRps: rate.achievedRps, requests: o.requests },
          peak: { rps: throughput.rps, concurrency: o.concurrency, requests: throughputRequests, p50Ms: throughput.p50Ms, p99Ms: throughput.p99Ms, replicaCpuMsPerRequest: round(cpuPerRequest), replicaCpuCores: round((cpuPerRequest * throughput.rps) / 1000, 2), driverCpuCores: round((throughput.driverCpuMsPerRequest * throughput.rps) / 1000, 2), seconds: round(wall, 1) },
          events: { perSecond: ev.events.perSecond, sent: ev.events.sent, stored, lost: ev.events.sent - stored, batch: o.batch, p99BatchMs: ev.events.p99BatchMs },
          errors: rd.errors + tp.errors + ev.errors,
        };
        if (ev.events.sent !== stored || rd.errors + tp.errors + ev.errors > 0) failed = true;
        if (s.replicas > 1) {
          // following the log: events written through replica 1 only; what the other replicas spend taking them
          const others = replicas.slice(1);
          const f0 = cpuOf(others);
          const followEvents = Math.max(o.batch, Math.floor(o.events / 2));
          const before = (await log.counts()).events;
          const fe = await drive({ ...base, events: followEvents, eventUrls: [urls[0]], phases: ['events'], noWarmup: true }, plan);
          // the followers have the entries once every replica's /metrics counts them: wait up to 10 s
          const want = Number(/tandem_events_applied (\d+)/.exec(await (await fetch(`${urls[0]}/metrics`)).text())?.[1]);
          for (const r of others) {
            const end = Date.now() + 10_000;
            while (Date.now() < end) {
              const n = Number(/tandem_events_applied (\d+)/.exec(await (await fetch(`${r.url}/metrics`)).text())?.[1]);
              if (n >= want) break;
              await new Promise((res) => setTimeout(res, 50));
            }
          }
          const followCpu = (cpuOf(others) - f0) / others.length;
          const followed = (await log.counts()).events - before;
          const redis1 = await redisUsedBytes(s.live);
          const state = await openLiveState(s.live);
          const held = await state.stats();
          await state.close();
          const liveUsers = held.users;
          result.follow = { events: followed, sent: fe.events.sent, perSecond: fe.events.perSecond, cpuMsPerThousandEvents: round((followCpu / followed) * 1000), note: 'CPU of a replica that only follows the log (events written through another replica), per 1000 events' };
          result.redis = { usedBytesBefore: redis0, usedBytesAfter: redis1, liveUsers, eventsHeld: held.events, bytesPerUser: liveUsers > 0 ? Math.round((redis1 - redis0) / liveUsers) : null, bytesPerEvent: held.events > 0 ? Math.round((redis1 - redis0) / held.events) : null, note: 'used_memory grew by this during the event phases (a shared server: other users count too); users = users with live state, events = events held in their histories' };
          if (fe.events.sent !== followed || fe.errors > 0) failed = true;
        }
        await log.close();
        results.push(result);
        console.error(`${s.name}: ${JSON.stringify(result)}`);
      } finally {
        for (const r of replicas) await r.stop('SIGTERM');
      }
    }
  } finally {
    await ns.drop().catch((e: unknown) => console.error(`could not drop the bench's schema/prefix: ${String(e)}`));
  }
  const [one, many] = results as any[];
  const summary = {
    rpsRatio: round(many.peak.rps / one.peak.rps, 2),
    cpuPerRequestRatio: round(many.peak.replicaCpuMsPerRequest / one.peak.replicaCpuMsPerRequest, 2),
    // what the CPU per request implies when each replica has a core of its own (the machine's budget:
    // replicas x one core), against one replica on one core; the measured rpsRatio is below it when the
    // replicas did not get their cores (the driver, the stores and other load share the machine)
    budgetRatio: round((o.replicas * one.peak.replicaCpuMsPerRequest) / many.peak.replicaCpuMsPerRequest, 2),
    model: { version: m.modelVersion, items: m.data.items, users: m.data.users, interactions: m.data.interactions, stages: m.stages.map((x) => x.name), ranker: m.ranker?.kind ?? null, candidatesPerSource: o.candidates, k: o.k },
    machine: { cores: os.cpus().length, loadAverage: { start: loadStart, end: os.loadavg().map((x) => round(x, 2)) } },
    setup: setupInfo,
  };
  for (const r of results as any[]) {
    console.log(`${r.setup}: recommend at ${o.rate}/s p50 ${r.recommend.p50Ms} ms, p99 ${r.recommend.p99Ms} ms; peak ${r.peak.rps} req/s at ${o.concurrency} in flight (${r.peak.replicaCpuMsPerRequest} ms replica CPU per request, ${r.peak.replicaCpuCores} cores; the load driver ${r.peak.driverCpuCores} cores); events ${r.events.perSecond}/s, sent ${r.events.sent}, stored ${r.events.stored}`);
    if (r.follow) console.log(`  following the log: ${r.follow.cpuMsPerThousandEvents} ms CPU per 1000 events per replica; Redis ${r.redis.bytesPerUser ?? '?'} bytes per live user (${r.redis.liveUsers} users holding ${r.redis.eventsHeld} events: ${r.redis.bytesPerEvent ?? '?'} bytes per event)`);
  }
  console.log(`${o.replicas} replicas / 1: ${summary.rpsRatio}x the peak req/s, ${summary.cpuPerRequestRatio}x the replica CPU per request (${summary.budgetRatio}x the req/s with a core per replica); load average ${loadStart.join(' ')} -> ${summary.machine.loadAverage.end.join(' ')} (${summary.machine.cores} cores)`);
  if (o.json) await writeFile(o.json, JSON.stringify({ results, ...summary }, null, 2) + '\n');
  return failed ? 1 : 0;
}
