/**
 * LiveState in Redis (ioredis), shared by every replica: each user's latest events and features, the
 * catalog changes, per-item event counts and the applied position, under one key prefix. Every call is
 * one Lua script (scripts.ts): one round trip, atomic, so replicas applying the same entries at once
 * apply them once.
 *
 * A state that Redis lost (FLUSHALL, a restart without persistence) reads as empty with position 0;
 * `apply` from a handle that read its position before the loss rejects with a 'stale' StoreError rather
 * than write the new entries onto nothing (which would leave a hole that position() no longer shows).
 * The owner then reads `position()` (0) and replays the log from there. Redis should run with
 * `maxmemory-policy noeviction`: an evicted key is lost history that nothing detects.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { schema, defaults, type Infer } from '../../schema/index.ts';
import { backendOptions, redactUrl, refuseUnknownParams } from '../options.ts';
import type { CatalogChange, LiveEvent, LiveState, LiveUser, LogEntry } from '../types.ts';
import { StoreError } from '../types.ts';
import { validateEntries } from '../validate.ts';
import { APPLY, CATALOG, CLEAR, COUNTS, POSITION, STATS, USERS, type Script } from './scripts.ts';

/** The options of a Redis live state; each may also be given as a URL parameter (`?prefix=shop`). */
export const REDIS_OPTIONS = schema({
  prefix: { type: 'string', default: 'tandem', description: 'Every key starts with `<prefix>:`: states under different prefixes are apart. Letters, digits and `_ . - :`, at most 100.' },
  maxEventsPerUser: { type: 'number', integer: true, min: 1, default: 1000, description: 'Events kept per user, the latest ones (give every handle on one prefix the same).' },
  connectTimeoutMs: { type: 'number', integer: true, min: 1, default: 5000, description: "How long connecting may take before open fails as 'unavailable', in ms." },
  commandTimeoutMs: { type: 'number', integer: true, min: 1, default: 5000, description: "How long a call may wait for Redis before it fails as 'unavailable', in ms." },
});

export type RedisLiveStateOptions = Partial<Infer<typeof REDIS_OPTIONS>>;
export const REDIS_DEFAULTS: Infer<typeof REDIS_OPTIONS> = defaults(REDIS_OPTIONS);

const PREFIX = /^[A-Za-z0-9_.:-]{1,100}$/;
const URL_WHAT = 'a redis URL';
/** Entries per script call: a script blocks Redis while it runs, so a long batch goes in slices. */
const APPLY_SLICE = 2000;
const UNREACHABLE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|connection is closed|stream isn't writeable|command timed out|max retries per request|^LOADING|^BUSY|^MASTERDOWN|^TRYAGAIN/i;

function newGeneration(): string {
  return randomBytes(6).toString('hex');
}

function messageOf(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown };
  return (typeof e?.message === 'string' && e.message) || (typeof e?.code === 'string' && e.code) || String(err);
}

function parseUrl(url: string): { host: string; port: number; db: number; username?: string; password?: string; tls: boolean; own: Record<string, string>; shown: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // the URL itself is not shown: it may carry a password
    throw new StoreError('url', `${URL_WHAT} does not parse (redis://[USER:PASSWORD@]HOST[:PORT][/DB][?prefix=NAME])`, 'url');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new StoreError('url', `${URL_WHAT} must start with redis:// or rediss://`, 'url');
  refuseUnknownParams(u, REDIS_OPTIONS, [], URL_WHAT);
  const own: Record<string, string> = {};
  for (const [k, v] of u.searchParams) own[k] = v;
  const path = u.pathname.replace(/^\//, '');
  if (!/^\d{0,5}$/.test(path)) throw new StoreError('url', `${URL_WHAT}: the path must be a database number (redis://HOST:PORT/0), got '/${path}'`, 'url');
  const shown = redactUrl(u);
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db: path ? Number(path) : 0,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:',
    own,
    shown,
  };
}

/**
 * @example
 *   const live = await RedisLiveState.open('redis://127.0.0.1:6379/0?prefix=shop', { maxEventsPerUser: 500 });
 *   const f = log.follow(await live.position(), (es) => live.apply(es), { onError: rebuildOnStale });
 *   const [a, b] = await live.users(['u1', 'u2']); // one round trip
 */
export class RedisLiveState implements LiveState {
  readonly kind = 'redis';
  /** Server, database and prefix, without the password: for logs and errors. */
  readonly target: string;
  readonly options: Readonly<Infer<typeof REDIS_OPTIONS>>;
  readonly maxEventsPerUser: number;
  private readonly redis: Redis;
  private readonly genKey: string;
  private readonly base: string;
  /** The generation this handle read its position in ('' before it has): apply writes only into it. */
  private gen = '';
  /** What the connection last failed with, while it is down: a call failing meanwhile says it. */
  private down: string | null = null;
  private closed = false;

