/**
 * The live item catalog of a served model: the trained item table, plus items upserted since (their
 * features encoded per column like the trained ones) and deletions. The business rules, the content
 * source and the dashboard read item features through it, so an upserted item is filtered, boosted and
 * shown like a trained one.
 */
import { tokenize, type EntityTable, type FeatureColumn, type FeatureSpec, type FeatureValue, type Vocabulary } from '../data/index.ts';
import { InputError } from '../schema/index.ts';

/** A feature row as a client sends it: feature name to value. */
export type FeatureRow = Record<string, FeatureValue>;

/** An item or user id the model does not hold (or an item that was deleted). */
export class UnknownEntityError extends Error {
  override name = 'UnknownEntityError';
  constructor(
    readonly entity: 'item' | 'user',
    readonly id: string,
  ) {
    super(`unknown ${entity} '${id}'`);
  }
}

/** An upserted item's features, encoded per item column like the trained ones. */
interface EncodedRow {
  raw: FeatureRow;
  /** Per column: codes (categorical: one, bags: many), a number, a vector, or null when missing. */
  cols: (Int32Array | number | Float32Array | null)[];
}

type CodedColumn = Extract<FeatureColumn, { vocab: Vocabulary }>;

const EMPTY = new Int32Array(0);

/**
 * @example
 *   const cat = new ItemCatalog(ds.items);
 *   const { item } = cat.upsert('new-1', cat.checkRow({ genre: ['Comedy'] }, 'features'));
 *   cat.hasCode(item, cat.columnIndex('genre'), code)
 */
export class ItemCatalog {
  /** Items the trained stages know: dense indices below this. */
  readonly trained: number;
  private deleted: Uint8Array;
  private deletedCount = 0;
  private readonly overlay = new Map<number, EncodedRow>();
  /** Bumped on every catalog change (cached masks compare it). */
  version = 0;
  private readonly masks = new Map<string, { version: number; mask: Uint8Array }>();

  constructor(readonly table: EntityTable) {
    this.trained = table.size;
    this.deleted = new Uint8Array(table.size);
  }

  /** Items ever known (trained plus upserted, deleted ones included): dense indices below this. */
  get size(): number {
    return this.table.ids.size;
  }

  /** Items that can be recommended. */
  get liveCount(): number {
    return this.size - this.deletedCount;
  }

  get deletedItems(): number {
    return this.deletedCount;
  }

  get ids(): Vocabulary {
    return this.table.ids;
  }

  /** Dense index of item `id`, or -1. */
  index(id: string): number {
    return this.table.ids.get(id);
  }

  id(item: number): string {
    return this.table.ids.values[item];
  }

  isLive(item: number): boolean {
    return item >= 0 && item < this.size && this.deleted[item] !== 1;
  }

  /** Column index of item feature `name`, or -1. */
  columnIndex(name: string): number {
    return this.table.columns.findIndex((c) => c.name === name);
  }

  get columns(): readonly FeatureColumn[] {
    return this.table.columns;
  }

  /** The item's upserted features as given, or undefined for a trained item not upserted since. */
  raw(item: number): FeatureRow | undefined {
    return this.overlay.get(item)?.raw;
  }

  /**
   * Adds item `id` or replaces its features (a row checked by `checkRow`); a deleted item comes back.
   * @example cat.upsert('sku-9', { category: 'shoes', price: 40 }) // { item: 1682, isNew: true }
   */
  upsert(id: string, features: FeatureRow): { item: number; isNew: boolean } {
    const isNew = !this.table.ids.has(id);
    const item = this.table.ids.add(id);
    if (item >= this.deleted.length) {
      const d = new Uint8Array(Math.max(item + 1, Math.ceil(this.deleted.length * 1.25) + 16));
      d.set(this.deleted);
      this.deleted = d;
    }
    this.overlay.set(item, this.encode(features));
    if (this.deleted[item]) {
      this.deleted[item] = 0;
      this.deletedCount--;
    }
    this.version++;
    return { item, isNew };
  }

  /** Item `id` is never recommended again (until upserted). Throws UnknownEntityError when it does not exist. */
  remove(id: string): number {
    const item = this.index(id);
    if (!this.isLive(item)) throw new UnknownEntityError('item', id);
    this.deleted[item] = 1;
    this.deletedCount++;
    this.version++;
    return item;
  }

