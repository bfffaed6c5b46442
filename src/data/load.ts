/**
 * Loads a Dataset from the files a DatasetConfig names: items and users first (so the whole catalog is
 * in the tables, rated or not), then the interactions. Every bad row is a DataError naming file, line
 * and column; with `skipBadRows` it is skipped, counted and reported instead.
 */
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { NO_PROGRESS, type Progress } from '../math/index.ts';
import { validateConfig, type ColumnRef, type DatasetConfig, type EntityConfig, type FeatureConfig, type FileConfig, type InteractionsConfig, type TimestampFormat } from './config.ts';
import { readDelimited } from './delimited.ts';
import { readJsonLines, type JsonRecord } from './jsonl.ts';
import { readJsonDocument } from './json.ts';
import { splitInteractions, splitLayout, type SplitFormat } from './split-files.ts';
import { parseIsoTimestamp } from './time.ts';

export { parseIsoTimestamp };
import { ConfigError, DataError, formatProblem, type DataProblem } from './errors.ts';
import { DatasetBuilder, type FeatureValue, type TableBuilder } from './builder.ts';
import { Dataset, selectInteractions, type TimeKind } from './dataset.ts';
import type { FeatureSpec, Schema } from './schema.ts';

export interface LoadOptions {
  /** Skip bad rows (counted and reported) instead of throwing on the first. Default false. */
  skipBadRows?: boolean;
  /** How many problems each file's report keeps (counts stay exact). Default 20. */
  maxProblems?: number;
  /** Reports each file's bytes read (a task per file, named by the file). Default: none. */
  progress?: Progress;
}

export interface FileReport {
  path: string;
  /** Rows loaded. */
  rows: number;
  /** Bad rows skipped (only with skipBadRows). */
  skipped: number;
  /** The first `maxProblems` problems. */
  problems: DataProblem[];
  /** Doubts that are not errors: a UTF-8 file with bytes that are not UTF-8 (latin1 read as UTF-8?). */
  warnings: string[];
  /** For a train or test file: how it was read ("tab-separated user, item, value, timestamp, no header (detected ...)"). */
  readAs?: string;
  /**
   * For an interactions file, when the config has a users (items) table: distinct ids of this file that
   * the table (and earlier files) did not hold, added as rows without features.
   */
  unknownUsers?: number;
  unknownItems?: number;
}

export interface LoadReport {
  files: FileReport[];
  /** 'order' when the timestamps are positions within each user (timestampFormat "order"), not seconds. */
  timeKind: TimeKind;
}

/** What the report says about a dataset whose time is an order. */
export const ORDER_TIME_NOTE =
  'time is an order (timestampFormat "order"): each timestamp is the event\'s position within its user (0, 1, 2, ... in file order), not seconds; splits follow that order, and features measured in days do not apply';

/**
 * The report as lines for a terminal: one per file, then its kept problems.
 * @example console.error(formatLoadReport(report))  // "u.data: 99998 rows loaded, 2 bad rows skipped" ...
 */
export function formatLoadReport(report: LoadReport): string {
  const out: string[] = [];
  for (const f of report.files) {
    out.push(`${f.path}: ${f.rows} rows loaded${f.skipped ? `, ${f.skipped} bad rows skipped` : ''}`);
    if (f.readAs) out.push(`  read as ${f.readAs}`);
    const unknown = [f.unknownUsers ? `${f.unknownUsers} user ids` : '', f.unknownItems ? `${f.unknownItems} item ids` : ''].filter((x) => x);
    if (unknown.length) out.push(`  ${unknown.join(' and ')} not in the users/items files: added without features`);
    for (const w of f.warnings) out.push(`  warning: ${w}`);
    for (const p of f.problems) out.push(`  ${formatProblem(p)}`);
    if (f.skipped > f.problems.length) out.push(`  ... and ${f.skipped - f.problems.length} more`);
  }
  if (report.timeKind === 'order') out.push(ORDER_TIME_NOTE);
  return out.join('\n');
}

/** Latest accepted timestamp, in seconds: 2100-01-01T00:00:00Z. */
export const MAX_TIMESTAMP = 4102444800;

