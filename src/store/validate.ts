/**
 * Record validation shared by every backend, and the row form records are stored in. The checks are
 * the narrowest that every backend can store exactly: PostgreSQL text refuses NUL, SQLite turns a lone
 * surrogate into U+FFFD, and JSON (the features' storage everywhere) turns NaN into null and a Date
 * into a string. What passes here reads back equal from any backend.
 */
import type { LogEntry, LogRecordKind } from './types.ts';
import { StoreError } from './types.ts';

/** The stored form of a log entry: one flat row (the columns of the SQLite table `log`). */
export interface Row {
  seq: number;
  received: number;
  kind: string;
  user: string | null;
  item: string | null;
  type: string | null;
  value: number | null;
  ts: number | null;
  /** JSON text of the features ('item' and 'user' kinds). */
  features: string | null;
}

export type PreparedRecord = Omit<Row, 'seq' | 'received'>;

export const RECORD_KINDS: readonly LogRecordKind[] = ['event', 'item', 'delete-item', 'user', 'exposure'];
/** Items one exposure may list. */
export const MAX_EXPOSURE_ITEMS = 1000;
/** Deeper features are refused: real features are shallow, and this also stops a cycle. */
export const MAX_FEATURE_DEPTH = 32;

// NUL anywhere, a high surrogate not followed by a low one, or a low one not preceded by a high one.
const BAD_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const TEXT_RULE = 'must be valid Unicode text without NUL characters';
const JSON_RULE = 'must be a JSON value (string, finite number, boolean, null, array or plain object)';
const IDENT = /^[A-Za-z_$][\w$]*$/;

function invalid(field: string, message: string): never {
  throw new StoreError('invalid', message, field);
}

function got(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : (Object.getPrototypeOf(v)?.constructor?.name ?? 'an object');
  return `a ${typeof v}`;
}

function checkText(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0) invalid(field, `must be a non-empty string (got ${got(v)})`);
  if (BAD_TEXT.test(v)) invalid(field, TEXT_RULE);
  return v;
}

function checkFinite(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) invalid(field, `must be a finite number (got ${got(v)})`);
  // -0 is stored as 0 by SQLite: normalised here so every backend reads back the same number
  return v === 0 ? 0 : v;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The first problem inside a JSON value, with its path relative to the value; null when it is fine. Allocates only on failure. */
function jsonProblem(v: unknown, depth: number): { path: string; message: string } | null {
  switch (typeof v) {
    case 'string':
      return BAD_TEXT.test(v) ? { path: '', message: TEXT_RULE } : null;
    case 'number':
      return Number.isFinite(v) ? null : { path: '', message: `${JSON_RULE}, got ${v}` };
    case 'boolean':
      return null;
    case 'object': {
      if (v === null) return null;
      if (depth >= MAX_FEATURE_DEPTH) return { path: '', message: `nests deeper than ${MAX_FEATURE_DEPTH} levels` };
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          if (!(i in v)) return { path: `[${i}]`, message: 'is a hole in a sparse array' };
          const p = jsonProblem(v[i], depth + 1);
          if (p) return { path: `[${i}]${p.path}`, message: p.message };
        }
        return null;
      }
      if (!isPlainObject(v)) return { path: '', message: `${JSON_RULE}, got ${got(v)}` };
      for (const key of Object.keys(v)) {
        const at = IDENT.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
        if (BAD_TEXT.test(key)) return { path: at, message: `key ${TEXT_RULE}` };
        const p = jsonProblem((v as Record<string, unknown>)[key], depth + 1);
        if (p) return { path: `${at}${p.path}`, message: p.message };
      }
      return null;
    }
    default:
      return { path: '', message: `${JSON_RULE}, got ${got(v)}` };
  }
}

function checkFeatures(v: unknown, field: string): string {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !isPlainObject(v)) invalid(field, `must be a plain object (got ${got(v)})`);
  const p = jsonProblem(v, 0);
  if (p) invalid(field + p.path, p.message);
  return JSON.stringify(v);
}

/** Checks one record and returns its row form (features as JSON text). Throws StoreError naming `${field}.x`. */
function prepareRecord(r: unknown, field: string): PreparedRecord {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) invalid(field, `must be an object (got ${got(r)})`);
  const o = r as Record<string, unknown>;
  switch (o.kind) {
    case 'event':
      return {
        kind: 'event',
        user: checkText(o.user, `${field}.user`),
        item: checkText(o.item, `${field}.item`),
        type: checkText(o.type, `${field}.type`),
        value: checkFinite(o.value, `${field}.value`),
        ts: checkFinite(o.timestamp, `${field}.timestamp`),
        // the exposure an event answers rides in the payload column (null without one: rows as before)
        features: o.exposureId === undefined ? null : JSON.stringify({ exposureId: checkText(o.exposureId, `${field}.exposureId`) }),
      };
    case 'exposure':
      return prepareExposure(o, field);
    case 'item':
      return { kind: 'item', user: null, item: checkText(o.item, `${field}.item`), type: null, value: null, ts: null, features: checkFeatures(o.features, `${field}.features`) };
    case 'delete-item':
      return { kind: 'delete-item', user: null, item: checkText(o.item, `${field}.item`), type: null, value: null, ts: null, features: null };
    case 'user':
      return { kind: 'user', user: checkText(o.user, `${field}.user`), item: null, type: null, value: null, ts: null, features: checkFeatures(o.features, `${field}.features`) };
    default:
      return invalid(`${field}.kind`, `must be one of ${RECORD_KINDS.map((k) => `'${k}'`).join(', ')} (got ${typeof o.kind === 'string' ? `'${o.kind}'` : got(o.kind)})`);
  }
}

