import { type Dataset, type EntityTable, type FeatureColumn, type FeatureValue, tokenize } from '../data/index.ts';
import { BagBatch, type BagAlloc } from './bags.ts';

/**
 * The fitted feature space: every user and item feature turned into embedding bags (rows of named
 * embedding tables, with weights) plus a dense block (normalised numbers, vectors). Fitted once on
 * the training Dataset; then any entity, known or new, encodes the same way.
 */

export interface FeatureSpaceOptions {
  /** Width of every embedding table. */
  dim: number;
  /** An embedding of the user's own id (known users; others fall to the OOV row). */
  userId: boolean;
  /** An embedding of the item's own id. */
  itemId: boolean;
  /** Hash buckets for user/item ids never seen in training (0: one OOV row). */
  idBuckets: number;
  /** The most recent N events of the user's history enter the history bag. */
  historyLength: number;
  /** Weight multiplier per step back in time (1: no recency weighting). */
  recencyDecay: number;
  /** History bag and item-id field share one table. */
  shareItemEmbeddings: boolean;
  /** Quantile buckets of numeric features as an extra embedding bag (0: off). */
  numericBuckets: number;
  /** Negative events: 'signed' enters them in the history bag with negative weight; 'separate' into their own bag. */
  negativeHistory: 'signed' | 'separate';
  /** Which features to use (all when absent). */
  userFeatures?: string[];
  itemFeatures?: string[];
}

export const DEFAULT_FEATURE_OPTIONS: FeatureSpaceOptions = {
  dim: 32,
  userId: true,
  itemId: true,
  idBuckets: 0,
  historyLength: 50,
  recencyDecay: 1,
  shareItemEmbeddings: true,
  numericBuckets: 10,
  negativeHistory: 'signed',
};

/** One embedding table: `rows` x `dim`. */
export interface TableSpec {
  name: string;
  rows: number;
  dim: number;
}

/** Where one bag field of a tower reads from. */
export interface BagFieldSpec {
  name: string;
  /** Index into FeatureSpace.tables. */
  table: number;
  kind: 'id' | 'categorical' | 'multi-categorical' | 'text' | 'bucket' | 'history' | 'negative-history';
  /** Source column name (not for id/history fields). */
  column?: string;
}

/** A tower's inputs: bag fields (history ones included for the user tower) and a dense block. */
export interface TowerInputSpec {
  bags: BagFieldSpec[];
  denseWidth: number;
  denseNames: string[];
}

/** Precomputed encodings of every entity in a table: one CSR per non-history bag field, and the dense block. */
export interface EntityEncoding {
  n: number;
  bags: { offsets: Int32Array; indices: Int32Array; weights: Float32Array }[];
  dense: Float32Array;
}

/** A batch of encoded tower inputs: one BagBatch per bag field and a dense block (rows x denseWidth). */
export class TowerBatch {
  readonly bags: BagBatch[];
  dense: Float32Array;
  rows = 0;

  /** `alloc`: where the bags' arrays live (a kernel backend's memory, for kernels that read them in place). */
  constructor(
    readonly spec: TowerInputSpec,
    capacity = 64,
    alloc: BagAlloc | null = null,
  ) {
    this.bags = spec.bags.map(() => new BagBatch(capacity, capacity * 4, alloc));
    this.dense = new Float32Array(Math.max(1, capacity * spec.denseWidth));
  }

  reset(): void {
    for (const b of this.bags) b.reset();
    this.rows = 0;
  }

  /** Ensures room for `rows` rows of dense input. */
  ensureRows(rows: number): void {
    const need = rows * this.spec.denseWidth;
    if (need > this.dense.length) {
      const d = new Float32Array(Math.max(need, this.dense.length * 2));
      d.set(this.dense);
      this.dense = d;
    }
  }
}

// The entity's own id field (no source column), as opposed to a feature column of kind 'id' (a zip
// code): the own id indexes by entity row, a column by its vocabulary code.
function isOwnId(f: BagFieldSpec): boolean {
  return f.kind === 'id' && f.column === undefined;
}

interface NumericStats {
  column: string;
  mean: number;
  std: number;
  /** Quantile cut points; bucket b holds values in [bounds[b-1], bounds[b]). */
  bounds: number[];
}

interface SideState {
  /** Source columns kept, in order. */
  columns: string[];
  numeric: NumericStats[];
  vectors: { column: string; dim: number }[];
}

