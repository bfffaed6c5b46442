/**
 * For the Redis tests (not a test file itself): a key prefix of their own per test file on the test
 * server (`tandem-test-<random>`), its keys deleted after, so runs never see each other's state.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** The server the tests use: TANDEM_TEST_REDIS, or the one on this machine and in CI. */
export const TEST_REDIS = process.env.TANDEM_TEST_REDIS ?? 'redis://127.0.0.1:6379/0';

export interface TestPrefix {
  /** `tandem-test-<random>`: every state of the run lives under `<prefix>:`. */
  prefix: string;
  /** A URL for a state of its own: `<prefix>:<name>`. */
  url(name: string): string;
  /** A plain client, for what the tests do behind the state's back. */
  client: Redis;
  /** The keys under the run's prefix (or under `<prefix>:<name>:` when given). */
  keys(name?: string): Promise<string[]>;
  /** Deletes every key under the run's prefix and disconnects. */
  drop(): Promise<void>;
}

/**
 * @example const r = await freshPrefix(); if ('unavailable' in r) ...; else after(r.drop)
 */
export async function freshPrefix(): Promise<TestPrefix | { unavailable: string }> {
  const u = new URL(TEST_REDIS);
  const shown = `${u.protocol}//${u.host}${u.pathname}`;
  const client = new Redis(TEST_REDIS, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  let cause = '';
  client.on('error', (err: Error) => (cause = err.message));
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    const e = err as { message?: string };
    return { unavailable: `no Redis test server at ${shown}: ${cause || e.message || String(err)}` };
  }
  const prefix = `tandem-test-${randomBytes(6).toString('hex')}`;
  const keys = async (name?: string) => {
    const out: string[] = [];
    for await (const batch of client.scanStream({ match: `${prefix}:${name === undefined ? '' : `${name}:`}*`, count: 1000 })) out.push(...(batch as string[]));
    return out.sort();
  };
  return {
    prefix,
    url: (name) => {
      const x = new URL(TEST_REDIS);
      x.searchParams.set('prefix', `${prefix}:${name}`);
      return x.toString();
    },
    client,
    keys,
    drop: async () => {
      const all = await keys();
      for (let i = 0; i < all.length; i += 500) await client.unlink(...all.slice(i, i + 500));
      client.disconnect();
    },
  };
}
