import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { docsTable } from '../schema/index.ts';
import { MemoryEventLog, MemoryLiveState, POSTGRES_OPTIONS, REDIS_OPTIONS, SqliteEventLog, STORE_URLS, StoreError, openEventLog, openLiveState, validateRecords } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'tandem-store-open-'));
after(() => rm(dir, { recursive: true, force: true }));

const urlError = (re: RegExp) => (e: unknown) => e instanceof StoreError && e.code === 'url' && e.field === 'url' && re.test(e.message);

test('openEventLog: sqlite:FILE, sqlite:///FILE, a bare path, sqlite::memory: and memory', async () => {
  const cases: [string, string, string][] = [
    [`sqlite:${join(dir, 'a.db')}`, 'sqlite', join(dir, 'a.db')],
    [`sqlite://${join(dir, 'b.db')}`, 'sqlite', join(dir, 'b.db')],
    [join(dir, 'c.db'), 'sqlite', join(dir, 'c.db')],
    ['sqlite::memory:', 'sqlite', ':memory:'],
    ['memory', 'memory', ''],
    ['memory:', 'memory', ''],
  ];
  for (const [url, kind, file] of cases) {
    const log = await openEventLog(url, { pollMs: 50 });
    assert.equal(log.kind, kind, url);
    if (log instanceof SqliteEventLog) assert.equal(log.file, file, url);
    else assert.ok(log instanceof MemoryEventLog, url);
    const [e] = await log.append([{ kind: 'delete-item', item: 'x' }]);
    assert.equal(e.seq, 1, url);
    await log.close();
  }
  // the file really is where the URL said
  const again = await openEventLog(`sqlite:${join(dir, 'a.db')}`);
  assert.equal(await again.lastSeq(), 1);
  await again.close();
});

test('openEventLog and openLiveState: unknown schemes list the known ones and never echo the URL', async () => {
  await assert.rejects(openEventLog('mysql://tandem:s3cret@db.example/tandem'), (e: unknown) => {
    assert.ok(urlError(/an event log has no backend for scheme 'mysql:' \(known: sqlite:FILE, sqlite::memory:, memory, postgres:\/\/USER@HOST:PORT\/DB\?schema=NAME, postgresql:\/\/…, a bare file path \(SQLite\)\)/)(e), String(e));
    assert.doesNotMatch((e as Error).message, /s3cret/);
    return true;
  });
  await assert.rejects(openEventLog('sqlite:'), urlError(/needs a file path/));
  await assert.rejects(openEventLog('memory:x'), urlError(/takes nothing after it/));
  await assert.rejects(openEventLog(''), urlError(/non-empty string/));
  await assert.rejects(openLiveState('memcached://:pw@cache:11211'), urlError(/live state has no backend for scheme 'memcached:' \(known: memory, redis:\/\/HOST:PORT\/DB\?prefix=NAME, rediss:\/\/… \(TLS\)\)/));
  await assert.rejects(openLiveState('sqlite:live.db'), urlError(/scheme 'sqlite:'/));
  await assert.rejects(openLiveState('live.db'), urlError(/no backend for a bare path/));
  assert.deepEqual(STORE_URLS.liveState, ['memory', 'redis://HOST:PORT/DB?prefix=NAME', 'rediss://… (TLS)']);
});

test('openLiveState: memory with its options', async () => {
  const live = await openLiveState('memory', { maxEventsPerUser: 2 });
  assert.ok(live instanceof MemoryLiveState);
  assert.equal(live.maxEventsPerUser, 2);
  await live.close();
  await assert.rejects(openLiveState('memory', { maxEventsPerUser: 0 }), (e: unknown) => e instanceof StoreError && e.field === 'opts.maxEventsPerUser');
});

test('validateRecords: the append checks without a store, under a caller-chosen name', () => {
  validateRecords([{ kind: 'event', user: 'u', item: 'i', type: 'view', value: 1, timestamp: 1 }]);
  assert.throws(() => validateRecords([{ kind: 'item', item: 'i', features: { price: NaN } }], 'body.records'), (e: unknown) => e instanceof StoreError && e.code === 'invalid' && e.field === 'body.records[0].features.price' && e.detail.startsWith('must be a JSON value'));
});

test('docs/store.md shows each networked backend\'s options as its schema describes them', () => {
  const doc = readFileSync(new URL('../../docs/store.md', import.meta.url), 'utf8');
  for (const [name, sc] of [['POSTGRES_OPTIONS', POSTGRES_OPTIONS], ['REDIS_OPTIONS', REDIS_OPTIONS]] as const) {
    assert.ok(doc.includes(docsTable(sc)), `${name}: the table in docs/store.md differs from docsTable(${name})`);
  }
});