/** Raw feature values of a new entity, by feature name. */
export type RawFeatures = Record<string, FeatureValue>;

/**
 * Fitted encoders for both towers.
 * @example
 *   const fs = FeatureSpace.fit(train, { historyLength: 50 });
 *   const batch = new TowerBatch(fs.item, 512); fs.appendItem(batch, 42);
 */
export class FeatureSpace {
  readonly tables: TableSpec[] = [];
  readonly user: TowerInputSpec = { bags: [], denseWidth: 0, denseNames: [] };
  readonly item: TowerInputSpec = { bags: [], denseWidth: 0, denseNames: [] };
  /** Table index of item ids (used by history bags), or -1. */
  historyTable = -1;
  private userEnc!: EntityEncoding;
  private itemEnc!: EntityEncoding;
  /** Whether each user / item id was seen in the training interactions (others encode as OOV). */
  private userSeen!: Uint8Array;
  private itemSeen!: Uint8Array;
  private userSide!: SideState;
  private itemSide!: SideState;
  readonly eventWeights: Float32Array;

  private constructor(
    readonly options: FeatureSpaceOptions,
    readonly userTable: EntityTable | undefined,
    readonly itemTable: EntityTable | undefined,
    eventWeights: Float32Array,
  ) {
    this.eventWeights = eventWeights;
  }

  /** Fits the encoders on `train`: vocabularies come from its tables, statistics from its rows. */
  static fit(train: Dataset, options: Partial<FeatureSpaceOptions> = {}): FeatureSpace {
    const o: FeatureSpaceOptions = { ...DEFAULT_FEATURE_OPTIONS, ...options };
    if (!(o.dim >= 1)) throw new Error(`FeatureSpace: dim must be >= 1, got ${o.dim}`);
    if (!(o.historyLength >= 0)) throw new Error(`FeatureSpace: historyLength must be >= 0, got ${o.historyLength}`);
    const ew = new Float32Array(train.eventTypes.map((e) => (e.negative ? -e.weight : e.weight)));
    const fs = new FeatureSpace(o, train.users, train.items, ew);
    const x = train.interactions;
    fs.userSeen = new Uint8Array(train.numUsers);
    fs.itemSeen = new Uint8Array(train.numItems);
    for (let r = 0; r < x.length; r++) {
      fs.userSeen[x.user[r]] = 1;
      fs.itemSeen[x.item[r]] = 1;
    }
    // the item-id table comes first so the history bag can share it
    let itemIdTable = -1;
    if (o.itemId) {
      itemIdTable = fs.addTable('item.id', train.numItems + o.idBuckets + 1);
      fs.item.bags.push({ name: 'item.id', table: itemIdTable, kind: 'id' });
    }
    fs.itemSide = fs.fitSide('item', train.items, fs.item, o.itemFeatures);
    if (o.userId) {
      const t = fs.addTable('user.id', train.numUsers + o.idBuckets + 1);
      fs.user.bags.push({ name: 'user.id', table: t, kind: 'id' });
    }
    fs.userSide = fs.fitSide('user', train.users, fs.user, o.userFeatures);
    if (o.historyLength > 0) {
      const t = o.shareItemEmbeddings && itemIdTable >= 0 ? itemIdTable : fs.addTable('history.item', train.numItems + o.idBuckets + 1);
      fs.historyTable = t;
      fs.user.bags.push({ name: 'history', table: t, kind: 'history' });
      if (o.negativeHistory === 'separate' && train.eventTypes.some((e) => e.negative)) {
        fs.user.bags.push({ name: 'history.negative', table: t, kind: 'negative-history' });
      }
    }
    fs.userEnc = fs.encodeTable(train.users, fs.user, fs.userSide, fs.userSeen, 'user');
    fs.itemEnc = fs.encodeTable(train.items, fs.item, fs.itemSide, fs.itemSeen, 'item');
    return fs;
  }

  get numUsers(): number {
    return this.userEnc.n;
  }

  get numItems(): number {
    return this.itemEnc.n;
  }

  private addTable(name: string, rows: number): number {
    this.tables.push({ name, rows, dim: this.options.dim });
    return this.tables.length - 1;
  }

