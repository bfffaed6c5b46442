import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventLogSuite } from '../suite.ts';
import { SqliteEventLog } from './sqlite-event-log.ts';
import { StoreError, type LogEntry } from '../types.ts';

const require = createRequire(import.meta.url);
const run = promisify(execFile);

const dir = mkdtempSync(join(tmpdir(), 'tandem-store-sqlite-'));
after(() => rm(dir, { recursive: true, force: true }));
let files = 0;
const freshFile = () => join(dir, `log-${++files}.db`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// a short poll keeps the cross-handle cases quick; the child-process case below runs the default
const POLL = 25;

eventLogSuite('sqlite event log (file)', async () => new SqliteEventLog(freshFile(), { pollMs: POLL }), {
  reopen: async (log) => {
    const file = (log as SqliteEventLog).file;
    await log.close();
    return new SqliteEventLog(file, { pollMs: POLL });
  },
  another: async (log) => new SqliteEventLog((log as SqliteEventLog).file, { pollMs: POLL }),
  quietMs: 6 * POLL,
});

eventLogSuite('sqlite event log (:memory:)', async () => new SqliteEventLog(':memory:'), {
  reopen: { skip: 'a :memory: database ends with its handle: nothing to reopen' },
  another: { skip: 'a :memory: database belongs to one connection: no other handle can share it' },
  quietMs: 100,
});

test('sqlite event log: WAL with synchronous=FULL, read back from SQLite', async () => {
  const file = freshFile();
  const log = new SqliteEventLog(file);
  assert.deepEqual(log.durability(), { journalMode: 'wal', synchronous: 'FULL' });
  await log.append([{ kind: 'delete-item', item: 'x' }]);
  await log.close();
  // WAL is a property of the file: another connection sees it
  const Database = require('better-sqlite3');
  const raw = new Database(file, { readonly: true });
  assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  raw.close();
});

test('sqlite event log: opens a tandem-events.db written by the service event store and continues its seqs', async () => {
  const file = freshFile();
  // the schema and rows src/serve/event-store.ts writes (its index on received included)
  const Database = require('better-sqlite3');
  const raw = new Database(file);
  raw.pragma('journal_mode = WAL');
  raw.exec(`CREATE TABLE IF NOT EXISTS log (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      received REAL NOT NULL,
      kind TEXT NOT NULL,
      user TEXT, item TEXT, type TEXT, value REAL, ts REAL, features TEXT
    );
    CREATE INDEX IF NOT EXISTS log_received ON log(received);`);
  const ins = raw.prepare('INSERT INTO log (received, kind, user, item, type, value, ts, features) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  ins.run(100, 'event', 'a', '1', 'view', 1, 10, null);
  ins.run(101, 'item', null, '9', null, null, null, JSON.stringify({ genre: ['x'] }));
  ins.run(102, 'delete-item', null, '9', null, null, null, null);
  ins.run(103, 'user', 'c', null, null, null, null, JSON.stringify({ age: 30 }));
  raw.close();

  const log = new SqliteEventLog(file);
  assert.deepEqual(await log.read(0), [
    { seq: 1, received: 100, kind: 'event', user: 'a', item: '1', type: 'view', value: 1, timestamp: 10 },
    { seq: 2, received: 101, kind: 'item', item: '9', features: { genre: ['x'] } },
    { seq: 3, received: 102, kind: 'delete-item', item: '9' },
    { seq: 4, received: 103, kind: 'user', user: 'c', features: { age: 30 } },
  ]);
  assert.equal(await log.seqBefore(102), 2);
  assert.deepEqual(await log.counts(), { events: 1, entries: 4 });
  const [next] = await log.append([{ kind: 'event', user: 'b', item: '2', type: 'buy', value: 3, timestamp: 11 }], 104);
  assert.equal(next.seq, 5);
  await log.close();
});

test('sqlite event log: a batch that SQLite refuses halfway is rolled back whole', async () => {
  const file = freshFile();
  const log = new SqliteEventLog(file);
  const first = await log.append([{ kind: 'delete-item', item: 'a' }]);
  // a trigger stands in for a failure inside the transaction (a full disk): the third insert aborts
  const Database = require('better-sqlite3');
  const raw = new Database(file);
  raw.exec("CREATE TRIGGER refuse BEFORE INSERT ON log WHEN NEW.item = 'boom' BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END;");
  raw.close();
  const ev = (item: string) => ({ kind: 'event' as const, user: 'u', item, type: 'view', value: 1, timestamp: 1 });
  await assert.rejects(log.append([ev('x'), ev('y'), ev('boom'), ev('z')]), (e: unknown) => e instanceof StoreError && e.code === 'storage' && /rolled back: refused by the test trigger/.test(e.message) && e.cause instanceof Error);
  assert.deepEqual(await log.read(0), first, 'the two inserts before the failure are gone');
  assert.deepEqual(await log.counts(), { events: 0, entries: 1 });
  const [next] = await log.append([ev('x')]);
  assert.equal(next.seq, first[0].seq + 1, 'the rolled-back batch used no seq');
  await log.close();
});

test('sqlite event log: a row of a kind this version cannot read is an error, not a silent skip', async () => {
  const file = freshFile();
  const log = new SqliteEventLog(file);
  await log.append([{ kind: 'delete-item', item: 'x' }]);
  const Database = require('better-sqlite3');
  const raw = new Database(file);
  raw.prepare("INSERT INTO log (received, kind) VALUES (1, 'merge-users')").run();
  raw.close();
  await assert.rejects(log.read(0), (e: unknown) => e instanceof StoreError && e.code === 'storage' && /entry 2 has kind 'merge-users'/.test(e.message));
  await log.close();
});

test('sqlite event log: a follower hears appends by another process through the default poll', async () => {
  const file = freshFile();
  const log = new SqliteEventLog(file);
  const got: LogEntry[] = [];
  const f = log.follow(0, (entries) => {
    got.push(...entries);
  });
  const script = `
    import { SqliteEventLog } from ${JSON.stringify(new URL('./sqlite-event-log.ts', import.meta.url).href)};
    const log = new SqliteEventLog(process.env.TANDEM_TEST_DB);
    for (let i = 0; i < 3; i++) {
      await log.append([{ kind: 'event', user: 'child', item: 'i' + i, type: 'view', value: i, timestamp: i }, { kind: 'item', item: 'i' + i, features: { n: i } }]);
      await new Promise((r) => setTimeout(r, 30));
    }
    await log.close();`;
  await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, TANDEM_TEST_DB: file } });
  const end = Date.now() + 5000;
  while (got.length < 6 && Date.now() < end) await sleep(10);
  assert.deepEqual(got.map((e) => e.seq), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(got[5], { seq: 6, received: got[5].received, kind: 'item', item: 'i2', features: { n: 2 } });
  await f.stop();
  await log.close();
});