/** A problem with one cell of the current row; the reader adds file and line. */
class RowFault {
  constructor(
    readonly cell: Cell | undefined,
    readonly message: string,
  ) {}
}

/** Where a value sits: a field index (delimited) or a key (JSON). */
interface Cell {
  index: number;
  key: string;
  /** 1-based column for messages; 0 for JSON keys. */
  column: number;
  name: string | undefined;
}

/** The current row: delimited fields or a JSON object. */
interface Row {
  fields: string[] | null;
  obj: JsonRecord | null;
}

function raw(row: Row, c: Cell): unknown {
  return row.fields ? row.fields[c.index] : row.obj![c.key];
}

type Resolve = (ref: ColumnRef, role: string) => Cell;
type RowFn = (row: Row, line: number) => void;

/**
 * How a users or items file's object keyed by id becomes records: the key is the id (stored under
 * `id`); a value that is an object holds the features, any other value (a list of tags, a vector) is
 * the value of the one feature the config declares, under `single`.
 */
interface Keyed {
  id: string;
  single: string | undefined;
  role: 'users' | 'items';
  features: string[];
}

function describeJson(v: unknown): string {
  return Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v === 'object' ? 'an object' : typeof v;
}

/** The record of member `key` of an object keyed by id; throws a RowFault when it cannot be one. */
function keyedRecord(k: Keyed, key: string, value: unknown): JsonRecord {
  const idCell: Cell = { index: -1, key: k.id, column: 0, name: k.id };
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const own = (value as JsonRecord)[k.id];
    if (own !== undefined && String(own) !== key) throw new RowFault(idCell, `the record under key '${key}' holds another id, '${String(own)}' (in an object keyed by id, the key is the id)`);
    return { ...(value as JsonRecord), [k.id]: key };
  }
  if (k.single === undefined) {
    const declared = k.features.length ? `${k.features.length} features (${k.features.join(', ')})` : 'no features';
    throw new RowFault(idCell, `the value under key '${key}' is ${describeJson(value)}, not an object of features; such a value fills the one feature of ${k.role}, but ${k.role} declares ${declared}`);
  }
  return { [k.id]: key, [k.single]: value };
}

/**
 * Streams one file, resolving columns once its header (or first row) is known, and routes each row
 * through the row function `bind` returns. Bad rows throw or are counted, as `opts` says.
 */
