// LogFeed against the plain reference: two replicas' feeds on one log (two SQLite handles on one file,
// as two processes open it) and one shared live state, under interleaved concurrent appends through
// both. Each model must take every entry once, in seq order, and the shared state must equal a fresh
// state fed the whole log in order (no hole where one replica's later seq reached it first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../math/index.ts';
import { MemoryLiveState, SqliteEventLog, type EventLog, type LiveState, type LogEntry, type LogRecord } from '../store/index.ts';
import { LogFeed } from './log-feed.ts';

/** What a model does with the entries: records them, and fails the test on a repeat or a step back. */
class Model {
  seqs: number[] = [];
  position = 0;
  apply = (entries: readonly LogEntry[]): void => {
    for (const e of entries) {
      if (e.seq <= this.position) continue;
      this.seqs.push(e.seq);
      this.position = e.seq;
    }
  };
}

function records(rng: Rng, n: number): LogRecord[] {
  return Array.from({ length: n }, (): LogRecord => {
    const r = rng.next();
    if (r < 0.08) return { kind: 'item', item: `i${rng.int(30)}`, features: { price: rng.int(9) } };
    if (r < 0.1) return { kind: 'delete-item', item: `i${rng.int(30)}` };
    if (r < 0.14) return { kind: 'user', user: `u${rng.int(20)}`, features: { age: rng.int(80) } };
    return { kind: 'event', user: `u${rng.int(20)}`, item: `i${rng.int(30)}`, type: rng.next() < 0.8 ? 'view' : 'buy', value: 1, timestamp: 1_700_000_000 + rng.int(1000) };
  });
}

async function snapshot(state: LiveState) {
  const ids = Array.from({ length: 20 }, (_, i) => `u${i}`);
  const items = Array.from({ length: 30 }, (_, i) => `i${i}`);
  return { users: await state.users(ids), catalog: await state.catalog(), counts: await state.itemCounts(items), stats: await state.stats() };
}

async function reference(log: EventLog): Promise<LiveState> {
  const ref = new MemoryLiveState({ maxEventsPerUser: 8 });
  for await (const page of log.scan(0)) await ref.apply(page);
  return ref;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-feed-'));
  const logA = new SqliteEventLog(join(dir, 'events.db'), { pollMs: 20 });
  const logB = new SqliteEventLog(join(dir, 'events.db'), { pollMs: 20 });
  const state = new MemoryLiveState({ maxEventsPerUser: 8 });
  const lines: string[] = [];
  const mA = new Model();
  const mB = new Model();
  const feed = (log: EventLog, m: Model) => new LogFeed({ log, state, from: 0, applyModel: m.apply, modelPosition: () => m.position, say: (l) => lines.push(l), checkMs: 50, retryMs: 20 });
  const fA = feed(logA, mA);
  const fB = feed(logB, mB);
  fA.start();
  fB.start();
  return {
    logA, logB, state, mA, mB, fA, fB, lines,
    close: async () => {
      await fA.stop();
      await fB.stop();
      await logA.close();
      await logB.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('two replicas appending at once: each model takes every entry once and in order, the shared state equals the whole log applied in order', async () => {
  const s = await setup();
  try {
    const rng = new Rng(11);
    let next = 0;
    const worker = async (w: number): Promise<void> => {
      const wr = new Rng(100 + w);
      while (next < 300) {
        next++;
        const [log, feed] = wr.next() < 0.5 ? [s.logA, s.fA] : [s.logB, s.fB];
        const entries = await log.append(records(rng, 1 + wr.int(4)));
        await feed.wrote(entries);
        // before the reply: the writer's model and the shared state hold the entries
        const last = entries[entries.length - 1].seq;
        assert.ok(feed.status().model >= last && (await s.state.position()) >= last, 'applied before wrote() resolved');
      }
    };
    await Promise.all([0, 1, 2, 3, 4, 5].map(worker));
    const last = await s.logA.lastSeq();
    await until('both models at the end of the log', () => s.mA.position === last && s.mB.position === last);
    const all: number[] = [];
    for await (const page of s.logA.scan(0)) all.push(...page.map((e) => e.seq));
    assert.deepEqual(s.mA.seqs, all, 'model A: every entry, once, in order');
    assert.deepEqual(s.mB.seqs, all, 'model B: every entry, once, in order');
    assert.deepEqual(await snapshot(s.state), await snapshot(await reference(s.logA)), 'the shared state is the log applied in order');
    assert.deepEqual(s.lines, [], 'nothing went wrong');
  } finally {
    await s.close();
  }
});

test('a live state that was lost (cleared behind the replicas\' back) is noticed without writes and rebuilt from the log', async () => {
  const s = await setup();
  try {
    const rng = new Rng(5);
    for (let i = 0; i < 20; i++) await s.fA.wrote(await s.logA.append(records(rng, 5)));
    const want = await snapshot(await reference(s.logA));
    assert.deepEqual(await snapshot(s.state), want);
    // both replicas have applied everything (a replica still behind would refill the state from its position, which is no loss)
    const last = await s.logA.lastSeq();
    await until('both feeds at the end', () => s.fA.status().state === last && s.fB.status().state === last);
    await s.state.clear();
    assert.equal((await s.state.stats()).users, 0);
    await until('the state rebuilt', async () => (await s.state.position()) === (await s.logA.lastSeq()) && s.fA.status().stateMode === 'ok' && s.fB.status().stateMode === 'ok');
    assert.deepEqual(await snapshot(s.state), want, 'rebuilt equal to the log applied in order');
    assert.ok(s.lines.some((l) => /live state out of service \(catching-up\).*was lost/.test(l)), s.lines.join('\n'));
    assert.ok(s.lines.some((l) => /live state back in service: \d+ logged entries replayed/.test(l)), s.lines.join('\n'));
    // and writes go on into the rebuilt state
    const more = await s.logB.append(records(rng, 3));
    await s.fB.wrote(more);
    assert.deepEqual(await snapshot(s.state), await snapshot(await reference(s.logA)));
  } finally {
    await s.close();
  }
});