  private fitSide(side: 'user' | 'item', table: EntityTable, spec: TowerInputSpec, only?: string[]): SideState {
    const st: SideState = { columns: [], numeric: [], vectors: [] };
    if (only) for (const name of only) if (!table.column(name)) throw new Error(`FeatureSpace: ${side} feature '${name}' is not in the dataset (has: ${table.columns.map((c) => c.name).join(', ')})`);
    for (const c of table.columns) {
      if (only && !only.includes(c.name)) continue;
      st.columns.push(c.name);
      const name = `${side}.${c.name}`;
      switch (c.kind) {
        case 'id':
        case 'categorical':
        case 'multi-categorical':
        case 'text': {
          // known values, their hash buckets, and one row for "missing"
          const t = this.addTable(name, c.vocab.capacity + 1);
          spec.bags.push({ name, table: t, kind: c.kind, column: c.name });
          break;
        }
        case 'numeric': {
          const stats = numericStats(c.name, c.values, this.options.numericBuckets);
          st.numeric.push(stats);
          spec.denseNames.push(name);
          spec.denseWidth++;
          if (this.options.numericBuckets > 0) {
            const t = this.addTable(`${name}.bucket`, stats.bounds.length + 2);
            spec.bags.push({ name: `${name}.bucket`, table: t, kind: 'bucket', column: c.name });
          }
          break;
        }
        case 'vector':
          st.vectors.push({ column: c.name, dim: c.dim });
          for (let k = 0; k < c.dim; k++) spec.denseNames.push(`${name}[${k}]`);
          spec.denseWidth += c.dim;
          break;
      }
    }
    return st;
  }

  private encodeTable(table: EntityTable, spec: TowerInputSpec, side: SideState, seen: Uint8Array, which: 'user' | 'item'): EntityEncoding {
    const n = table.size;
    const bags: EntityEncoding['bags'] = [];
    const tmp = new BagBatch(n, n);
    for (const f of spec.bags) {
      if (f.kind === 'history' || f.kind === 'negative-history') continue;
      tmp.reset();
      for (let r = 0; r < n; r++) {
        this.writeBag(tmp, f, table, r, seen, which);
        tmp.endRow();
      }
      bags.push({ offsets: tmp.offsets.slice(0, n + 1), indices: tmp.indices.slice(0, tmp.size), weights: tmp.weights.slice(0, tmp.size) });
    }
    const dense = new Float32Array(n * spec.denseWidth);
    for (let r = 0; r < n; r++) this.writeDense(dense, r * spec.denseWidth, table, r, side);
    return { n, bags, dense };
  }

  /** Writes one entity's entries of bag field `f` (row r of `table`) into the open row of `b`. */
  private writeBag(b: BagBatch, f: BagFieldSpec, table: EntityTable, r: number, seen: Uint8Array, which: 'user' | 'item'): void {
    const rows = this.tables[f.table].rows;
    if (isOwnId(f)) {
      b.reserve(1);
      b.push(seen[r] ? r : rows - 1, 1);
      return;
    }
    const c = table.column(f.column!)!;
    if (f.kind === 'bucket') {
      const st = (which === 'user' ? this.userSide : this.itemSide).numeric.find((s) => s.column === f.column)!;
      const v = (c as { values: Float64Array }).values[r];
      b.reserve(1);
      b.push(Number.isNaN(v) ? rows - 1 : bucketOf(st.bounds, v), 1);
      return;
    }
    if (c.kind === 'categorical' || c.kind === 'id') {
      b.reserve(1);
      b.push(c.codes[r] >= 0 ? c.codes[r] : rows - 1, 1);
      return;
    }
    if (c.kind === 'multi-categorical' || c.kind === 'text') {
      const a = c.offsets[r];
      const e = c.offsets[r + 1];
      b.reserve(Math.max(1, e - a));
      if (e === a) b.push(rows - 1, 1);
      for (let k = a; k < e; k++) b.push(c.codes[k], 1);
    }
  }

  private writeDense(out: Float32Array, off: number, table: EntityTable, r: number, side: SideState): void {
    let k = off;
    for (const st of side.numeric) {
      const v = (table.column(st.column) as { values: Float64Array }).values[r];
      out[k++] = Number.isNaN(v) ? 0 : (v - st.mean) / st.std;
    }
    for (const vc of side.vectors) {
      const c = table.column(vc.column) as Extract<FeatureColumn, { kind: 'vector' }>;
      for (let j = 0; j < vc.dim; j++) {
        const v = c.values[r * vc.dim + j];
        out[k++] = Number.isNaN(v) ? 0 : v;
      }
    }
  }