  private constructor(redis: Redis, shown: string, options: Infer<typeof REDIS_OPTIONS>) {
    this.redis = redis;
    this.options = Object.freeze({ ...options });
    this.maxEventsPerUser = options.maxEventsPerUser;
    this.target = `${shown} (prefix ${options.prefix})`;
    this.base = `${options.prefix}:`;
    this.genKey = `${options.prefix}:gen`;
  }

  /**
   * Connects and takes the state as it stands (starting an empty one when the prefix holds none).
   * `url`: redis://[USER:PASSWORD@]HOST[:PORT][/DB][?prefix=NAME&maxEventsPerUser=..&connectTimeoutMs=..&commandTimeoutMs=..]
   * (rediss:// for TLS). `opts` win over the URL's.
   * @example const live = await RedisLiveState.open('redis://cache:6379/2', { prefix: 'shop' })
   */
  static async open(url: string, opts: RedisLiveStateOptions = {}): Promise<RedisLiveState> {
    if (typeof url !== 'string') throw new StoreError('url', 'must be a string', 'url');
    const p = parseUrl(url);
    const options = backendOptions(REDIS_OPTIONS, opts, p.own, URL_WHAT);
    if (!PREFIX.test(options.prefix)) {
      const detail = `must be 1 to 100 letters, digits or _ . - : (got ${JSON.stringify(options.prefix)})`;
      throw 'prefix' in p.own && opts.prefix === undefined ? new StoreError('url', `${URL_WHAT}: parameter 'prefix': ${detail}`, 'url') : new StoreError('invalid', detail, 'opts.prefix');
    }
    const redis = new Redis({
      host: p.host,
      port: p.port,
      db: p.db,
      username: p.username,
      password: p.password,
      tls: p.tls ? { servername: p.host } : undefined,
      lazyConnect: true,
      // fail fast while disconnected (the caller answers from elsewhere) instead of queueing requests
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: options.connectTimeoutMs,
      commandTimeout: options.commandTimeoutMs,
      retryStrategy: (times) => Math.min(100 * times, 2000),
    });
    const live = new RedisLiveState(redis, p.shown, options);
    // a call that fails while the connection is down gets only 'Connection is closed': keep the reason
    redis.on('error', (err) => (live.down = messageOf(err)));
    redis.on('ready', () => (live.down = null));
    try {
      await redis.connect();
      await live.position();
    } catch (err) {
      redis.disconnect();
      throw live.fail(err, 'opening the live state');
    }
    return live;
  }

  async apply(entries: readonly LogEntry[]): Promise<void> {
    this.check();
    // the whole batch is checked before any of it is applied
    validateEntries(entries);
    for (let from = 0; from < entries.length; from += APPLY_SLICE) {
      const slice = entries.slice(from, from + APPLY_SLICE);
      const args: string[] = [this.base, this.gen, String(this.maxEventsPerUser)];
      for (const e of slice) {
        switch (e.kind) {
          case 'event':
            args.push(String(e.seq), 'event', e.user, e.item, e.type, JSON.stringify([e.seq, e.item, e.type, e.value, e.timestamp]));
            break;
          case 'user':
            args.push(String(e.seq), 'user', e.user, '', '', JSON.stringify(e.features));
            break;
          case 'item':
            args.push(String(e.seq), 'item', '', e.item, '', JSON.stringify(e.features));
            break;
          case 'delete-item':
            args.push(String(e.seq), 'delete-item', '', e.item, '', '');
            break;
          case 'exposure':
            // nothing to keep: passed on only so that the position moves past it
            args.push(String(e.seq), 'exposure', '', '', '', '');
            break;
        }
      }
      const r = (await this.run(APPLY, args)) as [string, string | null];
      if (r[0] === 'stale') {
        throw new StoreError('stale', `Redis ${this.target}: the live state was ${r[1] === null ? 'lost (flushed, or Redis restarted without its data)' : 'cleared by another handle'} since this handle read its position: read position() again and apply from there (0: replay the log)`);
      }
    }
  }

  async position(): Promise<number> {
    this.check();
    const [gen, pos] = (await this.run(POSITION, [this.base, newGeneration()])) as [string, string];
    this.gen = gen;
    return Number(pos);
  }

  async user(id: string): Promise<LiveUser | null> {
    this.check();
    if (typeof id !== 'string') throw new StoreError('invalid', 'must be a string', 'id');
    return (await this.readUsers([id]))[0];
  }

