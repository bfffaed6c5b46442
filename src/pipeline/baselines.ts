/**
 * The first pipelines: popularity and item-kNN, each one candidate source used as a whole
 * recommender. With `tune`, a small grid is scored on the validation split (never on test) and the
 * best setting is refitted on the full training side.
 */
import { evaluateRecommender } from '../evaluation/index.ts';
import { ItemKnnSource, PopularitySource, type CandidateSource, type ItemKnnOptions, type PopularityOptions, type UserQuery } from '../retrieval/index.ts';
import type { SourceKind } from './engine/index.ts';
import type { Dataset } from '../data/index.ts';
import { registerPipeline, type FitContext, type ParamDef, type Pipeline } from './registry.ts';

/** Logs this long fit item-kNN in worker threads (FitContext.threads); shorter ones on the main thread. */
const PARALLEL_MIN_INTERACTIONS = 300_000;

/** Validation users scored per grid point: enough to rank settings, bounded on big data. */
const TUNE_USERS = 3000;

/**
 * A pipeline around one CandidateSource. `grid` lists the settings tried when tuning; the first
 * setting is the configured one.
 */
export class SourcePipeline implements Pipeline {
  private source: CandidateSource | undefined;
  private chosen: Record<string, unknown> = {};
  private tuning: { setting: Record<string, unknown>; metric: number }[] = [];

  constructor(
    readonly name: string,
    private readonly make: (setting: Record<string, unknown>, run: { train: Dataset; threads: number }) => CandidateSource,
    private readonly base: Record<string, unknown>,
    private readonly grid: Record<string, unknown>[] = [],
    private readonly tuneMetric = 'ndcg@10',
  ) {}

  async fit(ctx: FitContext): Promise<void> {
    let setting = this.base;
    if (this.grid.length > 0) {
      const valid = ctx.valid;
      if (!valid) throw new Error(`pipeline '${this.name}': tuning needs a validation split`);
      let best = -Infinity;
      for (const g of this.grid) {
        const s = { ...this.base, ...g };
        const src = this.make(s, { train: valid.train, threads: ctx.threads });
        await src.fit(valid.train);
        const r = evaluateRecommender(valid.train, valid.test, (q, n, ex) => src.candidates(q, n, ex).items, {
          ks: [10, 100],
          maxUsers: TUNE_USERS,
          seed: ctx.seed,
        });
        const m = r.metrics[this.tuneMetric];
        if (m === undefined) throw new Error(`pipeline '${this.name}': unknown tuning metric '${this.tuneMetric}'`);
        this.tuning.push({ setting: g, metric: m });
        ctx.log(`${this.name}: valid ${this.tuneMetric} ${m.toFixed(4)} with ${JSON.stringify(g)}`);
        if (m > best) {
          best = m;
          setting = s;
        }
      }
    }
    this.chosen = setting;
    this.source = this.make(setting, { train: ctx.train, threads: ctx.threads });
    await this.source.fit(ctx.train);
  }

  recommend(query: UserQuery, n: number, exclude: ReadonlySet<number>): Int32Array {
    if (!this.source) throw new Error(`pipeline '${this.name}': recommend before fit`);
    return this.source.candidates(query, n, exclude).items;
  }

  /** Every catalog item's score from the source (both baselines can), for AUC. */
  score(query: UserQuery): Float32Array {
    const s = this.source as (CandidateSource & { scoreAll?(q: UserQuery): Float32Array }) | undefined;
    if (!s) throw new Error(`pipeline '${this.name}': score before fit`);
    if (!s.scoreAll) throw new Error(`pipeline '${this.name}': its source does not score the whole catalog`);
    return s.scoreAll(query);
  }

  /** The fitted source (for saving, or for similar items). */
  get fitted(): CandidateSource | undefined {
    return this.source;
  }

  report(): Record<string, unknown> {
    return this.tuning.length ? { chosen: this.chosen, tuning: this.tuning } : { params: this.chosen };
  }
}

const tuneParam: ParamDef = { type: 'boolean', default: false, description: 'pick the setting on the validation split from a small grid' };

/** The popularity pipeline's parameters. */
export const POPULARITY_PARAMS: Record<string, ParamDef> = {
  halfLifeDays: { type: 'number', default: 0, min: 0, description: 'events lose half their weight every this many days (0: no decay)' },
  tune: tuneParam,
};

/** The item-kNN pipeline's parameters. */
export const ITEMKNN_PARAMS: Record<string, ParamDef> = {
  neighbours: { type: 'number', default: 400, min: 1, integer: true, description: 'neighbours kept per item' },
  shrink: { type: 'number', default: 0, min: 0, description: 'added to the cosine denominator' },
  value: { type: 'string', default: 'sum', values: ['sum', 'log', 'binary'], description: 'matrix value of a (user, item) pair: summed event weights, log(1 + sum), or 1' },
  historyHalfLife: { type: 'number', default: 0, min: 0, description: 'history recency: the event k steps back weighs 0.5^(k / this) (0: off)' },
  tune: tuneParam,
};

registerPipeline({
  name: 'popularity',
  description: 'the most popular items (event-weighted counts, optional time decay), the same for everyone',
  params: POPULARITY_PARAMS,
  create: (p) =>
    new SourcePipeline(
      'popularity',
      (s) => new PopularitySource({ halfLifeDays: s.halfLifeDays as number }),
      { halfLifeDays: p.halfLifeDays },
      p.tune ? [0, 3, 7, 14, 30, 90, 365].map((h) => ({ halfLifeDays: h })) : [],
    ),
});

registerPipeline({
  name: 'itemknn',
  description: 'item-to-item cosine over co-occurrence, top neighbours per item, scored on the user history',
  params: ITEMKNN_PARAMS,
  create: (p) => {
    const base = { neighbours: p.neighbours, shrink: p.shrink, value: p.value, historyHalfLife: p.historyHalfLife };
    const grid: Record<string, unknown>[] = [];
    if (p.tune) for (const k of [50, 100, 200, 400, 800]) for (const h of [0, 20]) grid.push({ neighbours: k, historyHalfLife: h });
    // worker threads only pay for their start-up on bigger logs
    const make = (s: Record<string, unknown>, run: { train: Dataset; threads: number }) =>
      new ItemKnnSource({ ...(s as Partial<ItemKnnOptions>), threads: run.train.interactions.length >= PARALLEL_MIN_INTERACTIONS ? run.threads : 1 });
    return new SourcePipeline('itemknn', make, base, grid);
  },
});

/** Popularity as an engine stage kind (for `tandem train` and model directories). */
export const popularityKind: SourceKind = {
  kind: 'popularity',
  personalized: false,
  create: (params) => new PopularitySource(params as Partial<PopularityOptions>),
  load: (dir) => PopularitySource.load(dir),
};

/** Item-kNN as an engine stage kind. */
export const itemKnnKind: SourceKind = {
  kind: 'itemknn',
  create: (params) => new ItemKnnSource(params as Partial<ItemKnnOptions>),
  load: (dir) => ItemKnnSource.load(dir),
};
