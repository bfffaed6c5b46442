/**
 * The shared durable EventLog: PostgreSQL through `pg` (pure JS). Every replica appends to and follows
 * the same log; the catalog (each item's and user's latest features, deletions) is kept in tables
 * beside it, in the same transaction as the log rows that change it.
 *
 * Sequence numbers come from a sequence, taken under a transaction-scoped advisory lock that is held
 * until the append commits. Appends therefore commit one at a time in seq order, and any snapshot that
 * sees seq n also sees every seq below n: a reader never passes a seq that commits later (without the
 * lock, seq 12 can commit and be read before seq 11, and a follower that moved to 12 skips 11 for good).
 * The price is one append in flight per log; a batch is one short transaction (three round trips and
 * one WAL flush), so throughput comes from batching.
 *
 * `scan`, `items` and `users` stream `COPY (SELECT ...) TO STDOUT (FORMAT binary)` through
 * pg-copy-streams: one statement and so one snapshot (a scan ends where the log ended when it began),
 * no round trip per page, and the socket is paused while the consumer holds a page (constant memory).
 * Followers are woken by LISTEN/NOTIFY (the NOTIFY is sent by the append transaction, so it arrives
 * after the commit) and read since their position; a poll every `pollMs` is the safety net for a
 * notification lost with a dropped connection.
 */
import pg from 'pg';
import type { ClientConfig, PoolClient, QueryResult } from 'pg';
import copyStreams from 'pg-copy-streams';
import { schema, defaults, type Infer } from '../../schema/index.ts';
import { LogFollower, checkFollowArgs, DEFAULT_SCAN_BATCH } from '../follow.ts';
import { backendOptions, redactUrl, refuseUnknownParams } from '../options.ts';
import type { CatalogChange, EventLog, FollowOptions, Follower, LogEntry, LogRecord } from '../types.ts';
import { StoreError } from '../types.ts';
import { checkCountArg, checkNumberArg, decodeRow, prepareRecords, receivedArg, type PreparedRecord } from '../validate.ts';
import { BinaryCopyDecoder, type CopyType } from './copy-binary.ts';
import { APPEND_LOCK, migrate, quoteIdent, quoteLiteral } from './migrations.ts';

/** The options of a PostgreSQL event log; each may also be given as a URL parameter (`?schema=shop`). */
export const POSTGRES_OPTIONS = schema({
  schema: { type: 'string', default: 'tandem', description: "The PostgreSQL schema holding the log's tables (created when missing): one log per schema. Lower-case letters, digits and _, at most 48." },
  pollMs: { type: 'number', integer: true, min: 1, default: 500, description: 'How often followers read the log without a notification (the safety net under LISTEN/NOTIFY), in ms.' },
  poolSize: { type: 'number', integer: true, min: 2, max: 1000, default: 10, description: 'Connections in the pool; a running scan holds one (followers listen on one more, outside the pool).' },
  connectTimeoutMs: { type: 'number', integer: true, min: 1, default: 5000, description: "How long a connection attempt may take before the call fails as 'unavailable', in ms." },
  appendTimeoutMs: { type: 'number', integer: true, min: 1, default: 10_000, description: "How long an append may wait for the append lock or sit idle inside its transaction (a statement: twice as long) before PostgreSQL ends it (rolled back, 'unavailable'), in ms: a stalled appender holds up the others no longer." },
});

export type PostgresEventLogOptions = Partial<Infer<typeof POSTGRES_OPTIONS>>;
export const POSTGRES_DEFAULTS: Infer<typeof POSTGRES_OPTIONS> = defaults(POSTGRES_OPTIONS);

/** A user as the `users` table holds them: the latest upserted features and the seq of that upsert. */
export interface CatalogUser {
  user: string;
  seq: number;
  features: Record<string, unknown>;
}

/** Query parameters handed on to `pg` (TLS, the socket directory, the name shown in pg_stat_activity, startup options). */
const PG_PARAMS = ['sslmode', 'ssl', 'sslcert', 'sslkey', 'sslrootcert', 'host', 'application_name', 'options', 'client_encoding'];
// 48: the NOTIFY channel ('tandem_log:' + schema) stays within PostgreSQL's 63-byte names
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;
const URL_WHAT = 'a postgres URL';

