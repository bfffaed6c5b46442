/**
 * The two-tower as an L1 candidate source: fit (with validation-driven early stopping, then a refit
 * on all training data for the chosen number of epochs), exact full-catalog retrieval, save/load.
 */
import { getKernelBackend, TopK } from '../../math/index.ts';
import type { Dataset } from '../../data/index.ts';
import type { CandidateSource, ScoredItems, UserQuery } from '../source.ts';
import type { TwoTowerConfig } from './config.ts';
import { trainTwoTower, type EpochStats } from './train.ts';
import { TwoTowerModel } from './two-tower.ts';

export interface TwoTowerSourceOptions {
  config?: Partial<TwoTowerConfig>;
  threads?: number;
  seed?: number;
  /** An earlier window and its next interactions: picks the epoch count by validation recall. */
  valid?: { train: Dataset; test: Dataset };
  log?: (line: string) => void;
}

/**
 * @example
 *   const tt = new TwoTowerSource({ valid: { train: inner, test: valid }, threads: 2 });
 *   await tt.fit(train); tt.candidates(userQuery(train, 0), 100);
 */
export class TwoTowerSource implements CandidateSource {
  readonly name = 'two-tower';
  model: TwoTowerModel | null = null;
  private itemVecs: Float32Array | null = null;
  private scores: Float32Array | null = null;
  private heap: TopK | null = null;
  private readonly qvec: Float32Array;
  /** Per-epoch figures of the validation run and of the final fit. */
  validEpochs: EpochStats[] = [];
  fitEpochs: EpochStats[] = [];

  constructor(readonly options: TwoTowerSourceOptions = {}) {
    this.qvec = new Float32Array(options.config?.dim ?? 64);
  }

  async fit(train: Dataset): Promise<void> {
    const o = this.options;
    let config = { ...o.config };
    if (o.valid) {
      const r = await trainTwoTower(o.valid.train, config, { threads: o.threads, seed: o.seed, valid: o.valid.test, log: o.log });
      this.validEpochs = r.epochs;
      // same recipe on all the training data, for the epoch count validation chose
      config = { ...config, epochs: r.bestEpoch };
      o.log?.(`two-tower: validation chose ${r.bestEpoch} epochs; refitting on all training data`);
    }
    const r = await trainTwoTower(train, config, { threads: o.threads, seed: o.seed, log: o.log });
    this.fitEpochs = r.epochs;
    this.use(r.model);
  }

  /** Serves an already trained (or loaded) model. */
  use(model: TwoTowerModel): this {
    this.model = model;
    this.itemVecs = model.embedItems(getKernelBackend().alloc(model.features.numItems * model.dim));
    this.scores = getKernelBackend().alloc(model.features.numItems);
    return this;
  }

  candidates(query: UserQuery, n: number, exclude?: ReadonlySet<number>): ScoredItems {
    if (!this.model || !this.itemVecs || !this.scores) throw new Error('two-tower: fit or load a model before asking for candidates');
    const k = this.model.dim;
    const q = this.qvec.length === k ? this.qvec : new Float32Array(k);
    this.model.embedQuery(query, q);
    const ni = this.model.features.numItems;
    getKernelBackend().gemv(ni, k, this.itemVecs, q, this.scores);
    if (!this.heap || this.heap.capacity !== n) this.heap = new TopK(Math.max(1, n));
    const heap = this.heap;
    heap.reset();
    const s = this.scores;
    for (let i = 0; i < ni; i++) {
      if (s[i] <= heap.threshold() || (exclude !== undefined && exclude.has(i))) continue;
      heap.push(i, s[i]);
    }
    const items = new Int32Array(heap.size);
    const scores = new Float32Array(heap.size);
    heap.drainSorted(items, scores);
    return { items, scores };
  }

  /** Every catalog item's embedding (numItems x dim), e.g. to build a vector index. */
  itemEmbeddings(): Float32Array {
    if (!this.itemVecs) throw new Error('two-tower: fit or load a model first');
    return this.itemVecs;
  }

  async save(dir: string): Promise<void> {
    if (!this.model) throw new Error('two-tower: nothing to save before fit');
    await this.model.save(dir);
  }

  static async load(dir: string, options: TwoTowerSourceOptions = {}): Promise<TwoTowerSource> {
    const m = await TwoTowerModel.load(dir);
    return new TwoTowerSource({ ...options, config: m.config }).use(m);
  }
}
