import type { EventTypeSpec, FeatureSpec, Schema } from './schema.ts';
import { DEFAULT_EVENT, tokenize } from './schema.ts';
import { Dataset, EntityTable, type FeatureColumn, type Interactions, type TimeKind } from './dataset.ts';
import { Vocabulary } from './vocabulary.ts';

/** A feature value as a loader parsed it: a category, a list of tags, a number, text, or a vector. */
export type FeatureValue = string | number | readonly string[] | ArrayLike<number> | null | undefined;

const DEFAULT_BUCKETS = 64;

/** Growable typed array: amortised O(1) append and random-index set. */
class Grow<T extends Int32Array | Float64Array | Float32Array | Uint8Array> {
  buf: T;
  length = 0;
  constructor(
    private readonly make: (n: number) => T,
    private readonly fill: number,
    initial = 1024,
  ) {
    this.buf = make(initial);
    if (fill !== 0) this.buf.fill(fill);
  }
  ensure(n: number): void {
    if (n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < n) cap *= 2;
    const next = this.make(cap);
    if (this.fill !== 0) next.fill(this.fill, this.buf.length);
    next.set(this.buf);
    this.buf = next;
  }
  push(v: number): void {
    this.ensure(this.length + 1);
    this.buf[this.length++] = v;
  }
  set(i: number, v: number): void {
    this.ensure(i + 1);
    this.buf[i] = v;
    if (i >= this.length) this.length = i + 1;
  }
  take(n: number): T {
    this.ensure(n);
    return this.buf.slice(0, n) as T;
  }
}

/** Builds one feature column row by row; rows may arrive in any order and some never (missing). */
export class ColumnBuilder {
  private readonly codes?: Grow<Int32Array>;
  private readonly numbers?: Grow<Float64Array>;
  private readonly vectors?: Grow<Float32Array>;
  private readonly bags?: (Int32Array | undefined)[];
  readonly vocab?: Vocabulary;

  constructor(readonly spec: FeatureSpec) {
    switch (spec.kind) {
      case 'categorical':
      case 'id':
        this.vocab = new Vocabulary(spec.buckets ?? DEFAULT_BUCKETS);
        this.codes = new Grow((n) => new Int32Array(n), -1);
        break;
      case 'multi-categorical':
      case 'text':
        this.vocab = new Vocabulary(spec.buckets ?? DEFAULT_BUCKETS);
        this.bags = [];
        break;
      case 'numeric':
        this.numbers = new Grow((n) => new Float64Array(n), NaN);
        break;
      case 'vector':
        if (!spec.dim || spec.dim < 1) throw new Error(`feature '${spec.name}': kind 'vector' needs a positive 'dim'`);
        this.vectors = new Grow((n) => new Float32Array(n), NaN, 1024 * spec.dim);
        break;
    }
  }

  /** Sets row `row`. Strings are split for multi-categorical ('|' or ',') and tokenised for text. */
  set(row: number, value: FeatureValue): void {
    if (value === null || value === undefined) return;
    const s = this.spec;
    switch (s.kind) {
      case 'categorical':
      case 'id': {
        const str = String(value);
        if (str === '') return;
        this.codes!.set(row, this.vocab!.add(str));
        return;
      }
      case 'multi-categorical':
      case 'text': {
        let parts: readonly string[];
        if (typeof value === 'string') parts = s.kind === 'text' ? tokenize(value) : value.split(/[|,]/).map((p) => p.trim()).filter((p) => p !== '');
        else parts = Array.from(value as ArrayLike<string | number>, String);
        const bag = new Int32Array(parts.length);
        for (let k = 0; k < parts.length; k++) bag[k] = this.vocab!.add(parts[k]);
        this.bags![row] = bag;
        return;
      }
      case 'numeric': {
        const v = typeof value === 'number' ? value : Number(value);
        if (!Number.isFinite(v)) throw new Error(`feature '${s.name}': ${JSON.stringify(value)} is not a finite number`);
        this.numbers!.set(row, v);
        return;
      }
      case 'vector': {
        const arr = value as ArrayLike<number>;
        if (typeof value === 'string' || arr.length !== s.dim) {
          throw new Error(`feature '${s.name}': expected a vector of length ${s.dim}`);
        }
        const base = row * s.dim!;
        this.vectors!.ensure(base + s.dim!);
        for (let k = 0; k < s.dim!; k++) {
          const v = Number(arr[k]);
          if (!Number.isFinite(v)) throw new Error(`feature '${s.name}': element ${k} is not a finite number`);
          this.vectors!.buf[base + k] = v;
        }
        return;
      }
    }
  }

