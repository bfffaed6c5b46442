/**
 * The dataset config file (JSON): which files hold interactions, users and items, how they are
 * formatted, which column holds what, and each feature's kind. Documented in docs/dataset-config.md.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { FEATURE_KINDS, type FeatureKind } from './schema.ts';
import { ConfigError, type ConfigProblem } from './errors.ts';
import type { TextEncoding } from './delimited.ts';

/** A column by header name (or JSON key), or by 0-based position in a delimited row. */
export type ColumnRef = string | number;
/** 'json': one JSON document, an array of records or (users and items) an object keyed by id. */
export type FileFormat = 'delimited' | 'jsonl' | 'json';
/**
 * 'auto': numbers below 1e11 are seconds, larger ones milliseconds; other strings are ISO 8601.
 * 'order': no time column; the timestamp is the event's position within its user, in file order.
 */
export type TimestampFormat = 'auto' | 'unix-seconds' | 'unix-ms' | 'iso8601' | 'order';

export interface FileConfig {
  /** Relative paths are resolved against the config file's folder. */
  path: string;
  /** Default from the extension: .jsonl/.ndjson are 'jsonl', .json is 'json', anything else 'delimited'. */
  format?: FileFormat;
  /** Delimited only. Default '\t' for .tsv, ',' for .csv; required for other extensions. */
  separator?: string;
  /** Delimited only: the first record names the columns. Default true, or false when `columns` is given. */
  header?: boolean;
  /** Delimited only: names for the columns (for a file without header, or to rename a header). */
  columns?: string[];
  /** Default 'utf8'. */
  encoding?: TextEncoding;
  /** Delimited only: quote character, or false when the file never quotes. Default '"'. */
  quote?: string | false;
}

export interface InteractionsConfig extends Omit<FileConfig, 'path'> {
  /** The interaction log. Optional when train and test files supply the interactions (loadTrainTest); loadDataset needs it. */
  path?: string;
  user: ColumnRef;
  item: ColumnRef;
  /** Column holding the event type's name; without it every row is the first event type. */
  event?: ColumnRef;
  /** Column holding a number (rating, weight, price paid); without it every value is 1. */
  value?: ColumnRef;
  /** Column holding the time; without it every timestamp is 0 (or the position, with timestampFormat 'order'). */
  timestamp?: ColumnRef;
  timestampFormat?: TimestampFormat;
}

export interface FeatureConfig {
  name: string;
  kind: FeatureKind;
  /** Where the value comes from; default: the column named like the feature. A list: the first column with a value. */
  column?: ColumnRef | ColumnRef[];
  /** multi-categorical: between values (default '|'); vector: between elements (default: whitespace). */
  separator?: string;
  /** vector: its length (required). */
  dim?: number;
  /** Hash buckets for values never seen (categorical, multi-categorical, text, id). */
  buckets?: number;
  /** multi-categorical: a group of 0/1 columns, each set flag adds its label (u.item's 19 genres). */
  flags?: ColumnRef[];
  /** Labels for `flags`, in the same order; default the flag columns' names. */
  labels?: string[];
  /** numeric: 'year' takes a year from a title like "Toy Story (1995)" or a date like "01-Jan-1995". */
  parse?: 'year';
  /** categorical or id: keep only the first `prefix` characters (a zip code's region). */
  prefix?: number;
  /** Values that mean "missing" (besides the empty string), e.g. "(no genres listed)". */
  missing?: string[];
}

export interface EntityConfig extends FileConfig {
  /**
   * Column holding the user's or item's id (the same ids the interactions use). A JSON file's default
   * is the key 'id'; in an object keyed by id, the key is the id.
   */
  id: ColumnRef;
  features?: FeatureConfig[];
}

export interface EventTypeConfig {
  name: string;
  /** Default 1. */
  weight?: number;
  /** Default false. */
  negative?: boolean;
}

/**
 * A dataset config, as in the JSON file. `loadConfigFile` (and `validateConfig`) return it with
 * defaults filled in and paths made absolute.
 * @example { "interactions": { "path": "events.csv", "user": "user_id", "item": "sku", "timestamp": "ts" } }
 */
