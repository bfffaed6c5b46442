import { hashString } from '../math/index.ts';

/**
 * Maps string values to dense indices 0..size-1. Values never seen fall into `buckets` hashed slots
 * after the known ones (indices size..size+buckets-1), so new users, items and categories still encode.
 * @example const v = new Vocabulary(16); v.add('a'); v.encode('a') === 0; v.encode('zzz') >= 1
 */
export class Vocabulary {
  readonly values: string[] = [];
  private readonly index = new Map<string, number>();

  constructor(readonly buckets = 0) {}

  get size(): number {
    return this.values.length;
  }

  /** Known index of `value`, adding it when new. */
  add(value: string): number {
    let i = this.index.get(value);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(value);
      this.index.set(value, i);
    }
    return i;
  }

  /** Known index, or -1. */
  get(value: string): number {
    return this.index.get(value) ?? -1;
  }

  has(value: string): boolean {
    return this.index.has(value);
  }

  /** Known index, else a hashed bucket index in [size, size+buckets), else -1 when there are no buckets. */
  encode(value: string): number {
    const i = this.index.get(value);
    if (i !== undefined) return i;
    if (this.buckets === 0) return -1;
    return this.values.length + (hashString(value) % this.buckets);
  }

  /** Total index space an embedding table needs: known values plus hash buckets. */
  get capacity(): number {
    return this.values.length + this.buckets;
  }

  toJSON(): { values: string[]; buckets: number } {
    return { values: this.values, buckets: this.buckets };
  }

  static fromJSON(j: { values: string[]; buckets: number }): Vocabulary {
    const v = new Vocabulary(j.buckets);
    for (const s of j.values) v.add(s);
    return v;
  }
}
