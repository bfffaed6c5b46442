/**
 * Delimited text (CSV, TSV, `|`- or `::`-separated): a streaming parser with RFC 4180 quoting, and a
 * slow character-by-character reference parser that the fast one is tested against.
 *
 * Semantics, shared by both parsers:
 * - records end at `\n`; a `\r` right before it (CRLF) or at the end of the text is dropped;
 * - empty physical lines are skipped (they hold no data);
 * - a field that starts with the quote character is quoted: it ends at the next lone quote, `""` inside
 *   it is one quote, and separators and newlines inside it are data; after the closing quote comes a
 *   separator or the end of the record, anything else is an error;
 * - a quote character inside an unquoted field is an ordinary character;
 * - `line` is the 1-based physical line where the record starts.
 */
import { createReadStream } from 'node:fs';
import { DataError } from './errors.ts';

export type TextEncoding = 'utf8' | 'latin1';

export interface DelimitedOptions {
  /** Field separator: any non-empty string without newlines or the quote character ('\t', '|', ',', '::'). */
  separator: string;
  /** Quote character (one character), or false for files that never quote. Default '"'. */
  quote?: string | false;
  /** Default 'utf8'. */
  encoding?: TextEncoding;
}

/** Called once per record with its fields and the line it starts on. May throw to stop reading. */
export type RecordHandler = (fields: string[], line: number) => void;

/**
 * Given, malformed quoting is reported here and parsing goes on: after a bad closing quote the record
 * is skipped to the end of its line; an unterminated quote swallows the rest of the text as one bad record.
 * Without it, the first such problem throws.
 */
export type ParseErrorHandler = (e: DataError) => void;

const LF = 10;
const CR = 13;
/** Longest record (in characters) the streaming parser will wait for: past it, a quote is surely unterminated. */
export const MAX_RECORD_CHARS = 64 << 20;

function checkOptions(o: DelimitedOptions): { sep: string; quote: string } {
  const sep = o.separator;
  const quote = o.quote === false ? '' : (o.quote ?? '"');
  if (typeof sep !== 'string' || sep === '') throw new Error('delimited: the separator must be a non-empty string');
  if (sep.includes('\n') || sep.includes('\r')) throw new Error('delimited: the separator cannot contain a newline');
  if (quote.length > 1) throw new Error(`delimited: the quote must be one character, got ${JSON.stringify(quote)}`);
  if (quote !== '' && sep.includes(quote)) throw new Error('delimited: the separator cannot contain the quote character');
  return { sep, quote };
}

/**
 * Streaming parser: feed it text in chunks of any size; it calls `onRecord` for each complete record.
 * Lines without a quote character take a fast path (`String.split`); others go through the quoted-field
 * state machine, which waits for more text when a quoted field spans the chunk's end.
 * @example const p = new DelimitedParser({ separator: ',' }, 'a.csv', (f, line) => rows.push(f)); p.push('a,"b,c"\n'); p.end();
 */
export class DelimitedParser {
  private readonly sep: string;
  private readonly quote: string;
  private carry = '';
  private line = 1;
  /** Number of records emitted so far. */
  records = 0;
  /** How many of them went through the quote-aware state machine instead of the split fast path. */
  quotedRecords = 0;

  constructor(
    opts: DelimitedOptions,
    readonly file: string,
    private readonly onRecord: RecordHandler,
    private readonly onError?: ParseErrorHandler,
  ) {
    const c = checkOptions(opts);
    this.sep = c.sep;
    this.quote = c.quote;
  }

  push(chunk: string): void {
    this.consume(this.carry.length ? this.carry + chunk : chunk, false);
  }

  /** The line that `chunk[index]` will be on, for a chunk about to be pushed. */
  lineAt(chunk: string, index: number): number {
    return this.line + countNewlines(this.carry, 0, this.carry.length) + countNewlines(chunk, 0, index);
  }

  /** Flushes the last record (a file need not end with a newline). Throws on an unterminated quote. */
  end(): void {
    if (this.carry.length) this.consume(this.carry + '\n', true);
  }

