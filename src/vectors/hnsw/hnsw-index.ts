import { join } from 'node:path';
import hnswlib from 'hnswlib-node';
import type { HierarchicalNSW } from 'hnswlib-node';
import { ExactIndex } from '../exact/exact-index.ts';
import type { ExactOptions } from '../exact/exact-index.ts';
import { FilterState, estimateEligible, excludeSize, isEmptyFilter, isExcludeOnly } from '../filter.ts';
import type { IndexManifest } from '../persist.ts';
import { fsReader, writeManifest, type FileReader } from '../persist.ts';
import type { BatchSearchResult, IndexCapabilities, Metric, SearchFilter, SearchResult, VectorIndex } from '../types.ts';
import { IndexArgumentError } from '../types.ts';
import { checkDim, checkItems, checkK, checkQueries, checkQuery } from '../validate.ts';

/**
 * HNSW parameters. Trade-offs (measured figures in docs/vectors.md):
 * - M: links per node (layer 0 keeps 2M). Higher = better recall at a given efSearch and more memory
 *   (~8M bytes per item) and slower builds. 12-48 is the useful range; 16 suits dim 64.
 * - efConstruction: candidate list while inserting. Higher = better graph, slower build (roughly linear).
 * - efSearch: candidate list while searching (raised to k when k is larger). The run-time knob: higher =
 *   better recall, lower queries/s.
 */
export interface HnswParams {
  M: number;
  efConstruction: number;
  efSearch: number;
  /** Seed of hnswlib's level generator: same data + same seed = same graph. */
  seed: number;
  /**
   * A filtered search whose estimated eligible items are fewer than this fraction of the index runs
   * exactly (walking a graph where few nodes qualify costs more than scoring the few that do).
   */
  filterExactFraction: number;
  /**
   * Inner product only: 0 (default) builds the graph on the raw vectors with hnswlib's inner-product
   * distance; 1 on MIPS-augmented vectors (see HnswIndex.mipsNorm). Measured in docs/vectors.md: raw wins
   * on random data and on many small clusters (0.96 vs 0.64 recall at efSearch 16, 1M x 64), augmented
   * wins where a few large clusters make the raw graph stall. Ignored for cosine.
   */
  mipsAugment: number;
}

export const HNSW_DEFAULTS: Readonly<HnswParams> = {
  M: 16,
  efConstruction: 200,
  efSearch: 100,
  seed: 100,
  filterExactFraction: 0.02,
  mipsAugment: 0,
};

export interface HnswOptions extends Partial<HnswParams> {
  dim: number;
  metric?: Metric;
  /** Initial room for items; grows (hnswlib resizeIndex) by doubling. */
  capacity?: number;
  /** Kernel of the exact copy (rescoring, selective filters), see ExactOptions.kernel. */
  kernel?: ExactOptions['kernel'];
}

const CAPS: IndexCapabilities = {
  exact: false,
  supportsFilter: true,
  supportsAdd: true,
  supportsRemove: true,
  supportsUpdate: true,
  supportsSave: true,
  tunable: true,
};

/** How the last search was answered; tests and benchmarks read it to check the path taken. */
export type HnswPath = 'graph' | 'graph-postfilter' | 'graph-callback' | 'exact-selective' | 'exact-fallback' | 'empty';

/**
 * Approximate top-k through hnswlib's HNSW graph (inner-product space; cosine = normalised vectors).
 * A copy of the vectors is kept in an ExactIndex beside the graph: results are rescored there (so scores
 * equal the exact index's), and selective filters or a short graph answer fall back to it, which is
 * what guarantees k results whenever k eligible items exist.
 * @example
 *   const ix = new HnswIndex({ dim: 64, metric: 'ip', efSearch: 128 });
 *   ix.add(vectors, labels);
 *   ix.search(q, 10, { exclude: seen, allow: comedyMask });
 */