  /** Appends item `i` (a dense index of the fitted dataset) as the next row of `batch`. `dropId` encodes its id as OOV. */
  appendItem(batch: TowerBatch, i: number, dropId = false): void {
    this.appendEntity(batch, this.itemEnc, i, dropId);
  }

  /**
   * Appends user `u` (dense index, or -1 for a user with no known row) with the history
   * items[start..end) (oldest first; weights[k] the signed event weight, or 1 when absent) as the next
   * row of `batch`. Only the last `historyLength` events enter, the older ones decayed by `recencyDecay`.
   */
  appendUser(batch: TowerBatch, u: number, items: Int32Array, weights: Float32Array | undefined, start: number, end: number, dropId = false): void {
    const spec = batch.spec;
    let e = 0;
    for (let f = 0; f < spec.bags.length; f++) {
      const field = spec.bags[f];
      const bag = batch.bags[f];
      if (field.kind === 'history' || field.kind === 'negative-history') {
        this.writeHistory(bag, field.kind === 'negative-history' ? -1 : this.options.negativeHistory === 'separate' ? 1 : 0, items, weights, start, end);
        continue;
      }
      if (u >= 0) {
        const enc = this.userEnc.bags[e];
        if (dropId && isOwnId(field)) {
          bag.reserve(1);
          bag.push(this.tables[field.table].rows - 1, 1);
          bag.endRow();
        } else bag.appendCsr(enc.offsets, enc.indices, enc.weights, u);
      } else {
        // a user with no row: every feature missing
        bag.reserve(1);
        bag.push(this.tables[field.table].rows - 1, 1);
        bag.endRow();
      }
      e++;
    }
    const w = spec.denseWidth;
    batch.ensureRows(batch.rows + 1);
    const d = batch.dense;
    const src = this.userEnc.dense;
    const o = batch.rows * w;
    for (let j = 0; j < w; j++) d[o + j] = u >= 0 ? src[u * w + j] : 0;
    batch.rows++;
  }

  /**
   * Appends a user described by raw feature values (a new user) and a history. Unknown categories
   * fall into hash buckets; missing features into the missing row.
   */
  appendRawUser(batch: TowerBatch, features: RawFeatures, items: Int32Array, weights: Float32Array | undefined, start: number, end: number): void {
    if (!this.userTable) throw new Error('FeatureSpace: this copy has no user table, so raw user features cannot encode');
    this.appendRaw(batch, features, this.userTable, this.userSide, 'user', items, weights, start, end);
  }

  /** Appends an item described by raw feature values (a new item: its id encodes as OOV). */
  appendRawItem(batch: TowerBatch, features: RawFeatures): void {
    if (!this.itemTable) throw new Error('FeatureSpace: this copy has no item table, so raw item features cannot encode');
    this.appendRaw(batch, features, this.itemTable, this.itemSide, 'item', undefined, undefined, 0, 0);
  }