  private consume(buf: string, final: boolean): void {
    const { sep, quote } = this;
    let pos = 0;
    // Position of the next quote at or after pos (Infinity: none left); refreshed only when passed, so
    // quote-free text is scanned once.
    let nextQ = -1;
    for (;;) {
      const nl = buf.indexOf('\n', pos);
      if (nl < 0) break;
      if (quote !== '') {
        if (nextQ < pos) {
          const q = buf.indexOf(quote, pos);
          nextQ = q < 0 ? Infinity : q;
        }
        if (nextQ < nl) {
          const end = this.quotedRecord(buf, pos, final);
          if (end < 0) break;
          pos = end;
          continue;
        }
      }
      let end = nl;
      if (end > pos && buf.charCodeAt(end - 1) === CR) end--;
      if (end > pos) {
        this.records++;
        this.onRecord(buf.slice(pos, end).split(sep), this.line);
      }
      this.line++;
      pos = nl + 1;
    }
    this.carry = pos < buf.length ? buf.slice(pos) : '';
    if (this.carry.length > MAX_RECORD_CHARS) {
      throw new DataError({ file: this.file, line: this.line, column: 0, message: `a record of more than ${MAX_RECORD_CHARS} characters starts here (an unterminated quote, or no line ends?)` });
    }
    if (final && this.carry.length) {
      throw new DataError({ file: this.file, line: this.line, column: 0, message: 'unterminated quoted field (no closing quote before the end of the file)' });
    }
  }

  /**
   * Parses one record starting at `start`, through the quote-aware state machine. Returns the position
   * after its newline, or -1 when the buffer ends first (more text is needed).
   */
  private quotedRecord(buf: string, start: number, final: boolean): number {
    const { sep, quote } = this;
    const n = buf.length;
    const fields: string[] = [];
    let i = start;
    let lines = 0;
    for (;;) {
      if (buf.startsWith(quote, i)) {
        i++;
        let value = '';
        let from = i;
        for (;;) {
          const q = buf.indexOf(quote, i);
          if (q < 0) {
            if (!final) return -1;
            this.fail(new DataError({ file: this.file, line: this.line, column: fields.length + 1, message: 'unterminated quoted field (no closing quote before the end of the file)' }));
            return n;
          }
          lines += countNewlines(buf, i, q);
          if (q + 1 < n && buf.charCodeAt(q + 1) === quote.charCodeAt(0)) {
            value += buf.slice(from, q + 1);
            i = from = q + 2;
            continue;
          }
          if (q + 1 >= n && !final) return -1; // cannot tell '"' from '""' yet
          value += buf.slice(from, q);
          i = q + 1;
          break;
        }
        fields.push(value);
        if (buf.startsWith(sep, i)) {
          i += sep.length;
          continue;
        }
        let j = i;
        if (j < n && buf.charCodeAt(j) === CR) j++;
        if (j < n && buf.charCodeAt(j) === LF) {
          this.emit(fields, lines);
          return j + 1;
        }
        if (j >= n) return -1;
        if (!final && n - i < sep.length && sep.startsWith(buf.slice(i))) return -1; // a separator cut by the chunk's end
        const nl = buf.indexOf('\n', i);
        if (nl < 0) return -1; // report once, when the record's end is in view
        this.fail(
          new DataError({
            file: this.file,
            line: this.line + lines,
            column: fields.length,
            message: `unexpected ${JSON.stringify(buf[i])} after a closing quote (expected the separator or the end of the line)`,
          }),
        );
        this.line += lines + 1;
        return nl + 1;
      }
      // Unquoted field: up to the next separator or newline.
      const nl = buf.indexOf('\n', i);
      if (nl < 0) return -1;
      const s = buf.indexOf(sep, i);
      if (s >= 0 && s < nl) {
        fields.push(buf.slice(i, s));
        i = s + sep.length;
        continue;
      }
      let end = nl;
      if (end > i && buf.charCodeAt(end - 1) === CR) end--;
      fields.push(buf.slice(i, end));
      this.emit(fields, lines);
      return nl + 1;
    }
  }

  private fail(e: DataError): void {
    if (!this.onError) throw e;
    this.onError(e);
  }

  private emit(fields: string[], extraLines: number): void {
    this.records++;
    this.quotedRecords++;
    const line = this.line;
    this.line += extraLines + 1;
    this.onRecord(fields, line);
  }
}

function countNewlines(s: string, from: number, to: number): number {
  let c = 0;
  for (let k = s.indexOf('\n', from); k >= 0 && k < to; k = s.indexOf('\n', k + 1)) c++;
  return c;
}

/** Parses a whole string (fast parser). @example parseDelimited('a\tb\n1\t2\n', { separator: '\t' }) */
export function parseDelimited(text: string, opts: DelimitedOptions, file = '<text>'): { fields: string[]; line: number }[] {
  const out: { fields: string[]; line: number }[] = [];
  const p = new DelimitedParser(opts, file, (fields, line) => out.push({ fields, line }));
  p.push(text);
  p.end();
  return out;
}

