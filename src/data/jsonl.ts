/**
 * JSON Lines: one JSON object per line, streamed. Blank lines are skipped; anything else that is not
 * an object is a DataError naming the line (and the column where JSON.parse gave up).
 */
import { DataError } from './errors.ts';
import { newlinesBefore, readChunks, type ParseErrorHandler, type ReadHooks, type TextEncoding } from './delimited.ts';

export type JsonRecord = Record<string, unknown>;
export type JsonRecordHandler = (record: JsonRecord, line: number) => void;

/** Parses one line's text; throws a DataError for invalid JSON or a non-object. */
export function parseJsonLine(text: string, file: string, line: number): JsonRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    // V8 gives a position for some errors only; without one the problem is the line's.
    const column = m ? Number(m[1]) + 1 : 0;
    const detail = msg.replace(/ in JSON at position \d+.*$/s, '').replace(/, ".*" is not valid JSON$/s, '');
    throw new DataError({ file, line, column, message: `invalid JSON: ${detail}` });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new DataError({ file, line, column: 0, message: `expected a JSON object, found ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}` });
  }
  return v as JsonRecord;
}

/**
 * Streaming JSON Lines parser: push text chunks, get one object per non-blank line.
 * @example const p = new JsonLinesParser('e.jsonl', (o, line) => out.push(o)); p.push('{"a":1}\n'); p.end();
 */
export class JsonLinesParser {
  private carry = '';
  private line = 1;
  records = 0;

  constructor(
    readonly file: string,
    private readonly onRecord: JsonRecordHandler,
    /** Given, a line that is not a JSON object is reported here and skipped; without it, it throws. */
    private readonly onError?: ParseErrorHandler,
  ) {}

  push(chunk: string): void {
    const buf = this.carry.length ? this.carry + chunk : chunk;
    let pos = 0;
    for (;;) {
      const nl = buf.indexOf('\n', pos);
      if (nl < 0) break;
      this.take(buf.slice(pos, nl));
      pos = nl + 1;
    }
    this.carry = buf.slice(pos);
  }

  end(): void {
    if (this.carry.length) this.take(this.carry);
    this.carry = '';
  }

  /** The line that `chunk[index]` will be on, for a chunk about to be pushed (the carry holds no newline). */
  lineAt(chunk: string, index: number): number {
    return this.line + newlinesBefore(chunk, index);
  }

  private take(text: string): void {
    const line = this.line++;
    if (text.trim() === '') return;
    let record: JsonRecord;
    try {
      record = parseJsonLine(text, this.file, line);
    } catch (e) {
      if (!(e instanceof DataError) || !this.onError) throw e;
      this.onError(e);
      return;
    }
    this.records++;
    this.onRecord(record, line);
  }
}

/**
 * Streams a JSON Lines file.
 * @example await readJsonLines('events.jsonl', (o, line) => console.log(o.user));
 */
export async function readJsonLines(path: string, onRecord: JsonRecordHandler, encoding: TextEncoding = 'utf8', hooks: ReadHooks = {}): Promise<number> {
  const parser = new JsonLinesParser(hooks.file ?? path, onRecord, hooks.onError);
  for await (const chunk of readChunks(path, encoding, hooks, (c, i) => parser.lineAt(c, i))) parser.push(chunk);
  parser.end();
  return parser.records;
}