test('sqlite event log: a follower does not keep the process alive, and close ends the poll', async () => {
  const file = freshFile();
  // the child follows and never stops: it must still exit by itself (the poll timer is unref'd)
  const script = `
    import { SqliteEventLog } from ${JSON.stringify(new URL('./sqlite-event-log.ts', import.meta.url).href)};
    const log = new SqliteEventLog(process.env.TANDEM_TEST_DB, { pollMs: 10 });
    log.follow(0, () => {});
    await log.append([{ kind: 'delete-item', item: 'x' }]);
    console.log('done');`;
  const t0 = Date.now();
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, TANDEM_TEST_DB: file }, timeout: 20_000 });
  assert.equal(stdout.trim(), 'done');
  assert.ok(Date.now() - t0 < 20_000);
  // here: a poll left running after close would query a closed database and throw from its timer
  const log = new SqliteEventLog(file, { pollMs: 5 });
  const f = log.follow(0, () => {});
  await log.close();
  await sleep(50);
  await f.stop();
});

test('sqlite event log: refuses bad options naming them', () => {
  assert.throws(() => new SqliteEventLog(''), (e: unknown) => e instanceof StoreError && e.field === 'file');
  assert.throws(() => new SqliteEventLog(':memory:', { pollMs: 0 }), (e: unknown) => e instanceof StoreError && e.field === 'opts.pollMs');
  assert.throws(() => new SqliteEventLog(':memory:', { busyTimeoutMs: NaN }), (e: unknown) => e instanceof StoreError && e.field === 'opts.busyTimeoutMs');
});
