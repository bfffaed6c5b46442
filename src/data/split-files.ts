/**
 * How explicit train and test files are read. Split files are usually written by another tool as
 * user, item[, value, timestamp] (the MovieLens benchmark splits are such TSV files), whatever the
 * dataset's own interaction format: so by default their separator and header are detected from their
 * first lines, and a file in the dataset's own format (its header names the config's columns) is read
 * in that format. `--split-format` says it instead.
 */
import { open } from 'node:fs/promises';
import type { InteractionsConfig } from './config.ts';
import { DelimitedParser, type TextEncoding } from './delimited.ts';
import { DataError } from './errors.ts';
import { parseIsoTimestamp } from './time.ts';

/**
 * 'auto': detect; 'tsv' and 'csv': user, item[, value, timestamp] without a header; 'tsv-header' and
 * 'csv-header': the same after one header line; 'config': the dataset's own interaction format.
 */
export type SplitFormat = 'auto' | 'tsv' | 'csv' | 'tsv-header' | 'csv-header' | 'config';

export const SPLIT_FORMATS: readonly SplitFormat[] = ['auto', 'tsv', 'csv', 'tsv-header', 'csv-header', 'config'];

/** The columns of a split file, by position. */
export const SPLIT_COLUMNS = ['user', 'item', 'value', 'timestamp'] as const;

/** How one split file is read. */
export type SplitLayout =
  | { kind: 'config'; readAs: string }
  | { kind: 'columns'; separator: string; header: boolean; fields: number; readAs: string };

/** Separators tried in order when none is given: the first that splits every sampled line alike wins. */
const SEPARATORS: readonly [string, string][] = [
  ['\t', 'tab-separated'],
  [',', 'comma-separated'],
  [';', 'semicolon-separated'],
  ['|', "'|'-separated"],
  ['::', "'::'-separated"],
];

const SAMPLE_BYTES = 64 << 10;
const SAMPLE_RECORDS = 50;

/** Header names taken as naming each split column (compared lower-case, without '_', '-' or spaces). */
const NAMES: Record<(typeof SPLIT_COLUMNS)[number], readonly string[]> = {
  user: ['user', 'userid', 'uid', 'users', 'customer', 'customerid', 'visitor', 'visitorid', 'session', 'sessionid'],
  item: ['item', 'itemid', 'iid', 'items', 'movie', 'movieid', 'product', 'productid', 'sku', 'article', 'articleid'],
  value: ['value', 'rating', 'score', 'weight', 'count', 'quantity', 'qty'],
  timestamp: ['timestamp', 'time', 'ts', 'date', 'datetime', 'eventtime', 'unixtime'],
};

const norm = (s: string): string => s.trim().toLowerCase().replace(/[\s_-]+/g, '');

const isNumber = (s: string): boolean => /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s.trim());

/** The role a header name gives its column, by the common names and the config's own column names. */
function roleOf(name: string, ic: InteractionsConfig): (typeof SPLIT_COLUMNS)[number] | undefined {
  const n = norm(name);
  if (n === '') return undefined;
  const own: [(typeof SPLIT_COLUMNS)[number], unknown][] = [['user', ic.user], ['item', ic.item], ['value', ic.value], ['timestamp', ic.timestamp]];
  for (const [role, ref] of own) if (typeof ref === 'string' && norm(ref) === n) return role;
  for (const role of SPLIT_COLUMNS) if (NAMES[role].includes(n)) return role;
  return undefined;
}

/** The first records of a file (at most SAMPLE_RECORDS, within its first SAMPLE_BYTES), split by `separator`. */
function sampleRecords(text: string, whole: boolean, separator: string): string[][] {
  const out: string[][] = [];
  const p = new DelimitedParser({ separator, quote: '"' }, '<sample>', (fields) => {
    if (out.length < SAMPLE_RECORDS) out.push(fields);
  }, () => {});
  p.push(text);
  // a sample cut mid-file may end in a partial record: only complete lines count
  if (whole) p.end();
  return out;
}

