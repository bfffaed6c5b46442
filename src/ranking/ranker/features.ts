import type { Dataset, UserQuery } from '../../data/index.ts';
import type { CandidateBlock } from '../../features/index.ts';
import { check, schema, type Infer } from '../../schema/index.ts';
import { symmetricEigen, TopK } from '../../math/index.ts';

/** The ranker features' settings (one schema: defaults, ranges, docs). */
export const RANKER_FEATURE_PARAMS = schema({
  neighbours: { type: 'number', integer: true, min: 1, default: 100, description: 'item-to-item cosine neighbours kept per item' },
  recentItems: { type: 'number', integer: true, min: 1, default: 5, description: '"the last few items": similarity max/mean and transitions look this far back' },
  halfLife: { type: 'number', min: 0, exclusiveMin: true, default: 10, description: 'recency half-life, in events, of the recency-weighted item-to-item score' },
  transitionWindow: { type: 'number', integer: true, min: 1, default: 3, description: 'a transition i -> j counts when j follows i within this many steps (weight 1/step)' },
  windowsDays: { type: 'list', of: 'number', min: 0, default: [7, 30], description: 'item popularity windows (days before the request) for recent popularity and trend' },
  maxCategoryValues: { type: 'number', integer: true, min: 1, default: 1000, description: 'categorical item columns with at most this many values feed user-category features' },
  maxHistoryForCooccurrence: { type: 'number', integer: true, min: 1, default: 300, description: 'only the last this many events of each user feed co-occurrence counts (bounds the quadratic cost)' },
  ids: { type: 'string', values: ['none', 'item', 'both'], default: 'none', description: "append id_item (the candidate's code), or id_user and id_item: read only by models that embed them (the DCN); the GBDT leaves them out" },
  vectors: { type: 'string', nullable: true, default: null, description: "a source with an embedding space (the two-tower's name): append vec_0..vec_{k-1}, the user vector and the candidate's item vector on the k main axes of the item vectors, multiplied axis by axis (their sum over every axis is the source's score); read only by the DCN, the GBDT leaves them out" },
  vectorDims: { type: 'number', integer: true, min: 1, max: 256, default: 16, description: 'k of `vectors`: the principal axes of the item vectors kept (at most their width)' },
  vectorRecent: { type: 'number', integer: true, min: 0, max: 256, default: 0, description: "m > 0 (with `vectors`): append vrec_0..k-1, the mean of the user's last m positive items' vectors and the candidate's on the same k axes, multiplied axis by axis (where the user's taste is now, in the source's space, apart from the user vector's longer memory); read only by the DCN, the GBDT leaves them out" },
  bagSlots: { type: 'number', integer: true, min: 0, max: 64, default: 0, description: "k > 0: for each multi-categorical or text item column (tags, genres, title words; at most maxBagValues values), append bag_<column>_0..k-1, the candidate's first k codes, and ubag_<column>_0..k-1, the k codes of that column most frequent in the user's history (recency-weighted by halfLife); read only by models that embed them (the DCN averages each bag's embeddings, one table per column shared by the user's bag and the item's); the GBDT leaves them out" },
  history: { type: 'number', integer: true, min: 0, max: 256, default: 0, description: "m > 0: append hist_0..m-1, the user's last m positive items as codes; the DCN averages their embeddings (in id_item's table when `ids` includes it); the GBDT leaves them out" },
  bagUserWeight: { type: 'string', values: ['count', 'tfidf'], default: 'count', description: "how the user's bag picks its k codes: count (the recency-weighted count in the history) or tfidf (that count times the code's inverse document frequency over the catalog, ln((1 + items) / (1 + items with the code)) + 1: a code the user meets often but few items carry beats one on every other item)" },
  contentRecent: { type: 'number', integer: true, min: 0, max: 256, default: 10, description: "m > 0: for each vector item column (a content embedding: text, image) append x_<column>_cos, the cosine of the candidate's vector with the mean of the user's last m positive items' (unit) vectors, and x_<column>_max, its largest cosine with any of them; 0: the ranker reads no vector column" },
  contentDims: { type: 'number', integer: true, min: 0, max: 256, default: 0, description: "k > 0: for each vector item column also append cvec_<column>_0..k-1, that recent mean and the candidate's vector on the column's k main axes, multiplied axis by axis (a weighting of the match per axis the cosine cannot give); read only by the DCN, the GBDT leaves them out" },
  maxBagValues: { type: 'number', integer: true, min: 1, default: 100000, description: 'item columns with more values than this give no `bagSlots` columns' },
  bagColumns: { type: 'list', of: 'string', nullable: true, default: null, description: 'the item columns `bagSlots` reads (null: every multi-categorical and text column)' },
});

/**
 * A source's embedding space, as the `vectors` columns read it (`CandidateSource.userVector` and
 * `itemVectors`: the two-tower).
 */
export interface EmbeddingSpace {
  userVector(query: UserQuery, out: Float32Array): boolean;
  itemVectors(): Float32Array;
}

export type RankerFeatureOptions = Infer<typeof RANKER_FEATURE_PARAMS>;

/** `RankerFeatures.embedOnly` of an id code column (id_user, id_item; bag slots too) and of a `vec_*` axis product. */
export const ID_COLUMN = 1;
export const VECTOR_COLUMN = 2;
/** `RankerFeatures.embedOnly` of a `vrec_*` axis product (the recent items' mean vector against the candidate's). */
export const RECENT_VECTOR_COLUMN = 3;
/** `RankerFeatures.embedOnly` of a `cvec_<column>_*` axis product (the recent items' mean content vector against the candidate's). */
export const CONTENT_VECTOR_COLUMN = 4;

/**
 * How coded columns share embeddings (`RankerFeatures.embedGroups`): per column, the first column of the
 * bag it is averaged with and the first column of the table it reads (-1: not a code column; a plain
 * categorical column is its own bag and table).
 */
export interface EmbedGroups {
  pool: Int32Array;
  table: Int32Array;
}

const DAY = 86400;

/** The columns measured in days (or comparing times across users): off when timestamps are positions within a user. */
const DAY_BASED = /^(u_span_days|u_events_7d|i_pop_before|i_age_days|i_days_since_last|i_pop_\d+d|i_trend|x_.*_days_since)$/;

/** Sparse top-k neighbour lists in CSR form: item i's are ids/weights[offsets[i] .. offsets[i+1]). */
export interface NeighbourLists {
  offsets: Int32Array;
  ids: Int32Array;
  weights: Float32Array;
}

/** An item categorical column as bags: item i has codes[offsets[i] .. offsets[i+1]). */
interface CategoryBags {
  name: string;
  size: number;
  offsets: Int32Array;
  codes: Int32Array;
}

