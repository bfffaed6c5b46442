/**
 * For the PostgreSQL tests (not a test file itself): a database of their own per test file, created on
 * the test server and dropped after, so runs never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the tests use: TANDEM_TEST_POSTGRES, or the one on this machine and in CI. */
export const TEST_POSTGRES = process.env.TANDEM_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  /** The new database's URL (same server and user as TEST_POSTGRES). */
  url: string;
  name: string;
  /** Drops it, ending whatever is still connected to it. */
  drop(): Promise<void>;
}

function shown(url: string): string {
  const u = new URL(url);
  u.password = '';
  u.search = '';
  return u.toString();
}

async function admin<T>(body: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_POSTGRES, connectionTimeoutMillis: 3000 });
  c.on('error', () => {});
  await c.connect();
  try {
    return await body(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * Creates `tandem_test_<random>` on the test server, or says why it could not.
 * @example const db = await freshDatabase(); if ('unavailable' in db) ...; else after(db.drop)
 */
export async function freshDatabase(): Promise<TestDatabase | { unavailable: string }> {
  const name = `tandem_test_${randomBytes(6).toString('hex')}`;
  try {
    await admin((c) => c.query(`CREATE DATABASE ${name}`));
  } catch (err) {
    const e = err as { message?: string; code?: string };
    return { unavailable: `no PostgreSQL test server at ${shown(TEST_POSTGRES)}: ${e.message || e.code || String(err)}` };
  }
  const u = new URL(TEST_POSTGRES);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}