const LOG_COLUMNS = 'seq, received, kind, user_id, item_id, type, value, ts, features';
const LOG_TYPES: readonly CopyType[] = ['int8', 'float8', 'text', 'text', 'text', 'text', 'float8', 'float8', 'text'];

// node error codes and SQLSTATEs that mean "not reachable now": connection exceptions (08), shutdowns
// and restarts (57P01-57P03), too many connections (53300), and an append's timeouts (lock 55P03,
// statement 57014, idle in transaction 25P03)
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', '57P01', '57P02', '57P03', '53300', '55P03', '57014', '25P03']);
// pg passes some socket errors on without their code (a refused connect from the pool): the text then says it
const UNREACHABLE_TEXT = /connection terminated|timeout exceeded when trying to connect|connection timeout|connection error|not queryable|\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)\b/i;

function isUnreachable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && (UNREACHABLE.has(e.code) || e.code.startsWith('08'))) return true;
  return typeof e?.message === 'string' && UNREACHABLE_TEXT.test(e.message);
}

function messageOf(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown };
  // a refused connection to 'localhost' is an AggregateError (::1 and 127.0.0.1) with an empty message
  return (typeof e?.message === 'string' && e.message) || (typeof e?.code === 'string' && e.code) || String(err);
}

/** A seq bound as a bigint parameter: seqs are integers, so `seq > 1.5` is `seq > 1`. */
function seqBound(after: number): string {
  return String(Math.max(-1, Math.min(Math.floor(after), Number.MAX_SAFE_INTEGER)));
}

/** Splits a postgres URL into the pg connection string and the store's own parameters. */
function parseUrl(url: string, application: string): { connection: string; own: Record<string, string>; shown: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // the URL itself is not shown: it may carry a password
    throw new StoreError('url', `${URL_WHAT} does not parse (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME])`, 'url');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new StoreError('url', `${URL_WHAT} must start with postgres:// or postgresql://`, 'url');
  refuseUnknownParams(u, POSTGRES_OPTIONS, PG_PARAMS, URL_WHAT);
  const own: Record<string, string> = {};
  for (const k of Object.keys(POSTGRES_OPTIONS)) {
    const v = u.searchParams.get(k);
    if (v !== null) own[k] = v;
    u.searchParams.delete(k);
  }
  const shown = redactUrl(u);
  if (!u.searchParams.has('application_name')) u.searchParams.set('application_name', application);
  return { connection: u.toString(), own, shown };
}

/**
 * @example
 *   const log = await PostgresEventLog.open('postgres://tandem@db:5432/shop?schema=tandem');
 *   await log.append([{ kind: 'item', item: 'i8', features: { genre: ['jazz'] } }]); // committed when this resolves
 *   for await (const page of log.items()) ...;                                       // the catalog, streamed
 */
export class PostgresEventLog implements EventLog {
  readonly kind = 'postgres';
  /** Server, database and schema, without the password: for logs and errors. */
  readonly target: string;
  readonly options: Readonly<Infer<typeof POSTGRES_OPTIONS>>;
  private readonly s: string;
  private readonly pool: pg.Pool;
  private readonly listenConfig: ClientConfig;
  private readonly channel: string;
  private readonly sql: { begin: (n: number) => string; append: string; read: string; last: string; before: string; counts: string };
  private readonly followers = new Set<LogFollower>();
  private timer: NodeJS.Timeout | null = null;
  private listener: pg.Client | null = null;
  private listenerUp = false;
  // counts so far: appends commit in seq order (the append lock), so rows above `to` are exactly the uncounted ones
  private counted = { to: 0, events: 0, entries: 0 };
  private counting: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;

