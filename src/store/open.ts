/**
 * Opening a store from a URL. One table per interface lists the backends; a new backend is one more
 * row. Errors name the scheme only: a URL may carry a password.
 */
import { MemoryEventLog } from './memory/memory-event-log.ts';
import { MemoryLiveState } from './memory/memory-live-state.ts';
import { PostgresEventLog } from './postgres/postgres-event-log.ts';
import { RedisLiveState } from './redis/redis-live-state.ts';
import { SqliteEventLog } from './sqlite/sqlite-event-log.ts';
import type { EventLog, LiveState } from './types.ts';
import { StoreError } from './types.ts';

export interface EventLogOpenOptions {
  /** How often followers look for appends by other processes, in ms (backends that poll). */
  pollMs?: number;
}

export interface LiveStateOpenOptions {
  /** Events kept per user, the latest ones. */
  maxEventsPerUser?: number;
}

interface Backend<T, O> {
  /** The URL scheme without ':' ('' for a bare path). */
  scheme: string;
  /** The URL forms, for the error listing the known ones. */
  usage: string;
  /** `rest` is the URL after `scheme:`. */
  open(rest: string, opts: O): Promise<T>;
}

function sqlitePath(rest: string): string {
  // sqlite:///abs/path and sqlite://rel/path read like URLs; sqlite:path and sqlite::memory: like SQLite's own names
  const path = rest.startsWith('//') ? rest.slice(2) : rest;
  if (path.length === 0) throw new StoreError('url', "'sqlite:' needs a file path, e.g. sqlite:events.db or sqlite::memory:", 'url');
  return path;
}

const EVENT_LOGS: readonly Backend<EventLog, EventLogOpenOptions>[] = [
  { scheme: 'sqlite', usage: 'sqlite:FILE, sqlite::memory:', open: async (rest, o) => new SqliteEventLog(sqlitePath(rest), { pollMs: o.pollMs }) },
  { scheme: 'memory', usage: 'memory', open: async (rest) => (memoryRest(rest), new MemoryEventLog()) },
  { scheme: 'postgres', usage: 'postgres://USER@HOST:PORT/DB?schema=NAME', open: (rest, o) => PostgresEventLog.open(`postgres:${rest}`, { pollMs: o.pollMs }) },
  { scheme: 'postgresql', usage: 'postgresql://…', open: (rest, o) => PostgresEventLog.open(`postgresql:${rest}`, { pollMs: o.pollMs }) },
  { scheme: '', usage: 'a bare file path (SQLite)', open: async (rest, o) => new SqliteEventLog(rest, { pollMs: o.pollMs }) },
];

const LIVE_STATES: readonly Backend<LiveState, LiveStateOpenOptions>[] = [
  { scheme: 'memory', usage: 'memory', open: async (rest, o) => (memoryRest(rest), new MemoryLiveState(o)) },
  { scheme: 'redis', usage: 'redis://HOST:PORT/DB?prefix=NAME', open: (rest, o) => RedisLiveState.open(`redis:${rest}`, { maxEventsPerUser: o.maxEventsPerUser }) },
  { scheme: 'rediss', usage: 'rediss://… (TLS)', open: (rest, o) => RedisLiveState.open(`rediss:${rest}`, { maxEventsPerUser: o.maxEventsPerUser }) },
];

function memoryRest(rest: string): void {
  if (rest !== '') throw new StoreError('url', "'memory' takes nothing after it", 'url');
}

// two characters at least, so a Windows drive letter (C:\data\events.db) stays a bare path
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]+):/;

/** Splits a store URL into scheme ('' for a bare path) and the rest; 'memory' alone counts as a scheme. */
function parse(url: unknown): { scheme: string; rest: string } {
  if (typeof url !== 'string' || url.length === 0) throw new StoreError('url', 'must be a non-empty string', 'url');
  if (url === 'memory') return { scheme: 'memory', rest: '' };
  const m = SCHEME.exec(url);
  return m ? { scheme: m[1].toLowerCase(), rest: url.slice(m[0].length) } : { scheme: '', rest: url };
}

function pick<T, O>(what: string, table: readonly Backend<T, O>[], url: unknown): { backend: Backend<T, O>; rest: string } {
  const { scheme, rest } = parse(url);
  const backend = table.find((b) => b.scheme === scheme);
  if (!backend) {
    const said = scheme === '' ? 'a bare path' : `scheme '${scheme}:'`;
    throw new StoreError('url', `${what} has no backend for ${said} (known: ${table.map((b) => b.usage).join(', ')})`, 'url');
  }
  return { backend, rest };
}

/**
 * Opens the event log a URL names.
 * @example await openEventLog('sqlite:events.db')   // also 'events.db', 'sqlite::memory:', 'memory', 'postgres://app@db/shop'
 */
export async function openEventLog(url: string, opts: EventLogOpenOptions = {}): Promise<EventLog> {
  const { backend, rest } = pick('an event log', EVENT_LOGS, url);
  return backend.open(rest, opts);
}

/**
 * Opens the live state a URL names.
 * @example await openLiveState('memory', { maxEventsPerUser: 500 })   // or 'redis://cache:6379/0?prefix=shop'
 */
export async function openLiveState(url: string, opts: LiveStateOpenOptions = {}): Promise<LiveState> {
  const { backend, rest } = pick('live state', LIVE_STATES, url);
  return backend.open(rest, opts);
}

/** The URL forms each factory knows (for help texts). */
export const STORE_URLS = {
  eventLog: EVENT_LOGS.map((b) => b.usage),
  liveState: LIVE_STATES.map((b) => b.usage),
} as const;