  /** True when item `it`'s column `ci` holds code `code` (upserted features first). */
  hasCode(it: number, ci: number, code: number): boolean {
    if (code < 0 || ci < 0) return false;
    const o = this.overlay.size ? this.overlay.get(it) : undefined;
    if (o) {
      const v = o.cols[ci];
      if (v instanceof Int32Array) for (let j = 0; j < v.length; j++) if (v[j] === code) return true;
      return false;
    }
    if (it >= this.trained || it < 0) return false;
    const col = this.table.columns[ci];
    if (col.kind === 'categorical' || col.kind === 'id') return col.codes[it] === code;
    if (col.kind === 'multi-categorical' || col.kind === 'text') {
      for (let j = col.offsets[it]; j < col.offsets[it + 1]; j++) if (col.codes[j] === code) return true;
    }
    return false;
  }

  /** The codes item `it` holds in categorical/bag column `ci` (a view for trained items: do not write). */
  codes(it: number, ci: number): Int32Array {
    const o = this.overlay.size ? this.overlay.get(it) : undefined;
    if (o) return o.cols[ci] instanceof Int32Array ? (o.cols[ci] as Int32Array) : EMPTY;
    if (it >= this.trained || it < 0) return EMPTY;
    const col = this.table.columns[ci];
    if (col.kind === 'categorical' || col.kind === 'id') return col.codes[it] >= 0 ? col.codes.subarray(it, it + 1) : EMPTY;
    if (col.kind === 'multi-categorical' || col.kind === 'text') return col.codes.subarray(col.offsets[it], col.offsets[it + 1]);
    return EMPTY;
  }

  /** Item `it`'s numeric column `ci`, NaN when missing. */
  number(it: number, ci: number): number {
    const o = this.overlay.size ? this.overlay.get(it) : undefined;
    if (o) return typeof o.cols[ci] === 'number' ? (o.cols[ci] as number) : NaN;
    if (it >= this.trained || it < 0) return NaN;
    const col = this.table.columns[ci];
    return col.kind === 'numeric' ? col.values[it] : NaN;
  }

  /** Item `it`'s vector column `ci`, or null when missing. */
  vector(it: number, ci: number): Float32Array | null {
    const o = this.overlay.size ? this.overlay.get(it) : undefined;
    if (o) return o.cols[ci] instanceof Float32Array ? (o.cols[ci] as Float32Array) : null;
    if (it >= this.trained || it < 0) return null;
    const col = this.table.columns[ci];
    return col.kind === 'vector' ? col.values.subarray(it * col.dim, (it + 1) * col.dim) : null;
  }

  /** The value of item `it`'s column `ci` as plain JSON (strings for codes), for display. */
  value(it: number, ci: number): string | number | string[] | number[] | null {
    const col = this.table.columns[ci];
    const o = this.overlay.get(it);
    if (o) {
      const v = o.raw[col.name];
      if (v === undefined || v === null) return null;
      return typeof v === 'string' || typeof v === 'number' ? v : (Array.from(v as ArrayLike<string | number>) as string[] | number[]);
    }
    if (it >= this.trained || it < 0) return null;
    return columnValue(col, it);
  }

  /** A short label: the item's title-like text feature (the trained tokens joined), or ''. */
  label(it: number): string {
    const ci = this.titleColumn();
    if (ci < 0 || it < 0 || it >= this.size) return '';
    const v = this.value(it, ci);
    return typeof v === 'string' ? v : '';
  }

  /** The text column that names items: one called title or name, else the first text column; -1 if none. */
  titleColumn(): number {
    const cols = this.table.columns;
    return Math.max(
      cols.findIndex((c) => c.kind === 'text' && /title|name/i.test(c.name)),
      cols.findIndex((c) => c.kind === 'text'),
    );
  }

  /**
   * Live items whose column `ci` holds `code`, as a mask by item index; cached until the catalog changes.
   * @example const allow = cat.mask(genreCol, genreCode); source.candidates(q, 100, seen, { allow })
   */
  mask(ci: number, code: number): Uint8Array {
    const key = `${ci}:${code}`;
    const hit = this.masks.get(key);
    if (hit && hit.version === this.version && hit.mask.length === this.size) return hit.mask;
    if (this.masks.size >= 64) this.masks.clear(); // bounded: one byte per item per mask
    const m = new Uint8Array(this.size);
    for (let it = 0; it < m.length; it++) if (this.deleted[it] !== 1 && this.hasCode(it, ci, code)) m[it] = 1;
    this.masks.set(key, { version: this.version, mask: m });
    return m;
  }

  /** Checks an item feature row against the item schema. Throws InputError naming the field. */
  checkRow(features: unknown, field: string): FeatureRow {
    return checkFeatureRow(features, this.table.specs(), field);
  }

