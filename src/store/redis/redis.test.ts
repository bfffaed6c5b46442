import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { liveStateSuite } from '../suite.ts';
import { serverMissing } from '../test-services.ts';
import { MemoryLiveState } from '../memory/memory-live-state.ts';
import { openLiveState } from '../open.ts';
import { StoreError, type LiveState, type LogEntry, type LogRecord } from '../types.ts';
import { RedisLiveState, type RedisLiveStateOptions } from './redis-live-state.ts';
import { freshPrefix } from './test-redis.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const ev = (user: string, item: string, type = 'view', value = 1, timestamp = 1_700_000_000): LogRecord => ({ kind: 'event', user, item, type, value, timestamp });
const entry = (seq: number, rec: LogRecord): LogEntry => ({ ...rec, seq, received: 1000 }) as LogEntry;

/** A seeded random log with seq gaps, of every kind (as the suite's differential case). */
function randomLog(n: number, seed: number): LogEntry[] {
  let a = seed >>> 0;
  const r = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (k: number) => Math.floor(r() * k);
  const out: LogEntry[] = [];
  let seq = 0;
  for (let i = 0; i < n; i++) {
    seq += 1 + pick(3);
    const k = r();
    const user = `u${pick(30)}`;
    const item = `i${pick(50)}`;
    out.push(entry(seq, k < 0.75 ? ev(user, item, ['view', 'buy'][pick(2)], pick(100) / 10, pick(1e6))
      : k < 0.85 ? { kind: 'user', user, features: { v: pick(9) } }
      : k < 0.95 ? { kind: 'item', item, features: { g: pick(5) } }
      : { kind: 'delete-item', item }));
  }
  return out;
}

/** Everything a LiveState answers, for comparing two of them. */
async function everything(s: LiveState, users: string[], items: string[]) {
  return { position: await s.position(), stats: await s.stats(), catalog: await s.catalog(), users: await s.users(users), counts: await s.itemCounts(items) };
}

const IDS = { users: Array.from({ length: 31 }, (_, i) => `u${i}`), items: Array.from({ length: 51 }, (_, i) => `i${i}`) };

