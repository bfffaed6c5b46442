// Benchmarks on shared PostgreSQL: a schema of the run's own, dropped after.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * `store` (a postgres:// URL) with a fresh schema of its own, unless the URL names one (?schema=), and
 * `drop()`, which drops the schema it made (nothing when the URL named one).
 * @example const s = ownSchema('postgres://postgres@127.0.0.1:5432/test'); const log = await openEventLog(s.url); ...; await s.drop();
 */
export function ownSchema(store: string, tag = `bench_${randomBytes(4).toString('hex')}`): { url: string; tag: string; drop: () => Promise<void> } {
  const s = new URL(store);
  const own = !s.searchParams.has('schema');
  if (own) s.searchParams.set('schema', tag);
  return {
    url: s.toString(),
    tag,
    drop: async () => {
      if (!own) return;
      const u = new URL(s);
      u.search = '';
      const c = new pg.Client({ connectionString: u.toString() });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${tag} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}
