/**
 * The GBDT ranker as the engine's L2 stage (`tandem train` with `ranker: { kind: 'gbdt' }`, model
 * directories, the service): the same features and leakage-free training as the two-stage pipeline,
 * behind the engine's RankerKind plug point.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../../data/index.ts';
import {
  assembleRankerData,
  GbdtModel,
  RankerFeatures,
  splitGroups,
  splitUserTime,
  trainGbdt,
  type GbdtParams,
  type L1Block,
  type RankerFeatureOptions,
} from '../../ranking/index.ts';
import { CandidateMerger, userQuery, type UserQuery } from '../../retrieval/index.ts';
import type { Candidates, EngineSource, Ranker, RankerKind, RankerOutput } from '../engine/index.ts';
import { TWO_STAGE_DEFAULTS } from './two-stage.ts';

/** The GBDT ranker stage's parameters (model-directory `ranker.params`). */
export interface GbdtRankerParams {
  candidates: number;
  labelFraction: number;
  negativesPerPositive: number;
  validFraction: number;
  gbdt: Partial<GbdtParams>;
  features: Partial<RankerFeatureOptions>;
  /** Contributing features reported per candidate. */
  explainTop: number;
  seed: number;
  threads: number;
}

const DEFAULTS: GbdtRankerParams = {
  candidates: TWO_STAGE_DEFAULTS.candidates,
  labelFraction: TWO_STAGE_DEFAULTS.labelFraction,
  negativesPerPositive: TWO_STAGE_DEFAULTS.negativesPerPositive,
  validFraction: TWO_STAGE_DEFAULTS.validFraction,
  gbdt: TWO_STAGE_DEFAULTS.gbdt,
  features: {},
  explainTop: 3,
  seed: 1,
  threads: 1,
};

const META = 'gbdt-ranker.json';
const MODEL = 'gbdt-model.json';

/**
 * Scores the engine's merged candidates with the GBDT. Per-feature path contributions (the explanation)
 * are computed lazily, by `explain(i)`, for the k candidates the engine returns only: computing them
 * for all 500 candidates cost about three times the scoring itself.
 */
class GbdtRanker implements Ranker {
  readonly name = 'gbdt';
  // per-request scratch, grown to the largest request seen; `explain` reads x, so it is valid until the next rank()
  private x = new Float32Array(0);
  private raw = new Float64Array(0);
  private ranks = new Float32Array(0);
  private order = new Int32Array(0);
  private readonly contrib: Float64Array;
  private generation = 0;

  constructor(
    private readonly model: GbdtModel,
    private readonly features: RankerFeatures,
    private readonly sourceNames: readonly string[],
    private readonly params: GbdtRankerParams,
  ) {
    this.contrib = new Float64Array(features.width + 1);
  }

  rank(query: UserQuery, c: Candidates): RankerOutput {
    const n = c.count;
    const S = c.sourceNames.length;
    if (S !== this.sourceNames.length || c.sourceNames.some((s, k) => s !== this.sourceNames[k])) {
      throw new Error(`gbdt ranker: candidates come from [${c.sourceNames.join(', ')}], the ranker was trained on [${this.sourceNames.join(', ')}]`);
    }
    const W = this.features.width;
    if (this.x.length < n * W) this.x = new Float32Array(n * W);
    if (this.raw.length < n) this.raw = new Float64Array(n);
    if (this.ranks.length < n * S) this.ranks = new Float32Array(n * S);
    if (this.order.length < n) this.order = Int32Array.from({ length: n }, (_, i) => i);
    // the engine marks "not proposed" with rank -1; the features use NaN (missing)
    for (let k = 0; k < n * S; k++) this.ranks[k] = c.sourceRanks[k] < 0 ? NaN : c.sourceRanks[k];
    const block: L1Block = { sources: c.sourceNames, count: n, items: c.items, scores: c.sourceScores, ranks: this.ranks, l1Rank: this.order };
    this.features.extract(query, block, this.x, 0);
    this.model.predict(this.x, n, this.raw);
    const scores = new Float32Array(n);
    for (let i = 0; i < n; i++) scores[i] = this.raw[i];
    const gen = ++this.generation;
    return {
      scores,
      topN: this.params.explainTop,
      featureNames: this.features.names,
      explain: (i: number) => {
        if (gen !== this.generation) throw new Error('gbdt ranker: explain() asked after a later rank() reused its feature rows');
        if (!(i >= 0 && i < n)) throw new Error(`gbdt ranker: explain(${i}): the request has ${n} candidates`);
        return this.explainRow(i);
      },
    };
  }

