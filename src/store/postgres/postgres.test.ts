import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { eventLogSuite } from '../suite.ts';
import { serverMissing } from '../test-services.ts';
import { MemoryLiveState } from '../memory/memory-live-state.ts';
import { openEventLog } from '../open.ts';
import { StoreError, type EventLog, type LogEntry, type LogRecord } from '../types.ts';
import { PostgresEventLog, type PostgresEventLogOptions } from './postgres-event-log.ts';
import { APPEND_LOCK, MIGRATIONS, migrate } from './migrations.ts';
import { freshDatabase } from './test-database.ts';
import { BinaryCopyDecoder, type CopyType } from './copy-binary.ts';
import copyStreams from 'pg-copy-streams';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const ev = (user: string, item: string, type = 'view', value = 1, timestamp = 1_700_000_000): LogRecord => ({ kind: 'event', user, item, type, value, timestamp });

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

const db = await freshDatabase();
if ('unavailable' in db) {
  serverMissing('postgres', db.unavailable, 'TANDEM_TEST_POSTGRES');
} else {
  after(() => db.drop());
  const url = db.url;
  // a schema per log: each case of the suite starts from an empty log in this run's database
  let schemas = 0;
  const freshSchema = () => `t${++schemas}`;
  const POLL = 100;
  // small pools: the server's connections (100 by default) are shared with whatever else runs
  const open = (schema: string, opts: PostgresEventLogOptions = {}) => PostgresEventLog.open(url, { schema, pollMs: POLL, poolSize: 4, ...opts });
  const schemaOf = (log: EventLog) => (log as PostgresEventLog).options.schema;

  /** A plain connection to the run's database, for what the tests do behind the log's back. */
  async function sql<T>(body: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => {});
    await c.connect();
    try {
      return await body(c);
    } finally {
      await c.end();
    }
  }

  eventLogSuite('postgres event log', () => open(freshSchema()), {
    reopen: async (log) => {
      await log.close();
      return open(schemaOf(log));
    },
    // a second pool on the same schema: what another replica sees
    another: (log) => open(schemaOf(log)),
    quietMs: 5 * POLL,
  });

  test('postgres: a reader never passes a seq that commits later (the append lock), and without the lock it would', async () => {
    const schema = freshSchema();
    const [a, b, reader] = await Promise.all([open(schema), open(schema), open(schema)]);
    // a trigger makes an append of item 'gated' wait inside its transaction, after it took its seq,
    // until the test lets go of advisory lock (4242, 1)
    await sql((c) => c.query(`
      CREATE FUNCTION ${schema}.gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.item_id = 'gated' THEN PERFORM pg_advisory_xact_lock_shared(4242, 1); END IF; RETURN NEW; END $$;
      CREATE TRIGGER gate BEFORE INSERT ON ${schema}.log FOR EACH ROW EXECUTE FUNCTION ${schema}.gate();`));
    const gate = new pg.Client({ connectionString: url });
    await gate.connect();
    const waiting = (classid: number) =>
      sql(async (c) => (await c.query('SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database() AND locktype = $1 AND classid = $2 AND NOT granted', ['advisory', classid])).rows[0].n as number);
    try {
      // 1. through the log: the second append waits for the first, and readers see nothing until both commit, in order
      await gate.query('SELECT pg_advisory_lock(4242, 1)');
      const first = a.append([ev('u', 'gated')]);
      await until(async () => (await waiting(4242)) === 1, 10_000, 'the first append to wait at the gate');
      const second = b.append([ev('u', 'fast')]);
      await until(async () => (await waiting(APPEND_LOCK)) === 1, 10_000, 'the second append to wait for the append lock');
      const got: LogEntry[] = [];
      const f = reader.follow(0, (es) => void got.push(...es));
      await sleep(5 * POLL);
      assert.deepEqual(await reader.read(0), [], 'nothing is visible while the first append is in flight');
      assert.equal(got.length, 0, 'the follower got nothing');
      await gate.query('SELECT pg_advisory_unlock(4242, 1)');
      const [[x], [y]] = await Promise.all([first, second]);
      assert.ok(x.seq < y.seq, 'the append that took its seq first commits first');
      await until(() => got.length === 2, 10_000, 'both entries');
      assert.deepEqual(got.map((e) => e.seq), [x.seq, y.seq]);
      await f.stop();

      // 2. the control: a writer that skips the lock commits a later seq first, and a follower passes the earlier one
      await gate.query('SELECT pg_advisory_lock(4242, 1)');
      const third = a.append([ev('u', 'gated')]);
      await until(async () => (await waiting(4242)) === 1, 10_000, 'the third append to wait at the gate');
      const passed: LogEntry[] = [];
      const g = reader.follow(y.seq, (es) => void passed.push(...es));
      await sql((c) => c.query(`INSERT INTO ${schema}.log (seq, received, kind, user_id, item_id, type, value, ts) VALUES (nextval('${schema}.log_seq'), 0, 'event', 'u', 'unlocked', 'view', 1, 0)`));
      await until(() => passed.length === 1, 10_000, 'the unlocked row');
      await gate.query('SELECT pg_advisory_unlock(4242, 1)');
      const [z] = await third;
      assert.ok(z.seq < passed[0].seq, 'the unlocked writer took a later seq');
      await a.append([ev('u', 'later')]);
      await until(() => passed.length === 2, 10_000, 'the next entry');
      assert.ok(!passed.some((e) => e.seq === z.seq), 'the follower skipped the seq that committed late: what the lock prevents');
      assert.deepEqual((await reader.read(y.seq)).map((e) => e.seq).slice(0, 2), [z.seq, passed[0].seq], 'the row is there for a reader starting below it');
      await g.stop();
    } finally {
      await gate.end();
      await Promise.all([a.close(), b.close(), reader.close()]);
    }
  });

  test('postgres: four handles appending concurrently: every follower delivers every entry once, in seq order', async () => {
    const schema = freshSchema();
    const logs = await Promise.all([0, 1, 2, 3].map(() => open(schema)));
    try {
      const seen = logs.map(() => [] as number[]);
      logs.forEach((log, i) => log.follow(0, (es) => void seen[i].push(...es.map((e) => e.seq)), { batch: 7 }));
      const stored: number[] = [];
      // three writers per handle, 25 batches of 1-5 records each
      await Promise.all(logs.flatMap((log, h) => [0, 1, 2].map(async (w) => {
        for (let k = 0; k < 25; k++) {
          const n = 1 + ((h + w + k) % 5);
          for (const e of await log.append(Array.from({ length: n }, (_, j) => ev(`h${h}w${w}`, `k${k}j${j}`)))) stored.push(e.seq);
        }
      })));
      stored.sort((x, y) => x - y);
      await until(() => seen.every((s) => s.length >= stored.length), 20_000, 'every follower to catch up');
      for (let i = 0; i < logs.length; i++) assert.deepEqual(seen[i], stored, `handle ${i}'s follower`);
      assert.deepEqual(await logs[0].counts(), { events: stored.length, entries: stored.length });
    } finally {
      await Promise.all(logs.map((l) => l.close()));
    }
  });

  test('postgres: items and users tables hold each one\'s last change, written in the append\'s transaction', async () => {
    const log = await open(freshSchema());
    try {
      const extreme = { big: 1.7976931348623157e308, tiny: 5e-324, neg: -2.5e-300, int: 2 ** 53 + 2, text: 'ジャズ 🎷 "q" \\ e\u0301', nested: { a: [1, { b: null }], t: true } };
      const entries = [
        ...(await log.append([
          { kind: 'item', item: 'a', features: { g: 1 } },
          { kind: 'item', item: 'b', features: extreme },
          { kind: 'user', user: 'u1', features: { age: 30 } },
          { kind: 'user', user: 'u1', features: { age: 31, plan: 'pro' } },
          ev('u2', 'a'),
          { kind: 'delete-item', item: 'a' },
        ])),
        ...(await log.append([{ kind: 'item', item: 'c', features: {} }, { kind: 'delete-item', item: 'never-seen' }, { kind: 'user', user: 'u3', features: { k: ['x'] } }])),
        ...(await log.append([{ kind: 'item', item: 'a', features: { g: 2 } }])),
      ];
      const items: unknown[] = [];
      for await (const page of log.items()) items.push(...page);
      const live = new MemoryLiveState();
      await live.apply(entries);
      assert.deepEqual(items, await live.catalog(), 'the items table agrees with a live state fed the log');
      const users: unknown[] = [];
      for await (const page of log.users()) users.push(...page);
      assert.deepEqual(users, [
        { user: 'u1', seq: entries[3].seq, features: { age: 31, plan: 'pro' } },
        { user: 'u3', seq: entries[8].seq, features: { k: ['x'] } },
      ]);
      const since: unknown[] = [];
      for await (const page of log.items(entries[6].seq, 1)) since.push(...page);
      assert.deepEqual(since.map((c) => (c as { item: string }).item), ['never-seen', 'a'], 'items changed after a seq, in pages of one');

      // a batch that fails inside its transaction changes neither the log nor the tables
      await sql((c) => c.query(`
        CREATE FUNCTION ${log.options.schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.item_id = 'boom' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON ${log.options.schema}.log FOR EACH ROW EXECUTE FUNCTION ${log.options.schema}.refuse();`));
      const before = { last: await log.lastSeq(), counts: await log.counts() };
      await assert.rejects(log.append([{ kind: 'item', item: 'b', features: { changed: true } }, { kind: 'user', user: 'u9', features: {} }, ev('u', 'boom')]),
        (e: unknown) => e instanceof StoreError && e.code === 'storage' && /rolled back: refused by the test trigger/.test(e.message) && !/s3cret/.test(e.message));
      assert.deepEqual({ last: await log.lastSeq(), counts: await log.counts() }, before);
      const again: unknown[] = [];
      for await (const page of log.items()) again.push(...page);
      assert.deepEqual(again, items, 'the items table is as it was');
      const u9: unknown[] = [];
      for await (const page of log.users()) u9.push(...page.filter((u) => u.user === 'u9'));
      assert.deepEqual(u9, []);
      const [next] = await log.append([ev('u', 'fine')]);
      assert.ok(next.seq > before.last, 'seqs go on (the failed batch leaves a gap)');
    } finally {
      await log.close();
    }
  });

  test('postgres: migrations: eight handles opening a new schema at once create it once; a newer schema is refused; a new version applies once', async () => {
    const schema = freshSchema();
    const logs = await Promise.all(Array.from({ length: 8 }, () => open(schema)));
    await Promise.all(logs.map((l) => l.close()));
    const rows = await sql(async (c) => (await c.query(`SELECT version, name FROM ${schema}.migrations ORDER BY version`)).rows);
    assert.deepEqual(rows, MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    const reopened = await open(schema);
    await reopened.close();

    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const next = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'a test column', sql: (s: string) => `ALTER TABLE ${s}.items ADD COLUMN note text` }];
      const [one, two] = await Promise.all([migrate(c, schema, next), sql((d) => migrate(d, schema, next))]);
      assert.deepEqual([...one, ...two], [next.length], 'applied once, by one of the two');
      assert.deepEqual(await migrate(c, schema, next), [], 'nothing to do the second time');
      // the log itself (which knows one version fewer) refuses the newer schema, naming both versions
      await assert.rejects(open(schema), (e: unknown) => e instanceof StoreError && e.code === 'storage' && new RegExp(`schema '${schema}' is at version ${next.length}, newer than this Tandem knows \\(${MIGRATIONS.length}\\)`).test(e.message));
    } finally {
      await c.end();
    }
  });

  test('postgres: scan streams in constant memory: a log of ~90 MB read in pages of 500 with the heap bounded', { timeout: 300_000 }, async (t) => {
    const log = await open(freshSchema());
    const n = 48_000;
    try {
      for (let from = 0; from < n; from += 2000) {
        const batch: LogRecord[] = [];
        // random text does not compress: the bytes are really there
        for (let i = from; i < from + 2000; i++) batch.push({ kind: 'item', item: `i${i}`, features: { blob: randomBytes(1400).toString('base64'), i } });
        await log.append(batch);
      }
    } finally {
      await log.close();
    }
    const script = `
      import { PostgresEventLog } from ${JSON.stringify(new URL('./postgres-event-log.ts', import.meta.url).href)};
      const log = await PostgresEventLog.open(process.env.TANDEM_TEST_URL, { schema: process.env.TANDEM_TEST_SCHEMA });
      const used = () => { globalThis.gc(); const m = process.memoryUsage(); return m.heapUsed + m.external + m.arrayBuffers; };
      const base = used();
      let rows = 0, bytes = 0, peak = 0, pages = 0, next = 0;
      for await (const page of log.scan(0, 500)) {
        pages++;
        for (const e of page) { if (e.features.i !== next++) throw new Error('out of order at ' + e.seq); rows++; bytes += e.features.blob.length; }
        // a slow consumer: the server would fill memory now if nothing held it back
        if (pages % 10 === 1) await new Promise((r) => setTimeout(r, 50));
        peak = Math.max(peak, used() - base);
      }
      await log.close();
      console.log(JSON.stringify({ rows, pages, bytes, peak }));`;
    const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, TANDEM_TEST_URL: url, TANDEM_TEST_SCHEMA: log.options.schema },
      timeout: 240_000,
    });
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as { rows: number; pages: number; bytes: number; peak: number };
    assert.equal(r.rows, n);
    assert.equal(r.pages, n / 500);
    const mb = (x: number) => Math.round(x / 1e5) / 10;
    assert.ok(r.bytes > 85e6, `the scan read ${mb(r.bytes)} MB`);
    assert.ok(r.peak < 24e6, `memory above the start peaked at ${mb(r.peak)} MB while ${mb(r.bytes)} MB went through`);
    t.diagnostic(`${mb(r.bytes)} MB scanned in ${r.pages} pages; memory above the start peaked at ${mb(r.peak)} MB`);
  });

  test('postgres: followers wake on NOTIFY (with the poll off), the poll delivers what no notification announced, and a dropped LISTEN connection comes back', async () => {
    const schema = freshSchema();
    const writer = await open(schema);
    const quiet = await open(schema, { pollMs: 600_000 });
    const polled = await open(schema, { pollMs: POLL });
    try {
      const got: LogEntry[] = [];
      const f = quiet.follow(0, (es) => void got.push(...es));
      await until(() => quiet.listening, 10_000, 'LISTEN');
      const t0 = Date.now();
      const [e] = await writer.append([ev('u', 'notified')]);
      await until(() => got.length === 1, 5_000, 'the notified entry');
      assert.equal(got[0].seq, e.seq);
      assert.ok(Date.now() - t0 < 2_000, `woken in ${Date.now() - t0} ms`);
      await f.stop();
      assert.equal(quiet.listening, false, 'no follower, no LISTEN connection');

      // a row committed without a NOTIFY (as if the notification were lost): only the poll can deliver it
      const seen: LogEntry[] = [];
      const g = polled.follow(e.seq, (es) => void seen.push(...es));
      await until(() => polled.listening, 10_000, 'LISTEN');
      await sql((c) => c.query(`BEGIN; SELECT pg_advisory_xact_lock(${APPEND_LOCK}, hashtext('${schema}')); INSERT INTO ${schema}.log (seq, received, kind, item_id) VALUES (nextval('${schema}.log_seq'), 0, 'delete-item', 'silent'); COMMIT;`));
      await until(() => seen.length === 1, 5_000, 'the polled entry');
      assert.deepEqual(seen.map((x) => x.kind === 'delete-item' && x.item), ['silent']);

      // the LISTEN connection ends (a server restart, a proxy timeout): the poll restarts it
      const listeners = () => sql(async (c) => (await c.query("SELECT pid FROM pg_stat_activity WHERE application_name = 'tandem-listen' AND datname = current_database()")).rows.map((r) => r.pid as number));
      const [pid] = await listeners();
      assert.deepEqual(await listeners(), [pid], 'one LISTEN connection');
      await sql((c) => c.query('SELECT pg_terminate_backend($1)', [pid]));
      await until(async () => polled.listening && (await listeners()).some((p) => p !== pid), 10_000, 'LISTEN on a new connection');
      await writer.append([ev('u', 'after')]);
      await until(() => seen.length === 2, 5_000, 'the entry after');
      await g.stop();
    } finally {
      await Promise.all([writer.close(), quiet.close(), polled.close()]);
    }
  });

  test('postgres: the binary COPY decoder reads the same rows however the data is cut, and refuses data cut short', async () => {
    const log = await open(freshSchema());
    try {
      await log.append([
        ev('ユーザー', '🎷', 'view', -5e-324, 2 ** 53 + 2),
        { kind: 'item', item: 'x', features: { long: 'y'.repeat(70_000), n: null } },
        { kind: 'delete-item', item: 'é' },
        { kind: 'user', user: 'u', features: {} },
        ...Array.from({ length: 300 }, (_, i) => ev(`u${i}`, `i${i}`, 'buy', i / 7, -i)),
      ]);
      const want = await log.read(0);
      // the raw bytes of the scan's COPY, gathered whole
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const chunks: Buffer[] = [];
      try {
        const stream = c.query(copyStreams.to(`COPY (SELECT seq, received, kind, user_id, item_id, type, value, ts, features FROM ${log.options.schema}.log ORDER BY seq) TO STDOUT (FORMAT binary)`));
        for await (const chunk of stream) chunks.push(chunk as Buffer);
      } finally {
        await c.end();
      }
      const bytes = Buffer.concat(chunks);
      const types: CopyType[] = ['int8', 'float8', 'text', 'text', 'text', 'text', 'float8', 'float8', 'text'];
      const decode = (cuts: number[]) => {
        const d = new BinaryCopyDecoder(types);
        const rows: unknown[][] = [];
        let at = 0;
        for (const cut of [...cuts, bytes.length]) {
          d.push(bytes.subarray(at, cut), rows);
          at = cut;
        }
        d.end();
        return rows;
      };
      const whole = decode([]);
      assert.equal(whole.length, want.length);
      assert.deepEqual(whole.map((r) => r[0]), want.map((e) => e.seq));
      assert.equal(whole[0][6], -5e-324);
      assert.equal(whole[0][7], 2 ** 53 + 2);
      assert.equal((JSON.parse(whole[1][8] as string) as { long: string }).long.length, 70_000);
      assert.deepEqual(decode(Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)), whole, 'byte by byte');
      let seed = 7;
      const cuts = Array.from({ length: 200 }, () => (seed = (seed * 48271) % 2147483647) % bytes.length).sort((a, b) => a - b);
      assert.deepEqual(decode(cuts), whole, 'at random cuts');
      const short = new BinaryCopyDecoder(types);
      short.push(bytes.subarray(0, bytes.length - 3), []);
      assert.throws(() => short.end(), (e: unknown) => e instanceof StoreError && e.code === 'storage' && /stopped in the middle/.test(e.message));
      assert.throws(() => new BinaryCopyDecoder(types).push(Buffer.from('PGCOPY\n\xfe\r\n\0........', 'latin1'), []), /signature/);
      assert.throws(() => new BinaryCopyDecoder(['int8']).push(bytes, []), /a row of 9 fields where 1 were asked for/);
    } finally {
      await log.close();
    }
  });

  test('postgres: an append waits for the append lock at most appendTimeoutMs, then fails as unavailable and changes nothing', async () => {
    const schema = freshSchema();
    const log = await open(schema, { appendTimeoutMs: 300 });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await log.append([ev('u', 'first')]);
      // another appender that stalls inside its transaction, holding the lock
      await holder.query(`BEGIN; SELECT pg_advisory_xact_lock(${APPEND_LOCK}, hashtext('${schema}'))`);
      const t0 = Date.now();
      await assert.rejects(log.append([ev('u', 'second')]), (e: unknown) => e instanceof StoreError && e.code === 'unavailable' && /rolled back: canceling statement due to lock timeout/.test(e.message));
      const waited = Date.now() - t0;
      assert.ok(waited >= 250 && waited < 5000, `waited ${waited} ms`);
      await holder.query('COMMIT');
      assert.equal(await log.lastSeq(), 1, 'the timed-out batch stored nothing');
      const [next] = await log.append([ev('u', 'third')]);
      assert.ok(next.seq > 1);
    } finally {
      await holder.end();
      await log.close();
    }
  });

  test('postgres: URLs: options from the query, openEventLog for both schemes, mistakes named, the password never shown', async () => {
    const withParams = `${url}?schema=via_url&pollMs=50&poolSize=3`;
    const log = await openEventLog(withParams);
    assert.ok(log instanceof PostgresEventLog);
    assert.equal(log.kind, 'postgres');
    assert.deepEqual({ ...log.options }, { schema: 'via_url', pollMs: 50, poolSize: 3, connectTimeoutMs: 5000, appendTimeoutMs: 10_000 });
    await log.append([ev('u', 'i')]);
    await log.close();
    const other = await openEventLog(withParams.replace(/^postgres:/, 'postgresql:'), { pollMs: 70 });
    assert.equal((other as PostgresEventLog).options.pollMs, 70, "the caller's options win over the URL's");
    assert.equal(await other.lastSeq(), 1, 'the same log');
    await other.close();

    const refused = async (u: string, code: string, re: RegExp, o?: PostgresEventLogOptions) =>
      assert.rejects(PostgresEventLog.open(u, o), (e: unknown) => {
        assert.ok(e instanceof StoreError, String(e));
        assert.equal(e.code, code, e.message);
        assert.match(e.message, re);
        assert.doesNotMatch(e.message, /s3cret/);
        return true;
      });
    const withPassword = (path?: string) => {
      const u = new URL(url);
      u.password = 's3cret'; // trust auth: any password passes, and none may show
      if (path) u.pathname = path;
      return u.toString();
    };
    const secret = withPassword();
    await refused(`${secret}?shcema=x`, 'url', /parameter 'shcema': unknown parameter .*did you mean 'schema'/);
    await refused(`${secret}?schema=Bad-Name`, 'url', /parameter 'schema': must be lower-case/);
    await refused(`${secret}?pollMs=0`, 'url', /parameter 'pollMs': 0 is outside/);
    await refused(secret, 'invalid', /^opts\.schema: must be lower-case/, { schema: 'x;drop' });
    await refused('postgres://tandem:s3cret@[::1/db', 'url', /does not parse/);
    await refused('postgres://tandem:s3cret@127.0.0.1:1/db', 'unavailable', /^PostgreSQL postgres:\/\/tandem@127\.0\.0\.1:1\/db \(schema tandem\): opening the log: no connection: .*ECONNREFUSED/);
    await refused(withPassword(`/no_such_db_${randomBytes(3).toString('hex')}`), 'storage', /database "no_such_db_\w+" does not exist/);
  });
}