/**
 * Fitted statistics the ranker's features come from (item popularity over time, item-to-item cosine
 * and transitions, category bags), and the one-pass extraction of a request's feature rows.
 * Fit it on the data L1 was fitted on, never on the interactions that label the training rows.
 * @example const rf = RankerFeatures.fit(train, ['ease', 'itemknn']); rf.extract(query, merged, out, 0);
 */
export class RankerFeatures {
  readonly options: RankerFeatureOptions;
  /** Column names, in row order. */
  readonly names: string[];
  /** False when the data's timestamps are positions (timeKind 'order'): the columns measured in days are left out. */
  readonly timed: boolean;
  /** Every column the extraction computes, in order; `names` is this minus the day-based ones on untimed data. */
  private readonly allNames: string[];
  /** Untimed data: the positions in `allNames` of the kept columns; null when every column is kept. */
  private readonly keep: Int32Array | null;
  private full = new Float32Array(0);
  readonly numItems: number;
  private readonly l1Sources: readonly string[];
  // item statistics
  private readonly itemTimeOffsets: Int32Array;
  private readonly itemTimes: Float64Array;
  private readonly itemMeanValue: Float32Array;
  private readonly cosine: NeighbourLists;
  private readonly transitions: NeighbourLists;
  private readonly categories: CategoryBags[];
  private readonly itemNumeric: { name: string; values: Float64Array }[];
  private readonly itemCategorical: { name: string; codes: Int32Array; size: number }[];
  private readonly userColumns: { name: string; get: (u: number) => number; size?: number }[];
  /** The `bagSlots` item columns (multi-categorical and text) and, per request, the user's weight on each code. */
  private readonly bagColumns: { name: string; size: number; offsets: Int32Array; codes: Int32Array; idf: Float32Array | null }[];
  private readonly bagWeight: Float32Array[];
  private readonly bagTouched: Int32Array[];
  private readonly bagMark: Uint8Array[];
  private readonly userBag: Float32Array;
  private readonly histItems: Float32Array;
  private readonly bagTop: TopK | null;
  private readonly bagTopIds: Int32Array;
  /** Which code columns are averaged together (bags) and which share a table. */
  readonly embedGroups: EmbedGroups;
  /**
   * Per column (in `names` order): the vocabulary size of a categorical column whose values are codes
   * 0..size-1 (NaN: missing), 0 for a numeric one. Deep rankers embed the coded columns.
   */
  readonly cardinalities: Int32Array;
  /**
   * Per column: 1 for an id code (id_user, id_item) that only an embedding reads, 2 for a number only the
   * deep ranker reads (the `vec_*` axis products); models that split on numbers (the GBDT) leave both out.
   */
  readonly embedOnly: Uint8Array;
  /** The `vectors` columns: the space, its width, its k main axes (k x dim rows), each item on them (numItems x k). */
  private readonly space: EmbeddingSpace | null;
  private readonly vecDim: number;
  private readonly vecK: number;
  private readonly axes: Float64Array;
  private readonly itemAxes: Float32Array;
  private readonly userVec: Float32Array;
  private readonly userAxes: Float32Array;
  /** `vectorRecent`: the last m positives' mean on the k axes, per request. */
  private readonly recentAxes: Float32Array;
  private readonly recentK: number;
  /**
   * The vector item columns (content embeddings): the column's values (not copied) and each item's
   * inverse length (`inv` 0: missing, so no catalog-sized copy of the vectors is kept), its
   * coordinates on the column's k main axes (`contentDims`); per request, the sum of the recent items'
   * unit vectors and how many there were.
   */
  private readonly content: { name: string; dim: number; values: Float32Array; inv: Float32Array; k: number; axes: Float64Array; itemAxes: Float32Array; sum: Float64Array; recentAxes: Float64Array; probe: Float64Array }[];
  private readonly contentCount: Int32Array;
  /** The user's last `contentRecent` positive items in the catalog, newest first, this request. */
  private readonly contentItems: Int32Array;
  private readonly numUsers: number;
  /** Mean interaction value of each user in the fitted data (a rating average on MovieLens). */
  private readonly userMeanValues: Float32Array;
  // per-request scratch (one pass per request, nothing allocated per candidate)
  private readonly simLast: Float32Array;
  private readonly simMax: Float32Array;
  private readonly simRecentSum: Float32Array;
  private readonly simDecay: Float32Array;
  private readonly simAll: Float32Array;
  private readonly transLast: Float32Array;
  private readonly transRecent: Float32Array;
  private touched: Int32Array;
  private readonly isTouched: Uint8Array;
  private readonly userRow: Float32Array;
  private readonly catCount: Float32Array[];
  private readonly catRecent: Float32Array[];
  private readonly catLast: Float64Array[];
  private readonly numericMean: Float64Array;

