/**
 * The two-tower as an L1 candidate source: fit (with validation-driven early stopping, then a refit
 * on all training data for the chosen number of epochs), retrieval through a VectorIndex over every
 * item embedding (exact or HNSW), live item add/remove, save/load (the index is saved, not rebuilt).
 */
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../../data/index.ts';
import { NO_PROGRESS, type Progress } from '../../math/index.ts';
import type { RawFeatures } from '../../features/index.ts';
import { schema, type Given } from '../../schema/index.ts';
import { buildIndex, chooseKind, createIndex, fsReader, loadIndex, type FileReader, type IndexOptions, type VectorIndex } from '../../vectors/index.ts';
import { defineSourceKind, noCandidates, type CandidateSource, type FitContext, type RequestContext, type ScoredItems, type UserQuery } from '../source.ts';
import { TWO_TOWER_PARAMS, type TwoTowerConfig } from './config.ts';
import { trainTwoTower, type EpochStats } from './train.ts';
import { TwoTowerModel } from './two-tower.ts';

/**
 * How the item index is built: `kind` 'auto' (default) is exact below `exactBelow` items (20,000) and
 * HNSW above; 'exact' or 'hnsw' forces one; M, efConstruction, efSearch, ... are HNSW's parameters.
 */
export type TwoTowerIndexOptions = Omit<IndexOptions, 'dim' | 'metric' | 'expectedSize'>;

export interface TwoTowerSourceOptions {
  config?: Partial<TwoTowerConfig>;
  threads?: number;
  seed?: number;
  /** An earlier window and its next interactions: picks the epoch count by validation recall. */
  valid?: { train: Dataset; test: Dataset };
  /** Pick the epoch count on the fit context's validation split (`FitContext.valid`) when no `valid` is given. */
  validate?: boolean;
  /** The name its candidates carry (default 'two-tower'). */
  name?: string;
  /** The item index (default: kind 'auto'). */
  index?: TwoTowerIndexOptions;
  log?: (line: string) => void;
}

/** Items per add while an index is built with progress. */
const INDEX_SLICE = 8192;

/** The index's own folder inside the source's directory. */
export const INDEX_DIR = 'index';
/** The mean item vector subtracted before an HNSW index was built (JSON array), beside INDEX_DIR. */
export const CENTER_FILE = 'index-center.json';

const EMPTY_ITEMS = new Int32Array(0);
const EMPTY_SCORES = new Float32Array(0);

/**
 * @example
 *   const tt = new TwoTowerSource({ valid: { train: inner, test: valid }, threads: 2, index: { kind: 'auto' } });
 *   await tt.fit(train); tt.candidates(train.query(0), 100, seen);
 *   await tt.save(dir); const again = await TwoTowerSource.load(dir);   // reads dir/index, no rebuild
 */
export class TwoTowerSource implements CandidateSource {
  readonly name: string;
  model: TwoTowerModel | null = null;
  /** How the current index came to be: built from the model's item embeddings, or read from disk. */
  indexOrigin: 'built' | 'loaded' | null = null;
  private index: VectorIndex | null = null;
  /**
   * HNSW only: the item mean subtracted from every indexed vector. q.(x - mu) = q.x - q.mu ranks the
   * same for a query, and the trained items, which sit in a narrow cone facing away from the users,
   * spread out: recall@10 on 100k two-tower items at efSearch 64 goes from 0.79 to 0.97 (docs/vectors.md).
   * Scores are returned uncentred (q.mu added back).
   */
  private center: Float32Array | null = null;
  private itemVecs: Float32Array | null = null;
  private qvec: Float32Array;
  private vbuf = new Float32Array(0);
  /** Per-epoch figures of the validation run and of the final fit. */
  validEpochs: EpochStats[] = [];
  fitEpochs: EpochStats[] = [];

  constructor(readonly options: TwoTowerSourceOptions = {}) {
    this.name = options.name ?? 'two-tower';
    this.qvec = new Float32Array(options.config?.dim ?? 64);
  }