async function readSample(path: string, encoding: TextEncoding): Promise<{ text: string; whole: boolean }> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new DataError({ file: path, line: 0, column: 0, message: `cannot read the split file: ${(e as Error).message}` });
  }
  try {
    const buf = Buffer.alloc(SAMPLE_BYTES);
    const { bytesRead } = await fh.read(buf, 0, SAMPLE_BYTES, 0);
    let text = buf.subarray(0, bytesRead).toString(encoding);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return { text, whole: bytesRead < SAMPLE_BYTES };
  } finally {
    await fh.close();
  }
}

/** True when the first record is a header: a name that names a column, or text where the other rows hold numbers. */
function isHeader(records: string[][], ic: InteractionsConfig): boolean {
  const first = records[0];
  if (first.some((f) => roleOf(f, ic) !== undefined)) return true;
  if (records.length < 2) return false;
  const rest = records.slice(1);
  const numbers = (k: number, ok: (s: string) => boolean): boolean => k < first.length && !ok(first[k]) && first[k].trim() !== '' && rest.every((r) => ok(r[k] ?? ''));
  return numbers(2, (s) => s.trim() === '' || isNumber(s)) || numbers(3, (s) => isNumber(s) || Number.isFinite(parseIsoTimestamp(s)));
}

/**
 * The header's names must follow user, item, value, timestamp: a header that names the item first
 * would otherwise be read with users and items swapped.
 */
function checkHeaderOrder(path: string, header: string[], ic: InteractionsConfig): void {
  header.forEach((name, k) => {
    const role = roleOf(name, ic);
    if (role !== undefined && role !== SPLIT_COLUMNS[k]) {
      throw new DataError({
        file: path,
        line: 1,
        column: k + 1,
        columnName: name,
        message: `the header names the ${role} here, but split files hold ${SPLIT_COLUMNS.slice(0, header.length).join(', ')} in that order (column ${k + 1} is the ${SPLIT_COLUMNS[k]}); reorder the columns, or give --split-format config to read the file in the dataset's own format`,
      });
    }
  });
}

/**
 * True when a config's interactions are read exactly as split columns would be: a delimited file
 * without header, user and item in columns 1 and 2, value 3 and time 4 when present, no event column
 * (MovieLens 100K's u.data). Such a file is read by position whatever its config says.
 */
function positional(ic: InteractionsConfig): boolean {
  if (ic.format !== 'delimited' || ic.header || ic.event !== undefined) return false;
  const at = (ref: unknown): number => (typeof ref === 'number' ? ref : typeof ref === 'string' && ic.columns ? ic.columns.indexOf(ref) : -1);
  return at(ic.user) === 0 && at(ic.item) === 1 && (ic.value === undefined || at(ic.value) === 2) && (ic.timestamp === undefined || at(ic.timestamp) === 3);
}

/** True when the sample is in the config's own interaction format (so a file of the dataset's own log reads as it always did). */
function inConfigFormat(text: string, whole: boolean, ic: InteractionsConfig): boolean {
  const start = text.trimStart()[0];
  if (ic.format === 'jsonl' || ic.format === 'json') return start === '{' || start === '[';
  if (ic.separator === undefined || start === undefined) return false;
  const records = sampleRecords(text, whole, ic.separator);
  if (records.length === 0) return false;
  const refs = [ic.user, ic.item, ic.event, ic.value, ic.timestamp].filter((r) => r !== undefined);
  if (ic.header && !ic.columns) return refs.every((r) => typeof r === 'number' || records[0].includes(r));
  if (positional(ic)) return false;
  const n = ic.columns?.length ?? 1 + Math.max(...refs.map((r) => (typeof r === 'number' ? r : 0)));
  return records.every((r) => r.length === n);
}

function describeColumns(sepName: string, fields: number, header: boolean, how: string): string {
  return `${sepName} ${SPLIT_COLUMNS.slice(0, fields).join(', ')}, ${header ? 'after a header line' : 'no header'} (${how})`;
}

