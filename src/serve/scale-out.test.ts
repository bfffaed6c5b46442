// Scale-out, end to end: `tandem serve` replicas as child processes on real ports, sharing one
// PostgreSQL event log (through a TCP proxy the test can cut) and one Redis live state (a private
// redis-server the test can kill and restart). Every case runs on the same replicas, in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { builtinRegistry, fixtureDataset, trainModel } from '../pipeline/index.ts';
import { RedisLiveState } from '../store/index.ts';
import { freshDatabase, serverMissing, type TestDatabase } from '../store/test-fixture.ts';
import { startReplica, type Replica } from './index.ts';
import { httpCall, type CallResult } from './http.fixture.ts';

/** A TCP proxy to PostgreSQL: `cut()` drops every connection and refuses new ones until `restore()`. */
interface Proxy {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

async function tcpProxy(targetPort: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;
  const listen = async (): Promise<void> => {
    server = createServer((down) => {
      const up = connect(targetPort, '127.0.0.1');
      for (const s of [down, up]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          sockets.delete(s);
          down.destroy();
          up.destroy();
        });
      }
      down.pipe(up);
      up.pipe(down);
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  };
  const cut = async (): Promise<void> => {
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  await listen();
  return { port, cut, restore: listen, close: cut };
}

function redisServer(port: number): Promise<ChildProcess> {
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let out = '';
    p.stdout!.on('data', (d) => {
      out += String(d);
      if (/Ready to accept connections/.test(out)) resolve(p);
    });
    p.on('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out.slice(-500)}`)));
  });
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<CallResult> {
  return httpCall(base + path, method, { body });
}

const recs = async (r: Replica, user: string, k = 10): Promise<string[]> => {
  const res = await call(r.url, 'GET', `/v1/users/${user}/recommendations?k=${k}`);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return res.json.items.map((x: { id: string }) => x.id);
};
const itemsOf = async (r: Replica): Promise<number> => (await call(r.url, 'GET', '/readyz')).json.items;

/** Polls `check` every 10 ms until it holds; returns the ms it took, or fails after `limitMs`. */
async function within(limitMs: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return performance.now() - t0;
    if (performance.now() - t0 > limitMs) assert.fail(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
const db = await freshDatabase();
if ('unavailable' in db) serverMissing('scale-out (postgres)', db.unavailable, 'TANDEM_TEST_POSTGRES');
else if (!hasRedis) serverMissing('scale-out (redis-server)', 'no redis-server binary to start a private Redis with', 'PATH');
else scaleOut(db);

function scaleOut(db: TestDatabase): void {
  let root = '';
  let model = '';
  let proxy: Proxy;
  let redisPort = 0;
  let redis: ChildProcess | null = null;
  let pgUrl = '';
  let redisUrl = '';
  const replicas: Replica[] = [];
  let a: Replica;
  let b: Replica;
  let c: Replica;
  const sql = new pg.Client({ connectionString: db.url });

  const replica = async (): Promise<Replica> => {
    const r = await startReplica(['--model', model, '--store', pgUrl, '--live', redisUrl, '--no-auth']);
    replicas.push(r);
    return r;
  };
  const redisHandle = () => RedisLiveState.open(redisUrl, { commandTimeoutMs: 2000 });
  const lastSeq = async (): Promise<number> => Number((await sql.query('SELECT coalesce(max(seq), 0) AS s FROM tandem.log')).rows[0].s);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tandem-scale-'));
    model = join(root, 'model');
    await trainModel(model, { dataset: fixtureDataset(), registry: builtinRegistry(), config: { sources: [{ kind: 'ease', params: { lambda: 10 } }], fallbacks: [{ kind: 'popularity' }] }, holdout: 0 });
    proxy = await tcpProxy(Number(new URL(db.url).port || 5432));
    const u = new URL(db.url);
    u.port = String(proxy.port);
    pgUrl = u.toString();
    redisPort = 20_000 + Math.floor(Math.random() * 20_000);
    redis = await redisServer(redisPort);
    redisUrl = `redis://127.0.0.1:${redisPort}/0?prefix=scale`;
    await sql.connect();
    [a, b] = await Promise.all([replica(), replica()]);
  });

  after(async () => {
    // a replica that died on its own says why
    if (process.env.SCALE_DEBUG) for (const r of replicas) (await import("node:fs")).appendFileSync(process.env.SCALE_DEBUG, `${r.url}\n${r.output()}\n`);
    for (const r of replicas) if (r.process.exitCode !== null || (r.process.signalCode !== null && r !== a)) console.error(`# replica ${r.url} exited (${r.process.exitCode ?? r.process.signalCode}):\n${r.output().slice(-3000)}`);
    await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
    redis?.kill('SIGKILL');
    await proxy?.close().catch(() => {});
    await sql.end().catch(() => {});
    await db.drop();
    await rm(root, { recursive: true, force: true });
  });

  test('events posted to replica A change replica B\'s very next answer for that user', async () => {
    const before = await recs(b, 'u3', 5);
    assert.deepEqual(await recs(a, 'u3', 5), before, 'one model, one state: the same answer');
    const res = await call(a.url, 'POST', '/v1/events', { events: [{ user: 'u3', item: before[0], type: 'purchase' }] });
    assert.equal(res.status, 200);
    // no wait: A answered after Redis took the event, so B's next read sees it (a seen item never comes back)
    const next = await recs(b, 'u3', 5);
    assert.ok(!next.includes(before[0]), `B still recommends ${before[0]}: ${next}`);
  });

  test('an item added or deleted through A is served or gone on B within one second', async () => {
    assert.equal(await itemsOf(b), 80);
    assert.equal((await call(b.url, 'POST', '/v1/events', { events: [{ user: 'u1', item: 'fresh-1' }] })).status, 400, 'unknown on B before');
    assert.equal((await call(a.url, 'PUT', '/v1/items/fresh-1', { features: { genre: ['g1'], price: 7 } })).status, 200);
    const added = await within(1000, 'the item on B', async () => (await itemsOf(b)) === 81);
    assert.equal((await call(b.url, 'POST', '/v1/events', { events: [{ user: 'u1', item: 'fresh-1' }] })).status, 200, 'B takes events for it');
    assert.equal((await call(a.url, 'DELETE', '/v1/items/i7')).status, 200);
    const deleted = await within(1000, 'the deletion on B', async () => (await itemsOf(b)) === 80);
    assert.equal((await call(b.url, 'POST', '/v1/events', { events: [{ user: 'u1', item: 'i7' }] })).status, 400, 'B refuses events for the deleted item');
    for (let u = 0; u < 20; u++) assert.ok(!(await recs(b, `u${u}`)).includes('i7'), 'B never recommends the deleted item');
    console.error(`# seen on B ${added.toFixed(0)} ms after the upsert on A, ${deleted.toFixed(0)} ms after the deletion`);
  });

  test('a replica started later has caught up with the log when it starts answering', async () => {
    assert.equal((await call(a.url, 'PUT', '/v1/items/fresh-2', { features: { genre: ['g2'], price: 9 } })).status, 200);
    const top = (await recs(a, 'u5', 3))[0];
    assert.equal((await call(a.url, 'POST', '/v1/events', { events: [{ user: 'u5', item: top, type: 'purchase' }] })).status, 200);
    c = await replica();
    // its first answers: every catalog change and event logged before it started
    assert.equal(await itemsOf(c), 81, 'fresh-1 and fresh-2 added, i7 deleted');
    assert.equal((await call(c.url, 'GET', '/readyz')).json.ready, true);
    assert.ok(!(await recs(c, 'u5', 3)).includes(top));
    assert.ok(!(await recs(c, 'u0', 80)).includes('i7'));
  });

  test('kill -9 of a replica in the middle of a burst of 10,000 events: every event answered 2xx is in PostgreSQL', async () => {
    const total = 10_000;
    const batch = 100;
    const batches = total / batch;
    const acked: number[] = [];
    let sent = 0;
    let failed = 0;
    let next = 0;
    let killed = false;
    const worker = async (w: number): Promise<void> => {
      for (;;) {
        const k = next++;
        if (k >= batches) return;
        // alternate replicas; A is killed once a third of the batches were answered
        const target = (k + w) % 2 === 0 ? a : b;
        const events = Array.from({ length: batch }, (_, j) => ({ user: `burst-${k * batch + j}`, item: `i${(k * batch + j) % 80 === 7 ? 8 : (k * batch + j) % 80}` }));
        sent += batch;
        try {
          const res = await fetch(`${target.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
          await res.text();
          if (res.status >= 200 && res.status < 300) for (let j = 0; j < batch; j++) acked.push(k * batch + j);
          else failed += batch;
        } catch {
          failed += batch;
        }
        if (!killed && acked.length >= total / 3) {
          killed = true;
          a.process.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    await a.stop('SIGKILL');
    assert.ok(killed, 'A was killed during the burst');
    const rows = (await sql.query<{ user_id: string }>("SELECT user_id FROM tandem.log WHERE kind = 'event' AND user_id LIKE 'burst-%'")).rows;
    const stored = new Set(rows.map((r) => Number(r.user_id.slice(6))));
    const missing = acked.filter((i) => !stored.has(i));
    console.error(`# burst: ${sent} events sent, ${acked.length} answered 2xx, ${failed} failed (A killed), ${stored.size} in PostgreSQL, ${missing.length} answered but missing`);
    assert.equal(missing.length, 0, `answered 2xx but not stored: ${missing.slice(0, 10)}`);
    assert.equal(stored.size, rows.length, 'no event stored twice');
    assert.ok(acked.length > total / 3 && failed > 0, 'events were answered before the kill and lost in flight after it');
  });

  test('Redis restarted empty in the middle of traffic: no 5xx, and the live state is rebuilt from PostgreSQL', async () => {
    const top = (await recs(b, 'u9', 3))[0];
    assert.equal((await call(b.url, 'POST', '/v1/events', { events: [{ user: 'u9', item: top, type: 'purchase' }] })).status, 200);
    const statuses = new Map<number, number>();
    let stop = false;
    let n = 0;
    const traffic = async (r: Replica): Promise<void> => {
      while (!stop) {
        const i = n++;
        const res = i % 3 === 0 ? await call(r.url, 'POST', '/v1/events', { events: [{ user: `during-${i}`, item: `i${i % 7}` }] }) : await call(r.url, 'GET', `/v1/users/u${i % 60}/recommendations?k=5`);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    };
    const running = Promise.all([traffic(b), traffic(c), traffic(b), traffic(c)]);
    await new Promise((r) => setTimeout(r, 500));
    redis!.kill('SIGKILL');
    await new Promise((r) => redis!.once('exit', r));
    await new Promise((r) => setTimeout(r, 700));
    redis = await redisServer(redisPort);
    const restarted = performance.now();
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await running;
    console.error(`# statuses during the Redis restart: ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.ok(![...statuses.keys()].some((s) => s >= 500), `no 5xx: ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.ok((statuses.get(200) ?? 0) > 20);
    // rebuilt: the whole log since the model, the event before the restart included
    const live = await redisHandle();
    try {
      const ms = await within(15_000, 'the live state rebuilt', async () => (await live.position()) >= (await lastSeq()));
      const u9 = await live.user('u9');
      assert.ok(u9?.events.some((e) => e.item === top), 'the history logged before the restart is back');
      const users = Number((await sql.query('SELECT count(DISTINCT user_id) AS n FROM tandem.log WHERE user_id IS NOT NULL')).rows[0].n);
      assert.equal((await live.stats()).users, users, 'every user logged is back in the state');
      console.error(`# live state rebuilt ${(performance.now() - restarted).toFixed(0)} ms after the restart (${ms.toFixed(0)} ms after the traffic)`);
    } finally {
      await live.close();
    }
    assert.ok(!(await recs(c, 'u9', 3)).includes(top), 'answers use the rebuilt state');
    assert.equal((await call(b.url, 'GET', '/readyz')).json.degraded, undefined, 'B says it is whole again');
  });

  test('PostgreSQL unreachable: writes answer 503 with a clear error, reads are served; writes resume when it is back', async () => {
    await proxy.cut();
    try {
      const w = await call(b.url, 'POST', '/v1/events', { events: [{ user: 'u2', item: 'i3' }] });
      assert.equal(w.status, 503, JSON.stringify(w.json));
      assert.equal(w.json.error.code, 'unavailable');
      assert.match(w.json.error.message, /event log cannot be reached, nothing was stored/);
      assert.equal((await call(c.url, 'PUT', '/v1/items/fresh-3', { features: { genre: ['g0'], price: 1 } })).status, 503);
      for (let u = 0; u < 10; u++) assert.equal((await recs(b, `u${u}`, 5)).length, 5);
      assert.equal((await call(c.url, 'GET', '/v1/items/i3/similar')).status, 200);
    } finally {
      await proxy.restore();
    }
    await within(10_000, 'writes stored again', async () => (await call(b.url, 'POST', '/v1/events', { events: [{ user: 'u2', item: 'i3' }] })).status === 200);
    // and the followers came back: an item added on C reaches B
    assert.equal((await call(c.url, 'PUT', '/v1/items/fresh-3', { features: { genre: ['g0'], price: 1 } })).status, 200);
    await within(3000, 'the item on B after the outage', async () => (await itemsOf(b)) === 82);
  });
}