async function readRows(cfg: FileConfig, role: string, opts: LoadOptions, bind: (resolve: Resolve) => RowFn, keyed?: Keyed): Promise<FileReport> {
  const file = cfg.path;
  const report: FileReport = { path: file, rows: 0, skipped: 0, problems: [], warnings: [] };
  const size = await stat(file).then((st) => st.size, () => 0);
  const task = (opts.progress ?? NO_PROGRESS).start(basename(file), size, 'bytes');
  const onRead = (bytes: number): void => task.set(bytes);
  const onError = (e: DataError): void => bad(e.toProblem());
  const onInvalidUtf8 = (line: number): void => {
    report.warnings.push(`${file}:${line}: bytes that are not UTF-8 (decoded as U+FFFD); if the file is ISO-8859-1, set "encoding": "latin1"`);
  };
  const maxProblems = opts.maxProblems ?? 20;
  const bad = (p: DataProblem): void => {
    if (!opts.skipBadRows) throw new DataError(p);
    report.skipped++;
    if (report.problems.length < maxProblems) report.problems.push(p);
  };
  const run = (handle: RowFn, row: Row, line: number): void => {
    try {
      handle(row, line);
      report.rows++;
    } catch (e) {
      if (!(e instanceof RowFault)) throw e;
      const p: DataProblem = { file, line, column: e.cell?.column ?? 0, message: e.message };
      if (e.cell?.name !== undefined) p.columnName = e.cell.name;
      bad(p);
    }
  };

  try {
    if (cfg.format === 'jsonl' || cfg.format === 'json') {
      const resolveKey: Resolve = (ref, r) => {
        if (typeof ref === 'number') throw new DataError({ file, line: 0, column: 0, message: `${r} is given as column ${ref}, but a ${cfg.format === 'json' ? 'JSON' : 'JSON Lines'} file has keys, not column positions` });
        return { index: -1, key: ref, column: 0, name: ref };
      };
      const handle = bind(resolveKey);
      const row: Row = { fields: null, obj: null };
      if (cfg.format === 'jsonl') {
        await readJsonLines(file, (obj, line) => {
          row.obj = obj;
          run(handle, row, line);
        }, cfg.encoding, { onError, onInvalidUtf8, onRead });
        return report;
      }
      // the member being read, for keyedRow (run() turns its RowFaults into problems like any row's)
      let key = '';
      let value: unknown;
      const keyedRow: RowFn = (r, line) => {
        r.obj = keyedRecord(keyed!, key, value);
        handle(r, line);
      };
      await readJsonDocument(file, (k, v, line) => {
        if (k === null) {
          if (v === null || typeof v !== 'object' || Array.isArray(v)) {
            bad({ file, line, column: 0, message: `expected a JSON object (a record), found ${describeJson(v)}` });
            return;
          }
          row.obj = v as JsonRecord;
          run(handle, row, line);
          return;
        }
        if (!keyed) throw new DataError({ file, line, column: 0, message: `an object keyed by id holds users or items; ${role} need an array of records (or JSON Lines)` });
        key = k;
        value = v;
        run(keyedRow, row, line);
      }, cfg.encoding, { onError, onInvalidUtf8, onRead });
      return report;
    }

    let handle: RowFn | undefined;
    let expected = -1;
    const row: Row = { fields: null, obj: null };
    await readDelimited(file, { separator: cfg.separator!, quote: cfg.quote ?? '"', encoding: cfg.encoding ?? 'utf8' }, (fields, line) => {
      if (!handle) {
        const names = cfg.columns ?? (cfg.header ? fields : undefined);
        expected = cfg.header ? fields.length : (cfg.columns?.length ?? fields.length);
        if (cfg.header && cfg.columns && cfg.columns.length !== fields.length) {
          throw new DataError({ file, line, column: 0, message: `"columns" names ${cfg.columns.length} columns, but the header has ${fields.length}: ${fields.join(', ')}` });
        }
        const resolveField: Resolve = (ref, r) => {
          let index: number;
          if (typeof ref === 'number') {
            index = ref;
            if (index >= expected) throw new DataError({ file, line, column: 0, message: `${r} is column ${ref} (0-based), but rows have ${expected} fields` });
          } else {
            if (!names) throw new DataError({ file, line: 0, column: 0, message: `${r} names column '${ref}', but the file has no header; give a 0-based column index or a "columns" list` });
            index = names.indexOf(ref);
            if (index >= 0 && names.indexOf(ref, index + 1) >= 0) {
              throw new DataError({ file, line: cfg.header && !cfg.columns ? line : 0, column: 0, message: `column '${ref}' (${r}) is named twice (columns ${index + 1} and ${names.indexOf(ref, index + 1) + 1}); refer to it by 0-based index` });
            }
            if (index < 0) throw new DataError({ file, line: cfg.header && !cfg.columns ? line : 0, column: 0, message: `unknown column '${ref}' (${r}); the ${cfg.columns ? 'configured columns are' : 'header has'}: ${names.join(', ')}` });
          }
          return { index, key: String(ref), column: index + 1, name: names?.[index] };
        };
        handle = bind(resolveField);
        if (cfg.header) return;
      }
      row.fields = fields;
      if (fields.length !== expected) {
        bad({ file, line, column: 0, message: `expected ${expected} fields, found ${fields.length}` });
        return;
      }
      run(handle, row, line);
    }, { onError, onInvalidUtf8, onRead });
    return report;
  } catch (e) {
    if (e instanceof DataError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code) throw new DataError({ file, line: 0, column: 0, message: `cannot read the ${role} file: ${err.message}` });
    throw e;
  } finally {
    task.finish();
  }
}

// ---------------------------------------------------------------------------------------------
// Cell parsers: each returns a value or throws a RowFault naming the cell.

function text(row: Row, c: Cell): string {
  const v = raw(row, c);
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new RowFault(c, `expected a string, found ${Array.isArray(v) ? 'a list' : typeof v}`);
}

