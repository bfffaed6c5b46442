import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventLogSuite } from './suite.ts';
import { GroupCommitLog } from './group-commit.ts';
import { MemoryEventLog } from './memory/memory-event-log.ts';
import { SqliteEventLog } from './sqlite/sqlite-event-log.ts';
import { StoreError, type LogEntry, type LogRecord } from './types.ts';

const dir = mkdtempSync(join(tmpdir(), 'tandem-store-group-'));
after(() => rm(dir, { recursive: true, force: true }));
let files = 0;
const POLL = 25;

// the wrapper must keep every promise of the contract, over an in-process and a durable backend
eventLogSuite('group commit over memory', async () => new GroupCommitLog(new MemoryEventLog()), {
  reopen: { skip: 'the memory log keeps nothing once closed' },
  another: { skip: 'every MemoryEventLog is its own storage' },
  quietMs: 50,
});

eventLogSuite('group commit over sqlite', async () => new GroupCommitLog(new SqliteEventLog(join(dir, `log-${++files}.db`), { pollMs: POLL })), {
  reopen: async (log) => {
    const file = ((log as GroupCommitLog).inner as SqliteEventLog).file;
    await log.close();
    return new GroupCommitLog(new SqliteEventLog(file, { pollMs: POLL }));
  },
  another: async (log) => new SqliteEventLog(((log as GroupCommitLog).inner as SqliteEventLog).file, { pollMs: POLL }),
  quietMs: 6 * POLL,
});

const ev = (user: string, item: string, timestamp = 1_700_000_000): LogRecord => ({ kind: 'event', user, item, type: 'view', value: 1, timestamp });

/** A memory log that records its batch sizes and fails the batches `fails` picks. */
class CountingLog extends MemoryEventLog {
  sizes: number[] = [];
  fails: (records: readonly LogRecord[]) => boolean = () => false;
  override async append(records: readonly LogRecord[], received?: number): Promise<LogEntry[]> {
    // a real backend answers later: let the other callers queue up meanwhile
    await new Promise((r) => setImmediate(r));
    if (this.fails(records)) {
      throw new StoreError('storage', 'disk on fire');
    }
    this.sizes.push(records.length);
    return super.append(records, received);
  }
}

test('group commit: concurrent appends share batches; each caller gets its own entries, in call order', async () => {
  const inner = new CountingLog();
  const log = new GroupCommitLog(inner);
  const calls = Array.from({ length: 50 }, (_, i) => log.append(i % 3 === 0 ? [ev(`u${i}`, 'a'), ev(`u${i}`, 'b')] : [ev(`u${i}`, 'a')]));
  const got = await Promise.all(calls);
  // all 50 were called before the writer's first turn: one batch
  assert.deepEqual(inner.sizes, [67]);
  assert.deepEqual(log.stats, { batches: 1, appends: 50 });
  let seq = 0;
  got.forEach((entries, i) => {
    assert.equal(entries.length, i % 3 === 0 ? 2 : 1);
    for (const e of entries) {
      assert.equal(e.seq, ++seq);
      assert.equal(e.kind === 'event' && e.user, `u${i}`);
    }
  });
  assert.deepEqual(await log.counts(), { events: 67, entries: 67 });
  await log.close();
});

test('group commit: a bad record rejects its own caller only, naming the field; the others are stored', async () => {
  const inner = new CountingLog();
  const log = new GroupCommitLog(inner);
  const good1 = log.append([ev('u1', 'a')]);
  const bad = log.append([ev('u2', 'a'), { kind: 'event', user: 'u2', item: 'b', type: 'view', value: NaN, timestamp: 1 }]);
  const good2 = log.append([ev('u3', 'a')]);
  await assert.rejects(bad, (e: unknown) => e instanceof StoreError && e.code === 'invalid' && e.field === 'records[1].value');
  assert.equal((await good1)[0].seq, 1);
  assert.equal((await good2)[0].seq, 2);
  assert.deepEqual((await log.read(0)).map((e) => e.kind === 'event' && e.user), ['u1', 'u3']);
  await assert.rejects(log.append([ev('u4', 'a')], NaN), (e: unknown) => e instanceof StoreError && e.field === 'received');
  await log.close();
});