  private appendRaw(
    batch: TowerBatch,
    features: RawFeatures,
    table: EntityTable,
    side: SideState,
    which: 'user' | 'item',
    items: Int32Array | undefined,
    weights: Float32Array | undefined,
    start: number,
    end: number,
  ): void {
    const spec = batch.spec;
    for (let f = 0; f < spec.bags.length; f++) {
      const field = spec.bags[f];
      const bag = batch.bags[f];
      const missing = this.tables[field.table].rows - 1;
      if (field.kind === 'history' || field.kind === 'negative-history') {
        this.writeHistory(bag, field.kind === 'negative-history' ? -1 : this.options.negativeHistory === 'separate' ? 1 : 0, items ?? EMPTY, weights, start, end);
        continue;
      }
      bag.reserve(1);
      if (isOwnId(field)) {
        bag.push(missing, 1);
        bag.endRow();
        continue;
      }
      const v = features[field.column!];
      const { cols, stats } = this.lookup(which, table, side);
      const col = cols.get(field.column!)!;
      if (field.kind === 'bucket') {
        const st = stats.get(field.column!)!;
        const x = typeof v === 'number' ? v : Number(v);
        bag.push(v === null || v === undefined || !Number.isFinite(x) ? missing : bucketOf(st.bounds, x), 1);
      } else if (col.kind === 'categorical' || col.kind === 'id') {
        const code = v === null || v === undefined || v === '' ? -1 : col.vocab.encode(String(v));
        bag.push(code >= 0 ? code : missing, 1);
      } else if (col.kind === 'multi-categorical' || col.kind === 'text') {
        const parts: readonly string[] =
          v === null || v === undefined ? [] : typeof v === 'string' ? (col.kind === 'text' ? tokenize(v) : v.split(/[|,]/).map((s) => s.trim()).filter((s) => s !== '')) : Array.from(v as ArrayLike<string>, String);
        bag.reserve(parts.length);
        let any = false;
        for (const p of parts) {
          const code = col.vocab.encode(p);
          if (code >= 0) {
            bag.push(code, 1);
            any = true;
          }
        }
        if (!any) bag.push(missing, 1);
      }
      bag.endRow();
    }
    const w = spec.denseWidth;
    batch.ensureRows(batch.rows + 1);
    let k = batch.rows * w;
    for (const st of side.numeric) {
      const v = features[st.column];
      const x = typeof v === 'number' ? v : Number(v);
      batch.dense[k++] = v === null || v === undefined || !Number.isFinite(x) ? 0 : (x - st.mean) / st.std;
    }
    for (const vc of side.vectors) {
      const v = features[vc.column] as ArrayLike<number> | undefined;
      if (v !== undefined && v !== null && typeof v !== 'string' && v.length !== vc.dim) {
        throw new Error(`${which} feature '${vc.column}': expected a vector of length ${vc.dim}, got ${v.length}`);
      }
      for (let j = 0; j < vc.dim; j++) batch.dense[k++] = v ? Number(v[j]) || 0 : 0;
    }
    batch.rows++;
  }

  // name -> column and numeric statistics, built once per side, so raw encoding does no searches
  private lookups: { user?: Lookup; item?: Lookup } = {};

  private lookup(which: 'user' | 'item', table: EntityTable, side: SideState): Lookup {
    let l = this.lookups[which];
    if (!l) {
      l = { cols: new Map(table.columns.map((c) => [c.name, c])), stats: new Map(side.numeric.map((st) => [st.column, st])) };
      this.lookups[which] = l;
    }
    return l;
  }

  /**
   * The history bag: the last `historyLength` events of items[start..end), weight = event weight x
   * recencyDecay^(steps back). sign 0 keeps signed weights; 1 keeps only positive events; -1 only
   * negative ones (with positive weight, in their own bag).
   */
  private writeHistory(bag: BagBatch, sign: number, items: Int32Array, weights: Float32Array | undefined, start: number, end: number): void {
    const n = this.options.historyLength;
    const a = Math.max(start, end - n);
    const decay = this.options.recencyDecay;
    const oov = this.tables[this.historyTable].rows - 1;
    const ni = this.numItems;
    bag.reserve(end - a);
    let w = 1;
    for (let k = end - 1; k >= a; k--) {
      let ew = weights ? weights[k] : 1;
      if (sign > 0 && ew < 0) ew = 0;
      else if (sign < 0) ew = ew < 0 ? -ew : 0;
      if (ew !== 0) {
        const it = items[k];
        bag.push(it >= 0 && it < ni && this.itemSeen[it] ? it : oov, ew * w);
      }
      w *= decay;
    }
    bag.endRow();
  }

  private appendEntity(batch: TowerBatch, enc: EntityEncoding, r: number, dropId: boolean): void {
    const spec = batch.spec;
    for (let f = 0; f < spec.bags.length; f++) {
      const field = spec.bags[f];
      const bag = batch.bags[f];
      if (dropId && isOwnId(field)) {
        bag.reserve(1);
        bag.push(this.tables[field.table].rows - 1, 1);
        bag.endRow();
        continue;
      }
      const e = enc.bags[f];
      bag.appendCsr(e.offsets, e.indices, e.weights, r);
    }
    const w = spec.denseWidth;
    batch.ensureRows(batch.rows + 1);
    const d = batch.dense;
    const o = batch.rows * w;
    for (let j = 0; j < w; j++) d[o + j] = enc.dense[r * w + j];
    batch.rows++;
  }

  /** Whether user u / item i had training interactions (its id embedding was trained). */
  userKnown(u: number): boolean {
    return u >= 0 && u < this.userSeen.length && this.userSeen[u] === 1;
  }

  itemKnown(i: number): boolean {
    return i >= 0 && i < this.itemSeen.length && this.itemSeen[i] === 1;
  }

