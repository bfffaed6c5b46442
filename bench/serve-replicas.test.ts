// `tandem bench serve --replicas 2` run small against the test servers: both setups measured in one run,
// every event sent stored, the follow cost and Redis memory reported, the bench's schema and prefix dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { freshDatabase, freshPrefix, serverMissing } from '../src/store/test-fixture.ts';
import { serveBench } from './serve.ts';
import { runCaptured } from '../src/math/console.fixture.ts';

const db = await freshDatabase();
const redis = await freshPrefix();
if ('unavailable' in db) serverMissing('bench serve --replicas (postgres)', db.unavailable, 'TANDEM_TEST_POSTGRES');
else if ('unavailable' in redis) serverMissing('bench serve --replicas (redis)', redis.unavailable, 'TANDEM_TEST_REDIS');
else {
  test('bench serve --replicas 2: one SQLite replica and two on PostgreSQL + Redis in one run, sent = stored, cleaned up after', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-bench-replicas-'));
    const live = new URL(redis.url('bench'));
    live.search = '';
    const { code, out } = await runCaptured(serveBench, ['--replicas', '2', '--store', db.url, '--live', live.toString(), '--items', '200', '--users', '100', '--interactions', '3000', '--requests', '60', '--rate', '50', '--throughput-requests', '60', '--events', '2000', '--batch', '100', '--json', join(dir, 'out.json')]);
    try {
      assert.equal(code, 0, out);
      assert.match(out, /^1 replica, sqlite \+ memory: recommend at 50\/s p50 [\d.]+ ms, p99 [\d.]+ ms; peak [\d.]+ req\/s .* events \d+\/s, sent 2000, stored 2000$/m);
      assert.match(out, /^2 replicas, postgres \+ redis: .* sent 2000, stored 2000$/m);
      assert.match(out, /^ {2}following the log: [\d.]+ ms CPU per 1000 events per replica; Redis -?\d+ bytes per live user/m);
      assert.match(out, /^2 replicas \/ 1: [\d.]+x the peak req\/s, [\d.]+x the replica CPU per request/m);
      const json = JSON.parse(await readFile(join(dir, 'out.json'), 'utf8'));
      assert.equal(json.results.length, 2);
      assert.equal(json.results[1].follow.events, json.results[1].follow.sent);
      assert.ok(json.results.every((r: { peak: { replicaCpuMsPerRequest: number } }) => r.peak.replicaCpuMsPerRequest > 0));
      // the bench's own schema and prefix are gone
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      const schemas = (await c.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_%'")).rows;
      await c.end();
      assert.deepEqual(schemas, []);
      const r = new Redis(redis.url('x').replace(/\?.*$/, ''));
      const tag = /prefix=(bench_[0-9a-f]+)/.exec(out)?.[1];
      assert.ok(tag, 'the bench names its prefix');
      assert.deepEqual(await r.keys(`${tag}:*`), []);
      r.disconnect();
    } finally {
      await rm(dir, { recursive: true, force: true });
      await db.drop();
      await redis.drop();
    }
  });
}