export interface DatasetConfig {
  name?: string;
  interactions: InteractionsConfig;
  users?: EntityConfig;
  items?: EntityConfig;
  /** Default one type, 'interaction', weight 1. */
  eventTypes?: EventTypeConfig[];
}

export const TIMESTAMP_FORMATS: readonly TimestampFormat[] = ['auto', 'unix-seconds', 'unix-ms', 'iso8601', 'order'];
const ENCODINGS: Record<string, TextEncoding> = { utf8: 'utf8', 'utf-8': 'utf8', latin1: 'latin1', 'iso-8859-1': 'latin1', 'iso8859-1': 'latin1' };

/** Keys that may appear anywhere without meaning (notes for humans). */
const isComment = (k: string): boolean => k === 'comment' || k.startsWith('$');

class Checker {
  readonly problems: ConfigProblem[] = [];
  fail(path: string, message: string): void {
    this.problems.push({ path, message });
  }
  object(v: unknown, path: string): v is Record<string, unknown> {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return true;
    this.fail(path, `expected an object, found ${describe(v)}`);
    return false;
  }
  keys(o: Record<string, unknown>, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k) && !isComment(k)) this.fail(join(path, k), `unknown field '${k}'; expected one of ${allowed.join(', ')}`);
    }
  }
  string(o: Record<string, unknown>, key: string, path: string, required: boolean): string | undefined {
    const v = o[key];
    if (v === undefined) {
      if (required) this.fail(join(path, key), 'is required');
      return undefined;
    }
    if (typeof v !== 'string' || v === '') {
      this.fail(join(path, key), `expected a non-empty string, found ${describe(v)}`);
      return undefined;
    }
    return v;
  }
  boolean(o: Record<string, unknown>, key: string, path: string): boolean | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      this.fail(join(path, key), `expected true or false, found ${describe(v)}`);
      return undefined;
    }
    return v;
  }
  integer(o: Record<string, unknown>, key: string, path: string, min: number): number | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      this.fail(join(path, key), `expected an integer >= ${min}, found ${describe(v)}`);
      return undefined;
    }
    return v;
  }
  column(v: unknown, path: string): ColumnRef | undefined {
    if ((typeof v === 'string' && v !== '') || (typeof v === 'number' && Number.isInteger(v) && v >= 0)) return v;
    this.fail(path, `expected a column name or a 0-based column index, found ${describe(v)}`);
    return undefined;
  }
  stringList(o: Record<string, unknown>, key: string, path: string): string[] | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      this.fail(join(path, key), `expected a list of strings, found ${describe(v)}`);
      return undefined;
    }
    return v as string[];
  }
  oneOf<T extends string>(o: Record<string, unknown>, key: string, path: string, allowed: readonly T[]): T | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.fail(join(path, key), `unknown ${key} ${describe(v)}; expected one of ${allowed.join(', ')}`);
      return undefined;
    }
    return v as T;
  }
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

const FILE_KEYS = ['path', 'format', 'separator', 'header', 'columns', 'encoding', 'quote'] as const;

/** A file's fields before a path is known: the interactions' when train and test files supply them. */
type FileFields = Omit<FileConfig, 'path'> & { path?: string };

/**
 * Checks a file's fields and fills their defaults. With `pathOptional`, a missing path is no error, and
 * the defaults that depend on the file's name (format, separator, header, quote) wait until a file is
 * named: loadTrainTest validates the fields again with each split file's path.
 */