/**
 * The slow, obvious reference: one character at a time over the whole text, same semantics as
 * DelimitedParser. Tests hold the fast parser to it.
 */
export function parseDelimitedReference(text: string, opts: DelimitedOptions, file = '<text>', onError?: ParseErrorHandler): { fields: string[]; line: number }[] {
  const { sep, quote } = checkOptions(opts);
  const out: { fields: string[]; line: number }[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  const atEol = (k: number): number => {
    // length of the line ending at k (LF, CRLF, CR at end of text), or -1 when none
    if (k >= n) return 0;
    if (text[k] === '\n') return 1;
    if (text[k] === '\r' && (k + 1 === n || text[k + 1] === '\n')) return k + 1 === n ? 1 : 2;
    return -1;
  };
  const fail = (e: DataError): void => {
    if (!onError) throw e;
    onError(e);
  };
  records: while (i < n) {
    const blank = atEol(i);
    if (blank > 0) {
      i += blank;
      line++;
      continue;
    }
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let value = '';
      if (quote !== '' && text[i] === quote) {
        i++;
        for (;;) {
          if (i >= n) {
            fail(new DataError({ file, line: start, column: fields.length + 1, message: 'unterminated quoted field (no closing quote before the end of the file)' }));
            break records;
          }
          if (text[i] === quote) {
            if (text[i + 1] === quote) {
              value += quote;
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (text[i] === '\n') line++;
          value += text[i++];
        }
        fields.push(value);
        if (text.startsWith(sep, i)) {
          i += sep.length;
          continue;
        }
        const e = atEol(i);
        if (e < 0) {
          fail(new DataError({ file, line, column: fields.length, message: `unexpected ${JSON.stringify(text[i])} after a closing quote (expected the separator or the end of the line)` }));
          while (i < n && text[i] !== '\n') i++; // skip the rest of the record's last line
          i++;
          line++;
          continue records;
        }
        i += e;
        break;
      }
      let e = -1;
      while (i < n && !text.startsWith(sep, i) && (e = atEol(i)) < 0) value += text[i++];
      fields.push(value);
      if (i < n && e < 0) {
        i += sep.length;
        continue;
      }
      i += Math.max(e, 0);
      break;
    }
    out.push({ fields, line: start });
    line++;
  }
  return out;
}

/** Optional hooks of the file readers. */
export interface ReadHooks {
  /** Malformed records go here instead of throwing (see ParseErrorHandler). */
  onError?: ParseErrorHandler;
  /** Called once, with the line, when a UTF-8 file holds bytes that are not UTF-8 (decoded as U+FFFD). */
  onInvalidUtf8?: (line: number) => void;
  /** Name for messages; default the path. */
  file?: string;
  /** Called after each chunk with the bytes read from the file so far (progress). */
  onRead?: (bytes: number) => void;
}

/**
 * Decoded chunks of a file, 1 MiB at a time, without a UTF-8 byte order mark. `lineAt(chunk, i)` is
 * asked for the line of the first U+FFFD in a UTF-8 file.
 */
export async function* readChunks(path: string, encoding: TextEncoding, hooks: ReadHooks, lineAt: (chunk: string, index: number) => number): AsyncGenerator<string> {
  const stream = createReadStream(path, { encoding, highWaterMark: 1 << 20 });
  let first = true;
  let warned = encoding !== 'utf8' || !hooks.onInvalidUtf8;
  for await (let chunk of stream as AsyncIterable<string>) {
    if (first) {
      first = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    if (!warned) {
      const bad = chunk.indexOf('\ufffd');
      if (bad >= 0) {
        warned = true;
        hooks.onInvalidUtf8!(lineAt(chunk, bad));
      }
    }
    yield chunk;
    hooks.onRead?.(stream.bytesRead);
  }
}

/** Newlines in `s` before index `end`. */
export function newlinesBefore(s: string, end: number): number {
  return countNewlines(s, 0, end);
}

/**
 * Streams a delimited file through DelimitedParser in 1 MiB chunks (never the whole file as one
 * string). A UTF-8 byte order mark is dropped.
 * @example await readDelimited('u.item', { separator: '|', encoding: 'latin1' }, (fields, line) => { ... });
 */
export async function readDelimited(path: string, opts: DelimitedOptions, onRecord: RecordHandler, hooks: ReadHooks = {}): Promise<number> {
  const parser = new DelimitedParser(opts, hooks.file ?? path, onRecord, hooks.onError);
  for await (const chunk of readChunks(path, opts.encoding ?? 'utf8', hooks, (c, i) => parser.lineAt(c, i))) parser.push(chunk);
  parser.end();
  return parser.records;
}
