/**
 * The PostgreSQL schema, created and moved forward by the project: a numbered list of migrations and a
 * `migrations` table in the store's schema recording the ones applied. `migrate` runs at every open:
 * when everything is applied it only reads that table; otherwise it applies what is missing in one
 * transaction under an advisory lock, so processes starting at once wait for each other instead of
 * racing on CREATE (and a failed migration leaves nothing half done: PostgreSQL's DDL is transactional).
 */
import type { ClientBase } from 'pg';
import { StoreError } from '../types.ts';

export interface Migration {
  /** 1, 2, 3, ...: applied in this order, each once. */
  version: number;
  /** What it does, recorded beside the version. */
  name: string;
  /** The statements, given the quoted schema name (`"tandem"`). */
  sql: (schema: string) => string;
}

/**
 * The first keys of the advisory locks the store takes ('tand', 'tanm' in ASCII); the second key is
 * `hashtext(schema)`, so logs in other schemas of one database do not wait for each other (a hash
 * collision only makes two of them take turns).
 */
export const APPEND_LOCK = 0x74616e64;
export const MIGRATE_LOCK = 0x74616e6d;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'log with its sequence; items and users as the log leaves them',
    sql: (s) => `
      CREATE SEQUENCE ${s}.log_seq AS bigint;
      -- seq has no default on purpose: a writer must take the append lock (see postgres-event-log.ts)
      CREATE TABLE ${s}.log (
        seq bigint PRIMARY KEY,
        received double precision NOT NULL,
        kind text NOT NULL,
        user_id text,
        item_id text,
        type text,
        value double precision,
        ts double precision,
        features text
      );
      ALTER SEQUENCE ${s}.log_seq OWNED BY ${s}.log.seq;
      CREATE TABLE ${s}.items (
        item_id text PRIMARY KEY,
        seq bigint NOT NULL,
        deleted boolean NOT NULL,
        features jsonb
      );
      CREATE INDEX items_seq ON ${s}.items (seq);
      CREATE TABLE ${s}.users (
        user_id text PRIMARY KEY,
        seq bigint NOT NULL,
        features jsonb NOT NULL
      );
      CREATE INDEX users_seq ON ${s}.users (seq);`,
  },
];

/** A schema name as it goes into SQL, double-quoted. Names are checked to `[a-z_][a-z0-9_]*` first. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string as an SQL literal (for the few statements that take no parameters: COPY, LISTEN). */
export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * Brings `schema` up to the newest of `migrations` and returns the versions it applied (none when it
 * was up to date). Refuses a schema newer than `migrations` know (a newer Tandem wrote it).
 * @example await migrate(client, 'tandem') // [1] on a new database, [] after
 */
export async function migrate(client: ClientBase, schema: string, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  for (let i = 0; i < migrations.length; i++) {
    if (migrations[i].version !== i + 1) throw new Error(`migrations[${i}].version: must be ${i + 1}`);
  }
  const s = quoteIdent(schema);
  const newest = migrations.length;
  // the fast path, without a lock or any DDL (a role that may not CREATE can still open an up-to-date schema)
  const applied = await appliedVersions(client, schema);
  if (applied !== null) {
    refuseNewer(applied, newest, schema);
    if (applied.length === newest) return [];
  }
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK}, hashtext(${quoteLiteral(schema)}))`);
    // again under the lock: another process may have done it while this one waited
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const have = new Set((await appliedVersions(client, schema)) ?? []);
    refuseNewer([...have], newest, schema);
    const done: number[] = [];
    for (const m of migrations) {
      if (have.has(m.version)) continue;
      await client.query(m.sql(s));
      await client.query(`INSERT INTO ${s}.migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      done.push(m.version);
    }
    await client.query('COMMIT');
    return done;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** The versions recorded in `schema`, or null when it has no migrations table yet. */
async function appliedVersions(client: ClientBase, schema: string): Promise<number[] | null> {
  const t = await client.query("SELECT to_regclass($1) IS NOT NULL AS present", [`${quoteIdent(schema)}.migrations`]);
  if (!t.rows[0].present) return null;
  const r = await client.query<{ version: number }>(`SELECT version FROM ${quoteIdent(schema)}.migrations ORDER BY version`);
  return r.rows.map((x) => x.version);
}

function refuseNewer(applied: readonly number[], newest: number, schema: string): void {
  const top = applied.reduce((a, b) => Math.max(a, b), 0);
  if (top > newest) {
    throw new StoreError('storage', `schema '${schema}' is at version ${top}, newer than this Tandem knows (${newest}): run a Tandem at least as new as the one that migrated it`);
  }
}