function checkFile(c: Checker, o: Record<string, unknown>, path: string, baseDir: string, pathOptional = false): FileFields | undefined {
  const p = c.string(o, 'path', path, !pathOptional);
  const explicit = c.oneOf(o, 'format', path, ['delimited', 'jsonl', 'json'] as const);
  const ext = p ? extname(p).toLowerCase() : '';
  let encoding: TextEncoding = 'utf8';
  if (o.encoding !== undefined) {
    const e = typeof o.encoding === 'string' ? ENCODINGS[o.encoding.toLowerCase()] : undefined;
    if (!e) c.fail(join(path, 'encoding'), `unknown encoding ${describe(o.encoding)}; expected utf8 or latin1`);
    else encoding = e;
  }
  const columns = c.stringList(o, 'columns', path);
  const header = c.boolean(o, 'header', path);
  if (p === undefined && !pathOptional) return undefined;
  const named = p !== undefined;
  const format: FileFormat | undefined = explicit ?? (named ? (ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : ext === '.json' ? 'json' : 'delimited') : undefined);
  const out: FileFields = { encoding };
  if (named) out.path = isAbsolute(p) ? p : resolve(baseDir, p);
  if (format) out.format = format;
  if (format === 'jsonl' || format === 'json') {
    for (const k of ['separator', 'header', 'columns', 'quote'] as const) {
      if (o[k] !== undefined) c.fail(join(path, k), `does not apply to a ${format === 'json' ? 'JSON' : 'JSON Lines'} file (fields are read by key)`);
    }
    return out;
  }
  let sep = o.separator;
  if (sep === undefined) sep = ext === '.tsv' ? '\t' : ext === '.csv' ? ',' : undefined;
  if (sep === undefined) {
    if (named) c.fail(join(path, 'separator'), `is required for '${p}' (only .csv and .tsv files have a default)`);
  } else if (typeof sep !== 'string' || sep === '' || /[\r\n]/.test(sep)) c.fail(join(path, 'separator'), `expected a non-empty string without newlines, found ${describe(sep)}`);
  else out.separator = sep;
  let quote: string | false = '"';
  if (o.quote !== undefined) {
    if (o.quote === false || (typeof o.quote === 'string' && o.quote.length === 1)) quote = o.quote;
    else c.fail(join(path, 'quote'), `expected one character or false, found ${describe(o.quote)}`);
  }
  if (quote !== false && typeof sep === 'string' && sep.includes(quote)) c.fail(join(path, 'quote'), `the separator ${JSON.stringify(sep)} contains the quote character; set "quote": false`);
  if (named || o.quote !== undefined) out.quote = quote;
  if (named) out.header = header ?? columns === undefined;
  else if (header !== undefined) out.header = header;
  if (columns) out.columns = columns;
  return out;
}

function checkColumn(c: Checker, o: Record<string, unknown>, key: string, path: string, required: boolean): ColumnRef | undefined {
  if (o[key] === undefined) {
    if (required) c.fail(join(path, key), 'is required');
    return undefined;
  }
  return c.column(o[key], join(path, key));
}

const FEATURE_KEYS = ['name', 'kind', 'column', 'separator', 'dim', 'buckets', 'flags', 'labels', 'parse', 'prefix', 'missing'] as const;