  private constructor(connection: string, listenConnection: string, shown: string, options: Infer<typeof POSTGRES_OPTIONS>) {
    this.options = Object.freeze({ ...options });
    this.target = `${shown} (schema ${options.schema})`;
    const s = quoteIdent(options.schema);
    this.s = s;
    this.channel = `tandem_log:${options.schema}`;
    const common = { connectionTimeoutMillis: options.connectTimeoutMs, keepAlive: true };
    this.pool = new pg.Pool({
      connectionString: connection,
      max: options.poolSize,
      allowExitOnIdle: true,
      // exact doubles in text results whatever the server's setting (shortest round-trip form), before
      // the connection's first use
      onConnect: async (c) => {
        // a connection that breaks while checked out (between two queries, or a second error after the
        // first) emits 'error' on its client with nobody listening: the call in flight rejects on its
        // own, so this must not end the process
        c.on('error', () => {});
        await c.query('SET extra_float_digits = 3');
      },
      ...common,
    });
    // an idle connection that breaks (a server restart) is reported here; the pool drops it and opens another
    this.pool.on('error', () => {});
    this.listenConfig = { connectionString: listenConnection, ...common };
    const lock = `SELECT pg_advisory_xact_lock(${APPEND_LOCK}, hashtext(${quoteLiteral(options.schema)}))`;
    const t = options.appendTimeoutMs;
    // the statement limit is the longer one, so that a wait for the lock says it was the lock
    const limits = `SET LOCAL lock_timeout = ${t}; SET LOCAL statement_timeout = ${2 * t}; SET LOCAL idle_in_transaction_session_timeout = ${t}`;
    this.sql = {
      // one round trip: open, make the commit wait for the WAL flush, bound the waits (the lock holds up
      // every other appender), take the append lock, take n seqs
      begin: (n) => `BEGIN; SET LOCAL synchronous_commit = on; ${limits}; ${lock}; SELECT nextval(${quoteLiteral(`${s}.log_seq`)})::text AS seq FROM generate_series(1, ${n})`,
      // the log rows, the catalog rows they change, and the notification, in one statement
      append: `WITH l AS (
          INSERT INTO ${s}.log (${LOG_COLUMNS})
          SELECT r.seq, $2::float8, r.kind, r.user_id, r.item_id, r.type, r.value, r.ts, r.features
          FROM unnest($1::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::float8[], $9::text[])
            AS r(seq, kind, user_id, item_id, type, value, ts, features)
        ), i AS (
          INSERT INTO ${s}.items AS t (item_id, seq, deleted, features)
          SELECT r.item_id, r.seq, r.deleted, r.features::jsonb
          FROM unnest($10::text[], $11::bigint[], $12::boolean[], $13::text[]) AS r(item_id, seq, deleted, features)
          ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq, deleted = excluded.deleted, features = excluded.features
          WHERE t.seq < excluded.seq
        ), u AS (
          INSERT INTO ${s}.users AS t (user_id, seq, features)
          SELECT r.user_id, r.seq, r.features::jsonb
          FROM unnest($14::text[], $15::bigint[], $16::text[]) AS r(user_id, seq, features)
          ON CONFLICT (user_id) DO UPDATE SET seq = excluded.seq, features = excluded.features
          WHERE t.seq < excluded.seq
        )
        SELECT pg_notify($17, $18)`,
      // seq (int8) arrives as a string, pg's default; a `seq::text` here would also sort by that text
      read: `SELECT ${LOG_COLUMNS} FROM ${s}.log WHERE seq > $1 ORDER BY seq LIMIT $2`,
      last: `SELECT max(seq)::text AS s FROM ${s}.log`,
      // walks back from the newest row: a replay starts near the end
      before: `SELECT seq FROM ${s}.log WHERE received < $1 ORDER BY seq DESC LIMIT 1`,
      counts: `SELECT count(*)::int AS entries, (count(*) FILTER (WHERE kind = 'event'))::int AS events, max(seq)::text AS last FROM ${s}.log WHERE seq > $1`,
    };
  }

  /**
   * Connects, creates or migrates the schema (see migrations.ts), and returns the log.
   * `url`: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME&pollMs=..&poolSize=..&connectTimeoutMs=..]
   * (and pg's own sslmode, host for a socket directory, application_name, options). `opts` win over the URL's.
   * @example const log = await PostgresEventLog.open('postgresql://app@127.0.0.1/shop', { schema: 'tandem' })
   */
  static async open(url: string, opts: PostgresEventLogOptions = {}): Promise<PostgresEventLog> {
    if (typeof url !== 'string') throw new StoreError('url', 'must be a string', 'url');
    const { connection, own, shown } = parseUrl(url, 'tandem');
    const listen = parseUrl(url, 'tandem-listen').connection;
    const options = backendOptions(POSTGRES_OPTIONS, opts, own, URL_WHAT);
    if (!SCHEMA_NAME.test(options.schema)) {
      const detail = `must be lower-case letters, digits and _, starting with a letter or _, at most 48 (got ${JSON.stringify(options.schema)})`;
      throw 'schema' in own && opts.schema === undefined ? new StoreError('url', `${URL_WHAT}: parameter 'schema': ${detail}`, 'url') : new StoreError('invalid', detail, 'opts.schema');
    }
    const log = new PostgresEventLog(connection, listen, shown, options);
    try {
      const client = await log.connect('opening the log');
      try {
        await migrate(client, options.schema);
      } catch (err) {
        client.release(true);
        throw err;
      }
      client.release();
    } catch (err) {
      await log.pool.end().catch(() => {});
      throw log.fail(err, 'opening the log failed');
    }
    return log;
  }