const server = await freshPrefix();
if ('unavailable' in server) {
  serverMissing('redis', server.unavailable, 'TANDEM_TEST_REDIS');
} else {
  after(() => server.drop());
  let states = 0;
  const fresh = () => `s${++states}`;
  const open = (name: string, opts: RedisLiveStateOptions = {}) => RedisLiveState.open(server.url(name), opts);

  liveStateSuite('redis live state', (opts) => open(fresh(), opts));

  test('redis: four handles applying one log at once, in their own overlapping slices, leave the state one handle would', async () => {
    const name = fresh();
    const log = randomLog(3000, 99);
    const handles = await Promise.all([0, 1, 2, 3].map(() => open(name, { maxEventsPerUser: 7 })));
    try {
      await Promise.all(handles.map(async (h, k) => {
        for (let at = 0; at < log.length; ) {
          // each handle its own slicing, starting a little behind now and then
          const from = Math.max(0, at - ((at * 7 + k) % 5 === 0 ? 15 : 0));
          const to = Math.min(log.length, at + 20 + ((at + k * 13) % 41));
          await h.apply(log.slice(from, to));
          at = to;
        }
      }));
      const want = new MemoryLiveState({ maxEventsPerUser: 7 });
      await want.apply(log);
      const expected = await everything(want, IDS.users, IDS.items);
      for (const h of handles) assert.deepEqual(await everything(h, IDS.users, IDS.items), expected);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
    }
  });

  test('redis: after a flush, position() is 0, a handle that read its position before refuses to apply (stale), and a replay rebuilds the state', async () => {
    const name = fresh();
    const log = randomLog(400, 7);
    const [a, b] = await Promise.all([open(name), open(name)]);
    try {
      await a.apply(log.slice(0, 300));
      const want = new MemoryLiveState();
      await want.apply(log);
      // what FLUSHALL or a restart without persistence does to this state (a real restart: the next case)
      const keys = await server.keys(name);
      assert.ok(keys.length > 10, `${keys.length} keys`);
      await server.client.unlink(...keys);
      assert.deepEqual(await a.stats(), { users: 0, events: 0, items: 0 }, 'a lost state reads as empty');
      assert.equal(await a.user('u1'), null);
      await assert.rejects(a.apply(log.slice(300)), (e: unknown) => e instanceof StoreError && e.code === 'stale' && /lost \(flushed, or Redis restarted without its data\).*read position\(\) again/.test(e.message));
      assert.equal(await a.stats().then((s) => s.events), 0, 'nothing of the refused batch was written');
      // the owners rebuild: each reads its position (0) and replays the log; both at once is fine
      assert.equal(await b.position(), 0);
      assert.equal(await a.position(), 0);
      await Promise.all([a.apply(log), (async () => { for (let i = 0; i < log.length; i += 50) await b.apply(log.slice(i, i + 50)); })()]);
      assert.deepEqual(await everything(a, IDS.users, IDS.items), await everything(want, IDS.users, IDS.items));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('redis: clear() by one handle: the others apply nothing until they read position() again; the old keys are deleted', async () => {
    const name = fresh();
    const [a, b] = await Promise.all([open(name), open(name)]);
    try {
      await a.apply([entry(1, ev('u', 'x')), entry(2, { kind: 'item', item: 'x', features: {} })]);
      const before = await server.keys(name);
      await b.clear();
      const after = await server.keys(name);
      assert.ok(before.every((k) => !after.includes(k) || k.endsWith(':gen')), 'the old generation is gone');
      assert.deepEqual(after, [`${server.prefix}:${name}:gen`], 'only the new generation is left, empty');
      await assert.rejects(a.apply([entry(3, ev('u', 'y'))]), (e: unknown) => e instanceof StoreError && e.code === 'stale' && /cleared by another handle/.test(e.message));
      assert.equal(await a.position(), 0);
      await a.apply([entry(3, ev('u', 'y'))]);
      assert.deepEqual((await b.user('u'))!.events.map((e) => e.item), ['y']);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('redis: the keys: all under the prefix, laid out as documented; another prefix is another state', async () => {
    const name = fresh();
    const s = await open(name);
    const t = await open(fresh());
    try {
      await s.apply([entry(1, ev('ユーザー', 'i:1', 'buy', 2.5, 7)), entry(2, { kind: 'user', user: 'v', features: { a: 1 } }), entry(3, { kind: 'item', item: 'i:1', features: { g: 'x' } }), entry(4, { kind: 'delete-item', item: 'gone' })]);
      const keys = await server.keys(name);
      const gen = (await server.client.get(`${server.prefix}:${name}:gen`))!;
      const p = `${server.prefix}:${name}:${gen}:`;
      assert.deepEqual(keys, [`${server.prefix}:${name}:gen`, ...['c:i:1', 'cat', 'e:ユーザー', 'f:v', 'item', 'n', 'pos'].map((k) => p + k)].sort());
      assert.deepEqual(await server.client.lrange(`${p}e:ユーザー`, 0, -1), ['[1,"i:1","buy",2.5,7]']);
      assert.equal(await t.position(), 0);
      assert.equal(await t.user('ユーザー'), null, 'nothing of the other prefix');
    } finally {
      await Promise.all([s.close(), t.close()]);
    }
  });

  test('redis: URLs: options from the query, openLiveState, mistakes named, the password never shown', async () => {
    const u = new URL(server.url(fresh()));
    u.searchParams.set('maxEventsPerUser', '3');
    const live = await openLiveState(u.toString());
    assert.ok(live instanceof RedisLiveState);
    assert.equal(live.kind, 'redis');
    assert.equal(live.maxEventsPerUser, 3);
    assert.match(live.target, /\(prefix tandem-test-\w+:s\d+\)$/);
    await live.close();
    const overridden = await openLiveState(u.toString(), { maxEventsPerUser: 5 });
    assert.equal((overridden as RedisLiveState).maxEventsPerUser, 5, "the caller's options win over the URL's");
    await overridden.close();

    const refused = async (url: string, code: string, re: RegExp, o?: RedisLiveStateOptions) =>
      assert.rejects(RedisLiveState.open(url, o), (e: unknown) => {
        assert.ok(e instanceof StoreError, String(e));
        assert.equal(e.code, code, e.message);
        assert.match(e.message, re);
        assert.doesNotMatch(e.message, /s3cret/);
        return true;
      });
    await refused('redis://:s3cret@127.0.0.1:6379/0?prefx=a', 'url', /parameter 'prefx': unknown parameter .*did you mean 'prefix'/);
    await refused('redis://:s3cret@127.0.0.1:6379/0?prefix=a*b', 'url', /parameter 'prefix': must be 1 to 100 letters/);
    await refused('redis://:s3cret@127.0.0.1:6379/0?maxEventsPerUser=0', 'url', /parameter 'maxEventsPerUser': 0 is outside/);
    await refused('redis://:s3cret@127.0.0.1:6379/zero', 'url', /the path must be a database number/);
    await refused('redis://:s3cret@127.0.0.1:6379/0', 'invalid', /^opts\.prefix: must be 1 to 100/, { prefix: '' });
    await refused('redis://:s3cret@[::1', 'url', /does not parse/);
    const t0 = Date.now();
    await refused('redis://:s3cret@127.0.0.1:1/0', 'unavailable', /^Redis redis:\/\/127\.0\.0\.1:1\/0 \(prefix tandem\): opening the live state: .*ECONNREFUSED/);
    assert.ok(Date.now() - t0 < 5000, 'an unreachable server fails fast');
  });

  const redisServer = spawnSync('redis-server', ['--version']).status === 0 ? false : 'no redis-server binary to start a private server with';
  test('redis: a private server killed and restarted: calls fail fast as unavailable meanwhile, then the lost state is refused (stale) and rebuilt', { skip: redisServer }, async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const start = async (): Promise<ChildProcess> => {
      const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise<void>((resolve, reject) => {
        let out = '';
        p.stdout!.on('data', (d) => {
          out += String(d);
          if (/Ready to accept connections/.test(out)) resolve();
        });
        p.on('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out.slice(-500)}`)));
      });
      return p;
    };
    let proc = await start();
    const live = await RedisLiveState.open(`redis://127.0.0.1:${port}/0?prefix=restart`, { commandTimeoutMs: 1000 });
    try {
      const log = randomLog(200, 3);
      await live.apply(log.slice(0, 150));
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
      const t0 = Date.now();
      await assert.rejects(live.user('u1'), (e: unknown) => e instanceof StoreError && e.code === 'unavailable');
      await assert.rejects(live.apply(log.slice(150)), (e: unknown) => e instanceof StoreError && e.code === 'unavailable');
      assert.ok(Date.now() - t0 < 3000, `failed in ${Date.now() - t0} ms, not after a wait`);
      proc = await start();
      // ioredis reconnects by itself (within its 2 s back-off)
      const end = Date.now() + 10_000;
      let err: unknown = null;
      for (;;) {
        try {
          await live.apply(log.slice(150));
          assert.fail('applied onto a lost state');
        } catch (e) {
          err = e;
          if (!(e instanceof StoreError && e.code === 'unavailable') || Date.now() > end) break;
          await sleep(100);
        }
      }
      assert.ok(err instanceof StoreError && err.code === 'stale', String(err));
      assert.equal(await live.position(), 0);
      await live.apply(log);
      const want = new MemoryLiveState();
      await want.apply(log);
      assert.deepEqual(await everything(live, IDS.users, IDS.items), await everything(want, IDS.users, IDS.items));
    } finally {
      await live.close();
      proc.kill('SIGKILL');
    }
  });
}