/** An exposure's row: user, its id in `item`, the experiment in `type`, arm, items and teams as the JSON payload. */
function prepareExposure(o: Record<string, unknown>, field: string): PreparedRecord {
  const id = checkText(o.id, `${field}.id`);
  const user = checkText(o.user, `${field}.user`);
  const experiment = checkText(o.experiment, `${field}.experiment`);
  const arm = checkText(o.arm, `${field}.arm`);
  const items = o.items;
  if (!Array.isArray(items) || items.length === 0 || items.length > MAX_EXPOSURE_ITEMS) invalid(`${field}.items`, `must be an array of 1 to ${MAX_EXPOSURE_ITEMS} item ids (got ${Array.isArray(items) ? `${items.length} ids` : got(items)})`);
  for (let i = 0; i < items.length; i++) checkText(items[i], `${field}.items[${i}]`);
  let teams: number[] | undefined;
  if (o.teams !== undefined) {
    if (!Array.isArray(o.teams) || o.teams.length !== items.length) invalid(`${field}.teams`, `must be an array as long as items (${items.length}; got ${Array.isArray(o.teams) ? o.teams.length : got(o.teams)})`);
    for (let i = 0; i < o.teams.length; i++) if (o.teams[i] !== 0 && o.teams[i] !== 1) invalid(`${field}.teams[${i}]`, `must be 0 or 1 (got ${got(o.teams[i])})`);
    teams = o.teams as number[];
  }
  const ts = checkFinite(o.timestamp, `${field}.timestamp`);
  const payload = teams === undefined ? { arm, items } : { arm, items, teams };
  return { kind: 'exposure', user, item: id, type: experiment, value: null, ts, features: JSON.stringify(payload) };
}

/**
 * Checks a whole batch before anything is stored and returns the rows to store. Throws a StoreError
 * ('invalid') naming the first bad field.
 * @example prepareRecords([{ kind: 'event', user: 'u', item: 'i', type: 'view', value: 1, timestamp: NaN }])
 *   // throws "records[0].timestamp: must be a finite number (got NaN)"
 */
export function prepareRecords(records: unknown, field = 'records'): PreparedRecord[] {
  if (!Array.isArray(records)) invalid(field, `must be an array (got ${got(records)})`);
  const out = new Array<PreparedRecord>(records.length);
  for (let i = 0; i < records.length; i++) out[i] = prepareRecord(records[i], `${field}[${i}]`);
  return out;
}

/**
 * Checks log records the way `EventLog.append` does, without storing them (for a boundary that wants
 * the error before it calls the log).
 * @example validateRecords(body.records) // throws StoreError { code: 'invalid', field: 'records[2].item' }
 */
export function validateRecords(records: unknown, field = 'records'): void {
  prepareRecords(records, field);
}

/** Checks entries handed to `LiveState.apply`: records plus their seq and received time. */
export function validateEntries(entries: unknown, field = 'entries'): void {
  if (!Array.isArray(entries)) invalid(field, `must be an array (got ${got(entries)})`);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Record<string, unknown>;
    prepareRecord(e, `${field}[${i}]`);
    checkFinite(e.seq, `${field}[${i}].seq`);
    checkFinite(e.received, `${field}[${i}].received`);
  }
}

/** The entry a stored row holds. */
export function decodeRow(r: Row): LogEntry {
  switch (r.kind) {
    case 'event': {
      const e: LogEntry = { seq: r.seq, received: r.received, kind: 'event', user: r.user!, item: r.item!, type: r.type!, value: r.value!, timestamp: r.ts! };
      if (r.features !== null) e.exposureId = (JSON.parse(r.features) as { exposureId: string }).exposureId;
      return e;
    }
    case 'exposure': {
      const p = JSON.parse(r.features ?? '{}') as { arm: string; items: string[]; teams?: number[] };
      const e: LogEntry = { seq: r.seq, received: r.received, kind: 'exposure', id: r.item!, user: r.user!, experiment: r.type!, arm: p.arm, items: p.items, timestamp: r.ts! };
      if (p.teams !== undefined) e.teams = p.teams;
      return e;
    }
    case 'item':
      return { seq: r.seq, received: r.received, kind: 'item', item: r.item!, features: JSON.parse(r.features ?? '{}') };
    case 'delete-item':
      return { seq: r.seq, received: r.received, kind: 'delete-item', item: r.item! };
    case 'user':
      return { seq: r.seq, received: r.received, kind: 'user', user: r.user!, features: JSON.parse(r.features ?? '{}') };
    default:
      throw new StoreError('storage', `log entry ${r.seq} has kind '${r.kind}', which this version cannot read`);
  }
}

/** A finite number argument (a seq or a time). */
export function checkNumberArg(v: unknown, field: string): number {
  return checkFinite(v, field);
}

/** A positive integer argument (a limit or a batch size). */
export function checkCountArg(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) invalid(field, `must be a positive integer (got ${got(v)})`);
  return v;
}

/** The received time of an append: now, in seconds, unless given. */
export function receivedArg(received: unknown): number {
  return received === undefined ? Date.now() / 1000 : checkFinite(received, 'received');
}
