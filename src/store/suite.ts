/**
 * The conformance suites every store backend passes (hono's runTest habit): each backend's test file
 * calls `eventLogSuite(name, make, opts)` and/or `liveStateSuite(name, make)`. The cases assert only
 * what the interfaces promise, so an asynchronous networked backend (seq gaps, another process's
 * writes) passes them as well as the embedded ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventLog, Follower, LiveState, LiveUser, LogEntry, LogRecord } from './types.ts';
import { StoreError } from './types.ts';

/** A capability a backend either gives (a function) or declines with the reason the case is skipped. */
export type SuiteCapability<F> = F | { skip: string };

export interface EventLogSuiteOptions {
  /** Closes `log` and opens its storage again: the durability case. */
  reopen?: SuiteCapability<(log: EventLog) => Promise<EventLog>>;
  /** A second handle on the same storage as `log`, as another process would open it: the shared-follow case. */
  another?: SuiteCapability<(log: EventLog) => Promise<EventLog>>;
  /** Entries the scan case writes (default 25_000; it reads them back in batches of 1000). */
  scanEntries?: number;
  /** How long to wait for something that must not happen; longer than the backend's poll (default 300 ms). */
  quietMs?: number;
  /** How long to wait for something that must happen (default 10 s). */
  timeoutMs?: number;
}

/** Per-case limit: a hung stop() or close() fails the case instead of blocking the run. */
const CASE_TIMEOUT_MS = 120_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Asserts that `p` rejects with a StoreError of `code` naming `field` (when given) with a message matching `re`. */
async function rejectsWith(p: Promise<unknown> | (() => unknown), code: string, field: string | undefined, re: RegExp, what: string): Promise<void> {
  const run = typeof p === 'function' ? async () => p() : () => p;
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof StoreError, `${what}: a StoreError, got ${String(e)}`);
    assert.equal(e.code, code, `${what}: code`);
    if (field !== undefined) assert.equal(e.field, field, `${what}: field`);
    assert.match(e.message, re, what);
    return true;
  });
}

function capability<F>(c: SuiteCapability<F> | undefined, what: string): { fn?: F; skip: string | false } {
  if (c === undefined) return { skip: `no ${what} given to eventLogSuite` };
  if (typeof c === 'object' && c !== null && 'skip' in c) return { skip: c.skip };
  return { fn: c as F, skip: false };
}

const ev = (user: string, item: string, type = 'view', value = 1, timestamp = 1_700_000_000): LogRecord => ({ kind: 'event', user, item, type, value, timestamp });

/** Seqs of entries, for compact comparisons. */
const seqs = (es: readonly { seq: number }[]) => es.map((e) => e.seq);

function assertIncreasing(xs: readonly number[], what: string): void {
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] > xs[i - 1], `${what}: seq ${xs[i]} after ${xs[i - 1]}`);
}

/** Collects what a follower delivers, and checks that calls never overlap. */
function collector(onCall?: (entries: LogEntry[], call: number) => Promise<void> | void) {
  const got: LogEntry[] = [];
  let calls = 0;
  let inside = false;
  let overlapped = false;
  return {
    got,
    get calls() {
      return calls;
    },
    get overlapped() {
      return overlapped;
    },
    cb: async (entries: LogEntry[]) => {
      if (inside) overlapped = true;
      inside = true;
      try {
        assert.ok(entries.length > 0, 'a follower never delivers an empty batch');
        calls++;
        await onCall?.(entries, calls);
        got.push(...entries);
      } finally {
        inside = false;
      }
    },
  };
}