  private constructor(ds: Dataset, l1Sources: readonly string[], options: RankerFeatureOptions, space: EmbeddingSpace | null) {
    this.options = options;
    this.space = options.vectors === null ? null : space;
    if (options.vectors !== null && !space) throw new Error(`ranker.features.vectors: source '${options.vectors}' has no embedding space (userVector/itemVectors), or is not among the stages`);
    const pa = this.space ? principalAxes(this.space.itemVectors(), ds.numItems, options.vectorDims, options.vectors!) : { dim: 0, k: 0, axes: new Float64Array(0), itemAxes: new Float32Array(0) };
    this.vecDim = pa.dim;
    this.vecK = pa.k;
    this.axes = pa.axes;
    this.itemAxes = pa.itemAxes;
    this.userVec = new Float32Array(pa.dim);
    this.userAxes = new Float32Array(pa.k);
    if (options.vectorRecent > 0 && options.vectors === null) throw new Error('ranker.features.vectorRecent: needs `vectors` (the space whose item vectors the recent items are read in)');
    this.recentK = options.vectorRecent > 0 ? pa.k : 0;
    this.recentAxes = new Float32Array(this.recentK);
    this.l1Sources = [...l1Sources];
    this.numItems = ds.numItems;
    this.numUsers = ds.numUsers;
    const positive = ds.eventTypes.map((e) => !e.negative);
    const x = ds.interactions;

    // item event times, sorted, for windowed popularity
    const n = ds.numItems;
    const off = new Int32Array(n + 1);
    for (let r = 0; r < x.length; r++) if (positive[x.event[r]]) off[x.item[r] + 1]++;
    for (let i = 0; i < n; i++) off[i + 1] += off[i];
    const fill = off.slice(0, n);
    const times = new Float64Array(off[n]);
    const valueSum = new Float64Array(n);
    for (let r = 0; r < x.length; r++) {
      if (!positive[x.event[r]]) continue;
      times[fill[x.item[r]]++] = x.timestamp[r];
      valueSum[x.item[r]] += x.value[r];
    }
    for (let i = 0; i < n; i++) times.subarray(off[i], off[i + 1]).sort();
    this.itemTimeOffsets = off;
    this.itemTimes = times;
    this.itemMeanValue = new Float32Array(n);
    for (let i = 0; i < n; i++) this.itemMeanValue[i] = off[i + 1] > off[i] ? valueSum[i] / (off[i + 1] - off[i]) : NaN;
    const uSum = new Float64Array(ds.numUsers);
    const uCnt = new Int32Array(ds.numUsers);
    for (let r = 0; r < x.length; r++) {
      if (!positive[x.event[r]]) continue;
      uSum[x.user[r]] += x.value[r];
      uCnt[x.user[r]]++;
    }
    this.userMeanValues = new Float32Array(ds.numUsers);
    for (let u = 0; u < ds.numUsers; u++) this.userMeanValues[u] = uCnt[u] > 0 ? uSum[u] / uCnt[u] : NaN;

    const seqs = positiveSequences(ds);
    this.cosine = cosineNeighbours(seqs, n, options.neighbours, options.maxHistoryForCooccurrence);
    this.transitions = transitionNeighbours(seqs, n, options.neighbours, options.transitionWindow);

    // side features
    this.categories = [];
    this.itemNumeric = [];
    this.itemCategorical = [];
    for (const c of ds.items.columns) {
      if (c.kind === 'numeric') this.itemNumeric.push({ name: c.name, values: c.values });
      else if (c.kind === 'categorical' || c.kind === 'id') {
        this.itemCategorical.push({ name: c.name, codes: c.codes, size: c.vocab.size });
        if (c.vocab.size <= options.maxCategoryValues) {
          const offs = new Int32Array(n + 1);
          for (let i = 0; i < n; i++) offs[i + 1] = offs[i] + (c.codes[i] >= 0 && c.codes[i] < c.vocab.size ? 1 : 0);
          const codes = new Int32Array(offs[n]);
          for (let i = 0; i < n; i++) if (offs[i + 1] > offs[i]) codes[offs[i]] = c.codes[i];
          this.categories.push({ name: c.name, size: c.vocab.size, offsets: offs, codes });
        }
      } else if (c.kind === 'multi-categorical' && c.vocab.size <= options.maxCategoryValues) {
        this.categories.push({ name: c.name, size: c.vocab.size, offsets: c.offsets, codes: c.codes });
      }
    }
    this.userColumns = [];
    for (const c of ds.users.columns) {
      if (c.kind === 'numeric') this.userColumns.push({ name: `u_${c.name}`, get: (u) => c.values[u] });
      else if (c.kind === 'categorical' || c.kind === 'id') this.userColumns.push({ name: `u_${c.name}`, get: (u) => (c.codes[u] >= 0 ? c.codes[u] : NaN), size: c.vocab.size });
      else if (c.kind === 'multi-categorical') this.userColumns.push({ name: `u_${c.name}_count`, get: (u) => c.offsets[u + 1] - c.offsets[u] });
    }

    this.bagColumns = [];
    if (options.bagSlots > 0) {
      const named = options.bagColumns;
      for (const name of named ?? []) {
        const c = ds.items.columns.find((col) => col.name === name);
        if (!c || (c.kind !== 'multi-categorical' && c.kind !== 'text')) throw new Error(`ranker.features.bagColumns: '${name}' is not a multi-categorical or text item column (they are: ${ds.items.columns.filter((col) => col.kind === 'multi-categorical' || col.kind === 'text').map((col) => col.name).join(', ') || 'none'})`);
      }
      for (const c of ds.items.columns) {
        if (named && !named.includes(c.name)) continue;
        if ((c.kind === 'multi-categorical' || c.kind === 'text') && c.vocab.size <= options.maxBagValues) {
          this.bagColumns.push({ name: c.name, size: c.vocab.size, offsets: c.offsets, codes: c.codes, idf: options.bagUserWeight === 'tfidf' ? inverseDocumentFrequency(c.offsets, c.codes, c.vocab.size, n) : null });
        }
      }
    }
    this.content = [];
    for (const c of ds.items.columns) {
      if (c.kind !== 'vector' || options.contentRecent === 0) continue;
      const D = c.dim;
      const inv = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let s2 = 0;
        for (let d = 0; d < D; d++) s2 += c.values[i * D + d] * c.values[i * D + d];
        // a missing or all-zero vector (NaN fails the test too) keeps 0
        if (s2 > 0 && s2 < Infinity) inv[i] = 1 / Math.sqrt(s2);
      }
      let pa: { k: number; axes: Float64Array; itemAxes: Float32Array } = { k: 0, axes: new Float64Array(0), itemAxes: new Float32Array(0) };
      if (options.contentDims > 0) {
        // the axes of the unit vectors (missing ones zero), from a copy dropped once they are found
        const unit = new Float32Array(n * D);
        for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) unit[i * D + d] = inv[i] > 0 ? c.values[i * D + d] * inv[i] : 0;
        pa = principalAxes(unit, n, options.contentDims, c.name);
      }
      this.content.push({ name: c.name, dim: D, values: c.values, inv, k: pa.k, axes: pa.axes, itemAxes: pa.itemAxes, sum: new Float64Array(D), recentAxes: new Float64Array(pa.k), probe: new Float64Array((1 + options.contentRecent) * D) });
    }
    this.contentCount = new Int32Array(this.content.length);
    this.contentItems = new Int32Array(options.contentRecent);
    this.bagWeight = this.bagColumns.map((c) => new Float32Array(c.size));
    this.bagTouched = this.bagColumns.map((c) => new Int32Array(c.size));
    this.bagMark = this.bagColumns.map((c) => new Uint8Array(c.size));
    this.userBag = new Float32Array(this.bagColumns.length * options.bagSlots).fill(NaN);
    this.histItems = new Float32Array(options.history).fill(NaN);
    this.bagTop = options.bagSlots > 0 ? new TopK(options.bagSlots) : null;
    this.bagTopIds = new Int32Array(options.bagSlots);

    this.timed = ds.timeKind !== 'order';
    this.allNames = this.columnNames();
    if (this.timed) {
      this.names = this.allNames;
      this.keep = null;
    } else {
      const kept = this.allNames.map((n, i) => (DAY_BASED.test(n) ? -1 : i)).filter((i) => i >= 0);
      this.keep = Int32Array.from(kept);
      this.names = kept.map((i) => this.allNames[i]);
    }
    const sizes = new Map<string, number>();
    for (const c of this.userColumns) if (c.size !== undefined) sizes.set(c.name, c.size);
    for (const c of this.itemCategorical) sizes.set(`i_${c.name}`, c.size);
    // the code columns only an embedding reads: the ids and the bag slots
    const codeOnly = new Map<string, number>([['id_user', ds.numUsers], ['id_item', ds.numItems]]);
    for (let j = 0; j < options.history; j++) codeOnly.set(`hist_${j}`, ds.numItems);
    for (const c of this.bagColumns) for (let j = 0; j < options.bagSlots; j++) for (const side of ['bag', 'ubag']) codeOnly.set(`${side}_${c.name}_${j}`, c.size);
    for (const [name, size] of codeOnly) sizes.set(name, size);
    this.cardinalities = Int32Array.from(this.names, (n) => sizes.get(n) ?? 0);
    this.embedOnly = Uint8Array.from(this.names, (n) => (codeOnly.has(n) ? ID_COLUMN : n.startsWith('vec_') ? VECTOR_COLUMN : n.startsWith('vrec_') ? RECENT_VECTOR_COLUMN : n.startsWith('cvec_') ? CONTENT_VECTOR_COLUMN : 0));
    // bags: a column's slots average into one input; the user's bag reads the item bag's table, the
    // history reads id_item's when the rows have it
    const at = (n: string) => this.names.indexOf(n);
    const pool = new Int32Array(this.names.length).fill(-1);
    const table = new Int32Array(this.names.length).fill(-1);
    this.names.forEach((n, f) => {
      if (this.cardinalities[f] > 0) pool[f] = table[f] = f;
    });
    const group = (first: string, count: number, prefix: string, tableOf: number) => {
      const f0 = at(first);
      for (let j = 0; j < count; j++) {
        const f = at(`${prefix}${j}`);
        pool[f] = f0;
        table[f] = tableOf >= 0 ? tableOf : f0;
      }
    };
    if (options.history > 0) group('hist_0', options.history, 'hist_', at('id_item'));
    for (const c of this.bagColumns) {
      group(`bag_${c.name}_0`, options.bagSlots, `bag_${c.name}_`, -1);
      group(`ubag_${c.name}_0`, options.bagSlots, `ubag_${c.name}_`, at(`bag_${c.name}_0`));
    }
    this.embedGroups = { pool, table };
    this.simLast = new Float32Array(n);
    this.simMax = new Float32Array(n);
    this.simRecentSum = new Float32Array(n);
    this.simDecay = new Float32Array(n);
    this.simAll = new Float32Array(n);
    this.transLast = new Float32Array(n);
    this.transRecent = new Float32Array(n);
    this.touched = new Int32Array(Math.min(n, 4096));
    this.isTouched = new Uint8Array(n);
    this.userRow = new Float32Array(this.userWidth);
    this.catCount = this.categories.map((c) => new Float32Array(c.size));
    this.catRecent = this.categories.map((c) => new Float32Array(c.size));
    this.catLast = this.categories.map((c) => new Float64Array(c.size));
    this.numericMean = new Float64Array(this.itemNumeric.length);
  }

  /**
   * Fits the statistics on `ds` (the interactions L1 saw). `l1Sources` names the merged candidate sources
   * whose scores and ranks become columns, in the order the L1 block holds them. `space` is the
   * embedding space of the source `options.vectors` names (fitted on `ds` too), when it is set.
   */
  static fit(ds: Dataset, l1Sources: readonly string[], options: Partial<RankerFeatureOptions> = {}, space: EmbeddingSpace | null = null): RankerFeatures {
    const o = check(RANKER_FEATURE_PARAMS, options, { path: 'ranker.features' });
    if (o.windowsDays.length === 0 || o.windowsDays.some((w) => !(w > 0))) throw new Error('ranker.features.windowsDays: must hold positive numbers');
    return new RankerFeatures(ds, l1Sources, o, space);
  }

  get width(): number {
    return this.names.length;
  }

  private get userWidth(): number {
    return 5 + this.userColumns.length;
  }

  private columnNames(): string[] {
    const names = ['u_events', 'u_span_days', 'u_events_7d', 'u_mean_value', 'u_negative_share'];
    for (const c of this.userColumns) names.push(c.name);
    names.push('i_pop_total', 'i_pop_before', 'i_age_days', 'i_mean_value', 'i_days_since_last');
    for (const w of this.options.windowsDays) names.push(`i_pop_${w}d`);
    names.push('i_trend');
    for (const c of this.itemNumeric) names.push(`i_${c.name}`, `x_${c.name}_diff`);
    for (const c of this.itemCategorical) names.push(`i_${c.name}`);
    for (const c of this.categories) {
      names.push(`x_${c.name}_count`, `x_${c.name}_share`, `x_${c.name}_recent_share`, `x_${c.name}_days_since`);
    }
    for (const c of this.content) names.push(`x_${c.name}_cos`, `x_${c.name}_max`);
    names.push('sim_last', 'sim_max_recent', 'sim_mean_recent', 'sim_decay', 'sim_mean_all', 'trans_last', 'trans_recent');
    for (const s of this.l1Sources) names.push(`l1_${s}_score`, `l1_${s}_rank`, `l1_${s}_rel`);
    names.push('l1_found', 'l1_position');
    if (this.options.ids === 'both') names.push('id_user');
    if (this.options.ids !== 'none') names.push('id_item');
    for (const c of this.bagColumns) {
      for (let j = 0; j < this.options.bagSlots; j++) names.push(`bag_${c.name}_${j}`);
      for (let j = 0; j < this.options.bagSlots; j++) names.push(`ubag_${c.name}_${j}`);
    }
    for (let j = 0; j < this.options.history; j++) names.push(`hist_${j}`);
    for (const c of this.content) for (let j = 0; j < c.k; j++) names.push(`cvec_${c.name}_${j}`);
    for (let j = 0; j < this.recentK; j++) names.push(`vrec_${j}`);
    // the vec_* columns last (a bench variant with fewer of them drops the rows' last columns)
    for (let j = 0; j < this.vecK; j++) names.push(`vec_${j}`);
    return names;
  }

  /**
   * Writes one feature row per candidate of `l1` into `out` (row-major, `width` floats per row) from row
   * `rowOffset` on. One pass over the history fills per-request accumulators; each candidate then reads
   * them. NaN marks a missing value.
   */
  extract(query: UserQuery, l1: CandidateBlock, out: Float32Array, rowOffset = 0): void {
    if (l1.sources.length !== this.l1Sources.length || l1.sources.some((s, k) => s !== this.l1Sources[k])) {
      throw new Error(`RankerFeatures.extract: L1 sources [${l1.sources.join(', ')}] differ from the fitted [${this.l1Sources.join(', ')}]`);
    }
    if (out.length < (rowOffset + l1.count) * this.width) throw new Error(`RankerFeatures.extract: out holds ${out.length} floats, need ${(rowOffset + l1.count) * this.width}`);
    if (this.keep === null) return this.extractAll(query, l1, out, rowOffset);
    // untimed data: every column into scratch, then the kept ones
    const F = this.allNames.length;
    if (this.full.length < l1.count * F) this.full = new Float32Array(l1.count * F);
    this.extractAll(query, l1, this.full, 0);
    const keep = this.keep;
    const W = keep.length;
    for (let c = 0; c < l1.count; c++) for (let k = 0; k < W; k++) out[(rowOffset + c) * W + k] = this.full[c * F + keep[k]];
  }

  /** `extract` over every column (`allNames`). */
  private extractAll(query: UserQuery, l1: CandidateBlock, out: Float32Array, rowOffset: number): void {
    const W = this.allNames.length;
    const h = query.history;
    const len = h.length;
    const ts = query.timestamps;
    const now = ts && len > 0 ? ts[len - 1] : Infinity;
    const o = this.options;
    const n = this.numItems;

    // ---- one pass over the history: user profile, category profile, item-to-item accumulators
    let positives = 0;
    let negatives = 0;
    let recent7 = 0;
    const catN = this.categories.length;
    for (let c = 0; c < catN; c++) {
      this.catCount[c].fill(0);
      this.catRecent[c].fill(0);
      this.catLast[c].fill(NaN);
    }
    const numN = this.itemNumeric.length;
    const numCount = new Float64Array(numN); // per request, not per candidate
    this.numericMean.fill(0);
    let nTouched = 0;
    const bagN = this.bagColumns.length;
    const bagTouchedN = new Int32Array(bagN); // per request, not per candidate
    this.histItems.fill(NaN);
    const RK = this.recentK;
    // items with a vector on the axes (one added after training has none)
    const vecItems = this.itemAxes.length / Math.max(this.vecK, 1);
    let recentN = 0;
    this.recentAxes.fill(0);
    let contentN = 0;
    // positions of positive events, newest first, for "the last few items"
    let seenPositive = 0;
    for (let k = len - 1; k >= 0; k--) {
      const it = h[k];
      if (it < 0 || it >= n) continue;
      const w = query.weights ? query.weights[k] : 1;
      if (w < 0) {
        negatives++;
        continue;
      }
      positives++;
      if (ts && now - ts[k] <= 7 * DAY) recent7++;
      for (let c = 0; c < catN; c++) {
        const cat = this.categories[c];
        for (let q = cat.offsets[it]; q < cat.offsets[it + 1]; q++) {
          const code = cat.codes[q];
          this.catCount[c][code] += 1;
          if (seenPositive < 10) this.catRecent[c][code] += 1;
          if (ts && Number.isNaN(this.catLast[c][code])) this.catLast[c][code] = ts[k];
        }
      }
      for (let c = 0; c < numN; c++) {
        const v = this.itemNumeric[c].values[it];
        if (v === v) {
          this.numericMean[c] += v;
          numCount[c]++;
        }
      }
      const decay = Math.pow(0.5, seenPositive / o.halfLife);
      if (seenPositive < o.history) this.histItems[seenPositive] = it;
      if (seenPositive < o.contentRecent) this.contentItems[contentN++] = it;
      if (seenPositive < o.vectorRecent && it < vecItems) {
        for (let j = 0; j < RK; j++) this.recentAxes[j] += this.itemAxes[it * RK + j];
        recentN++;
      }
      for (let c = 0; c < bagN; c++) {
        const bc = this.bagColumns[c];
        const wts = this.bagWeight[c];
        for (let q = bc.offsets[it]; q < bc.offsets[it + 1]; q++) {
          const code = bc.codes[q];
          if (!(code >= 0 && code < bc.size)) continue;
          // marked apart from the weight: a long history's oldest weights underflow to 0
          if (this.bagMark[c][code] === 0) {
            this.bagMark[c][code] = 1;
            this.bagTouched[c][bagTouchedN[c]++] = code;
          }
          wts[code] += decay;
        }
      }
      const isLast = seenPositive === 0;
      const isRecent = seenPositive < o.recentItems;
      const cs = this.cosine;
      for (let q = cs.offsets[it]; q < cs.offsets[it + 1]; q++) {
        const j = cs.ids[q];
        const s = cs.weights[q];
        if (this.isTouched[j] === 0) {
          this.isTouched[j] = 1;
          if (nTouched === this.touched.length) this.growTouched();
          this.touched[nTouched++] = j;
        }
        if (isLast) this.simLast[j] = s;
        if (isRecent) {
          if (s > this.simMax[j]) this.simMax[j] = s;
          this.simRecentSum[j] += s;
        }
        this.simDecay[j] += decay * s;
        this.simAll[j] += s;
      }
      if (seenPositive < o.transitionWindow) {
        const tr = this.transitions;
        const tw = 1 / (seenPositive + 1);
        for (let q = tr.offsets[it]; q < tr.offsets[it + 1]; q++) {
          const j = tr.ids[q];
          if (this.isTouched[j] === 0) {
            this.isTouched[j] = 1;
            if (nTouched === this.touched.length) this.growTouched();
            this.touched[nTouched++] = j;
          }
          if (isLast) this.transLast[j] = tr.weights[q];
          this.transRecent[j] += tw * tr.weights[q];
        }
      }
      seenPositive++;
    }
    for (let c = 0; c < numN; c++) this.numericMean[c] = numCount[c] > 0 ? this.numericMean[c] / numCount[c] : NaN;
    this.userBags(bagTouchedN);
    const recentDen = Math.min(o.recentItems, positives);
    const u = query.user;
    const urow = this.userRow;
    urow[0] = positives;
    urow[1] = ts && len > 0 ? (ts[len - 1] - ts[0]) / DAY : NaN;
    urow[2] = ts ? recent7 : NaN;
    urow[3] = this.userMeanValue(query);
    urow[4] = len > 0 ? negatives / len : 0;
    for (let c = 0; c < this.userColumns.length; c++) urow[5 + c] = u >= 0 && u < this.numUsers ? this.userColumns[c].get(u) : NaN;

    // ---- the user's vector on the main axes of the item vectors (sums in float64, in axis order)
    const K = this.vecK;
    const userOk = K > 0 && this.space!.userVector(query, this.userVec);
    if (userOk) {
      const D = this.vecDim;
      for (let j = 0; j < K; j++) {
        let z = 0;
        for (let d = 0; d < D; d++) z += this.axes[j * D + d] * this.userVec[d];
        this.userAxes[j] = z;
      }
    }
    for (let j = 0; j < RK; j++) this.recentAxes[j] = recentN > 0 ? this.recentAxes[j] / recentN : NaN;
    this.contentProfile(contentN);

    // ---- each source's best score in this request: scores relative to it compare across users
    const S = this.l1Sources.length;
    const best = new Float64Array(S).fill(-Infinity); // per request, not per candidate
    for (let c = 0; c < l1.count; c++) {
      for (let s = 0; s < S; s++) {
        const v = l1.scores[c * S + s];
        if (v > best[s]) best[s] = v;
      }
    }

    // ---- one row per candidate
    const windows = o.windowsDays;
    for (let c = 0; c < l1.count; c++) {
      const it = l1.items[c];
      let p = (rowOffset + c) * W;
      out.set(urow, p);
      p += urow.length;
      const inCatalog = it >= 0 && it < n;
      const a = inCatalog ? this.itemTimeOffsets[it] : 0;
      const b = inCatalog ? this.itemTimeOffsets[it + 1] : 0;
      const before = upperBound(this.itemTimes, a, b, now) - a;
      out[p++] = b - a;
      out[p++] = before;
      out[p++] = before > 0 && now !== Infinity ? (now - this.itemTimes[a]) / DAY : NaN;
      out[p++] = inCatalog ? this.itemMeanValue[it] : NaN;
      out[p++] = before > 0 && now !== Infinity ? (now - this.itemTimes[a + before - 1]) / DAY : NaN;
      let firstRate = 0;
      let lastRate = 0;
      for (let k = 0; k < windows.length; k++) {
        const cnt = now === Infinity ? NaN : before - (upperBound(this.itemTimes, a, a + before, now - windows[k] * DAY) - a);
        out[p++] = cnt;
        if (k === 0) firstRate = cnt / windows[k];
        lastRate = cnt / windows[k];
      }
      // trend: the shortest window's daily rate against the longest's
      out[p++] = windows.length > 1 ? (firstRate + 1e-3) / (lastRate + 1e-3) : NaN;
      for (let k = 0; k < numN; k++) {
        const v = inCatalog ? this.itemNumeric[k].values[it] : NaN;
        out[p++] = v;
        out[p++] = Math.abs(v - this.numericMean[k]);
      }
      for (const col of this.itemCategorical) out[p++] = inCatalog && col.codes[it] >= 0 ? col.codes[it] : NaN;
      for (let k = 0; k < catN; k++) {
        const cat = this.categories[k];
        let count = 0;
        let maxShare = 0;
        let recent = 0;
        let last = -Infinity;
        if (inCatalog) {
          for (let q = cat.offsets[it]; q < cat.offsets[it + 1]; q++) {
            const code = cat.codes[q];
            const cc = this.catCount[k][code];
            count += cc;
            if (cc > maxShare) maxShare = cc;
            recent += this.catRecent[k][code];
            const t = this.catLast[k][code];
            if (t > last) last = t;
          }
        }
        out[p++] = count;
        out[p++] = positives > 0 ? maxShare / positives : NaN;
        out[p++] = positives > 0 ? recent / Math.min(10, positives) : NaN;
        out[p++] = last === -Infinity || now === Infinity ? NaN : (now - last) / DAY;
      }
      p = this.writeContentMatch(out, p, inCatalog ? it : -1);
      const t = inCatalog && this.isTouched[it] === 1;
      out[p++] = t ? this.simLast[it] : 0;
      out[p++] = t ? this.simMax[it] : 0;
      out[p++] = t && recentDen > 0 ? this.simRecentSum[it] / recentDen : 0;
      out[p++] = t ? this.simDecay[it] : 0;
      out[p++] = t && positives > 0 ? this.simAll[it] / positives : 0;
      out[p++] = t ? this.transLast[it] : 0;
      out[p++] = t ? this.transRecent[it] : 0;
      let found = 0;
      for (let s = 0; s < S; s++) {
        const sc = l1.scores[c * S + s];
        out[p++] = sc;
        const r = l1.ranks[c * S + s];
        out[p++] = r;
        out[p++] = best[s] > 0 && sc === sc ? sc / best[s] : NaN;
        if (r === r) found++;
      }
      out[p++] = found;
      out[p++] = l1.position[c];
      // codes outside the fitted tables (a user or item added after training) are missing
      if (o.ids === 'both') out[p++] = u >= 0 && u < this.numUsers ? u : NaN;
      if (o.ids !== 'none') out[p++] = inCatalog ? it : NaN;
      const k = o.bagSlots;
      for (let b = 0; b < bagN; b++) {
        const bc = this.bagColumns[b];
        const from = inCatalog ? bc.offsets[it] : 0;
        const have = inCatalog ? Math.min(k, bc.offsets[it + 1] - from) : 0;
        for (let j = 0; j < k; j++) out[p++] = j < have ? bc.codes[from + j] : NaN;
        out.set(this.userBag.subarray(b * k, (b + 1) * k), p);
        p += k;
      }
      out.set(this.histItems, p);
      p += this.histItems.length;
      // the content axis products: NaN when the user has no recent item with a vector, or the candidate none
      for (let k = 0; k < this.content.length; k++) {
        const cc = this.content[k];
        const ok = inCatalog && cc.inv[it] > 0 && this.contentCount[k] > 0;
        for (let j = 0; j < cc.k; j++) out[p++] = ok ? cc.recentAxes[j] * cc.itemAxes[it * cc.k + j] : NaN;
      }
      // NaN when the user has no recent item with a vector (recentAxes), or the candidate none
      if (it >= 0 && it < vecItems) for (let j = 0; j < RK; j++) out[p++] = this.recentAxes[j] * this.itemAxes[it * RK + j];
      else for (let j = 0; j < RK; j++) out[p++] = NaN;
      // an item without a trained vector (added after training), or a user with none: missing
      if (userOk && it >= 0 && it < vecItems) for (let j = 0; j < K; j++) out[p++] = this.userAxes[j] * this.itemAxes[it * K + j];
      else for (let j = 0; j < K; j++) out[p++] = NaN;
    }

    // ---- clear the accumulators this request touched
    for (let k = 0; k < nTouched; k++) {
      const j = this.touched[k];
      this.isTouched[j] = 0;
      this.simLast[j] = 0;
      this.simMax[j] = 0;
      this.simRecentSum[j] = 0;
      this.simDecay[j] = 0;
      this.simAll[j] = 0;
      this.transLast[j] = 0;
      this.transRecent[j] = 0;
    }
  }

  /**
   * Per vector item column, the sum of the unit vectors of the first `count` items of `contentItems` (the
   * user's last positives) that have one, how many did, and their mean on the column's main axes; and
   * the probes each candidate is dotted with: the sum's direction (row 0), then each recent unit vector.
   */
  private contentProfile(count: number): void {
    for (let k = 0; k < this.content.length; k++) {
      const cc = this.content[k];
      const D = cc.dim;
      const probe = cc.probe;
      cc.sum.fill(0);
      // one pass: each recent unit vector is a probe row (from row 1) and is added to the sum
      let m = 0;
      for (let r = 0; r < count; r++) {
        const it = this.contentItems[r];
        const w = cc.inv[it];
        if (w === 0) continue;
        m++;
        const row = m * D;
        for (let d = 0; d < D; d++) {
          const z = cc.values[it * D + d] * w;
          probe[row + d] = z;
          cc.sum[d] += z;
        }
      }
      this.contentCount[k] = m;
      let s2 = 0;
      for (let d = 0; d < D; d++) s2 += cc.sum[d] * cc.sum[d];
      const toDir = s2 > 0 ? 1 / Math.sqrt(s2) : 0;
      for (let d = 0; d < D; d++) probe[d] = cc.sum[d] * toDir;
      for (let j = 0; j < cc.k; j++) {
        let z = 0;
        for (let d = 0; d < D; d++) z += cc.axes[j * D + d] * cc.sum[d];
        cc.recentAxes[j] = m > 0 ? z / m : NaN;
      }
    }
  }

  /**
   * Writes x_<column>_cos and x_<column>_max of candidate `it` (-1: not in the catalog) for each vector
   * item column at out[p..]; returns the next position. NaN when either side has no vector.
   */
  private writeContentMatch(out: Float32Array, p: number, it: number): number {
    for (let k = 0; k < this.content.length; k++) {
      const cc = this.content[k];
      if (it < 0 || cc.inv[it] === 0 || this.contentCount[k] === 0) {
        out[p++] = NaN;
        out[p++] = NaN;
        continue;
      }
      // the candidate's vector against each probe row (the recent direction, then each recent item)
      const D = cc.dim;
      const v = cc.values;
      const probe = cc.probe;
      const base = it * D;
      const rows = this.contentCount[k];
      let dot = 0;
      for (let d = 0; d < D; d++) dot += probe[d] * v[base + d];
      let best = -Infinity;
      for (let r = 1, off = D; r <= rows; r++, off += D) {
        let z = 0;
        for (let d = 0; d < D; d++) z += probe[off + d] * v[base + d];
        if (z > best) best = z;
      }
      const ic = cc.inv[it];
      out[p++] = dot * ic;
      out[p++] = best * ic;
    }
    return p;
  }

  /**
   * The user's bags of this request: per bag column, its k codes of most weight in the history (ties: the
   * lower code), NaN padded, into `userBag`; the weights are cleared for the next request.
   */
  private userBags(touchedN: Int32Array): void {
    const k = this.options.bagSlots;
    this.userBag.fill(NaN);
    for (let b = 0; b < this.bagColumns.length; b++) {
      const wts = this.bagWeight[b];
      const touched = this.bagTouched[b].subarray(0, touchedN[b]);
      const top = this.bagTop!;
      top.reset();
      const idf = this.bagColumns[b].idf;
      if (idf) for (const code of touched) top.push(code, wts[code] * idf[code]);
      else for (const code of touched) top.push(code, wts[code]);
      const n = top.drainSorted(this.bagTopIds);
      for (let j = 0; j < n; j++) this.userBag[b * k + j] = this.bagTopIds[j];
      for (const code of touched) {
        wts[code] = 0;
        this.bagMark[b][code] = 0;
      }
    }
  }

  private userMeanValue(query: UserQuery): number {
    return query.user >= 0 && query.user < this.userMeanValues.length ? this.userMeanValues[query.user] : NaN;
  }

  private growTouched(): void {
    const t = new Int32Array(Math.min(this.numItems, this.touched.length * 2));
    t.set(this.touched);
    this.touched = t;
  }

  /** Cosine neighbours of `item` (for explanations and tests): ids and similarities, best first. */
  neighboursOf(item: number): { ids: Int32Array; weights: Float32Array } {
    const c = this.cosine;
    return { ids: c.ids.subarray(c.offsets[item], c.offsets[item + 1]), weights: c.weights.subarray(c.offsets[item], c.offsets[item + 1]) };
  }
}