function requiredId(row: Row, c: Cell, what: string): string {
  const s = text(row, c);
  if (s === '') throw new RowFault(c, `missing ${what}`);
  return s;
}

const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A finite number, or NaN when the cell is empty. */
function number(row: Row, c: Cell): number {
  const v = raw(row, c);
  if (typeof v === 'number') return v;
  if (v === undefined || v === null) return NaN;
  if (typeof v !== 'string') throw new RowFault(c, `expected a number, found ${Array.isArray(v) ? 'a list' : typeof v}`);
  const s = v.trim();
  if (s === '') return NaN;
  // decimal notation only: Number() alone would take '0x1f' and 'Infinity'
  const n = NUMERIC.test(s) ? Number(s) : NaN;
  if (!Number.isFinite(n)) throw new RowFault(c, `'${v}' is not a number`);
  return n;
}


/** Seconds since the epoch, checked to lie in [1970, 2100). */
function timestamp(row: Row, c: Cell, format: TimestampFormat): number {
  const v = raw(row, c);
  let t: number;
  const s = typeof v === 'string' ? v.trim() : v;
  if (s === '' || s === undefined || s === null) throw new RowFault(c, 'missing timestamp');
  if (format === 'iso8601') {
    t = typeof s === 'string' ? parseIsoTimestamp(s) : NaN;
    if (Number.isNaN(t)) throw new RowFault(c, `'${String(s)}' is not an ISO 8601 date`);
  } else if (typeof s === 'number' || (typeof s === 'string' && NUMERIC.test(s))) {
    const n = Number(s);
    t = format === 'unix-ms' || (format === 'auto' && Math.abs(n) >= 1e11) ? n / 1000 : n;
  } else if (format === 'auto' && typeof s === 'string') {
    t = parseIsoTimestamp(s);
    if (Number.isNaN(t)) throw new RowFault(c, `'${s}' is not a timestamp (unix seconds, unix ms or ISO 8601)`);
  } else throw new RowFault(c, `${typeof s === 'string' ? `'${s}'` : typeof s} is not a number (timestampFormat is ${format})`);
  if (!(t >= 0 && t < MAX_TIMESTAMP)) throw new RowFault(c, `timestamp ${typeof v === 'string' ? v.trim() : String(v)} is out of range (before 1970 or after 2099)`);
  return t;
}