function checkFeature(c: Checker, v: unknown, path: string): FeatureConfig | undefined {
  if (!c.object(v, path)) return undefined;
  c.keys(v, path, FEATURE_KEYS);
  const name = c.string(v, 'name', path, true);
  const kind = v.kind === undefined ? (c.fail(join(path, 'kind'), `is required; expected one of ${FEATURE_KINDS.join(', ')}`), undefined) : c.oneOf(v, 'kind', path, FEATURE_KINDS);
  if (!name || !kind) return undefined;
  const f: FeatureConfig = { name, kind };
  if (v.column !== undefined) {
    if (Array.isArray(v.column)) {
      if (v.column.length === 0) c.fail(join(path, 'column'), 'expected at least one column');
      const cols = v.column.map((x, k) => c.column(x, join(join(path, 'column'), k)));
      if (cols.every((x) => x !== undefined)) f.column = cols as ColumnRef[];
    } else {
      const col = c.column(v.column, join(path, 'column'));
      if (col !== undefined) f.column = col;
    }
  }
  const only = (key: string, kinds: readonly FeatureKind[]): boolean => {
    if (v[key] === undefined) return false;
    if (!kinds.includes(kind)) {
      c.fail(join(path, key), `applies only to kind ${kinds.join(' or ')}, not '${kind}'`);
      return false;
    }
    return true;
  };
  if (only('separator', ['multi-categorical', 'vector'])) {
    const s = c.string(v, 'separator', path, false);
    if (s !== undefined) f.separator = s;
  }
  if (kind === 'vector') {
    const dim = c.integer(v, 'dim', path, 1);
    if (v.dim === undefined) c.fail(join(path, 'dim'), "is required for kind 'vector'");
    if (dim !== undefined) f.dim = dim;
  } else only('dim', ['vector']);
  if (only('buckets', ['id', 'categorical', 'multi-categorical', 'text'])) {
    const b = c.integer(v, 'buckets', path, 0);
    if (b !== undefined) f.buckets = b;
  }
  if (only('flags', ['multi-categorical'])) {
    if (!Array.isArray(v.flags) || v.flags.length === 0) c.fail(join(path, 'flags'), 'expected a non-empty list of columns');
    else {
      const cols = v.flags.map((x, k) => c.column(x, join(join(path, 'flags'), k)));
      if (cols.every((x) => x !== undefined)) f.flags = cols as ColumnRef[];
      if (v.column !== undefined) c.fail(join(path, 'column'), "cannot be combined with 'flags'");
    }
  }
  if (v.labels !== undefined) {
    if (v.flags === undefined) c.fail(join(path, 'labels'), "applies only together with 'flags'");
    const labels = c.stringList(v, 'labels', path);
    if (labels && Array.isArray(v.flags) && labels.length !== v.flags.length) {
      c.fail(join(path, 'labels'), `has ${labels.length} labels for ${v.flags.length} flag columns`);
    } else if (labels) f.labels = labels;
  }
  if (only('parse', ['numeric'])) {
    const p = c.oneOf(v, 'parse', path, ['year'] as const);
    if (p) f.parse = p;
  }
  if (only('prefix', ['categorical', 'id'])) {
    const p = c.integer(v, 'prefix', path, 1);
    if (p !== undefined) f.prefix = p;
  }
  const missing = c.stringList(v, 'missing', path);
  if (missing) f.missing = missing;
  return f;
}

function checkEntity(c: Checker, v: unknown, path: string, baseDir: string): EntityConfig | undefined {
  if (!c.object(v, path)) return undefined;
  c.keys(v, path, [...FILE_KEYS, 'id', 'features']);
  const file = checkFile(c, v, path, baseDir) as FileConfig | undefined;
  // a JSON record's id is usually under 'id' (and in an object keyed by id, the key is the id)
  const id = file?.format === 'json' && v.id === undefined ? 'id' : checkColumn(c, v, 'id', path, true);
  const features: FeatureConfig[] = [];
  if (v.features !== undefined) {
    if (!Array.isArray(v.features)) c.fail(join(path, 'features'), `expected a list, found ${describe(v.features)}`);
    else {
      const seen = new Set<string>();
      v.features.forEach((fv, k) => {
        const f = checkFeature(c, fv, join(join(path, 'features'), k));
        if (!f) return;
        if (seen.has(f.name)) c.fail(join(join(join(path, 'features'), k), 'name'), `feature '${f.name}' is declared twice`);
        seen.add(f.name);
        features.push(f);
      });
    }
  }
  if (!file || id === undefined) return undefined;
  return { ...file, id, features };
}

/**
 * Checks a parsed config and returns it with defaults filled in and paths resolved against `baseDir`.
 * Throws a ConfigError listing every problem, each with the JSON path of its field.
 * @example validateConfig(JSON.parse(text), { baseDir: '/data/shop', file: 'shop.json' })
 */