  /** JSON state (without the entity tables, which the owner saves with its data). */
  toJSON(): unknown {
    return {
      version: 1,
      options: this.options,
      tables: this.tables,
      user: this.user,
      item: this.item,
      historyTable: this.historyTable,
      userSide: this.userSide,
      itemSide: this.itemSide,
      eventWeights: Array.from(this.eventWeights),
    };
  }

  /** The flat arrays a saved model needs to encode known entities (see `fromState`). */
  arrays(): Record<string, Int32Array | Float32Array | Uint8Array> {
    const out: Record<string, Int32Array | Float32Array | Uint8Array> = { userSeen: this.userSeen, itemSeen: this.itemSeen };
    for (const [p, enc] of [['user', this.userEnc], ['item', this.itemEnc]] as const) {
      out[`${p}.dense`] = enc.dense;
      enc.bags.forEach((b, k) => {
        out[`${p}.bag${k}.offsets`] = b.offsets;
        out[`${p}.bag${k}.indices`] = b.indices;
        out[`${p}.bag${k}.weights`] = b.weights;
      });
    }
    return out;
  }

  /**
   * Rebuilds a fitted space from `toJSON()` output, `arrays()` and the entity tables (for raw-feature
   * vocabularies): what a saved model loads.
   */
  static fromState(json: unknown, arrays: Record<string, Int32Array | Float32Array | Uint8Array>, userTable?: EntityTable, itemTable?: EntityTable): FeatureSpace {
    const j = json as ReturnType<FeatureSpace['toJSON']> & Record<string, unknown>;
    const s = j as {
      version: number;
      options: FeatureSpaceOptions;
      tables: TableSpec[];
      user: TowerInputSpec;
      item: TowerInputSpec;
      historyTable: number;
      userSide: SideState;
      itemSide: SideState;
      eventWeights: number[];
    };
    if (s.version !== 1) throw new Error(`FeatureSpace: unsupported version ${s.version}`);
    const fs = new FeatureSpace(s.options, userTable, itemTable, new Float32Array(s.eventWeights));
    fs.tables.push(...s.tables);
    Object.assign(fs.user, s.user);
    Object.assign(fs.item, s.item);
    fs.historyTable = s.historyTable;
    fs.userSide = s.userSide;
    fs.itemSide = s.itemSide;
    fs.userSeen = arrays.userSeen as Uint8Array;
    fs.itemSeen = arrays.itemSeen as Uint8Array;
    const enc = (p: 'user' | 'item', spec: TowerInputSpec, n: number): EntityEncoding => {
      const bags: EntityEncoding['bags'] = [];
      const nb = spec.bags.filter((b) => b.kind !== 'history' && b.kind !== 'negative-history').length;
      for (let k = 0; k < nb; k++) {
        bags.push({ offsets: arrays[`${p}.bag${k}.offsets`] as Int32Array, indices: arrays[`${p}.bag${k}.indices`] as Int32Array, weights: arrays[`${p}.bag${k}.weights`] as Float32Array });
      }
      return { n, bags, dense: arrays[`${p}.dense`] as Float32Array };
    };
    fs.userEnc = enc('user', fs.user, fs.userSeen.length);
    fs.itemEnc = enc('item', fs.item, fs.itemSeen.length);
    return fs;
  }
}

const EMPTY = new Int32Array(0);

interface Lookup {
  cols: Map<string, FeatureColumn>;
  stats: Map<string, NumericStats>;
}

function numericStats(column: string, values: Float64Array, buckets: number): NumericStats {
  const xs: number[] = [];
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i])) xs.push(values[i]);
  let mean = 0;
  for (const x of xs) mean += x;
  mean = xs.length ? mean / xs.length : 0;
  let v = 0;
  for (const x of xs) v += (x - mean) ** 2;
  const std = xs.length > 1 ? Math.sqrt(v / xs.length) : 0;
  xs.sort((a, b) => a - b);
  const bounds: number[] = [];
  for (let b = 1; b < buckets && xs.length > 0; b++) {
    const q = xs[Math.min(xs.length - 1, Math.floor((b * xs.length) / buckets))];
    if (bounds.length === 0 || q > bounds[bounds.length - 1]) bounds.push(q);
  }
  return { column, mean, std: std > 0 ? std : 1, bounds };
}

/** Bucket of x among sorted cut points: 0 below bounds[0], k for bounds[k-1] <= x < bounds[k]. */
function bucketOf(bounds: number[], x: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x >= bounds[mid]) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