  /** The per-epoch figures of the last fit (validation run first, when there was one). */
  trainingHistory(): Record<string, readonly EpochStats[]> {
    return this.validEpochs.length > 0 ? { valid: this.validEpochs, fit: this.fitEpochs } : { fit: this.fitEpochs };
  }

  async fit(train: Dataset, ctx?: FitContext): Promise<void> {
    const o = this.options;
    let config = { ...o.config };
    const valid = o.valid ?? (o.validate && ctx ? ctx.valid() : undefined);
    const progress = ctx?.progress ?? NO_PROGRESS;
    if (valid) {
      const r = await trainTwoTower(valid.train, config, { threads: o.threads, seed: o.seed, valid: valid.test, log: o.log, progress: progress.scope('picking epochs') });
      this.validEpochs = r.epochs;
      // same recipe on all the training data, for the epoch count validation chose
      config = { ...config, epochs: r.bestEpoch };
      o.log?.(`two-tower: validation chose ${r.bestEpoch} epochs; refitting on all training data`);
    }
    const r = await trainTwoTower(train, config, { threads: o.threads, seed: o.seed, log: o.log, progress: valid ? progress.scope('refit') : progress });
    this.fitEpochs = r.epochs;
    this.use(r.model);
    // part of the fit, so its time counts there (not in the first request)
    this.vectorIndex(progress);
  }

  /**
   * Serves an already trained (or loaded) model; `index` is its saved item index, else one is built
   * from the item embeddings on first use.
   */
  use(model: TwoTowerModel, index?: VectorIndex, center?: Float32Array | null): this {
    if (index && index.dim !== model.dim) throw new Error(`two-tower: the item index has dimension ${index.dim}, the model ${model.dim}`);
    if (center && center.length !== model.dim) throw new Error(`two-tower: the index centre has length ${center.length}, the model's dimension is ${model.dim}`);
    this.model = model;
    this.itemVecs = null;
    this.index = index ?? null;
    this.center = index ? center ?? null : null;
    this.indexOrigin = index ? 'loaded' : null;
    if (this.qvec.length !== model.dim) this.qvec = new Float32Array(model.dim);
    return this;
  }