/** Registers the EventLog conformance cases for one backend. `make` returns a new, empty log. */
export function eventLogSuite(name: string, make: () => Promise<EventLog>, opts: EventLogSuiteOptions = {}): void {
  const quiet = opts.quietMs ?? 300;
  const timeout = opts.timeoutMs ?? 10_000;
  const scanN = opts.scanEntries ?? 25_000;

  /** Runs `body` on a fresh log and closes it afterwards, also on failure. */
  const withLog = (body: (log: EventLog) => Promise<void>) => async () => {
    const log = await make();
    try {
      await body(log);
    } finally {
      await log.close();
    }
  };

  test(`${name}: append returns increasing seqs and entries that read back exactly`, { timeout: CASE_TIMEOUT_MS }, withLog(async (log) => {
    assert.equal(typeof log.kind, 'string');
    assert.equal(await log.lastSeq(), 0, 'a new log is empty');
    assert.deepEqual(await log.read(0), []);
    const features = {
      genre: ['jazz', 'ジャズ'],
      price: 12.5,
      nested: { deep: { deeper: [1, [2, { x: null }]], flag: false }, empty: {}, list: [] },
      'key with spaces': 'é and e\u0301 differ',
      emoji: '🎷',
      big: 1.7976931348623157e308,
      tiny: 5e-324,
    };
    const records: LogRecord[] = [
      { kind: 'event', user: 'ユーザー42', item: '🎷/sax #1', type: 'add-to-cart', value: 0.1, timestamp: 1_700_000_000.123456 },
      { kind: 'event', user: 'u', item: 'é', type: 'view', value: -5e-324, timestamp: 2 ** 53 + 2 },
      { kind: 'event', user: 'u', item: 'e\u0301', type: 'buy', value: 1.7976931348623157e308, timestamp: -1.5 },
      { kind: 'item', item: 'é', features },
      { kind: 'delete-item', item: 'gone' },
      { kind: 'user', user: 'ユーザー42', features: { country: 'JP', age: 33, plan: null } },
      { kind: 'event', user: 'u', item: 'zero', type: 'view', value: -0, timestamp: 0 },
    ];
    const stored = await log.append(records, 1_700_000_100.25);
    assert.equal(stored.length, records.length);
    assertIncreasing(seqs(stored), 'one batch');
    assert.ok(stored[0].seq > 0, 'seqs are positive');
    for (let i = 0; i < records.length; i++) {
      const { seq, received, ...rest } = stored[i];
      assert.equal(received, 1_700_000_100.25);
      assert.equal(typeof seq, 'number');
      // -0 is stored as 0 everywhere (SQLite cannot keep the sign)
      const want = i === 6 ? { ...records[i], value: 0 } : records[i];
      assert.deepEqual(rest, want, `records[${i}] as stored`);
    }
    assert.ok(Object.is((stored[6] as { value: number }).value, 0), '-0 reads back as +0');
    assert.deepEqual(await log.read(0), stored, 'read returns what append returned');

    const second = await log.append([ev('u', 'x'), ev('v', 'y')]);
    assert.ok(second[0].seq > stored[stored.length - 1].seq, 'a later batch gets higher seqs');
    assertIncreasing(seqs(second), 'second batch');
    const now = Date.now() / 1000;
    assert.ok(Math.abs(second[0].received - now) < 60, `received defaults to now in seconds (got ${second[0].received})`);
    assert.equal(await log.lastSeq(), second[1].seq);

    assert.deepEqual(await log.append([]), [], 'an empty batch stores nothing');
    assert.equal(await log.lastSeq(), second[1].seq);

    // the log keeps its own copies: neither the caller's records nor returned entries reach it
    features.genre.push('changed');
    (stored[3] as { features: Record<string, unknown> }).features.price = -1;
    const again = await log.read(0, records.length);
    assert.deepEqual((again[3] as { features: Record<string, unknown> }).features.genre, ['jazz', 'ジャズ']);
    assert.equal((again[3] as { features: Record<string, unknown> }).features.price, 12.5);
  }));

  test(`${name}: a batch with one bad record stores nothing and the error names the field`, { timeout: CASE_TIMEOUT_MS }, withLog(async (log) => {
    await log.append([ev('a', '1')]);
    const before = await log.counts();
    const last = await log.lastSeq();
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { d: deep };
    const good = ev('ok', 'ok');
    const cases: [unknown, string, RegExp][] = [
      [{ ...good, user: '' }, 'records[1].user', /must be a non-empty string/],
      [{ ...good, item: 5 }, 'records[1].item', /must be a non-empty string \(got 5\)/],
      [{ kind: 'event', user: 'a', item: 'b', value: 1, timestamp: 1 }, 'records[1].type', /must be a non-empty string/],
      [{ ...good, timestamp: NaN }, 'records[1].timestamp', /^records\[1\]\.timestamp: must be a finite number/],
      [{ ...good, value: Infinity }, 'records[1].value', /must be a finite number \(got Infinity\)/],
      [{ ...good, value: '3' }, 'records[1].value', /must be a finite number \(got a string\)/],
      [{ ...good, kind: 'click' }, 'records[1].kind', /must be one of 'event', 'item', 'delete-item', 'user', 'exposure' \(got 'click'\)/],
      [null, 'records[1]', /must be an object/],
      [{ kind: 'item', item: 'i', features: [] }, 'records[1].features', /must be a plain object/],
      [{ kind: 'user', user: 'u', features: new Date(0) }, 'records[1].features', /must be a plain object \(got Date\)/],
      [{ kind: 'item', item: 'i' }, 'records[1].features', /must be a plain object/],
      [{ kind: 'item', item: 'i', features: { a: { b: [1, NaN] } } }, 'records[1].features.a.b[1]', /must be a JSON value/],
      [{ kind: 'item', item: 'i', features: { x: undefined } }, 'records[1].features.x', /must be a JSON value.*got a undefined/],
      [{ kind: 'item', item: 'i', features: { 'a b': new Map() } }, 'records[1].features["a b"]', /got Map/],
      [{ kind: 'item', item: 'i', features: { v: new Float32Array(2) } }, 'records[1].features.v', /got Float32Array/],
      [{ kind: 'item', item: 'i', features: { deep } }, 'records[1].features.deep' + '.d'.repeat(31), /nests deeper than 32 levels/],
      [{ kind: 'user', user: 'u', features: cycle }, 'records[1].features' + '.self'.repeat(32), /nests deeper/],
      [{ kind: 'user', user: 'u', features: { t: 'a\u0000b' } }, 'records[1].features.t', /valid Unicode text without NUL/],
      [{ ...good, user: 'a\u0000b' }, 'records[1].user', /valid Unicode text without NUL/],
      [{ ...good, item: 'x\uD800' }, 'records[1].item', /valid Unicode text/],
      [{ kind: 'delete-item', item: '\uDC00y' }, 'records[1].item', /valid Unicode text/],
    ];
    for (const [bad, field, re] of cases) {
      await rejectsWith(log.append([good, bad as LogRecord, good]), 'invalid', field, re, field);
    }
    await rejectsWith(log.append('nope' as unknown as LogRecord[]), 'invalid', 'records', /must be an array/, 'records');
    await rejectsWith(log.append([good], NaN), 'invalid', 'received', /must be a finite number/, 'received');
    assert.deepEqual(await log.counts(), before, 'no bad batch stored anything');
    assert.equal(await log.lastSeq(), last);
    assert.deepEqual(seqs(await log.read(0)), [last]);
  }));

  test(`${name}: read honours after and limit`, { timeout: CASE_TIMEOUT_MS }, withLog(async (log) => {
    const stored = await log.append(Array.from({ length: 10 }, (_, i) => ev('u', `i${i}`)));
    const all = seqs(stored);
    assert.deepEqual(seqs(await log.read(0)), all);
    assert.deepEqual(seqs(await log.read(-100)), all, 'a negative after reads from the start');
    assert.deepEqual(seqs(await log.read(all[3])), all.slice(4));
    assert.deepEqual(seqs(await log.read(0, 4)), all.slice(0, 4));
    assert.deepEqual(seqs(await log.read(all[4], 3)), all.slice(5, 8));
    assert.deepEqual(await log.read(all[9]), [], 'nothing after the last');
    assert.deepEqual(await log.read(all[9] + 1000), []);
    assert.deepEqual((await log.read(all[6], 1))[0], stored[7], 'read returns the whole entry');
    await rejectsWith(log.read(NaN), 'invalid', 'after', /finite number/, 'read(NaN)');
    await rejectsWith(log.read(0, 0), 'invalid', 'limit', /positive integer \(got 0\)/, 'read(0, 0)');
    await rejectsWith(log.read(0, 1.5), 'invalid', 'limit', /positive integer/, 'read(0, 1.5)');
  }));

  test(`${name}: scan covers more entries than one batch, in order, without gaps or repeats`, { timeout: CASE_TIMEOUT_MS }, withLog(async (log) => {
    const want: number[] = [];
    const chunk = 5000;
    for (let from = 0; from < scanN; from += chunk) {
      const n = Math.min(chunk, scanN - from);
      const batch = new Array<LogRecord>(n);
      for (let i = 0; i < n; i++) batch[i] = ev(`u${(from + i) % 97}`, `i${from + i}`, 'view', from + i);
      for (const e of await log.append(batch)) want.push(e.seq);
    }
    assert.equal(want.length, scanN);
    const got: number[] = [];
    let pages = 0;
    let value = 0;
    for await (const page of log.scan(0, 1000)) {
      pages++;
      assert.ok(page.length > 0 && page.length <= 1000, `page of ${page.length}`);
      for (const e of page) {
        got.push(e.seq);
        // the k-th entry carries value k: order and content together
        assert.equal((e as { value: number }).value, value++);
      }
    }
    assert.deepEqual(got, want, 'every entry once, in order');
    assert.ok(pages >= Math.ceil(scanN / 1000), `${pages} pages`);
    const tail: number[] = [];
    for await (const page of log.scan(want[scanN - 11])) tail.push(...seqs(page));
    assert.deepEqual(tail, want.slice(scanN - 10), 'scan from a position');
    assert.equal((await log.read(0)).length, Math.min(10_000, scanN), 'read defaults to at most 10_000');
    // entries appended during a scan are left to follow: the scan ends where the log ended when it began
    let during = 0;
    let added: number[] = [];
    for await (const page of log.scan(want[scanN - 2001], 1000)) {
      during += page.length;
      if (added.length === 0) added = seqs(await log.append([ev('late', 'x'), ev('late', 'y')]));
    }
    assert.equal(during, 2000);
    assert.equal(await log.lastSeq(), added[1]);
    await rejectsWith(async () => {
      for await (const _ of log.scan(0, 0)) break;
    }, 'invalid', 'batch', /positive integer/, 'scan(0, 0)');
  }));

  test(`${name}: lastSeq and seqBefore`, { timeout: CASE_TIMEOUT_MS }, withLog(async (log) => {
    assert.equal(await log.lastSeq(), 0);
    assert.equal(await log.seqBefore(1e12), 0, 'nothing before anything in an empty log');
    const a = await log.append([ev('u', '1'), ev('u', '2')], 100);
    const b = await log.append([ev('u', '3')], 100);
    const c = await log.append([ev('u', '4'), ev('u', '5')], 200);
    const d = await log.append([{ kind: 'delete-item', item: '4' }], 300);
    assert.equal(await log.lastSeq(), d[0].seq);
    assert.equal(await log.seqBefore(100), 0, 'strictly before: entries at 100 do not count');
    assert.equal(await log.seqBefore(100.5), b[0].seq);
    assert.equal(await log.seqBefore(200), b[0].seq);
    assert.equal(await log.seqBefore(250), c[1].seq);
    assert.equal(await log.seqBefore(300), c[1].seq);
    assert.equal(await log.seqBefore(1e12), d[0].seq);
    assert.ok(a[1].seq < b[0].seq);
    // a receive time out of order (a clock stepped back): still the highest seq received before
    const e = await log.append([ev('u', '6')], 150);
    assert.equal(await log.seqBefore(200), e[0].seq);
    assert.equal(await log.seqBefore(120), b[0].seq);
    await rejectsWith(log.seqBefore(NaN), 'invalid', 'received', /finite number/, 'seqBefore(NaN)');
  }));

  test(`${name}: follow delivers appends made after it started, in order, once each, and stops cleanly`, { timeout: CASE_TIMEOUT_MS }, withLog(async (log) => {
    const early = await log.append([ev('a', '0'), ev('a', '1')]);
    const start = early[1].seq;
    const c = collector();
    const f = log.follow(start, c.cb);
    assert.equal(f.position, start, 'position starts at after');
    const expected: LogEntry[] = [];
    for (let i = 0; i < 3; i++) expected.push(...(await log.append([ev('s', `seq${i}`), ev('s', `seq${i}b`)])));
    // concurrent appends: each batch stays whole, the follower sees them in seq order
    const batches = await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(Array.from({ length: 1 + (i % 3) }, (_, j) => ev(`p${i}`, `j${j}`)))));
    for (const b of batches) expected.push(...b);
    expected.sort((x, y) => x.seq - y.seq);
    await until(() => c.got.length >= expected.length, timeout, `${expected.length} entries`);
    assert.deepEqual(c.got, expected, 'every appended entry once, in seq order, none from before `after`');
    assert.equal(c.overlapped, false, 'calls never overlap');
    assert.equal(f.position, expected[expected.length - 1].seq);
    await f.stop();
    const calls = c.calls;
    await log.append([ev('after', 'stop')]);
    await sleep(quiet);
    assert.equal(c.calls, calls, 'no call after stop() resolved');
    await f.stop(); // twice is fine
  }));

  test(`${name}: follow catches up from a position and keeps order when the callback is slow`, { timeout: CASE_TIMEOUT_MS }, withLog(async (log) => {
    const first = await log.append(Array.from({ length: 50 }, (_, i) => ev('u', `i${i}`)));
    let release: (() => void) | null = null;
    const c = collector(async (_entries, call) => {
      await sleep(2);
      // the fifth call blocks until the test lets it go: stop() must wait for it
      if (call === 5) await new Promise<void>((r) => (release = r));
    });
    const f = log.follow(first[9].seq, c.cb, { batch: 7 });
    const more: LogEntry[] = [];
    for (let i = 0; i < 6; i++) more.push(...(await log.append([ev('v', `m${i}`), ev('v', `n${i}`)])));
    await until(() => release !== null, timeout, 'the fifth call');
    const stopping = f.stop();
    let stopped = false;
    void stopping.then(() => (stopped = true));
    await sleep(20);
    assert.equal(stopped, false, 'stop() waits for the call in flight');
    release!();
    await stopping;
    assert.equal(c.overlapped, false);
    const want = first.slice(10).concat(more);
    assert.deepEqual(seqs(c.got), seqs(want.slice(0, c.got.length)), 'delivered in order from after, without gaps');
    assert.equal(c.got.length, 35, 'five calls of seven');
    assert.equal(f.position, c.got[c.got.length - 1].seq);
    const calls = c.calls;
    await log.append([ev('late', 'x')]);
    await sleep(quiet);
    assert.equal(c.calls, calls);
    // another follower resumes where this one stopped
    const d = collector();
    const g = log.follow(f.position, d.cb);
    await until(() => d.got.length >= want.length - 35 + 1, timeout, 'the rest');
    assert.deepEqual(seqs(d.got).slice(0, want.length - 35), seqs(want.slice(35)));
    await g.stop();
  }));

  test(`${name}: a failing callback stops delivery at the last good position and reports the error`, { timeout: CASE_TIMEOUT_MS }, withLog(async (log) => {
    const boom = new Error('apply failed');
    let reported: { error: unknown; follower: Follower } | null = null;
    const c = collector((_e, call) => {
      if (call === 2) throw boom;
    });
    const f = log.follow(0, c.cb, { onError: (error, follower) => (reported = { error, follower }) });
    const a = await log.append([ev('u', '1'), ev('u', '2')]);
    await until(() => c.got.length === 2, timeout, 'the first batch');
    const b = await log.append([ev('u', '3')]);
    await until(() => reported !== null, timeout, 'the error report');
    assert.equal(reported!.error, boom);
    assert.equal(reported!.follower, f);
    assert.equal(f.position, a[1].seq, 'position stays at the last entry delivered');
    await log.append([ev('u', '4')]);
    await sleep(quiet);
    assert.equal(c.calls, 2, 'nothing after the failure');
    await f.stop(); // resolves after a failure too
    const d = collector();
    const g = log.follow(f.position, d.cb);
    await until(() => d.got.length === 2, timeout, 'the resumed follower');
    assert.equal(d.got[0].seq, b[0].seq, 'resuming from position redelivers the failed batch');
    await g.stop();
    assert.throws(() => log.follow(NaN, () => {}), (e: unknown) => e instanceof StoreError && e.field === 'after');
    assert.throws(() => log.follow(0, 'x' as unknown as () => void), (e: unknown) => e instanceof StoreError && e.field === 'onEntries');
    assert.throws(() => log.follow(0, () => {}, { batch: 0 }), (e: unknown) => e instanceof StoreError && e.field === 'opts.batch');
  }));

  const another = capability(opts.another, 'second handle (opts.another)');
  test(`${name}: follow sees appends made through another handle on the same storage`, { skip: another.skip, timeout: CASE_TIMEOUT_MS }, withLog(async (log) => {
    const other = await another.fn!(log);
    try {
      const mine = collector();
      const theirs = collector();
      const f = log.follow(0, mine.cb);
      const g = other.follow(0, theirs.cb);
      const expected: LogEntry[] = [];
      for (let i = 0; i < 3; i++) {
        expected.push(...(await other.append([ev('o', `x${i}`), ev('o', `y${i}`)])));
        expected.push(...(await log.append([ev('l', `z${i}`)])));
      }
      await until(() => mine.got.length >= expected.length && theirs.got.length >= expected.length, timeout, 'both followers');
      assert.deepEqual(seqs(mine.got), seqs(expected));
      assert.deepEqual(mine.got, theirs.got, 'both handles deliver the same entries');
      assert.deepEqual(await other.counts(), await log.counts());
      await Promise.all([f.stop(), g.stop()]);
    } finally {
      await other.close();
    }
  }));

  test(`${name}: counts events and entries`, { timeout: CASE_TIMEOUT_MS }, withLog(async (log) => {
    assert.deepEqual(await log.counts(), { events: 0, entries: 0 });
    await log.append([ev('a', '1'), { kind: 'item', item: '1', features: {} }, ev('b', '1')]);
    assert.deepEqual(await log.counts(), { events: 2, entries: 3 });
    await log.append([{ kind: 'delete-item', item: '1' }, { kind: 'user', user: 'a', features: { x: 1 } }]);
    await log.append([ev('c', '2')]);
    assert.deepEqual(await log.counts(), { events: 3, entries: 6 }, 'counts follow later appends');
  }));

  test(`${name}: exposures and the events naming them read back exactly; counts count events only`, { timeout: CASE_TIMEOUT_MS }, withLog(async (log) => {
    const records: LogRecord[] = [
      { kind: 'exposure', id: 'x-1', user: 'u', experiment: 'ranker-v2', arm: 'treatment', items: ['i3', 'i1', 'é'], timestamp: 1_700_000_000.5 },
      { kind: 'exposure', id: 'x-2', user: 'v', experiment: 'il', arm: 'mix', items: ['i1', 'i2'], teams: [1, 0], timestamp: 1_700_000_001 },
      { kind: 'event', user: 'u', item: 'i1', type: 'click', value: 1, timestamp: 1_700_000_010, exposureId: 'x-1' },
      ev('v', 'i2', 'click'),
    ];
    const stored = await log.append(records, 1_700_000_100);
    for (let i = 0; i < records.length; i++) {
      const { seq: _s, received: _r, ...rest } = stored[i];
      assert.deepEqual(rest, records[i], `records[${i}] as stored`);
    }
    assert.deepEqual(await log.read(0), stored);
    const scanned: LogEntry[] = [];
    for await (const b of log.scan(0)) scanned.push(...b);
    assert.deepEqual(scanned, stored, 'scan decodes exposures too');
    assert.deepEqual(await log.counts(), { events: 2, entries: 4 });
    const bad: [LogRecord, string][] = [
      [{ kind: 'exposure', id: 'x', user: 'u', experiment: 'e', arm: 'a', items: [], timestamp: 1 }, 'records[1].items'],
      [{ kind: 'exposure', id: 'x', user: 'u', experiment: 'e', arm: 'a', items: ['a', ''], timestamp: 1 }, 'records[1].items[1]'],
      [{ kind: 'exposure', id: 'x', user: 'u', experiment: 'e', arm: 'a', items: ['a', 'b'], teams: [0], timestamp: 1 }, 'records[1].teams'],
      [{ kind: 'exposure', id: 'x', user: 'u', experiment: 'e', arm: 'a', items: ['a', 'b'], teams: [0, 2], timestamp: 1 }, 'records[1].teams[1]'],
      [{ kind: 'exposure', id: '', user: 'u', experiment: 'e', arm: 'a', items: ['a'], timestamp: 1 }, 'records[1].id'],
      [{ ...ev('u', 'i'), exposureId: '' } as LogRecord, 'records[1].exposureId'],
    ];
    for (const [b, field] of bad) await rejectsWith(log.append([ev('a', '1'), b]), 'invalid', field, new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}: `), field);
    assert.deepEqual(await log.counts(), { events: 2, entries: 4 }, 'nothing of a rejected batch stored');
  }));

  const reopen = capability(opts.reopen, 'reopen (opts.reopen)');
  test(`${name}: entries survive close and reopen`, { skip: reopen.skip, timeout: CASE_TIMEOUT_MS }, async () => {
    let log = await make();
    try {
      const stored = await log.append([ev('a', '1', 'buy', 3.25, 12.5), { kind: 'item', item: '9', features: { genre: ['x'], n: { m: 1 } } }], 42.5);
      stored.push(...(await log.append([{ kind: 'user', user: 'a', features: { age: 30 } }], 43)));
      log = await reopen.fn!(log);
      assert.deepEqual(await log.read(0), stored);
      assert.equal(await log.lastSeq(), stored[2].seq);
      assert.deepEqual(await log.counts(), { events: 1, entries: 3 });
      assert.equal(await log.seqBefore(43), stored[1].seq);
      const next = await log.append([ev('b', '2')]);
      assert.ok(next[0].seq > stored[2].seq, 'seqs keep increasing after a reopen');
    } finally {
      await log.close();
    }
  });

  test(`${name}: close stops followers and later calls fail with a closed error`, { timeout: CASE_TIMEOUT_MS }, async () => {
    const log = await make();
    const c = collector();
    const f = log.follow(0, c.cb);
    await log.append([ev('a', '1')]);
    await until(() => c.got.length === 1, timeout, 'the entry');
    await log.close();
    await f.stop(); // already stopped by close
    await rejectsWith(log.append([ev('a', '2')]), 'closed', undefined, /closed/, 'append after close');
    await rejectsWith(log.read(0), 'closed', undefined, /closed/, 'read after close');
    await rejectsWith(log.lastSeq(), 'closed', undefined, /closed/, 'lastSeq after close');
    await rejectsWith(log.counts(), 'closed', undefined, /closed/, 'counts after close');
    assert.throws(() => log.follow(0, () => {}), (e: unknown) => e instanceof StoreError && e.code === 'closed');
    await log.close(); // twice is fine
    assert.equal(c.calls, 1);
  });
}

// --- LiveState ---------------------------------------------------------------------------------

/** A log entry as a LiveState receives it. */
function entry(seq: number, rec: LogRecord, received = 1000): LogEntry {
  return { ...rec, seq, received } as LogEntry;
}

/** A small seeded generator (mulberry32), so the random case replays exactly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The plain reading of the LiveState contract, for the differential case. */
function reference(entries: readonly LogEntry[], max: number) {
  const users = new Map<string, LiveUser>();
  const items = new Map<string, { item: string; seq: number; deleted: boolean; features: Record<string, unknown> | null }>();
  const counts = new Map<string, Record<string, number>>();
  const userOf = (id: string) => users.get(id) ?? users.set(id, { events: [], features: null }).get(id)!;
  let position = 0;
  for (const e of entries) {
    if (e.seq <= position) continue;
    position = e.seq;
    if (e.kind === 'event') {
      userOf(e.user).events.push({ seq: e.seq, item: e.item, type: e.type, value: e.value, timestamp: e.timestamp });
      const c = counts.get(e.item) ?? counts.set(e.item, {}).get(e.item)!;
      c[e.type] = (c[e.type] ?? 0) + 1;
    }
    else if (e.kind === 'user') userOf(e.user).features = e.features;
    else if (e.kind === 'item' || e.kind === 'delete-item') items.set(e.item, { item: e.item, seq: e.seq, deleted: e.kind === 'delete-item', features: e.kind === 'item' ? e.features : null });
  }
  for (const u of users.values()) u.events = u.events.slice(-max);
  const catalog = [...items.values()].sort((a, b) => a.seq - b.seq);
  const events = [...users.values()].reduce((n, u) => n + u.events.length, 0);
  return { users, catalog, counts, position, stats: { users: users.size, events, items: items.size } };
}

/** Registers the LiveState conformance cases for one backend. `make` returns a new, empty state. */
export function liveStateSuite(name: string, make: (opts?: { maxEventsPerUser?: number }) => Promise<LiveState>): void {
  const withState = (opts: { maxEventsPerUser?: number } | undefined, body: (s: LiveState) => Promise<void>) => async () => {
    const s = await make(opts);
    try {
      await body(s);
    } finally {
      await s.close();
    }
  };
  test(`${name}: keeps each user's events oldest first, capped at the latest maxEventsPerUser`, { timeout: CASE_TIMEOUT_MS }, withState({ maxEventsPerUser: 3 }, async (s) => {
    assert.equal(typeof s.kind, 'string');
    assert.equal(await s.position(), 0);
    assert.equal(await s.user('a'), null, 'nothing logged: null');
    await s.apply([entry(10, ev('a', 'i1', 'view', 1, 100)), entry(11, ev('b', 'i1', 'buy', 2.5, 101)), entry(12, ev('a', 'i2', 'view', 1, 99))]);
    assert.deepEqual(await s.user('a'), {
      events: [
        { seq: 10, item: 'i1', type: 'view', value: 1, timestamp: 100 },
        { seq: 12, item: 'i2', type: 'view', value: 1, timestamp: 99 },
      ],
      features: null,
    }, 'log order, not timestamp order');
    // gaps in seq, and more events than the cap over several batches
    await s.apply([entry(15, ev('a', 'i3')), entry(20, ev('a', 'i4'))]);
    await s.apply([entry(21, ev('a', 'i5')), entry(30, ev('a', 'i6'))]);
    const a = await s.user('a');
    assert.deepEqual(a!.events.map((e) => `${e.seq}:${e.item}`), ['20:i4', '21:i5', '30:i6'], 'the latest three, oldest first');
    assert.equal((await s.user('b'))!.events.length, 1);
    assert.equal(await s.position(), 30);
    assert.deepEqual(await s.stats(), { users: 2, events: 4, items: 0 });
  }));

  test(`${name}: apply is idempotent: entries at or below the position change nothing`, { timeout: CASE_TIMEOUT_MS }, withState(undefined, async (s) => {
    const batch = [entry(1, ev('a', 'i1')), entry(2, { kind: 'item', item: 'i1', features: { g: 1 } }), entry(3, { kind: 'user', user: 'a', features: { age: 3 } })];
    await s.apply(batch);
    const snapshot = async () => ({ pos: await s.position(), a: await s.user('a'), cat: await s.catalog(), stats: await s.stats(), counts: await s.itemCounts(['i1', 'i2', 'i9']) });
    const before = await snapshot();
    await s.apply(batch);
    assert.deepEqual(await snapshot(), before, 're-applying a batch');
    // old seqs with other content are still ignored; the new entry in the same batch is applied
    await s.apply([entry(2, { kind: 'delete-item', item: 'i1' }), entry(3, ev('a', 'i9')), entry(4, ev('a', 'i2'))]);
    const after = await snapshot();
    assert.equal(after.pos, 4);
    assert.deepEqual(after.a!.events.map((e) => e.item), ['i1', 'i2']);
    assert.deepEqual(after.counts, [{ view: 1 }, { view: 1 }, {}], 'an ignored event is not counted');
    assert.deepEqual(after.cat, before.cat);
    // out of order within a batch: the lower seq comes after the position moved past it
    await s.apply([entry(6, ev('b', 'x')), entry(5, ev('b', 'y'))]);
    assert.deepEqual((await s.user('b'))!.events.map((e) => e.item), ['x']);
    await s.apply([]);
    assert.equal(await s.position(), 6);
  }));

  test(`${name}: user features: the last write wins, replaced not merged`, { timeout: CASE_TIMEOUT_MS }, withState(undefined, async (s) => {
    await s.apply([entry(1, { kind: 'user', user: 'a', features: { age: 30, tags: ['x'], nested: { k: [1, 2] } } })]);
    assert.deepEqual(await s.user('a'), { events: [], features: { age: 30, tags: ['x'], nested: { k: [1, 2] } } }, 'features without events');
    await s.apply([entry(2, { kind: 'user', user: 'a', features: { plan: 'pro' } }), entry(3, ev('a', 'i1'))]);
    assert.deepEqual((await s.user('a'))!.features, { plan: 'pro' });
    await s.apply([entry(4, ev('b', 'i1'))]);
    assert.equal((await s.user('b'))!.features, null, 'events without features');
    assert.deepEqual(await s.stats(), { users: 2, events: 2, items: 0 });
  }));

  test(`${name}: catalog: the last change wins, in seq order of that change`, { timeout: CASE_TIMEOUT_MS }, withState(undefined, async (s) => {
    assert.deepEqual(await s.catalog(), []);
    await s.apply([
      entry(1, { kind: 'item', item: 'x', features: { g: 'a' } }),
      entry(2, { kind: 'item', item: 'y', features: { g: 'b', tags: ['t'] } }),
      entry(3, { kind: 'delete-item', item: 'x' }),
      entry(5, { kind: 'delete-item', item: 'z' }),
      entry(6, { kind: 'item', item: 'z', features: { g: 'c' } }),
    ]);
    assert.deepEqual(await s.catalog(), [
      { item: 'y', seq: 2, deleted: false, features: { g: 'b', tags: ['t'] } },
      { item: 'x', seq: 3, deleted: true, features: null },
      { item: 'z', seq: 6, deleted: false, features: { g: 'c' } },
    ], 'upsert then delete: deleted; delete then upsert: live with features');
    await s.apply([entry(7, { kind: 'item', item: 'y', features: { g: 'd' } })]);
    assert.deepEqual((await s.catalog()).map((c) => `${c.item}@${c.seq}`), ['x@3', 'z@6', 'y@7'], 'a changed item moves to the end');
    assert.deepEqual(await s.stats(), { users: 0, events: 0, items: 3 });
  }));

  test(`${name}: itemCounts: every applied event per item and type, in the order asked, not capped`, { timeout: CASE_TIMEOUT_MS }, withState({ maxEventsPerUser: 2 }, async (s) => {
    assert.deepEqual(await s.itemCounts(['x']), [{}], 'nothing applied: an empty record');
    const batch = [
      entry(1, ev('a', 'x', 'view')),
      entry(2, ev('a', 'x', 'view')),
      entry(3, ev('b', 'x', 'buy')),
      entry(4, ev('a', 'y', 'view')),
      entry(5, ev('a', 'x', 'view')),
      entry(6, { kind: 'delete-item', item: 'x' }),
      entry(7, ev('c', '__proto__', 'constructor')),
      entry(8, ev('c', 'z', '__proto__')),
    ];
    await s.apply(batch);
    await s.apply(batch.slice(2));
    const got = await s.itemCounts(['y', 'x', 'nobody', 'x', '__proto__', 'z']);
    assert.deepEqual(got, [{ view: 1 }, { view: 3, buy: 1 }, {}, { view: 3, buy: 1 }, { constructor: 1 }, JSON.parse('{"__proto__": 1}')], 'a deleted item keeps its counts; odd names are plain keys');
    assert.equal((await s.user('a'))!.events.length, 2, 'the histories are capped, the counts are not');
    assert.equal(Object.getPrototypeOf(got[5]), Object.prototype, 'a type named __proto__ is a key, not a prototype');
    got[1].view = 99;
    assert.deepEqual((await s.itemCounts(['x']))[0], { view: 3, buy: 1 }, 'a result is a copy');
    assert.deepEqual(await s.itemCounts([]), []);
    await rejectsWith(s.itemCounts([5 as unknown as string]), 'invalid', 'items[0]', /string/, 'itemCounts([5])');
  }));

  test(`${name}: users() answers in order with null where nothing was logged`, { timeout: CASE_TIMEOUT_MS }, withState(undefined, async (s) => {
    await s.apply([entry(1, ev('a', 'i1')), entry(2, { kind: 'user', user: 'b', features: { k: 1 } })]);
    const got = await s.users(['b', 'nobody', 'a', 'b']);
    assert.equal(got.length, 4);
    assert.deepEqual(got[0], { events: [], features: { k: 1 } });
    assert.equal(got[1], null);
    assert.deepEqual(got[2]!.events.map((e) => e.item), ['i1']);
    assert.deepEqual(got[3], got[0]);
    assert.deepEqual(await s.users([]), []);
    assert.deepEqual(got[2], await s.user('a'), 'users() agrees with user()');
  }));

  test(`${name}: results are snapshots: changing them does not change the state`, { timeout: CASE_TIMEOUT_MS }, withState(undefined, async (s) => {
    await s.apply([entry(1, ev('a', 'i1')), entry(2, { kind: 'user', user: 'a', features: { tags: ['x'] } }), entry(3, { kind: 'item', item: 'i1', features: { g: ['a'] } })]);
    const want = { user: await s.user('a'), catalog: await s.catalog() };
    // frozen or copied, either is fine: a frozen part throws in strict mode, so each attempt is guarded
    const attempt = (f: () => void) => {
      try {
        f();
      } catch {
        /* frozen */
      }
    };
    const u = (await s.user('a'))!;
    attempt(() => u.events.push({ seq: 99, item: 'z', type: 'view', value: 1, timestamp: 1 }));
    attempt(() => (u.events[0].item = 'changed'));
    attempt(() => (u.features!.tags as string[]).push('y'));
    const cat = await s.catalog();
    attempt(() => (cat[0].deleted = true));
    attempt(() => (cat[0].features!.g as string[]).push('b'));
    attempt(() => cat.pop());
    assert.deepEqual({ user: await s.user('a'), catalog: await s.catalog() }, want);
  }));

  test(`${name}: a bad entry rejects the whole batch naming the field`, { timeout: CASE_TIMEOUT_MS }, withState(undefined, async (s) => {
    const bad: [unknown, string][] = [
      [{ ...entry(2, ev('a', 'i2')), kind: 'click' }, 'entries[1].kind'],
      [{ ...entry(2, ev('a', 'i2')), seq: NaN }, 'entries[1].seq'],
      [entry(2, { kind: 'item', item: 'i', features: null as unknown as Record<string, unknown> }), 'entries[1].features'],
      [entry(2, ev('', 'i2')), 'entries[1].user'],
    ];
    for (const [b, field] of bad) {
      await rejectsWith(s.apply([entry(1, ev('a', 'i1')), b as LogEntry]), 'invalid', field, new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}: `), field);
    }
    assert.equal(await s.position(), 0, 'nothing of a rejected batch applied');
    assert.equal(await s.user('a'), null);
    await rejectsWith(s.user(5 as unknown as string), 'invalid', 'id', /string/, 'user(5)');
  }));

  test(`${name}: an exposure advances the position and changes nothing else`, { timeout: CASE_TIMEOUT_MS }, withState(undefined, async (s) => {
    await s.apply([entry(1, ev('a', 'i1')), entry(2, { kind: 'exposure', id: 'x', user: 'b', experiment: 'e', arm: 'a', items: ['i1', 'i2'], teams: [0, 1], timestamp: 5 })]);
    assert.equal(await s.position(), 2);
    assert.equal(await s.user('b'), null, 'an exposure is not a user event');
    assert.deepEqual(await s.catalog(), [], 'nor a catalog change');
    assert.deepEqual(await s.stats(), { users: 1, events: 1, items: 0 });
  }));

  test(`${name}: clear forgets everything, position included`, { timeout: CASE_TIMEOUT_MS }, withState(undefined, async (s) => {
    const batch = [entry(1, ev('a', 'i1')), entry(2, { kind: 'item', item: 'i1', features: {} }), entry(3, { kind: 'user', user: 'b', features: { x: 1 } })];
    await s.apply(batch);
    await s.clear();
    assert.equal(await s.position(), 0);
    assert.equal(await s.user('a'), null);
    assert.equal(await s.user('b'), null);
    assert.deepEqual(await s.catalog(), []);
    assert.deepEqual(await s.stats(), { users: 0, events: 0, items: 0 });
    assert.deepEqual(await s.itemCounts(['i1']), [{}]);
    await s.apply(batch);
    assert.equal(await s.position(), 3, 'a replay after clear applies again');
    assert.deepEqual(await s.itemCounts(['i1']), [{ view: 1 }]);
    assert.deepEqual(await s.stats(), { users: 2, events: 1, items: 1 });
  }));

  test(`${name}: matches a plain reference on a random log applied in overlapping random batches`, { timeout: CASE_TIMEOUT_MS }, withState({ maxEventsPerUser: 7 }, async (s) => {
    const r = rng(20240611);
    const pick = (n: number) => Math.floor(r() * n);
    const entries: LogEntry[] = [];
    let sq = 0;
    for (let i = 0; i < 3000; i++) {
      sq += 1 + pick(3); // gaps, as networked backends leave them
      const k = r();
      const user = `u${pick(25)}`;
      const item = `i${pick(40)}`;
      const rec: LogRecord =
        k < 0.75 ? ev(user, item, ['view', 'buy', 'like'][pick(3)], Math.round(r() * 1000) / 100, 1_700_000_000 + pick(1e6))
        : k < 0.85 ? { kind: 'user', user, features: { v: pick(100), tags: [`t${pick(5)}`] } }
        : k < 0.95 ? { kind: 'item', item, features: { g: `g${pick(6)}`, p: r() } }
        : k < 0.98 ? { kind: 'delete-item', item }
        : { kind: 'exposure', id: `x${i}`, user, experiment: 'e', arm: 'a', items: [item, `i${pick(40)}`], timestamp: 1_700_000_000 + pick(1e6) };
      entries.push(entry(sq, rec, 1000 + i));
    }
    // batches of random length, each sometimes starting a little behind the last (a replay overlapping what was applied)
    for (let at = 0; at < entries.length; ) {
      const from = Math.max(0, at - (r() < 0.3 ? pick(20) : 0));
      const to = Math.min(entries.length, at + 1 + pick(60));
      await s.apply(entries.slice(from, to));
      at = to;
    }
    const ref = reference(entries, 7);
    assert.equal(await s.position(), ref.position);
    assert.deepEqual(await s.stats(), ref.stats);
    assert.deepEqual(await s.catalog(), ref.catalog);
    const ids = [...ref.users.keys(), 'nobody'];
    const got = await s.users(ids);
    for (let i = 0; i < ids.length; i++) assert.deepEqual(got[i], ref.users.get(ids[i]) ?? null, `user ${ids[i]}`);
    const items = [...ref.counts.keys(), 'nothing'];
    assert.deepEqual(await s.itemCounts(items), items.map((i) => ref.counts.get(i) ?? {}), 'itemCounts');
  }));

  test(`${name}: close: later calls fail with a closed error`, { timeout: CASE_TIMEOUT_MS }, async () => {
    const s = await make();
    await s.apply([entry(1, ev('a', 'i1'))]);
    await s.close();
    await rejectsWith(s.apply([entry(2, ev('a', 'i2'))]), 'closed', undefined, /closed/, 'apply after close');
    await rejectsWith(s.user('a'), 'closed', undefined, /closed/, 'user after close');
    await rejectsWith(s.position(), 'closed', undefined, /closed/, 'position after close');
    await rejectsWith(s.itemCounts(['i1']), 'closed', undefined, /closed/, 'itemCounts after close');
    await s.close();
  });
}
