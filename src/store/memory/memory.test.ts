import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { eventLogSuite, liveStateSuite } from '../suite.ts';
import { MemoryEventLog } from './memory-event-log.ts';
import { MemoryLiveState } from './memory-live-state.ts';
import { StoreError, type LogEntry } from '../types.ts';

eventLogSuite('memory event log', async () => new MemoryEventLog(), {
  reopen: { skip: 'the memory log keeps nothing once closed: it is not durable by design' },
  another: { skip: 'every MemoryEventLog is its own storage: no second handle can share it' },
  // nothing polls: a follower hears of every append at once
  quietMs: 50,
});

liveStateSuite('memory live state', async (opts) => new MemoryLiveState(opts));

test('memory live state: keeps 1000 events per user by default and refuses a bad maxEventsPerUser', async () => {
  const s = new MemoryLiveState();
  assert.equal(s.maxEventsPerUser, 1000);
  const entries: LogEntry[] = Array.from({ length: 1200 }, (_, i) => ({ kind: 'event', user: 'a', item: `i${i}`, type: 'view', value: 1, timestamp: i, seq: i + 1, received: 0 }));
  await s.apply(entries);
  const a = (await s.user('a'))!;
  assert.equal(a.events.length, 1000);
  assert.equal(a.events[0].item, 'i200');
  assert.equal(a.events[999].item, 'i1199');
  for (const bad of [0, -1, 2.5, NaN, '10']) {
    assert.throws(() => new MemoryLiveState({ maxEventsPerUser: bad as number }), (e: unknown) => e instanceof StoreError && e.field === 'opts.maxEventsPerUser', String(bad));
  }
});

test('memory: a follower keeps a live state equal to a replay of the whole log', async () => {
  const log = new MemoryEventLog();
  const live = new MemoryLiveState({ maxEventsPerUser: 5 });
  const f = log.follow(await live.position(), (entries) => live.apply(entries), { batch: 16 });
  const appends = [];
  for (let i = 0; i < 40; i++) {
    appends.push(log.append([
      { kind: 'event', user: `u${i % 4}`, item: `i${i}`, type: 'view', value: i, timestamp: i },
      ...(i % 5 === 0 ? [{ kind: 'item' as const, item: `i${i}`, features: { n: i } }] : []),
      ...(i % 7 === 0 ? [{ kind: 'delete-item' as const, item: `i${i - 5}` }] : []),
    ]));
  }
  await Promise.all(appends);
  const last = await log.lastSeq();
  const end = Date.now() + 10_000;
  while (f.position < last) {
    assert.ok(Date.now() < end, `the follower reached ${f.position} of ${last}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  await f.stop();
  const replay = new MemoryLiveState({ maxEventsPerUser: 5 });
  for await (const page of log.scan(0, 7)) await replay.apply(page);
  assert.equal(await live.position(), last);
  assert.deepEqual(await live.stats(), await replay.stats());
  assert.deepEqual(await live.catalog(), await replay.catalog());
  assert.deepEqual(await live.users(['u0', 'u1', 'u2', 'u3']), await replay.users(['u0', 'u1', 'u2', 'u3']));
  await log.close();
});

test('memory: a failing follower without onError fails loudly (an uncaught exception), not in silence', () => {
  const script = `
    import { MemoryEventLog } from ${JSON.stringify(new URL('./memory-event-log.ts', import.meta.url).href)};
    const log = new MemoryEventLog();
    log.follow(0, () => { throw new Error('the callback broke'); });
    await log.append([{ kind: 'delete-item', item: 'x' }]);
    await new Promise((r) => setTimeout(r, 50));
    console.log('still running');`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /the callback broke/);
  assert.doesNotMatch(r.stdout, /still running/);
});