  /** True while followers have a LISTEN connection up (without it they still see appends, by the poll). */
  get listening(): boolean {
    return this.listenerUp;
  }

  async append(records: readonly LogRecord[], received?: number): Promise<LogEntry[]> {
    this.check();
    const at = receivedArg(received);
    const rows = prepareRecords(records);
    if (rows.length === 0) return [];
    const seqs = await this.insert(rows, at);
    for (const f of this.followers) f.poke();
    const out = new Array<LogEntry>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = decodeRow({ seq: seqs[i], received: at, ...rows[i] });
    return out;
  }

  async read(after: number, limit = 10_000): Promise<LogEntry[]> {
    this.check();
    return this.readRows(checkNumberArg(after, 'after'), checkCountArg(limit, 'limit'));
  }

  scan(after: number, batch = DEFAULT_SCAN_BATCH): AsyncIterable<LogEntry[]> {
    this.check();
    checkNumberArg(after, 'after');
    checkCountArg(batch, 'batch');
    const sql = `COPY (SELECT ${LOG_COLUMNS} FROM ${this.s}.log WHERE seq > ${seqBound(after)} ORDER BY seq) TO STDOUT (FORMAT binary)`;
    return this.copyPages('scan', sql, LOG_TYPES, batch, (r) =>
      decodeRow({ seq: r[0] as number, received: r[1] as number, kind: r[2] as string, user: r[3] as string | null, item: r[4] as string | null, type: r[5] as string | null, value: r[6] as number | null, ts: r[7] as number | null, features: r[8] as string | null }),
    );
  }

  /**
   * The items table: every item changed through the log, as its last change left it, in seq order of
   * that change; `after` keeps only items whose last change came after that seq (what changed since a
   * model was trained). Streamed like `scan`, one snapshot. Features read back equal to the log's,
   * though PostgreSQL's jsonb orders their keys its own way.
   * @example for await (const page of log.items(model.lastSeq)) for (const c of page) if (c.deleted) ...
   */
  items(after = 0, batch = DEFAULT_SCAN_BATCH): AsyncIterable<CatalogChange[]> {
    this.check();
    checkNumberArg(after, 'after');
    checkCountArg(batch, 'batch');
    const sql = `COPY (SELECT item_id, seq, deleted, features::text FROM ${this.s}.items WHERE seq > ${seqBound(after)} ORDER BY seq) TO STDOUT (FORMAT binary)`;
    return this.copyPages('items', sql, ['text', 'int8', 'bool', 'text'], batch, (r) => ({
      item: r[0] as string,
      seq: r[1] as number,
      deleted: r[2] as boolean,
      features: r[3] === null ? null : (JSON.parse(r[3] as string) as Record<string, unknown>),
    }));
  }

  /** The users table: every user with features upserted through the log, the latest ones, in seq order of that upsert. */
  users(after = 0, batch = DEFAULT_SCAN_BATCH): AsyncIterable<CatalogUser[]> {
    this.check();
    checkNumberArg(after, 'after');
    checkCountArg(batch, 'batch');
    const sql = `COPY (SELECT user_id, seq, features::text FROM ${this.s}.users WHERE seq > ${seqBound(after)} ORDER BY seq) TO STDOUT (FORMAT binary)`;
    return this.copyPages('users', sql, ['text', 'int8', 'text'], batch, (r) => ({ user: r[0] as string, seq: r[1] as number, features: JSON.parse(r[2] as string) as Record<string, unknown> }));
  }

