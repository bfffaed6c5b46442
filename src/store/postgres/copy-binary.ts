/**
 * A decoder for PostgreSQL's binary COPY format (`COPY ... TO STDOUT (FORMAT binary)`), fed the chunks
 * as they arrive. Binary rather than text: numbers come as IEEE doubles and 64-bit integers (no float
 * printing to trust), text needs no unescaping, and a row is found by its field lengths.
 *
 * Layout: an 11-byte signature, int32 flags, int32 header-extension length and the extension; then per
 * row an int16 field count and per field an int32 length (-1: NULL) and that many bytes; an int16 of -1
 * ends the data.
 */
import { StoreError } from '../types.ts';

/** The column types the store reads: bigint, double precision, text (jsonb is read as `::text`), boolean. */
export type CopyType = 'int8' | 'float8' | 'text' | 'bool';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER = SIGNATURE.length + 8;
const EMPTY = Buffer.alloc(0);

function bad(message: string): never {
  throw new StoreError('storage', `binary COPY data: ${message}`);
}

/**
 * @example
 *   const p = new BinaryCopyDecoder(['int8', 'text']);
 *   const rows: unknown[][] = [];
 *   for await (const chunk of copyStream) p.push(chunk, rows); // rows: [[1, 'a'], [2, null], ...]
 *   p.end();
 */
export class BinaryCopyDecoder {
  /** Bytes of a row not yet complete (less than one row: the rest of a chunk is decoded at once). */
  private rest: Buffer = EMPTY;
  private header = false;
  private done = false;

  constructor(private readonly types: readonly CopyType[]) {}

  /** Decodes every row complete after `chunk`, appending each (an array of column values) to `out`. */
  push(chunk: Buffer, out: unknown[][]): void {
    const b = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    let o = 0;
    if (!this.header) {
      if (b.length < HEADER) return this.keep(b, 0);
      if (!b.subarray(0, SIGNATURE.length).equals(SIGNATURE)) bad('the signature is missing');
      const ext = b.readUInt32BE(SIGNATURE.length + 4);
      if (b.length < HEADER + ext) return this.keep(b, 0);
      o = HEADER + ext;
      this.header = true;
    }
    const n = this.types.length;
    while (!this.done && b.length - o >= 2) {
      const fields = b.readInt16BE(o);
      if (fields === -1) {
        this.done = true;
        o += 2;
        break;
      }
      if (fields !== n) bad(`a row of ${fields} fields where ${n} were asked for`);
      // the whole row first: a row split between chunks waits for the next one
      let p = o + 2;
      let whole = true;
      for (let i = 0; i < n; i++) {
        if (b.length - p < 4) {
          whole = false;
          break;
        }
        const len = b.readInt32BE(p);
        p += 4;
        if (len > 0) {
          if (b.length - p < len) {
            whole = false;
            break;
          }
          p += len;
        }
      }
      if (!whole) break;
      const row = new Array<unknown>(n);
      p = o + 2;
      for (let i = 0; i < n; i++) {
        const len = b.readInt32BE(p);
        p += 4;
        if (len < 0) {
          row[i] = null;
          continue;
        }
        row[i] = this.decode(this.types[i], b, p, len);
        p += len;
      }
      out.push(row);
      o = p;
    }
    if (this.done && o < b.length) bad(`${b.length - o} bytes after the end of the data`);
    this.keep(b, o);
  }

  /** Checks that the data ended where the format says it ends. */
  end(): void {
    if (!this.done) bad(this.header ? 'the data stopped in the middle (no end marker)' : 'no data');
  }

  private keep(b: Buffer, from: number): void {
    // a copy: a view would keep the whole chunk alive
    this.rest = from >= b.length ? EMPTY : Buffer.from(b.subarray(from));
  }

  private decode(type: CopyType, b: Buffer, p: number, len: number): unknown {
    switch (type) {
      case 'int8':
        if (len !== 8) bad(`an int8 of ${len} bytes`);
        return Number(b.readBigInt64BE(p));
      case 'float8':
        if (len !== 8) bad(`a float8 of ${len} bytes`);
        return b.readDoubleBE(p);
      case 'bool':
        if (len !== 1) bad(`a boolean of ${len} bytes`);
        return b[p] !== 0;
      case 'text':
        return b.toString('utf8', p, p + len);
    }
  }
}