  build(n: number): FeatureColumn {
    const s = this.spec;
    switch (s.kind) {
      case 'categorical':
      case 'id':
        return { kind: s.kind, name: s.name, vocab: this.vocab!, codes: this.codes!.take(n) };
      case 'multi-categorical':
      case 'text': {
        const offsets = new Int32Array(n + 1);
        for (let r = 0; r < n; r++) offsets[r + 1] = offsets[r] + (this.bags![r]?.length ?? 0);
        const codes = new Int32Array(offsets[n]);
        for (let r = 0; r < n; r++) {
          const b = this.bags![r];
          if (b) codes.set(b, offsets[r]);
        }
        return { kind: s.kind, name: s.name, vocab: this.vocab!, offsets, codes };
      }
      case 'numeric':
        return { kind: 'numeric', name: s.name, values: this.numbers!.take(n) };
      case 'vector':
        return { kind: 'vector', name: s.name, dim: s.dim!, values: this.vectors!.take(n * s.dim!) };
    }
  }
}

/** Builds the rows of one entity table (users or items). */
export class TableBuilder {
  readonly ids = new Vocabulary();
  readonly columns: ColumnBuilder[];
  private readonly byName = new Map<string, ColumnBuilder>();

  constructor(specs: readonly FeatureSpec[]) {
    this.columns = specs.map((s) => new ColumnBuilder(s));
    for (const c of this.columns) {
      if (this.byName.has(c.spec.name)) throw new Error(`feature '${c.spec.name}' is declared twice`);
      this.byName.set(c.spec.name, c);
    }
  }

  /** Dense index of `id`, adding a row (all features missing) when new. */
  row(id: string): number {
    return this.ids.add(id);
  }

  has(feature: string): boolean {
    return this.byName.has(feature);
  }

  set(row: number, feature: string, value: FeatureValue): void {
    const c = this.byName.get(feature);
    if (!c) throw new Error(`unknown feature '${feature}'`);
    c.set(row, value);
  }

  build(): EntityTable {
    const n = this.ids.size;
    return new EntityTable(this.ids, this.columns.map((c) => c.build(n)));
  }
}

/**
 * Accumulates users, items and interactions from any source, then freezes them into a Dataset.
 * @example const b = new DatasetBuilder(schema); b.addInteraction(b.users.row('u1'), b.items.row('i9'), 0, 1, 1700000000);
 */
export class DatasetBuilder {
  readonly users: TableBuilder;
  readonly items: TableBuilder;
  readonly eventTypes: EventTypeSpec[];
  private readonly eventIndex = new Map<string, number>();
  private readonly xu = new Grow((n) => new Int32Array(n), 0);
  private readonly xi = new Grow((n) => new Int32Array(n), 0);
  private readonly xe = new Grow((n) => new Uint8Array(n), 0);
  private readonly xv = new Grow((n) => new Float32Array(n), 0);
  private readonly xt = new Grow((n) => new Float64Array(n), 0);
  /** What the timestamps given to addInteraction measure (a loader sets 'order' for timestampFormat "order"). */
  timeKind: TimeKind = 'seconds';

  constructor(
    readonly schema: Schema,
    readonly name = 'dataset',
  ) {
    this.users = new TableBuilder(schema.user);
    this.items = new TableBuilder(schema.item);
    this.eventTypes = schema.eventTypes.length ? schema.eventTypes.map((e) => ({ ...e })) : [{ ...DEFAULT_EVENT }];
    this.eventTypes.forEach((e, i) => this.eventIndex.set(e.name, i));
  }

  /** Index of event type `name`, or -1 when the schema does not declare it. */
  eventType(name: string): number {
    return this.eventIndex.get(name) ?? -1;
  }

  get interactionCount(): number {
    return this.xu.length;
  }

  addInteraction(user: number, item: number, event: number, value: number, timestamp: number): void {
    this.xu.push(user);
    this.xi.push(item);
    this.xe.push(event);
    this.xv.push(value);
    this.xt.push(timestamp);
  }

  build(): Dataset {
    const n = this.xu.length;
    const x: Interactions = {
      length: n,
      user: this.xu.take(n),
      item: this.xi.take(n),
      event: this.xe.take(n),
      value: this.xv.take(n),
      timestamp: this.xt.take(n),
    };
    return new Dataset(this.users.build(), this.items.build(), x, this.eventTypes, this.name, this.timeKind);
  }
}
