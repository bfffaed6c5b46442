/**
 * A JSON file holding many records as one document: an array (`[{...}, {...}]`) or an object keyed by
 * id (`{"item1": {...}, "item2": [...]}`). Streamed: a scanner finds where each top-level element
 * begins and ends (tracking strings and nesting only), and JSON.parse reads that element alone. So the
 * file is never one string, every record knows its line, and a record that does not parse is one bad
 * row, not a lost file. `parseJsonDocumentReference` (JSON.parse of the whole text) is the slow
 * reference the tests hold the scanner to.
 */
import { DataError } from './errors.ts';
import { newlinesBefore, readChunks, type ParseErrorHandler, type ReadHooks, type TextEncoding } from './delimited.ts';

/** One top-level element: `key` is its key in an object document, null in an array; `line` is where it starts. */
export type JsonElementHandler = (key: string | null, value: unknown, line: number) => void;

const QUOTE = 34;
const BACKSLASH = 92;
const LF = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;
const COMMA = 44;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;

const isSpace = (c: number): boolean => c === SPACE || c === LF || c === CR || c === TAB;

/**
 * Streaming parser of one JSON document of records: push text chunks of any size, get one call per
 * top-level element. The document's structure (what is at the top, its closing bracket, text after it)
 * is checked here and a fault there always throws; an element that JSON.parse rejects goes to
 * `onError` when given (and is skipped), else throws.
 * @example const p = new JsonDocumentParser('items.json', (key, value, line) => out.push([key, value])); p.push('{"a": [1, 2]}'); p.end();
 */
export class JsonDocumentParser {
  /** Before the top-level bracket, inside it, or after its close. */
  private state: 'start' | 'inside' | 'done' = 'start';
  /** The top-level bracket: '[' or '{'. */
  private top = 0;
  /** Nesting inside the current element. */
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Text of the current element from earlier chunks. */
  private parts: string[] = [];
  /** Line where the current element's text (leading white space included) starts. */
  private textLine = 1;
  /** Line of the current element's first character; 0 while only white space has been seen. */
  private elementLine = 0;
  /** A comma ended the last element, so another must follow. */
  private afterComma = false;
  private line = 1;
  /** Elements handed on (parsed or not). */
  records = 0;

  constructor(
    readonly file: string,
    private readonly onElement: JsonElementHandler,
    private readonly onError?: ParseErrorHandler,
  ) {}