  async lastSeq(): Promise<number> {
    this.check();
    const r = await this.query<{ s: string | null }>('lastSeq', this.sql.last, []);
    return r.rows[0].s === null ? 0 : Number(r.rows[0].s);
  }

  async seqBefore(received: number): Promise<number> {
    this.check();
    const r = await this.query<{ seq: string }>('seqBefore', this.sql.before, [checkNumberArg(received, 'received')]);
    return r.rows.length === 0 ? 0 : Number(r.rows[0].seq);
  }

  follow(after: number, onEntries: (entries: LogEntry[]) => void | Promise<void>, opts?: FollowOptions): Follower {
    this.check();
    const o = checkFollowArgs(after, onEntries, opts);
    const f = new LogFollower((a, n) => this.readRows(a, n), after, onEntries, o, (x) => this.dropFollower(x));
    this.followers.add(f);
    this.listen();
    this.startPolling();
    return f;
  }

  async counts(): Promise<{ events: number; entries: number }> {
    this.check();
    // one at a time: two overlapping counts would both add the rows above the same `to`
    const next = this.counting.then(async () => {
      const c = this.counted;
      const r = await this.query<{ entries: number; events: number; last: string | null }>('counts', this.sql.counts, [String(c.to)]);
      const x = r.rows[0];
      if (x.last !== null) this.counted = { to: Number(x.last), events: c.events + x.events, entries: c.entries + x.entries };
      return { events: this.counted.events, entries: this.counted.entries };
    });
    this.counting = next.catch(() => {});
    return next;
  }