  /** The top `explainTop` positive contributions of row i of the current request, largest first, -1 padded. */
  private explainRow(i: number): Int32Array {
    const W = this.features.width;
    // the flat forest's walk gives the same doubles as model.contributions over the tree objects, faster
    this.model.forest.contributions(this.x, i * W, this.contrib);
    return topPositive(this.contrib, W, this.params.explainTop);
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, META), JSON.stringify({ version: 1, sources: this.sourceNames, params: this.params }));
    this.model.save(join(dir, MODEL));
  }
}

/**
 * Indices of the `top` largest positive values of v[0..n), largest first (ties: lower index first),
 * -1 padded. @example topPositive(Float64Array.of(0.1, -1, 0.5), 3, 2) // Int32Array [2, 0]
 */
export function topPositive(v: ArrayLike<number>, n: number, top: number): Int32Array {
  const out = new Int32Array(top).fill(-1);
  // insertion into a tiny sorted list
  for (let f = 0; f < n; f++) {
    const x = v[f];
    if (!(x > 0)) continue;
    let k = top - 1;
    if (out[k] >= 0 && v[out[k]] >= x) continue;
    while (k > 0 && (out[k - 1] < 0 || v[out[k - 1]] < x)) {
      out[k] = out[k - 1];
      k--;
    }
    out[k] = f;
  }
  return out;
}

/**
 * The engine's `gbdt` ranker kind: fits fresh L1 sources on the earlier part of each user's history,
 * labels their merged candidates with the later part, trains the GBDT on the ranker features, then
 * fits the feature statistics on all of `train` (the engine refits its own sources on all of it).
 * @example makeRegistry([easeKind], [gbdtRankerKind]); trainModel(dir, { ..., ranker: { kind: 'gbdt' } })
 */
export const gbdtRankerKind: RankerKind = {
  kind: 'gbdt',
  async fit(train: Dataset, makeSources: () => EngineSource[], given: Record<string, unknown>): Promise<Ranker> {
    for (const key of Object.keys(given)) if (!(key in DEFAULTS)) throw new Error(`ranker.params.${key}: unknown parameter (known: ${Object.keys(DEFAULTS).join(', ')})`);
    const p: GbdtRankerParams = { ...DEFAULTS, ...(given as Partial<GbdtRankerParams>), gbdt: { ...DEFAULTS.gbdt, ...((given.gbdt as Partial<GbdtParams>) ?? {}) } };
    const { earlier, later } = splitUserTime(train, p.labelFraction);
    const sources = makeSources();
    for (const s of sources) await s.fit(earlier);
    const merger = new CandidateMerger(sources, p.candidates);
    const early = RankerFeatures.fit(earlier, merger.names, p.features);
    const { set } = assembleRankerData({
      features: early,
      labels: later,
      queryOf: (u) => userQuery(earlier, u),
      // the user's own items are never candidates (the engine filters them before ranking too)
      candidatesOf: (q) => merger.merge(q as UserQuery, new Set(q.history)),
      negativesPerPositive: p.negativesPerPositive,
      keepGroupsWithoutPositive: false,
      seed: p.seed,
    });
    if (set.nRows === 0) throw new Error('gbdt ranker: no training rows (no user has a later event among the L1 candidates)');
    const { train: tr, valid } = splitGroups(set, p.validFraction, p.seed + 1);
    const useValid = valid.nRows > 0;
    const { model } = await trainGbdt(tr, { seed: p.seed, ...p.gbdt, ...(useValid ? {} : { earlyStoppingRounds: 0 }) }, { valid: useValid ? valid : undefined, threads: p.threads });
    return new GbdtRanker(model, RankerFeatures.fit(train, merger.names, p.features), merger.names, p);
  },
  async load(dir: string, ctx: { dataset: Dataset }): Promise<Ranker> {
    const meta = JSON.parse(await readFile(join(dir, META), 'utf8')) as { version: number; sources: string[]; params: GbdtRankerParams };
    if (meta.version !== 1) throw new Error(`${join(dir, META)}: unsupported version ${meta.version}`);
    const model = GbdtModel.load(join(dir, MODEL));
    // the statistics are a pure function of the model's training data, so they are recomputed, not stored
    const features = RankerFeatures.fit(ctx.dataset, meta.sources, meta.params.features);
    if (features.width !== model.nFeatures) throw new Error(`${join(dir, MODEL)}: ${model.nFeatures} features, the dataset gives ${features.width}`);
    return new GbdtRanker(model, features, meta.sources, meta.params);
  },
};