  async users(ids: readonly string[]): Promise<(LiveUser | null)[]> {
    this.check();
    if (!Array.isArray(ids)) throw new StoreError('invalid', 'must be an array of strings', 'ids');
    for (let i = 0; i < ids.length; i++) if (typeof ids[i] !== 'string') throw new StoreError('invalid', 'must be a string', `ids[${i}]`);
    return ids.length === 0 ? [] : this.readUsers(ids);
  }

  async catalog(): Promise<CatalogChange[]> {
    this.check();
    const r = (await this.run(CATALOG, [this.base])) as string[];
    const out = new Array<CatalogChange>(r.length / 3);
    for (let i = 0, j = 0; i < r.length; i += 3, j++) {
      const payload = r[i + 2];
      out[j] = { item: r[i], seq: Number(r[i + 1]), deleted: payload === '', features: payload === '' ? null : (JSON.parse(payload) as Record<string, unknown>) };
    }
    return out;
  }

  async itemCounts(items: readonly string[]): Promise<Record<string, number>[]> {
    this.check();
    if (!Array.isArray(items)) throw new StoreError('invalid', 'must be an array of strings', 'items');
    for (let i = 0; i < items.length; i++) if (typeof items[i] !== 'string') throw new StoreError('invalid', 'must be a string', `items[${i}]`);
    if (items.length === 0) return [];
    const r = (await this.run(COUNTS, [this.base, ...items])) as string[];
    return r.map((joined) => {
      const pairs: [string, number][] = [];
      if (joined.length > 0) {
        const flat = joined.split('\0');
        for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], Number(flat[i + 1])]);
      }
      // fromEntries defines keys: a type named '__proto__' stays a key
      return Object.fromEntries(pairs);
    });
  }

  async stats(): Promise<{ users: number; events: number; items: number }> {
    this.check();
    const [users, events, items] = (await this.run(STATS, [this.base])) as string[];
    return { users: Number(users), events: Number(events), items: Number(items) };
  }

  /** Starts a new, empty generation (for every handle at once), then deletes the old one's keys. */
  async clear(): Promise<void> {
    this.check();
    const gen = newGeneration();
    const old = (await this.run(CLEAR, [this.base, gen])) as string | null;
    this.gen = gen;
    if (old !== null) await this.deleteGeneration(old);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private async readUsers(ids: readonly string[]): Promise<(LiveUser | null)[]> {
    const r = (await this.run(USERS, [this.base, String(this.maxEventsPerUser), ...ids])) as (string[] | string | null)[];
    const out = new Array<LiveUser | null>(ids.length).fill(null);
    // an empty reply: no state at all
    for (let i = 0; i < ids.length && r.length > 0; i++) {
      const list = r[2 * i] as string[];
      const features = r[2 * i + 1] as string | null;
      if (list.length === 0 && features === null) continue;
      const events = new Array<LiveEvent>(list.length);
      for (let k = 0; k < list.length; k++) {
        const [seq, item, type, value, timestamp] = JSON.parse(list[k]) as [number, string, string, number, number];
        events[k] = { seq, item, type, value, timestamp };
      }
      out[i] = { events, features: features === null ? null : (JSON.parse(features) as Record<string, unknown>) };
    }
    return out;
  }

  private async deleteGeneration(gen: string): Promise<void> {
    // the prefix's characters and the generation's hex hold no glob patterns
    const keys = this.redis.scanStream({ match: `${this.base}${gen}:*`, count: 1000 });
    try {
      for await (const batch of keys) if ((batch as string[]).length > 0) await this.redis.unlink(...(batch as string[]));
    } catch (err) {
      throw this.fail(err, `deleting the keys of generation ${gen} (the new one is in place)`);
    }
  }

  /** One script call: EVALSHA, or EVAL once when Redis does not hold the script (after a restart). */
  private async run(s: Script, args: string[]): Promise<unknown> {
    try {
      try {
        return await this.redis.evalsha(s.sha, 1, this.genKey, ...args);
      } catch (err) {
        if (!/NOSCRIPT/.test(messageOf(err))) throw err;
        return await this.redis.eval(s.lua, 1, this.genKey, ...args);
      }
    } catch (err) {
      throw this.fail(err, s.name);
    }
  }

  /** A StoreError for a failure of `what`: 'unavailable' when Redis is out of reach, 'storage' otherwise. */
  private fail(err: unknown, what: string): StoreError {
    if (err instanceof StoreError) return err;
    let message = messageOf(err);
    if (this.down !== null && !message.includes(this.down)) message += ` (${this.down})`;
    return new StoreError(UNREACHABLE.test(message) ? 'unavailable' : 'storage', `Redis ${this.target}: ${what}: ${message}`, undefined, err);
  }

  private check(): void {
    if (this.closed) throw new StoreError('closed', `the Redis live state ${this.target} is closed`);
  }
}