  /** Stops every follower (waiting for a call in flight), the LISTEN connection and the poll, then closes the pool. Finish or leave every scan first. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(Array.from(this.followers, (f) => f.stop()));
      this.stopFollowing();
      await this.pool.end().catch(() => {});
    })();
    return this.closing;
  }

  /** One batch in one transaction under the append lock; resolves with its seqs once committed. */
  private async insert(rows: readonly PreparedRecord[], at: number): Promise<number[]> {
    const n = rows.length;
    const client = await this.connect(`append of ${n} records`);
    let phase: 'write' | 'commit' | 'done' = 'write';
    try {
      const begun = (await client.query(this.sql.begin(n))) as unknown as QueryResult<{ seq: string }>[];
      // sorted: the order nextval ran in is not the order its rows come back in, necessarily
      const seqs = begun[begun.length - 1].rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
      const kind = new Array<string>(n);
      const user = new Array<string | null>(n);
      const item = new Array<string | null>(n);
      const type = new Array<string | null>(n);
      const value = new Array<number | null>(n);
      const ts = new Array<number | null>(n);
      const features = new Array<string | null>(n);
      // the catalog takes each item's and user's last change in the batch (one row may change once per statement)
      const lastItem = new Map<string, number>();
      const lastUser = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const r = rows[i];
        kind[i] = r.kind;
        user[i] = r.user;
        item[i] = r.item;
        type[i] = r.type;
        value[i] = r.value;
        ts[i] = r.ts;
        features[i] = r.features;
        if (r.kind === 'item' || r.kind === 'delete-item') lastItem.set(r.item!, i);
        else if (r.kind === 'user') lastUser.set(r.user!, i);
      }
      const itemIdx = [...lastItem.values()];
      const userIdx = [...lastUser.values()];
      await client.query(this.sql.append, [
        seqs, at, kind, user, item, type, value, ts, features,
        itemIdx.map((i) => rows[i].item), itemIdx.map((i) => seqs[i]), itemIdx.map((i) => rows[i].kind === 'delete-item'), itemIdx.map((i) => rows[i].features),
        userIdx.map((i) => rows[i].user), userIdx.map((i) => seqs[i]), userIdx.map((i) => rows[i].features),
        this.channel, String(seqs[n - 1]),
      ]);
      phase = 'commit';
      await client.query('COMMIT');
      phase = 'done';
      return seqs;
    } catch (err) {
      const what = phase === 'commit'
        ? `append of ${n} records: the connection failed during COMMIT, so the batch may or may not be stored`
        : `append of ${n} records failed and was rolled back`;
      throw this.fail(err, what);
    } finally {
      // after a failure the connection is dropped, not reused: PostgreSQL rolls back whatever it held
      client.release(phase === 'done' ? undefined : true);
    }
  }

  /** Followers read here: they keep reading while close() waits for them. */
  private async readRows(after: number, limit: number): Promise<LogEntry[]> {
    let r: QueryResult<unknown[]>;
    try {
      r = await this.pool.query<unknown[]>({ text: this.sql.read, values: [seqBound(after), limit], rowMode: 'array' });
    } catch (err) {
      throw this.fail(err, 'read');
    }
    const out = new Array<LogEntry>(r.rows.length);
    for (let i = 0; i < r.rows.length; i++) {
      const x = r.rows[i];
      out[i] = decodeRow({ seq: Number(x[0]), received: x[1] as number, kind: x[2] as string, user: x[3] as string | null, item: x[4] as string | null, type: x[5] as string | null, value: x[6] as number | null, ts: x[7] as number | null, features: x[8] as string | null });
    }
    return out;
  }

  /** A COPY ... TO STDOUT (FORMAT binary) as pages of `batch` decoded rows, on a connection of its own. */
  private async *copyPages<T>(what: string, sql: string, types: readonly CopyType[], batch: number, decode: (row: unknown[]) => T): AsyncGenerator<T[]> {
    const client = await this.connect(what);
    let whole = false;
    try {
      const stream = client.query(copyStreams.to(sql));
      const decoder = new BinaryCopyDecoder(types);
      const rows: unknown[][] = [];
      let page: T[] = [];
      // the stream pauses the socket while a page is out with the consumer: memory stays at a page and a chunk
      for await (const chunk of stream) {
        decoder.push(chunk as Buffer, rows);
        for (let i = 0; i < rows.length; i++) {
          page.push(decode(rows[i]));
          if (page.length === batch) {
            yield page;
            page = [];
          }
        }
        rows.length = 0;
      }
      decoder.end();
      if (page.length > 0) yield page;
      whole = true;
    } catch (err) {
      throw this.fail(err, what);
    } finally {
      // a consumer that stopped early leaves the COPY running: drop the connection, the server ends it
      client.release(whole ? undefined : true);
    }
  }

  private async query<R extends object>(what: string, text: string, values: unknown[]): Promise<QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw this.fail(err, what);
    }
  }

  private async connect(what: string): Promise<PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw this.fail(err, `${what}: no connection`);
    }
  }

  /** A StoreError for a failure of `what`: 'unavailable' when the server is out of reach, 'storage' otherwise. */
  private fail(err: unknown, what: string): StoreError {
    if (err instanceof StoreError) return err;
    return new StoreError(isUnreachable(err) ? 'unavailable' : 'storage', `PostgreSQL ${this.target}: ${what}: ${messageOf(err)}`, undefined, err);
  }

  /** Starts the LISTEN connection when none is up (followers only); a lost one is restarted by the poll. */
  private listen(): void {
    if (this.listener !== null || this.closing || this.followers.size === 0) return;
    const c = new pg.Client(this.listenConfig);
    this.listener = c;
    const drop = () => {
      if (this.listener !== c) return;
      this.listener = null;
      this.listenerUp = false;
      c.removeAllListeners('notification');
      void c.end().catch(() => {});
    };
    c.on('error', drop);
    c.on('end', drop);
    c.on('notification', () => this.pokeAll());
    c.connect()
      .then(() => c.query(`LISTEN ${quoteIdent(this.channel)}`))
      .then(() => {
        if (this.listener !== c) return;
        this.listenerUp = true;
        // whatever was appended while nobody listened
        this.pokeAll();
      }, drop);
  }

  private startPolling(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      this.listen();
      this.pokeAll();
    }, this.options.pollMs);
    // a follower alone must not keep the process alive
    this.timer.unref();
  }

  private pokeAll(): void {
    for (const f of this.followers) f.poke();
  }

  private dropFollower(f: LogFollower): void {
    this.followers.delete(f);
    if (this.followers.size === 0) this.stopFollowing();
  }

  private stopFollowing(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const c = this.listener;
    this.listener = null;
    this.listenerUp = false;
    if (c !== null) {
      c.removeAllListeners('notification');
      void c.end().catch(() => {});
    }
  }

  private check(): void {
    if (this.closing) throw new StoreError('closed', `the PostgreSQL event log ${this.target} is closed`);
  }
}