  push(chunk: string): void {
    const n = chunk.length;
    let from = 0; // start of the current element's text in this chunk
    for (let i = 0; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (c === LF) this.line++;
      if (this.state === 'inside') {
        if (this.inString) {
          if (this.escaped) this.escaped = false;
          else if (c === BACKSLASH) this.escaped = true;
          else if (c === QUOTE) this.inString = false;
          continue;
        }
        if (isSpace(c)) continue;
        if (this.depth === 0 && (c === COMMA || c === CLOSE_ARRAY || c === CLOSE_OBJECT)) {
          const text = this.take(chunk, from, i);
          if (c === COMMA) {
            this.element(text, true);
            this.afterComma = true;
          } else {
            if (c !== (this.top === OPEN_ARRAY ? CLOSE_ARRAY : CLOSE_OBJECT)) {
              throw this.error(this.line, `expected ${this.top === OPEN_ARRAY ? "']'" : "'}'"} to close the document's top-level ${this.top === OPEN_ARRAY ? 'array' : 'object'}, found '${chunk[i]}'`);
            }
            if (this.elementLine > 0 || this.afterComma) this.element(text, false);
            this.state = 'done';
          }
          from = i + 1;
          this.textLine = this.line;
          this.elementLine = 0;
          continue;
        }
        if (this.elementLine === 0) this.elementLine = this.line;
        if (c === QUOTE) this.inString = true;
        else if (c === OPEN_ARRAY || c === OPEN_OBJECT) this.depth++;
        else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) this.depth--;
        continue;
      }
      if (isSpace(c)) continue;
      if (this.state === 'done') throw this.error(this.line, `text after the end of the JSON document: '${chunk[i]}'`);
      if (c !== OPEN_ARRAY && c !== OPEN_OBJECT) {
        throw this.error(this.line, `expected a JSON array of records or an object keyed by id, found '${chunk[i]}' (a file of one JSON object per line is "format": "jsonl")`);
      }
      this.top = c;
      this.state = 'inside';
      from = i + 1;
      this.textLine = this.line;
    }
    if (this.state === 'inside' && from < n) this.parts.push(chunk.slice(from));
  }

  /** Checks that the document was complete. */
  end(): void {
    if (this.state === 'start') throw this.error(0, 'the file holds no JSON document (expected an array of records or an object keyed by id)');
    if (this.state === 'inside') {
      throw this.error(this.elementLine || this.line, `the JSON document ends too early (no closing ${this.top === OPEN_ARRAY ? "']'" : "'}'"}${this.inString ? '; a string is not closed' : ''})`);
    }
  }

  /** The line that `chunk[index]` will be on, for a chunk about to be pushed (lines are counted as text is scanned). */
  lineAt(chunk: string, index: number): number {
    return this.line + newlinesBefore(chunk, index);
  }

  private take(chunk: string, from: number, to: number): string {
    const tail = chunk.slice(from, to);
    if (this.parts.length === 0) return tail;
    this.parts.push(tail);
    const text = this.parts.join('');
    this.parts = [];
    return text;
  }

  private element(text: string, beforeComma: boolean): void {
    this.records++;
    if (this.elementLine === 0) {
      this.fail(this.error(this.line, beforeComma ? 'an empty element (two commas in a row, or a comma first)' : 'a comma before the closing bracket'));
      return;
    }
    const object = this.top === OPEN_OBJECT;
    let value: unknown;
    try {
      // a member `"key": value` parses as a one-member object
      value = JSON.parse(object ? `{${text}}` : text);
    } catch (e) {
      this.fail(this.parseError(e as Error, text, object ? 1 : 0));
      return;
    }
    if (!object) return this.onElement(null, value, this.elementLine);
    const key = Object.keys(value as object)[0];
    this.onElement(key, (value as Record<string, unknown>)[key], this.elementLine);
  }

  /** A JSON.parse error at the line and column where it gave up (when V8 says where). */
  private parseError(e: Error, text: string, shift: number): DataError {
    const m = /position (\d+)/.exec(e.message);
    // V8's positions count from the element's text, not the file's: the line and column say where
    const detail = e.message.replace(/ (in JSON )?at position \d+.*$/s, '').replace(/, ".*" is not valid JSON$/s, '');
    if (!m) return new DataError({ file: this.file, line: this.elementLine, column: 0, message: `invalid JSON: ${detail}` });
    const pos = Math.min(Math.max(Number(m[1]) - shift, 0), text.length);
    const nl = text.lastIndexOf('\n', pos - 1);
    return new DataError({ file: this.file, line: this.textLine + newlinesBefore(text, pos), column: pos - nl, message: `invalid JSON: ${detail}` });
  }

  private error(line: number, message: string): DataError {
    return new DataError({ file: this.file, line, column: 0, message });
  }

  private fail(e: DataError): void {
    if (!this.onError) throw e;
    this.onError(e);
  }
}

/** Parses a whole string (streaming parser). @example parseJsonDocument('{"a": 1}') → [{ key: 'a', value: 1, line: 1 }] */
export function parseJsonDocument(text: string, file = '<text>'): { key: string | null; value: unknown; line: number }[] {
  const out: { key: string | null; value: unknown; line: number }[] = [];
  const p = new JsonDocumentParser(file, (key, value, line) => out.push({ key, value, line }));
  p.push(text);
  p.end();
  return out;
}

/**
 * The slow, obvious reference: JSON.parse of the whole text, then its elements or members in order
 * (no lines; a key given twice keeps its last value, where the streaming parser passes on both).
 */
export function parseJsonDocumentReference(text: string): { key: string | null; value: unknown }[] {
  const v: unknown = JSON.parse(text);
  if (Array.isArray(v)) return v.map((value) => ({ key: null, value }));
  if (v !== null && typeof v === 'object') return Object.entries(v).map(([key, value]) => ({ key, value }));
  throw new Error('expected a JSON array or object at the top level');
}

/**
 * Streams a JSON document file, one call per top-level element.
 * @example await readJsonDocument('items.json', (id, attrs, line) => console.log(id, attrs));
 */
export async function readJsonDocument(path: string, onElement: JsonElementHandler, encoding: TextEncoding = 'utf8', hooks: ReadHooks = {}): Promise<number> {
  const parser = new JsonDocumentParser(hooks.file ?? path, onElement, hooks.onError);
  for await (const chunk of readChunks(path, encoding, hooks, (c, i) => parser.lineAt(c, i))) parser.push(chunk);
  parser.end();
  return parser.records;
}