  /**
   * The item index (labels = dense item indices), built from every item's embedding on first call
   * (fit builds it, reporting to `progress`: an HNSW build over a million items takes minutes).
   */
  vectorIndex(progress?: Progress): VectorIndex {
    if (this.index) return this.index;
    const model = this.need();
    const n = model.features.numItems;
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) labels[i] = i;
    const t0 = performance.now();
    const opts = { ...this.options.index, dim: model.dim, metric: 'ip' as const };
    let vecs = this.itemEmbeddings();
    this.center = null;
    if (chooseKind({ ...opts, expectedSize: n }) === 'hnsw' && n > 0) {
      this.center = meanRow(vecs, n, model.dim);
      vecs = vecs.slice();
      subtractRows(vecs, n, this.center);
    }
    // inner product: the training score; with normalised towers it equals cosine
    if (progress && !opts.mipsAugment) {
      // added in slices to report progress: the same index, as points go in one at a time in the same
      // order either way (the MIPS augmentation takes its norm from the first add, so it stays whole)
      const task = progress.start('item index', n, 'items');
      const ix = createIndex({ ...opts, expectedSize: n });
      const dim = model.dim;
      for (let a = 0; a < n; a += INDEX_SLICE) {
        const b = Math.min(n, a + INDEX_SLICE);
        ix.add(vecs.subarray(a * dim, b * dim), labels.subarray(a, b));
        task.set(b);
      }
      task.finish();
      this.index = ix;
    } else this.index = buildIndex(vecs, labels, opts);
    this.indexOrigin = 'built';
    // the index holds its own copy: free ours (256 MB per million 64-d items); itemEmbeddings() re-embeds if asked
    this.itemVecs = null;
    this.options.log?.(`two-tower: ${this.index.kind} index over ${n} items built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return this.index;
  }

  /**
   * The top `n` items for the query, best first, never in `exclude`, only where `ctx.allow` is 1. A
   * user the model never saw (query.user -1) with a feature row is embedded from those features and the
   * history (`embedUser`); otherwise from the id and history (`embedQuery`). Nothing to go on (a new
   * user, no features, no history): no candidates.
   */
  candidates(query: UserQuery, n: number, exclude?: ReadonlySet<number>, ctx?: RequestContext): ScoredItems {
    if (!this.embed(query, ctx?.features ?? null)) return noCandidates();
    return this.search(this.qvec, n, exclude, ctx?.allow);
  }

  /** The query's dot product with each of `items`, read from the item index (NaN for items not in it). */
  scoreItems(query: UserQuery, items: ArrayLike<number>, out: Float32Array, features: RawFeatures | null = null): void {
    if (!this.embed(query, features)) {
      for (let c = 0; c < items.length; c++) out[c] = NaN;
      return;
    }
    const index = this.vectorIndex();
    const q = this.qvec;
    const k = q.length;
    if (this.vbuf.length !== k) this.vbuf = new Float32Array(k);
    // the index stores x - centre for HNSW: q.x = q.(x - centre) + q.centre
    let off = 0;
    if (this.center) for (let d = 0; d < k; d++) off += q[d] * this.center[d];
    for (let c = 0; c < items.length; c++) {
      const i = items[c];
      if (!index.has(i)) {
        out[c] = NaN;
        continue;
      }
      const v = index.vector(i, this.vbuf);
      let s = off;
      for (let d = 0; d < k; d++) s += v[d] * q[d];
      out[c] = s;
    }
  }

  /** The query's user vector (as `candidates` embeds a known user: id, history), into `out`. */
  userVector(query: UserQuery, out: Float32Array): boolean {
    if (!this.embed(query, null)) return false;
    out.set(this.qvec);
    return true;
  }

  /** Every trained catalog item's embedding (computed again when the index has taken `itemEmbeddings`'). */
  itemVectors(): Float32Array {
    // not kept: the index holds its own copy (256 MB per million 64-d items)
    return this.itemVecs ?? this.need().embedItems();
  }

  /** Embeds the query into `qvec`; false when there is nothing to embed. */
  private embed(query: UserQuery, features: RawFeatures | null): boolean {
    const model = this.need();
    if (query.user < 0 && features) model.embedUser(features, query.history, query.weights, this.qvec);
    else if (query.user >= 0 || query.history.length > 0) model.embedQuery(query, this.qvec);
    else return false;
    return true;
  }

  /**
   * Candidates for a new user from raw features (unseen values hash) and recent items, oldest first.
   * @example tt.candidatesForFeatures({ age: 31, gender: 'F' }, Int32Array.of(12, 40), 100)
   */
  candidatesForFeatures(features: RawFeatures, history: Int32Array, n: number, exclude?: ReadonlySet<number>, allow?: Uint8Array, weights?: Float32Array): ScoredItems {
    this.need().embedUser(features, history, weights, this.qvec);
    return this.search(this.qvec, n, exclude, allow);
  }

  /** The index's top `n` for a user embedding. */
  search(userEmbedding: Float32Array, n: number, exclude?: ReadonlySet<number>, allow?: Uint8Array): ScoredItems {
    const index = this.vectorIndex();
    if (n < 1 || index.size === 0) return { items: EMPTY_ITEMS, scores: EMPTY_SCORES };
    const r = index.search(userEmbedding, n, exclude === undefined && allow === undefined ? undefined : { exclude, allow });
    const c = this.center;
    if (!c) return { items: r.ids, scores: r.scores };
    let off = 0;
    for (let j = 0; j < c.length; j++) off += userEmbedding[j] * c[j];
    const scores = new Float32Array(r.scores.length);
    for (let j = 0; j < scores.length; j++) scores[j] = r.scores[j] + off;
    return { items: r.ids, scores };
  }

  /**
   * Live catalog change: item `item` (a dense index, possibly beyond the trained catalog) is added or
   * changed. A trained item keeps its trained embedding (its id row carries most of what it learned;
   * raw features alone would drop it); a new item is embedded from `features` by the item tower.
   */
  upsertItem(item: number, features: RawFeatures): void {
    const model = this.need();
    const index = this.vectorIndex();
    const v = item < model.features.numItems ? model.embedItem(item) : model.embedItem(features);
    if (this.center) subtractRows(v, 1, this.center);
    if (index.has(item)) index.update(v, [item]);
    else index.add(v, [item]);
  }

  /** Live catalog change: item `item` is never returned again (until upserted). */
  removeItem(item: number): void {
    this.vectorIndex().remove([item]);
  }

  /** Every trained catalog item's embedding (numItems x dim), computed once on first call. */
  itemEmbeddings(): Float32Array {
    if (!this.itemVecs) this.itemVecs = this.need().embedItems();
    return this.itemVecs;
  }

  /** Writes the model and, in `dir/index`, the item index. */
  async save(dir: string): Promise<void> {
    if (!this.model) throw new Error('two-tower: nothing to save before fit');
    await this.model.save(dir);
    await this.vectorIndex().save(join(dir, INDEX_DIR));
    if (this.center) await writeFile(join(dir, CENTER_FILE), JSON.stringify(Array.from(this.center)));
  }

  /** Frees the model's and the index's memory outside the JS heap (kernel memory, a native graph) at once; the source must not be used afterwards. */
  dispose(): void {
    this.model?.dispose();
    this.index?.dispose?.();
    this.model = null;
    this.index = null;
    this.itemVecs = null;
  }

  /** The mean subtracted from the indexed vectors (HNSW), or null: the index stores x - centre. */
  indexCenter(): Float32Array | null {
    return this.center;
  }

  /**
   * Reads a source `save` wrote: the model and its saved index (not rebuilt). A directory without an
   * index (written before the index was stored) builds one on first use. `options.index.efSearch`
   * overrides the saved search effort of an HNSW index.
   */
  static async load(dir: string, options: TwoTowerSourceOptions = {}, files: FileReader = fsReader): Promise<TwoTowerSource> {
    const m = await TwoTowerModel.load(dir, files);
    try {
      return await TwoTowerSource.loadRest(dir, m, options, files);
    } catch (e) {
      m.dispose();
      throw e;
    }
  }

  private static async loadRest(dir: string, m: TwoTowerModel, options: TwoTowerSourceOptions, files: FileReader): Promise<TwoTowerSource> {
    const ixDir = join(dir, INDEX_DIR);
    if (!(await exists(join(ixDir, 'manifest.json')))) return new TwoTowerSource({ ...options, config: m.config }).use(m, undefined, null);
    const index = await loadIndex(ixDir, { files });
    let center: Float32Array | null = null;
    try {
      if (index.dim !== m.dim) throw new Error(`two-tower: ${join(ixDir, 'manifest.json')}: dimension ${index.dim}, the model's is ${m.dim}`);
      const ef = options.index?.efSearch;
      if (ef !== undefined && index.capabilities.tunable) (index as VectorIndex & { setSearchEffort(ef: number): void }).setSearchEffort(ef);
      const cf = join(dir, CENTER_FILE);
      if (await exists(cf)) {
        const a: unknown = JSON.parse(Buffer.from(await files.read(cf)).toString('utf8'));
        if (!Array.isArray(a) || a.length !== m.dim || !a.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new Error(`two-tower: ${cf}: must be a list of ${m.dim} finite numbers`);
        center = Float32Array.from(a as number[]);
      }
    } catch (e) {
      index.dispose?.();
      throw e;
    }
    return new TwoTowerSource({ ...options, config: m.config }).use(m, index, center);
  }