export function validateConfig(json: unknown, where: { baseDir?: string; file?: string } = {}): DatasetConfig {
  const baseDir = where.baseDir ?? process.cwd();
  const c = new Checker();
  if (!c.object(json, '')) throw new ConfigError(where.file, c.problems);
  c.keys(json, '', ['name', 'interactions', 'users', 'items', 'eventTypes']);
  const out: Partial<DatasetConfig> = {};
  const name = c.string(json, 'name', '', false);
  if (name) out.name = name;

  const eventTypes: EventTypeConfig[] = [];
  if (json.eventTypes !== undefined) {
    if (!Array.isArray(json.eventTypes) || json.eventTypes.length === 0) c.fail('eventTypes', 'expected a non-empty list of event types');
    else if (json.eventTypes.length > 255) c.fail('eventTypes', `at most 255 event types, found ${json.eventTypes.length}`);
    else {
      const seen = new Set<string>();
      json.eventTypes.forEach((ev, k) => {
        const path = join('eventTypes', k);
        if (!c.object(ev, path)) return;
        c.keys(ev, path, ['name', 'weight', 'negative']);
        const n = c.string(ev, 'name', path, true);
        let weight = 1;
        if (ev.weight !== undefined) {
          if (typeof ev.weight !== 'number' || !Number.isFinite(ev.weight)) c.fail(join(path, 'weight'), `expected a finite number, found ${describe(ev.weight)}`);
          else weight = ev.weight;
        }
        const negative = c.boolean(ev, 'negative', path) ?? false;
        if (!n) return;
        if (seen.has(n)) return c.fail(join(path, 'name'), `event type '${n}' is declared twice`);
        seen.add(n);
        eventTypes.push({ name: n, weight, negative });
      });
    }
  }
  out.eventTypes = eventTypes.length ? eventTypes : [{ name: 'interaction', weight: 1, negative: false }];

  if (json.interactions === undefined) c.fail('interactions', 'is required');
  else if (c.object(json.interactions, 'interactions')) {
    const o = json.interactions;
    const path = 'interactions';
    c.keys(o, path, [...FILE_KEYS, 'user', 'item', 'event', 'value', 'timestamp', 'timestampFormat']);
    const file = checkFile(c, o, path, baseDir, true);
    const user = checkColumn(c, o, 'user', path, true);
    const item = checkColumn(c, o, 'item', path, true);
    const event = checkColumn(c, o, 'event', path, false);
    const value = checkColumn(c, o, 'value', path, false);
    const timestamp = checkColumn(c, o, 'timestamp', path, false);
    const timestampFormat = c.oneOf(o, 'timestampFormat', path, TIMESTAMP_FORMATS) ?? 'auto';
    if (timestampFormat === 'order') {
      // the position comes from the file's order; a column as well would leave two truths
      if (o.timestamp !== undefined) c.fail(join(path, 'timestamp'), `does not go with timestampFormat 'order' (the position of each event within its user is its timestamp); remove one of them`);
    } else if (o.timestampFormat !== undefined && o.timestamp === undefined) c.fail(join(path, 'timestampFormat'), "needs a 'timestamp' column (or 'order', for logs that only know each user's order of events)");
    if (event === undefined && eventTypes.length > 1) c.fail(join(path, 'event'), `is required when more than one event type is declared (${eventTypes.map((e) => e.name).join(', ')})`);
    if (file && user !== undefined && item !== undefined) {
      const ic: InteractionsConfig = { ...file, user, item };
      if (event !== undefined) ic.event = event;
      if (value !== undefined) ic.value = value;
      if (timestamp !== undefined) ic.timestamp = timestamp;
      // filled only where it means something: a format without a column fails validation, and a
      // validated config is validated again by every loader
      if (timestamp !== undefined || timestampFormat === 'order') ic.timestampFormat = timestampFormat;
      out.interactions = ic;
    }
  }
  for (const side of ['users', 'items'] as const) {
    if (json[side] === undefined) continue;
    const e = checkEntity(c, json[side], side, baseDir);
    if (e) out[side] = e;
  }
  if (c.problems.length) throw new ConfigError(where.file, c.problems);
  return out as DatasetConfig;
}

/**
 * Reads and validates a dataset config file; relative paths in it are resolved against its folder.
 * @example const config = await loadConfigFile('data/shop.json'); const { dataset } = await loadDataset(config);
 */
export async function loadConfigFile(path: string): Promise<DatasetConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, [{ path: '', message: `cannot read the config file: ${(e as Error).message}` }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    let where = '';
    if (m) {
      const before = text.slice(0, Number(m[1]));
      const line = before.split('\n').length;
      where = ` at line ${line}, column ${Number(m[1]) - before.lastIndexOf('\n')}`;
    }
    throw new ConfigError(path, [{ path: '', message: `invalid JSON${where}: ${msg}` }]);
  }
  return validateConfig(json, { baseDir: dirname(resolve(path)), file: path });
}