/** First index in sorted a[lo..hi) whose value is > v. */
function upperBound(a: Float64Array, lo: number, hi: number, v: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Each user's positive events as item sequences, oldest first, CSR. */
function positiveSequences(ds: Dataset): { offsets: Int32Array; items: Int32Array } {
  const { offsets, rows } = ds.byUser();
  const x = ds.interactions;
  const neg = ds.eventTypes.map((e) => e.negative);
  const outOff = new Int32Array(ds.numUsers + 1);
  const items = new Int32Array(rows.length);
  let n = 0;
  for (let u = 0; u < ds.numUsers; u++) {
    for (let k = offsets[u]; k < offsets[u + 1]; k++) {
      const r = rows[k];
      if (!neg[x.event[r]]) items[n++] = x.item[r];
    }
    outOff[u + 1] = n;
  }
  return { offsets: outOff, items: items.slice(0, n) };
}

/**
 * Top-k cosine neighbours over user co-occurrence: cos(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|),
 * counting each user once per item. Builds one item's row at a time in a dense scratch.
 */
export function cosineNeighbours(seqs: { offsets: Int32Array; items: Int32Array }, numItems: number, k: number, maxHistory = Infinity): NeighbourLists {
  const nu = seqs.offsets.length - 1;
  // distinct items per user (last maxHistory events)
  const uOff = new Int32Array(nu + 1);
  const uItems = new Int32Array(seqs.items.length);
  const mark = new Int32Array(numItems).fill(-1);
  let m = 0;
  for (let u = 0; u < nu; u++) {
    const a = Math.max(seqs.offsets[u], seqs.offsets[u + 1] - maxHistory);
    for (let q = a; q < seqs.offsets[u + 1]; q++) {
      const it = seqs.items[q];
      if (mark[it] === u) continue;
      mark[it] = u;
      uItems[m++] = it;
    }
    uOff[u + 1] = m;
  }
  const deg = new Float64Array(numItems);
  for (let q = 0; q < m; q++) deg[uItems[q]]++;
  // item -> users CSR
  const iOff = new Int32Array(numItems + 1);
  for (let q = 0; q < m; q++) iOff[uItems[q] + 1]++;
  for (let i = 0; i < numItems; i++) iOff[i + 1] += iOff[i];
  const fill = iOff.slice(0, numItems);
  const iUsers = new Int32Array(m);
  for (let u = 0; u < nu; u++) for (let q = uOff[u]; q < uOff[u + 1]; q++) iUsers[fill[uItems[q]]++] = u;
  const co = new Float64Array(numItems);
  const touched = new Int32Array(numItems);
  const heap = new TopK(Math.max(1, k));
  const offsets = new Int32Array(numItems + 1);
  const ids = new Int32Array(numItems * Math.min(k, numItems));
  const weights = new Float32Array(ids.length);
  let out = 0;
  for (let i = 0; i < numItems; i++) {
    let nt = 0;
    for (let q = iOff[i]; q < iOff[i + 1]; q++) {
      const u = iUsers[q];
      for (let p = uOff[u]; p < uOff[u + 1]; p++) {
        const j = uItems[p];
        if (j === i) continue;
        if (co[j] === 0) touched[nt++] = j;
        co[j]++;
      }
    }
    heap.reset();
    for (let t = 0; t < nt; t++) {
      const j = touched[t];
      heap.push(j, co[j] / Math.sqrt(deg[i] * deg[j]));
      co[j] = 0;
    }
    const got = heap.drainSorted(ids.subarray(out), weights.subarray(out));
    out += got;
    offsets[i + 1] = out;
  }
  return { offsets, ids: ids.slice(0, out), weights: weights.slice(0, out) };
}

/**
 * Top-k item-to-item transitions: P(j | i) ≈ sum over occurrences of i of the weight 1/step when j
 * follows within `window` steps, divided by the number of occurrences of i that have a successor.
 */
export function transitionNeighbours(seqs: { offsets: Int32Array; items: Int32Array }, numItems: number, k: number, window: number): NeighbourLists {
  const nu = seqs.offsets.length - 1;
  // occurrences of each item: (position in seqs.items), grouped by item
  const iOff = new Int32Array(numItems + 1);
  for (let q = 0; q < seqs.items.length; q++) iOff[seqs.items[q] + 1]++;
  for (let i = 0; i < numItems; i++) iOff[i + 1] += iOff[i];
  const fill = iOff.slice(0, numItems);
  const occ = new Int32Array(seqs.items.length);
  const end = new Int32Array(seqs.items.length); // end of the occurrence's user sequence
  for (let u = 0; u < nu; u++) {
    for (let q = seqs.offsets[u]; q < seqs.offsets[u + 1]; q++) {
      const slot = fill[seqs.items[q]]++;
      occ[slot] = q;
      end[slot] = seqs.offsets[u + 1];
    }
  }
  const acc = new Float64Array(numItems);
  const touched = new Int32Array(numItems);
  const heap = new TopK(Math.max(1, k));
  const offsets = new Int32Array(numItems + 1);
  const ids = new Int32Array(numItems * Math.min(k, numItems));
  const weights = new Float32Array(ids.length);
  let out = 0;
  for (let i = 0; i < numItems; i++) {
    let nt = 0;
    let denom = 0;
    for (let o = iOff[i]; o < iOff[i + 1]; o++) {
      const q = occ[o];
      const e = Math.min(end[o], q + 1 + window);
      if (q + 1 < end[o]) denom++;
      for (let p = q + 1; p < e; p++) {
        const j = seqs.items[p];
        if (j === i) continue;
        if (acc[j] === 0) touched[nt++] = j;
        acc[j] += 1 / (p - q);
      }
    }
    heap.reset();
    for (let t = 0; t < nt; t++) {
      const j = touched[t];
      heap.push(j, acc[j] / denom);
      acc[j] = 0;
    }
    out += heap.drainSorted(ids.subarray(out), weights.subarray(out));
    offsets[i + 1] = out;
  }
  return { offsets, ids: ids.slice(0, out), weights: weights.slice(0, out) };
}

/**
 * Smoothed inverse document frequency of each code of an item bag column over its n items:
 * ln((1 + n) / (1 + items carrying the code)) + 1 (a code twice on one item counts once).
 */
export function inverseDocumentFrequency(offsets: Int32Array, codes: Int32Array, size: number, n: number): Float32Array {
  const df = new Int32Array(size);
  const last = new Int32Array(size).fill(-1);
  for (let i = 0; i < n; i++) {
    for (let q = offsets[i]; q < offsets[i + 1]; q++) {
      const c = codes[q];
      if (c >= 0 && c < size && last[c] !== i) {
        last[c] = i;
        df[c]++;
      }
    }
  }
  const idf = new Float32Array(size);
  for (let c = 0; c < size; c++) idf[c] = Math.log((1 + n) / (1 + df[c])) + 1;
  return idf;
}

/**
 * The k main axes of n item vectors (rows of `vecs`, width dim = vecs.length / n): the eigenvectors of
 * their covariance, largest variance first, and every item's coordinates on them. Products of a user's
 * and an item's coordinates on an axis do not change when a refitted embedding comes out rotated or an
 * axis flipped (both coordinates flip), which the raw coordinates would: the ranker is trained on rows
 * from an earlier fit of the source than the one it serves with.
 */
export function principalAxes(vecs: Float32Array, n: number, wantK: number, what = 'vectors'): { dim: number; k: number; axes: Float64Array; itemAxes: Float32Array } {
  if (n <= 0 || vecs.length % n !== 0) throw new Error(`ranker.features.vectors: '${what}' gives ${vecs.length} floats for ${n} items`);
  const dim = vecs.length / n;
  const k = Math.min(wantK, dim);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += vecs[i * dim + d];
  for (let d = 0; d < dim; d++) mean[d] /= n;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) row[d] = vecs[i * dim + d] - mean[d];
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      for (let b = a; b < dim; b++) cov[a * dim + b] += ra * row[b];
    }
  }
  for (let a = 0; a < dim; a++) for (let b = a; b < dim; b++) cov[b * dim + a] = cov[a * dim + b] /= n;
  const { vectors } = symmetricEigen(cov, dim);
  const axes = vectors.slice(0, k * dim);
  const itemAxes = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      let z = 0;
      for (let d = 0; d < dim; d++) z += axes[j * dim + d] * vecs[i * dim + d];
      itemAxes[i * k + j] = z;
    }
  }
  return { dim, k, axes, itemAxes };
}