/**
 * How the split file at `path` is read: as `format` says, or, for 'auto', as its first lines show.
 * `ic` is the config's interactions (with `path` applied, when `ownFormat`: then 'auto' may find the
 * file in that format). Throws a DataError saying what was expected when the lines fit no reading.
 * @example await splitLayout(config.interactions, 'train.tsv') → { kind: 'columns', separator: '\t', header: false, fields: 4, ... }
 */
export async function splitLayout(ic: InteractionsConfig, path: string, format: SplitFormat = 'auto', ownFormat = true): Promise<SplitLayout> {
  if (format === 'config') return { kind: 'config', readAs: "the dataset's own interaction format (--split-format config)" };
  const { text, whole } = await readSample(path, ic.encoding ?? 'utf8');
  const fixed = format === 'auto' ? undefined : SEPARATORS[format.startsWith('tsv') ? 0 : 1];
  if (!fixed && ownFormat && inConfigFormat(text, whole, ic)) return { kind: 'config', readAs: "the dataset's own interaction format (detected: its first lines fit the config's columns)" };
  const expected = `a split file holds user, item[, value, timestamp] on each line`;
  for (const [sep, sepName] of fixed ? [fixed] : SEPARATORS) {
    const records = sampleRecords(text, whole, sep);
    if (records.length === 0) {
      if (whole) return { kind: 'columns', separator: sep, header: false, fields: 2, readAs: `an empty file (${sepName})` };
      throw new DataError({ file: path, line: 1, column: 0, message: `cannot tell how to read this split file: its first line is longer than ${SAMPLE_BYTES >> 10} KiB, and ${expected}` });
    }
    const n = records[0].length;
    if (fixed) {
      if (n < 2 || n > 4) {
        throw new DataError({ file: path, line: 1, column: 0, message: `${expected}, ${sepName} (--split-format ${format}); the first line has ${n} field${n === 1 ? '' : 's'}${n === 1 ? ` ('${records[0][0].slice(0, 60)}')` : ''}; for the dataset's own format give --split-format config` });
      }
    } else if (n < 2 || n > 4 || records.some((r) => r.length !== n)) continue;
    const header = fixed ? format.endsWith('-header') : isHeader(records, ic);
    if (header) checkHeaderOrder(path, records[0], ic);
    if (ic.timestampFormat === 'order' && n === 4) {
      throw new DataError({ file: path, line: 1, column: 4, message: `the dataset's time is an order (timestampFormat "order"), so split files hold user, item[, value] in each user's order; this one has a 4th column` });
    }
    return { kind: 'columns', separator: sep, header, fields: n, readAs: describeColumns(sepName, n, header, fixed ? `--split-format ${format}` : 'detected from its first lines') };
  }
  const first = sampleRecords(text, whole, '\t')[0]?.join('\t') ?? '';
  throw new DataError({
    file: path,
    line: 1,
    column: 0,
    message: `cannot tell how to read this split file: ${expected}, separated by tabs, commas, semicolons, '|' or '::' (the same number of fields, 2 to 4, on every line), and its first line is '${first.slice(0, 80)}'; give --split-format (tsv, csv, tsv-header, csv-header, or config for the dataset's own format)`,
  });
}

/**
 * The interaction fields that read a split file with `layout`: the config's own, or user, item[,
 * value, timestamp] by position. Rows are of the first event type; timestamps are read as
 * timestampFormat 'auto' does (unix seconds, milliseconds or ISO 8601), or are positions when the
 * dataset's time is an order.
 */
export function splitInteractions(own: InteractionsConfig, layout: SplitLayout & { kind: 'columns' }, path: string): InteractionsConfig & { path: string } {
  const names = SPLIT_COLUMNS.slice(0, layout.fields);
  const ic: InteractionsConfig & { path: string } = {
    path,
    format: 'delimited',
    separator: layout.separator,
    quote: '"',
    header: layout.header,
    columns: [...names],
    encoding: own.encoding ?? 'utf8',
    user: 'user',
    item: 'item',
  };
  if (layout.fields >= 3) ic.value = 'value';
  if (own.timestampFormat === 'order') ic.timestampFormat = 'order';
  else if (layout.fields === 4) {
    ic.timestamp = 'timestamp';
    ic.timestampFormat = 'auto';
  }
  return ic;
}