test('group commit: a failed batch rejects every caller in it and stores none of them; the next batch goes on', async () => {
  const inner = new CountingLog();
  const log = new GroupCommitLog(inner);
  inner.fails = (records) => records.some((r) => r.kind === 'event' && r.user === 'u1');
  await log.append([ev('u0', 'a')]);
  // called together: these two share the failing batch
  const a = log.append([ev('u1', 'a')]);
  const b = log.append([ev('u2', 'a'), ev('u2', 'b')]);
  await assert.rejects(a, /disk on fire/);
  await assert.rejects(b, /disk on fire/);
  const c = await log.append([ev('u3', 'a')]);
  assert.equal(c[0].seq, 2);
  assert.deepEqual((await log.read(0)).map((e) => e.kind === 'event' && e.user), ['u0', 'u3']);
  await log.close();
});

test('group commit: batches stop at maxRecords without splitting a caller; explicit receive times are kept', async () => {
  const inner = new CountingLog();
  const log = new GroupCommitLog(inner, 5);
  const p = [
    log.append([ev('u0', 'a')]),
    log.append([ev('u1', 'a'), ev('u1', 'b'), ev('u1', 'c')]),
    log.append([ev('u2', 'a'), ev('u2', 'b')]),
    log.append([ev('u3', 'a')]),
    log.append(Array.from({ length: 7 }, (_, i) => ev('u4', `i${i}`))),
    log.append([ev('u5', 'a')], 123),
    log.append([ev('u6', 'a')], 123),
  ];
  const got = await Promise.all(p);
  // in call order: [u0, u1] (4 records; u2 would pass 5), [u2, u3] (3; u4 would pass 5), [u4] (7: a caller is never split), [u5, u6] (received 123)
  assert.deepEqual(inner.sizes, [4, 3, 7, 2]);
  assert.deepEqual(got.flat().map((e) => e.seq), Array.from({ length: 16 }, (_, i) => i + 1));
  assert.deepEqual(got[5].concat(got[6]).map((e) => e.received), [123, 123]);
  await log.close();
});

test('group commit: records are copied at the call, and close waits for the queue', async () => {
  const inner = new CountingLog();
  const log = new GroupCommitLog(inner);
  void log.append([ev('u0', 'a')]);
  const records = [ev('u1', 'a')];
  const queued = log.append(records);
  records.push(ev('u1', 'extra'));
  (records[0] as { user: string }).user = 'changed';
  const closing = log.close();
  assert.deepEqual((await queued).map((e) => e.kind === 'event' && e.user), ['u1']);
  await closing;
  assert.deepEqual(inner.sizes, [2]);
});

test('group commit: appends made while a batch is being written go together in the next one', async () => {
  const inner = new CountingLog();
  const log = new GroupCommitLog(inner);
  const wave1 = Array.from({ length: 5 }, (_, i) => log.append([ev(`a${i}`, 'x')]));
  await new Promise((r) => setImmediate(r)); // the writer has taken wave 1 and is writing it
  const wave2 = Array.from({ length: 7 }, (_, i) => log.append([ev(`b${i}`, 'x')]));
  await Promise.all([...wave1, ...wave2]);
  assert.deepEqual(inner.sizes, [5, 7]);
  await log.close();
});

test('group commit: a synchronous durable backend (SQLite, fsync per commit) batches concurrent appends too', async () => {
  const log = new GroupCommitLog(new SqliteEventLog(join(dir, `log-${++files}.db`)));
  const got = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append([ev(`u${i}`, 'x')])));
  assert.deepEqual(got.map((e) => e[0].seq), Array.from({ length: 200 }, (_, i) => i + 1));
  assert.equal(log.stats.batches, 1);
  assert.deepEqual(await log.counts(), { events: 200, entries: 200 });
  await log.close();
});