  private encode(raw: FeatureRow): EncodedRow {
    const cols = this.table.columns.map((c): Int32Array | number | Float32Array | null => {
      const v = raw[c.name];
      if (v === null || v === undefined) return null;
      switch (c.kind) {
        case 'categorical':
        case 'id':
          return Int32Array.of(c.vocab.encode(String(v)));
        case 'multi-categorical':
        case 'text': {
          const parts = typeof v === 'string' ? (c.kind === 'text' ? tokenize(v) : splitTags(v)) : Array.from(v as ArrayLike<unknown>, String);
          return Int32Array.from(parts, (p) => c.vocab.encode(p));
        }
        case 'numeric':
          return Number(v);
        case 'vector':
          return Float32Array.from(v as ArrayLike<number>);
      }
    });
    return { raw, cols };
  }
}

function splitTags(v: string): string[] {
  return v
    .split(/[|,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Value of column `c` for row `r` as plain JSON (codes as their strings; text tokens joined). */
export function columnValue(c: FeatureColumn, r: number): string | number | string[] | number[] | null {
  switch (c.kind) {
    case 'categorical':
    case 'id':
      return c.codes[r] >= 0 && c.codes[r] < c.vocab.size ? c.vocab.values[c.codes[r]] : null;
    case 'multi-categorical':
    case 'text': {
      if (r + 1 >= c.offsets.length) return null;
      const parts = Array.from(c.codes.subarray(c.offsets[r], c.offsets[r + 1]), (x) => c.vocab.values[x] ?? '?');
      return c.kind === 'text' ? parts.join(' ') : parts;
    }
    case 'numeric':
      return Number.isFinite(c.values[r]) ? c.values[r] : null;
    case 'vector':
      return Array.from(c.values.subarray(r * c.dim, (r + 1) * c.dim), (x) => Math.round(x * 1e4) / 1e4);
  }
}

/** Row `r` of a table as a feature row (codes as strings; missing values left out), or null when empty. */
export function tableRow(table: EntityTable, r: number): FeatureRow | null {
  if (!(r >= 0 && r < table.size)) return null;
  const row: FeatureRow = {};
  let any = false;
  for (const c of table.columns) {
    if (c.kind === 'vector' || c.kind === 'text') continue;
    const v = columnValue(c, r);
    if (v === null || (Array.isArray(v) && v.length === 0)) continue;
    row[c.name] = v;
    any = true;
  }
  return any ? row : null;
}

/** The code of value `value` in categorical or bag column `col` (-1 when unknown). */
export function codeOf(col: FeatureColumn, value: string): number {
  return 'vocab' in col ? (col as CodedColumn).vocab.get(value) : -1;
}

/**
 * Checks a feature row against `specs`: known names, values of the right kind (multi-categorical as a
 * list or a `a|b` string, vectors of the declared length, finite numbers). Returns it normalised.
 * @example checkFeatureRow({ age: 31 }, ds.users.specs(), 'features')
 */
export function checkFeatureRow(features: unknown, specs: readonly FeatureSpec[], field: string): FeatureRow {
  if (features === null || typeof features !== 'object' || Array.isArray(features)) throw new InputError(field, 'must be an object of feature values');
  const out: FeatureRow = {};
  for (const [name, v] of Object.entries(features as Record<string, unknown>)) {
    const spec = specs.find((s) => s.name === name);
    const f = `${field}.${name}`;
    if (!spec) throw new InputError(f, `unknown feature (known: ${specs.map((s) => s.name).join(', ') || 'none'})`);
    if (v === null || v === undefined) continue;
    switch (spec.kind) {
      case 'categorical':
      case 'id':
        if (typeof v !== 'string' && typeof v !== 'number') throw new InputError(f, 'must be a string');
        out[name] = String(v);
        break;
      case 'multi-categorical':
        if (typeof v === 'string') out[name] = splitTags(v);
        else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[name] = v as string[];
        else throw new InputError(f, 'must be a list of strings');
        break;
      case 'text':
        if (typeof v !== 'string') throw new InputError(f, 'must be a string');
        out[name] = v;
        break;
      case 'numeric':
        if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(f, 'must be a finite number');
        out[name] = v;
        break;
      case 'vector':
        if (!Array.isArray(v) || v.length !== spec.dim || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new InputError(f, `must be a list of ${spec.dim} finite numbers`);
        out[name] = v as number[];
        break;
    }
  }
  return out;
}