export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw' as const;
  readonly capabilities = CAPS;
  readonly dim: number;
  readonly metric: Metric;
  readonly params: HnswParams;
  /** How the last `search` was answered. */
  lastPath: HnswPath = 'empty';

  private readonly store: ExactIndex;
  private graph: HierarchicalNSW;
  /** Dimension inside hnswlib: dim + 1 for inner product (the MIPS augmentation below), else dim. */
  private readonly gdim: number;
  /**
   * mipsAugment: each item x gets one extra coordinate sqrt(R^2 - |x|^2) (R = the largest norm seen at
   * the first add) and queries get 0 there: q.x is unchanged, and every item has norm R, so ranking by
   * inner product becomes ranking by L2 distance (a true metric for the graph). An item added later
   * with |x| > R gets 0: its score stays exact, only its links are a little worse.
   */
  private mipsNorm = 0;
  /** Labels marked deleted in the graph (hnswlib keeps their slots). */
  private readonly tombstones = new Set<number>();
  private ef = -1;
  private readonly qarr: number[];
  private readonly rowArr: number[];
  private readonly fs = new FilterState();
  private rescoreBuf = new Float32Array(16);

  constructor(opts: HnswOptions, loaded?: { store: ExactIndex; graph: HierarchicalNSW; mipsNorm: number }) {
    checkDim('HnswIndex', opts.dim);
    if (opts.metric !== undefined && opts.metric !== 'ip' && opts.metric !== 'cosine') {
      throw new IndexArgumentError('HnswIndex(metric)', `must be 'ip' or 'cosine', got ${JSON.stringify(opts.metric)}`);
    }
    this.dim = opts.dim;
    this.metric = opts.metric ?? 'ip';
    this.params = { ...HNSW_DEFAULTS };
    for (const key of Object.keys(HNSW_DEFAULTS) as (keyof HnswParams)[]) {
      const v = opts[key];
      if (v !== undefined) this.params[key] = v;
    }
    checkParams(this.params);
    this.gdim = this.metric === 'ip' && this.params.mipsAugment === 1 ? this.dim + 1 : this.dim;
    this.qarr = new Array<number>(this.gdim).fill(0);
    this.rowArr = new Array<number>(this.gdim).fill(0);
    if (loaded) {
      this.store = loaded.store;
      this.graph = loaded.graph;
      this.mipsNorm = loaded.mipsNorm;
    } else {
      this.store = new ExactIndex({ dim: this.dim, metric: this.metric, capacity: opts.capacity, kernel: opts.kernel });
      this.graph = new hnswlib.HierarchicalNSW('ip', this.gdim);
      this.graph.initIndex(Math.max(16, Math.floor(opts.capacity ?? 0)), this.params.M, this.params.efConstruction, this.params.seed);
    }
  }

  get size(): number {
    return this.store.size;
  }

  /** Sets efSearch (the recall/speed knob) for later searches. */
  setSearchEffort(efSearch: number): void {
    if (!Number.isInteger(efSearch) || efSearch < 1) throw new IndexArgumentError('setSearchEffort(efSearch)', `must be a positive integer, got ${efSearch}`);
    this.params.efSearch = efSearch;
  }

  // ---- search -------------------------------------------------------------------------------------

  search(query: Float32Array, k: number, filter?: SearchFilter): SearchResult {
    checkK('search', k);
    checkQuery('search', query, this.dim);
    const n = this.store.size;
    if (n === 0) {
      this.lastPath = 'empty';
      return { ids: new Int32Array(0), scores: new Float32Array(0) };
    }
    if (isEmptyFilter(filter)) {
      const kk = Math.min(k, n);
      const res = this.knn(query, kk, kk, undefined);
      if (res.length < kk) return this.exact(query, k, filter, 'exact-fallback');
      this.lastPath = 'graph';
      return this.rescore(query, res, kk);
    }
    const f = filter!;
    const eligible = estimateEligible(f, n, (r) => this.store.labelAt(r));
    if (eligible < this.params.filterExactFraction * n || eligible < k) return this.exact(query, k, f, 'exact-selective');
    let res: number[];
    // Post-filtering needs about k / (eligible fraction) graph results (tripled for safety) plus the
    // excluded ids. While that stays a few efSearch wide it beats hnswlib's filter callback, which calls
    // into JS for every node it considers; wider than that, the callback walks less.
    const frac = Math.max(1e-9, (eligible + excludeSize(f)) / n);
    const widened = Math.ceil((3 * k) / frac) + excludeSize(f);
    this.fs.begin(f, this.store.maxLabel);
    try {
      if (widened <= 4 * Math.max(64, this.params.efSearch)) {
        const kk = Math.min(n, widened);
        // ef grows with the extra depth asked for, so the deeper ranks keep the usual accuracy.
        res = this.knn(query, kk, kk + this.params.efSearch, undefined);
        let w = 0;
        for (let i = 0; i < res.length && w < k; i++) if (this.fs.accepts(res[i])) res[w++] = res[i];
        res.length = w;
        this.lastPath = 'graph-postfilter';
      } else {
        // hnswlib keeps walking until efSearch allowed nodes are found, which widens the search by itself.
        res = this.knn(query, Math.min(k, n), Math.min(k, n), this.fs.acceptsFn);
        this.lastPath = 'graph-callback';
      }
    } finally {
      this.fs.end();
    }
    if (res.length < k) return this.exact(query, k, f, 'exact-fallback');
    return this.rescore(query, res, k);
  }

  searchBatch(queries: Float32Array, k: number, filter?: SearchFilter | readonly (SearchFilter | undefined)[]): BatchSearchResult {
    checkK('searchBatch', k);
    const nq = checkQueries('searchBatch', queries, this.dim);
    if (Array.isArray(filter) && filter.length !== nq) {
      throw new IndexArgumentError('searchBatch(filter)', `has ${filter.length} filters for ${nq} queries`);
    }
    const ids = new Int32Array(nq * k).fill(-1);
    const scores = new Float32Array(nq * k).fill(-Infinity);
    const counts = new Int32Array(nq);
    for (let q = 0; q < nq; q++) {
      const f = Array.isArray(filter) ? filter[q] : (filter as SearchFilter | undefined);
      const r = this.search(queries.subarray(q * this.dim, (q + 1) * this.dim), k, f);
      ids.set(r.ids, q * k);
      scores.set(r.scores, q * k);
      counts[q] = r.ids.length;
    }
    return { k, ids, scores, counts };
  }

  /** Graph search for the kk nearest (ef raised to at least `minEf`); returns labels, nearest first. */
  private knn(query: Float32Array, kk: number, minEf: number, cb: ((label: number) => boolean) | undefined): number[] {
    const ef = Math.max(this.params.efSearch, minEf);
    if (ef !== this.ef) {
      this.graph.setEf(ef);
      this.ef = ef;
    }
    const q = this.qarr;
    const d = this.dim;
    let scale = 1;
    if (this.metric === 'cosine') {
      let s = 0;
      for (let c = 0; c < d; c++) s += query[c] * query[c];
      scale = s > 0 ? 1 / Math.sqrt(s) : 0;
    }
    for (let c = 0; c < d; c++) q[c] = query[c] * scale;
    return cb === undefined ? this.graph.searchKnn(q, kk).neighbors : this.graph.searchKnn(q, kk, cb).neighbors;
  }

  private exact(query: Float32Array, k: number, f: SearchFilter | undefined, path: HnswPath): SearchResult {
    this.lastPath = path;
    return this.store.search(query, k, f);
  }

  /** Exact scores for the graph's answer, ordered best first (ties by smaller id, like TopK). */
  private rescore(query: Float32Array, labels: number[], k: number): SearchResult {
    const n = Math.min(k, labels.length);
    if (this.rescoreBuf.length < labels.length) this.rescoreBuf = new Float32Array(labels.length);
    const sc = this.rescoreBuf;
    this.store.scoreLabels(query, labels, sc);
    const ids = new Int32Array(labels.length);
    for (let i = 0; i < labels.length; i++) ids[i] = labels[i];
    // Insertion sort: the graph's order is already nearly right, and k is small.
    for (let i = 1; i < ids.length; i++) {
      const id = ids[i];
      const s = sc[i];
      let j = i - 1;
      while (j >= 0 && (sc[j] < s || (sc[j] === s && ids[j] > id))) {
        ids[j + 1] = ids[j];
        sc[j + 1] = sc[j];
        j--;
      }
      ids[j + 1] = id;
      sc[j + 1] = s;
    }
    return { ids: ids.slice(0, n), scores: sc.slice(0, n) };
  }

  // ---- mutation -----------------------------------------------------------------------------------

  add(vectors: Float32Array, labels: Int32Array | readonly number[]): void {
    const ls = checkItems('add', vectors, labels, this.dim);
    this.store.add(vectors, ls); // checks that every label is new
    if (this.gdim > this.dim && this.mipsNorm === 0) {
      let max = 0;
      for (let i = 0; i < ls.length; i++) max = Math.max(max, norm(vectors, i * this.dim, this.dim));
      this.mipsNorm = max > 0 ? max : 1;
    }
    const need = this.graph.getCurrentCount() + ls.length;
    const max = this.graph.getMaxElements();
    if (need > max) this.graph.resizeIndex(Math.max(need, max * 2));
    for (let i = 0; i < ls.length; i++) {
      const l = ls[i];
      if (this.tombstones.has(l)) {
        // Re-adding a removed item: revive its slot and move it to the new vector.
        this.graph.unmarkDelete(l);
        this.tombstones.delete(l);
      }
      this.graph.addPoint(this.row(l), l);
    }
  }

  update(vectors: Float32Array, labels: Int32Array | readonly number[]): void {
    const ls = checkItems('update', vectors, labels, this.dim);
    this.store.update(vectors, ls); // checks that every label exists
    // hnswlib's addPoint on an existing label replaces the vector and repairs the neighbours' links.
    for (let i = 0; i < ls.length; i++) this.graph.addPoint(this.row(ls[i]), ls[i]);
  }

  remove(labels: ArrayLike<number>): number {
    let removed = 0;
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      if (!this.store.has(l)) continue;
      this.graph.markDelete(l);
      this.tombstones.add(l);
      this.store.remove([l]);
      removed++;
    }
    return removed;
  }

  has(label: number): boolean {
    return this.store.has(label);
  }

  vector(label: number, out?: Float32Array): Float32Array {
    return this.store.vector(label, out);
  }

  labels(): Int32Array {
    return this.store.labels();
  }

  /** Slots held by removed items (hnswlib never frees them; rebuilding the index does). */
  get deletedSlots(): number {
    return this.tombstones.size;
  }

  /**
   * Frees the native graph and the exact copy's kernel memory at once, rather than whenever the
   * garbage collector, which does not see their size, gets to them. The index must not be used afterwards.
   */
  dispose(): void {
    this.store.dispose();
    // hnswlib frees the old graph when it makes a new one: keep a one-slot graph
    this.graph.initIndex(1, 2, 1, 0);
    this.tombstones.clear();
  }

  memoryBytes(): number {
    const M = this.params.M;
    const slots = this.graph.getMaxElements();
    const used = this.graph.getCurrentCount();
    // hnswlib layer 0: vector + 2M links + count + label per slot; upper levels hold ~1/(M-1) of nodes with M links.
    const level0 = slots * (this.gdim * 4 + 2 * M * 4 + 4 + 8);
    const upper = (used / Math.max(1, M - 1)) * (M * 4 + 4 + 8);
    const lookup = used * 48; // label -> slot hash map
    const visited = slots * 2;
    return Math.round(this.store.memoryBytes() + level0 + upper + lookup + visited);
  }

  private row(label: number): number[] {
    const v = this.store.vector(label);
    const a = this.rowArr;
    for (let c = 0; c < this.dim; c++) a[c] = v[c];
    if (this.gdim > this.dim) {
      const n = norm(v, 0, this.dim);
      a[this.dim] = n < this.mipsNorm ? Math.sqrt(this.mipsNorm * this.mipsNorm - n * n) : 0;
    }
    return a;
  }

  // ---- persistence --------------------------------------------------------------------------------

  async save(dir: string): Promise<void> {
    const m: IndexManifest = { ...this.store.manifest(), kind: 'hnsw', params: { ...this.params, mipsNorm: this.mipsNorm } };
    await writeManifest(dir, m);
    await this.store.saveData(dir);
    const ok = await this.graph.writeIndex(join(dir, 'hnsw.bin'));
    if (!ok) throw new Error(`${join(dir, 'hnsw.bin')}: hnswlib could not write the graph`);
  }

  /** Reads an HNSW index from a directory written by `save` (its manifest already read). */
  static async loadData(dir: string, m: IndexManifest, opts: { kernel?: ExactOptions['kernel']; files?: FileReader } = {}): Promise<HnswIndex> {
    const store = await ExactIndex.loadData(dir, m, opts);
    const file = join(dir, 'hnsw.bin');
    const gdim = m.metric === 'ip' && (m.params.mipsAugment ?? 0) === 1 ? m.dim + 1 : m.dim;
    // hnswlib reads the file itself: it is checked first (streamed), not handed over as bytes
    const native = await (opts.files ?? fsReader).checked(file);
    const graph = new hnswlib.HierarchicalNSW('ip', gdim);
    try {
      await graph.readIndex(native);
    } catch (e) {
      throw new Error(`${file}: cannot read the HNSW graph (${(e as Error).message})`);
    }
    if (graph.getNumDimensions() !== gdim) throw new Error(`${file}: graph has dimension ${graph.getNumDimensions()}, expected ${gdim} for ${m.metric} at dim ${m.dim}`);
    const { mipsNorm, ...p } = m.params as Partial<Record<keyof HnswParams | 'mipsNorm', number>>;
    const ix = new HnswIndex({ dim: m.dim, metric: m.metric, ...p }, { store, graph, mipsNorm: mipsNorm ?? 0 });
    const all = graph.getIdsList();
    for (const l of all) if (!store.has(l)) ix.tombstones.add(l);
    if (all.length - ix.tombstones.size !== store.size) {
      throw new Error(`${file}: graph holds ${all.length - ix.tombstones.size} live items, labels.i32 has ${store.size}`);
    }
    return ix;
  }
}

function norm(a: Float32Array, off: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[off + i] * a[off + i];
  return Math.sqrt(s);
}

function checkParams(p: HnswParams): void {
  const int = (name: keyof HnswParams, min: number, max: number) => {
    const v = p[name];
    if (!Number.isInteger(v) || v < min || v > max) throw new IndexArgumentError(`HnswIndex(${name})`, `must be an integer in [${min}, ${max}], got ${v}`);
  };
  int('M', 2, 256);
  int('efConstruction', 1, 1_000_000);
  int('efSearch', 1, 1_000_000);
  int('seed', 0, 0x7fffffff);
  int('mipsAugment', 0, 1);
  const f = p.filterExactFraction;
  if (!(f >= 0 && f <= 1)) throw new IndexArgumentError('HnswIndex(filterExactFraction)', `must be in [0, 1], got ${f}`);
}