const TITLE_YEAR = /\((\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$/;
const ANY_YEAR = /(?:^|\D)(\d{4})(?:\D|$)/;

/**
 * A year from a title ("Toy Story (1995)") or a date ("01-Jan-1995", "1995-11-22"); NaN when none.
 * @example parseYear('Heat (1995)') === 1995
 */
export function parseYear(s: string): number {
  const m = TITLE_YEAR.exec(s) ?? ANY_YEAR.exec(s);
  if (!m) return NaN;
  const y = Number(m[1]);
  return y >= 1000 && y < 3000 ? y : NaN;
}

// ---------------------------------------------------------------------------------------------
// Features

type Extract = (row: Row) => FeatureValue;

function featureExtractor(f: FeatureConfig, resolveCell: Resolve, role: string): Extract {
  const missing = new Set(['', ...(f.missing ?? [])]);
  const where = `${role} feature '${f.name}'`;
  if (f.flags) {
    const cells = f.flags.map((ref) => resolveCell(ref, where));
    const labels = f.labels ?? cells.map((c, k) => c.name ?? String(f.flags![k]));
    return (row) => {
      const out: string[] = [];
      for (let k = 0; k < cells.length; k++) {
        const v = raw(row, cells[k]);
        const s = typeof v === 'string' ? v.trim() : v;
        if (s === '1' || s === 1 || s === true) out.push(labels[k]);
        else if (!(s === '0' || s === 0 || s === false || s === '' || s === undefined || s === null)) {
          throw new RowFault(cells[k], `flag must be 0 or 1, found ${JSON.stringify(v)}`);
        }
      }
      return out;
    };
  }
  const refs = f.column === undefined ? [f.name] : Array.isArray(f.column) ? f.column : [f.column];
  const cells = refs.map((ref) => resolveCell(ref, where));
  const one = (row: Row, c: Cell): FeatureValue => {
    switch (f.kind) {
      case 'categorical':
      case 'id': {
        const s = text(row, c);
        if (missing.has(s)) return null;
        return f.prefix ? s.slice(0, f.prefix) : s;
      }
      case 'text': {
        const s = text(row, c);
        return missing.has(s) ? null : s;
      }
      case 'multi-categorical': {
        const v = raw(row, c);
        if (Array.isArray(v)) return v.map(String).filter((p) => !missing.has(p));
        const s = text(row, c);
        if (missing.has(s)) return null;
        return s.split(f.separator ?? '|').map((p) => p.trim()).filter((p) => !missing.has(p));
      }
      case 'numeric': {
        if (f.parse === 'year') {
          const s = text(row, c);
          if (missing.has(s)) return null;
          const y = parseYear(s);
          return Number.isNaN(y) ? null : y;
        }
        const v = raw(row, c);
        if (typeof v === 'string' && missing.has(v)) return null;
        const n = number(row, c);
        return Number.isNaN(n) ? null : n;
      }
      case 'vector': {
        const v = raw(row, c);
        let parts: unknown[];
        if (Array.isArray(v)) parts = v;
        else {
          const s = text(row, c).trim();
          if (missing.has(s)) return null;
          parts = f.separator === undefined ? s.split(/\s+/) : s.split(f.separator);
        }
        if (parts.length !== f.dim) throw new RowFault(c, `expected a vector of ${f.dim} numbers, found ${parts.length}`);
        const out = new Float32Array(f.dim);
        for (let k = 0; k < parts.length; k++) {
          const p = parts[k];
          const n = typeof p === 'number' ? p : typeof p === 'string' && NUMERIC.test(p.trim()) ? Number(p) : NaN;
          if (!Number.isFinite(n)) throw new RowFault(c, `vector element ${k} ${JSON.stringify(p)} is not a number`);
          out[k] = n;
        }
        return out;
      }
    }
  };
  if (cells.length === 1) return (row) => one(row, cells[0]);
  return (row) => {
    for (const c of cells) {
      const v = one(row, c);
      if (v !== null && v !== undefined) return v;
    }
    return null;
  };
}

function featureSpec(f: FeatureConfig): FeatureSpec {
  const s: FeatureSpec = { name: f.name, kind: f.kind };
  if (f.dim !== undefined) s.dim = f.dim;
  if (f.buckets !== undefined) s.buckets = f.buckets;
  return s;
}

/** The schema a config declares. */
export function schemaOf(config: DatasetConfig): Schema {
  return {
    user: (config.users?.features ?? []).map(featureSpec),
    item: (config.items?.features ?? []).map(featureSpec),
    eventTypes: (config.eventTypes ?? []).map((e) => ({ name: e.name, weight: e.weight ?? 1, negative: e.negative ?? false })),
  };
}

async function loadEntities(cfg: EntityConfig, table: TableBuilder, role: 'users' | 'items', opts: LoadOptions): Promise<FileReport> {
  const firstLine = new Map<string, number>();
  const features = cfg.features ?? [];
  return readRows(cfg, role, opts, (resolveCell) => {
    const idCell = resolveCell(cfg.id, `${role}.id`);
    const extract = features.map((f) => featureExtractor(f, resolveCell, role));
    const values: FeatureValue[] = new Array(features.length);
    return (row, line) => {
      const id = requiredId(row, idCell, role === 'users' ? 'user id' : 'item id');
      for (let k = 0; k < extract.length; k++) values[k] = copyValue(extract[k](row));
      const seen = firstLine.get(id);
      if (seen !== undefined) throw new RowFault(idCell, `duplicate id '${id}' (first at line ${seen})`);
      firstLine.set(id, line);
      const r = table.row(copy(id));
      for (let k = 0; k < features.length; k++) table.set(r, features[k].name, values[k]);
    };
  }, keyedBy(cfg, role));
}

/** How an object keyed by id maps to records of this users or items config (see Keyed). */
function keyedBy(cfg: EntityConfig, role: 'users' | 'items'): Keyed {
  const features = cfg.features ?? [];
  const only = features.length === 1 ? features[0] : undefined;
  // one feature read from one key can take the bare value; flags or a list of columns cannot
  const single = only && !only.flags && !Array.isArray(only.column) ? String(only.column ?? only.name) : undefined;
  return { id: String(cfg.id), single, role, features: features.map((f) => f.name) };
}

/**
 * The row of id `s`, added when new. A new id is copied first: substrings of a parsed line can be
 * slices of the whole chunk they came from, and a vocabulary keeping one would keep the chunk alive.
 */
function rowOf(table: TableBuilder, s: string): number {
  const k = table.ids.get(s);
  return k >= 0 ? k : table.row(copy(s));
}

/** True for canonical non-negative integers below 10^9 ("0", "42"; not "042", "+1" or "1.0"). */
function isSmallInt(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > 9) return false;
  const c0 = s.charCodeAt(0);
  if (c0 === 48) return n === 1;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * rowOf with a side index for integer ids, the usual case (MovieLens, most logs): V8 looks up an
 * integer key in an array far faster than it hashes a fresh string into a Map (loading 1M u.data-like
 * rows took 1.55 s of CPU with the Map alone, 0.85 s with this).
 * The table's vocabulary stays the one truth: a miss here falls through to it.
 */
function idRows(table: TableBuilder): (s: string) => number {
  let byNumber = new Int32Array(1024); // row + 1, 0 = not yet seen
  return (s) => {
    if (!isSmallInt(s)) return rowOf(table, s);
    const n = +s;
    if (n >= byNumber.length) {
      if (n >= MAX_DIRECT_ID) return rowOf(table, s);
      let cap = byNumber.length * 2;
      while (cap <= n) cap *= 2;
      const next = new Int32Array(cap);
      next.set(byNumber);
      byNumber = next;
    }
    const r = byNumber[n];
    if (r > 0) return r - 1;
    const row = rowOf(table, s);
    byNumber[n] = row + 1;
    return row;
  };
}

/** Integer ids below this use the direct index (at most 64 MiB of Int32Array); larger ones the Map. */
const MAX_DIRECT_ID = 1 << 24;

/** A fresh copy of `s` (V8 copies substrings shorter than 13 characters anyway). */
function copy(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

function copyValue(v: FeatureValue): FeatureValue {
  if (typeof v === 'string') return copy(v);
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? copy(x) : x));
  return v;
}

/**
 * The next position of each user row, for timestampFormat 'order'. One instance spans the train and
 * test files of a split, so a user's test events come after their training events.
 */
class Positions {
  private next = new Int32Array(1024);
  take(user: number): number {
    if (user >= this.next.length) {
      const grown = new Int32Array(Math.max(user + 1, this.next.length * 2));
      grown.set(this.next);
      this.next = grown;
    }
    return this.next[user]++;
  }
}

/** The interactions' fields with a file named: the config's own, or a split file read in its format. */
type NamedInteractions = InteractionsConfig & { path: string };

/** How interactions may name items: `catalog` set: only items already known (a test file against the catalog and train). */
interface InteractionRules {
  /** Where the known items come from, for the message (`u.item or train.tsv`); unset: an unknown item adds a row. */
  catalog?: string;
  /** Tables loaded from files: unknown ids of those sides are counted in the report. */
  usersTable: boolean;
  itemsTable: boolean;
}

async function loadInteractions(cfg: NamedInteractions, b: DatasetBuilder, opts: LoadOptions, positions = new Positions(), rules: InteractionRules = { usersTable: false, itemsTable: false }): Promise<FileReport> {
  const users0 = b.users.ids.size;
  const items0 = b.items.ids.size;
  const report = await readRows(cfg, 'interactions', opts, (resolveCell) => {
    const user = resolveCell(cfg.user, 'interactions.user');
    const item = resolveCell(cfg.item, 'interactions.item');
    const event = cfg.event !== undefined ? resolveCell(cfg.event, 'interactions.event') : undefined;
    const value = cfg.value !== undefined ? resolveCell(cfg.value, 'interactions.value') : undefined;
    const time = cfg.timestamp !== undefined ? resolveCell(cfg.timestamp, 'interactions.timestamp') : undefined;
    const format = cfg.timestampFormat ?? 'auto';
    const order = format === 'order';
    if (order) b.timeKind = 'order';
    const names = b.eventTypes.map((e) => e.name).join(', ');
    let lastUser = '';
    let lastUserRow = -1;
    const userRow = idRows(b.users);
    const itemRow = idRows(b.items);
    return (row) => {
      const u = requiredId(row, user, 'user id');
      const i = requiredId(row, item, 'item id');
      // an item the model can never recommend would silently grow the catalog the evaluation ranks
      if (rules.catalog !== undefined && !b.items.ids.has(i)) throw new RowFault(item, `item '${i}' is not in the catalog (${rules.catalog}): a test item no model can recommend`);
      let e = 0;
      if (event) {
        const name = text(row, event).trim();
        e = b.eventType(name);
        if (e < 0) throw new RowFault(event, name === '' ? 'missing event type' : `unknown event type '${name}'; expected one of ${names}`);
      }
      let v = 1;
      if (value) {
        v = number(row, value);
        if (Number.isNaN(v)) v = 1; // an empty value counts as 1, like a file without values
      }
      const t = time && !order ? timestamp(row, time, format) : 0;
      // logs sorted by user repeat the same user row after row: skip the map lookup
      if (u !== lastUser) {
        lastUser = u;
        lastUserRow = userRow(u);
      }
      // the position is taken last, once nothing in the row can fail: a skipped row takes none
      b.addInteraction(lastUserRow, itemRow(i), e, v, order ? positions.take(lastUserRow) : t);
    };
  });
  if (rules.usersTable) report.unknownUsers = b.users.ids.size - users0;
  if (rules.itemsTable) report.unknownItems = b.items.ids.size - items0;
  return report;
}

/** A file that gave no interactions cannot be trained on or scored: say which and why. */
function requireRows(report: FileReport, what: string): void {
  if (report.rows > 0) return;
  const why = report.skipped > 0 ? `all ${report.skipped} rows were bad and skipped` : 'it holds no rows';
  throw new DataError({ file: report.path, line: 0, column: 0, message: `no interactions (${why}); ${what}` });
}

async function loadTables(config: DatasetConfig, opts: LoadOptions): Promise<{ b: DatasetBuilder; files: FileReport[] }> {
  const b = new DatasetBuilder(schemaOf(config), config.name ?? 'dataset');
  const files: FileReport[] = [];
  if (config.items) files.push(await loadEntities(config.items, b.items, 'items', opts));
  if (config.users) files.push(await loadEntities(config.users, b.users, 'users', opts));
  return { b, files };
}

/**
 * Loads the dataset a config describes. Items and users load first, so every catalog item has a row
 * even if no one interacted with it; interactions naming unknown users or items add rows without features.
 * @example const { dataset, report } = await loadDataset(await loadConfigFile('shop.json'), { skipBadRows: true });
 */
export async function loadDataset(config: DatasetConfig, opts: LoadOptions = {}): Promise<{ dataset: Dataset; report: LoadReport }> {
  const c = validateConfig(config);
  const path = c.interactions.path;
  if (path === undefined) throw new ConfigError(undefined, [{ path: 'interactions.path', message: 'is required to load the dataset (it may be left out only when train and test files supply the interactions)' }]);
  const { b, files } = await loadTables(c, opts);
  const report = await loadInteractions({ ...c.interactions, path }, b, opts, undefined, { usersTable: !!c.users, itemsTable: !!c.items });
  requireRows(report, 'a dataset needs interactions to train on or score');
  files.push(report);
  return { dataset: b.build(), report: { files, timeKind: b.timeKind } };
}

/**
 * The config's interaction format applied to another file. Validated again with that path, so a
 * config without `interactions.path` takes the defaults a file name gives (the separator of a .tsv).
 */
function interactionsAt(c: DatasetConfig, path: string): NamedInteractions {
  return validateConfig({ ...c, interactions: { ...c.interactions, path } }).interactions as NamedInteractions;
}

export interface TrainTestOptions extends LoadOptions {
  /** How the train and test files are read; default 'auto' (see SplitFormat). */
  splitFormat?: SplitFormat;
}

/**
 * One train or test file, read as its layout says. A problem in it names how the file was read, since
 * a wrong guess (or a wrong --split-format) shows as a bad first row or an unknown column.
 */
async function loadSplitFile(c: DatasetConfig, path: string, b: DatasetBuilder, opts: TrainTestOptions, positions: Positions, rules: InteractionRules): Promise<FileReport> {
  let own: NamedInteractions | undefined;
  let ownProblem: ConfigError | undefined;
  try {
    own = interactionsAt(c, path);
  } catch (e) {
    // the config's format cannot apply to this file (no separator for its extension): fine unless asked for
    if (!(e instanceof ConfigError)) throw e;
    ownProblem = e;
  }
  const layout = await splitLayout(own ?? c.interactions, path, opts.splitFormat ?? 'auto', own !== undefined);
  if (layout.kind === 'config' && !own) throw ownProblem!;
  const ic = layout.kind === 'config' ? own! : splitInteractions(own ?? c.interactions, layout, path);
  try {
    const report = await loadInteractions(ic, b, opts, positions, rules);
    report.readAs = layout.readAs;
    return report;
  } catch (e) {
    if (!(e instanceof DataError)) throw e;
    // a test item outside the catalog is the data's fault, not a misread layout: no hint
    if (rules.catalog !== undefined && / is not in the catalog \(/.test(e.detail)) throw e;
    const forced = opts.splitFormat !== undefined && opts.splitFormat !== 'auto';
    const hint =
      layout.kind === 'config'
        ? `; for files of user, item[, value, timestamp] ${forced ? 'leave --split-format out, or give' : 'give --split-format'} tsv, csv, tsv-header or csv-header`
        : '; --split-format says how to read it';
    throw new DataError({ ...e.toProblem(), message: `${e.detail} (the file was read as ${layout.readAs}${hint})` });
  }
}

/**
 * Loads explicit train and test files against the config's user and item files. Both sides share one
 * set of tables, so dense indices agree. A split file is read as user, item[, value, timestamp] (its
 * separator and header detected), or in the config's own interaction format when its first lines are
 * in it; `splitFormat` says which instead. Rows are of the first event type. The config's own
 * interactions file is not read, and may be left out. Paths are relative to the working directory.
 * @example await loadTrainTest(resolvePreset('movielens-100k', dir), 'train.tsv', 'test.tsv')
 */
export async function loadTrainTest(config: DatasetConfig, trainPath: string, testPath: string, opts: TrainTestOptions = {}): Promise<{ train: Dataset; test: Dataset; report: LoadReport }> {
  const c = validateConfig(config);
  const { b, files } = await loadTables(c, opts);
  const positions = new Positions();
  const tables = { usersTable: !!c.users, itemsTable: !!c.items };
  const train = await loadSplitFile(c, resolve(trainPath), b, opts, positions, tables);
  requireRows(train, 'the train side needs interactions to fit on');
  files.push(train);
  const nTrain = b.interactionCount;
  // test items must be in the catalog: the items file, or the train file when there is none
  const catalog = c.items ? `${basename(c.items.path)} or ${basename(trainPath)}` : basename(trainPath);
  const test = await loadSplitFile(c, resolve(testPath), b, opts, positions, { ...tables, catalog });
  requireRows(test, 'the test side needs interactions to score');
  files.push(test);
  const all = b.build();
  const n = all.interactions.length;
  const range = (from: number, to: number): Int32Array => Int32Array.from({ length: to - from }, (_, k) => from + k);
  const name = c.name ?? 'dataset';
  return {
    train: all.withInteractions(selectInteractions(all.interactions, range(0, nTrain)), `${name}:${basename(trainPath)}`),
    test: all.withInteractions(selectInteractions(all.interactions, range(nTrain, n)), `${name}:${basename(testPath)}`),
    report: { files, timeKind: b.timeKind },
  };
}