  private need(): TwoTowerModel {
    if (!this.model) throw new Error('two-tower: fit or load a model before asking for candidates');
    return this.model;
  }
}

/** The mean of n rows (float64 sums). */
function meanRow(v: Float32Array, n: number, dim: number): Float32Array {
  const mu = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let c = 0; c < dim; c++) mu[c] += v[i * dim + c];
  return Float32Array.from(mu, (x) => x / n);
}

/** v[i] -= mu for each of n rows, in place. */
function subtractRows(v: Float32Array, n: number, mu: Float32Array): void {
  const dim = mu.length;
  for (let i = 0; i < n; i++) for (let c = 0; c < dim; c++) v[i * dim + c] -= mu[c];
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** The item index settings a two-tower stage takes under `index`. */
export const TWO_TOWER_INDEX_PARAMS = schema({
  kind: { type: 'string', values: ['auto', 'exact', 'hnsw'], default: 'auto', description: "'auto': exact below exactBelow items, HNSW above" },
  exactBelow: { type: 'number', integer: true, min: 0, default: 20000, description: "catalog size from which 'auto' picks HNSW" },
  M: { type: 'number', integer: true, min: 2, default: 16, description: 'HNSW links per node' },
  efConstruction: { type: 'number', integer: true, min: 1, default: 200, description: 'HNSW build effort' },
  efSearch: { type: 'number', integer: true, min: 1, default: 100, description: 'HNSW search effort (recall against speed)' },
  seed: { type: 'number', integer: true, min: 0, default: 100, description: 'HNSW level seed' },
  filterExactFraction: { type: 'number', min: 0, max: 1, default: 0.02, description: 'filters letting through less than this share of items are searched exactly' },
  mipsAugment: { type: 'number', integer: true, min: 0, max: 1, default: 0, description: '1: build the HNSW graph on MIPS-augmented vectors' },
});

/** The `two-tower` stage's parameters: the model's hyperparameters, its index, and how it picks its epoch count. */
export const TWO_TOWER_STAGE_PARAMS = schema({
  ...TWO_TOWER_PARAMS,
  validate: { type: 'boolean', default: true, description: "pick the epoch count (at most `epochs`) on the last 20% of each user's training events, then refit on all" },
  threads: { type: 'number', integer: true, min: 1, nullable: true, default: 1, description: 'training threads (1: a seeded fit is reproducible bit for bit; null: the run setting, see `parallel`)' },
  seedOffset: { type: 'number', integer: true, min: 0, default: 0, description: "added to the run's seed: two-tower stages of one engine that differ only in this are independent fits (an ensemble)" },
  index: { type: 'object', fields: TWO_TOWER_INDEX_PARAMS, description: 'the item index' },
});

/**
 * The two-tower as an engine stage: trained with early stopping on a validation slice of its own
 * training data, item index saved in the stage's folder (read back, not rebuilt), live item upserts
 * and deletes reach the index.
 * @example { kind: 'two-tower', params: { epochs: 5, index: { kind: 'hnsw', efSearch: 64 } } }
 */
export const twoTowerKind = defineSourceKind({
  kind: 'two-tower',
  description: 'two-tower retrieval (features + history bag, in-batch softmax with log-Q) over a vector index',
  params: TWO_TOWER_STAGE_PARAMS,
  personalized: true,
  create: (p, ctx) => {
    const { validate, threads, index, seedOffset, ...config } = p;
    return new TwoTowerSource({ name: ctx.name, config, validate, threads: threads ?? ctx.threads, seed: ctx.seed + seedOffset, index: index as TwoTowerIndexOptions, log: ctx.log });
  },
  load: (dir, p, ctx) => TwoTowerSource.load(dir, { name: ctx.name, index: { efSearch: p.index.efSearch } }, ctx.files),
});
