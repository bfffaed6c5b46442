import type { Dataset } from '../../data/index.ts';
import {
  assembleRankerData,
  concatSets,
  BusinessLayer,
  explain,
  RankerFeatures,
  splitGroups,
  splitUserTime,
  type AssembleReport,
  type BusinessConfig,
  type Explanation,
  type RankerFeatureOptions,
  type RankerTrainingSet,
  GbdtModel,
  trainGbdt,
  type GbdtParams,
} from '../../ranking/index.ts';
import { TWO_TOWER_PRESET } from '../two-tower.ts';
import { CandidateMerger, EaseSource, ItemKnnSource, PopularitySource, TwoTowerSource, userQuery, type CandidateSource, type MergedCandidates, type UserQuery } from '../../retrieval/index.ts';

/** Everything the two-stage pipeline can be tuned with; defaults were tuned on ml-100k train-inner/valid. */
export interface TwoStageOptions {
  /** Candidates asked of each L1 source (merged and deduplicated). */
  candidates: number;
  /** EASE ridge strength. */
  easeLambda: number;
  /** Half-lives (events) of recency-weighted EASE views, more sources over the same weights; [] = none. */
  easeRecentHalfLives: number[];
  /**
   * Half-lives of recency-weighted EASE views that only score (no candidates of their own): more
   * recency scales as features without diluting the candidate list.
   */
  easeScoreHalfLives: number[];
  /**
   * More L1 sources by name, each with its tuned defaults: 'itemknn', 'itemknn-recent' (recency-weighted
   * history), 'popularity' (30-day decay), 'two-tower'. Their scores and ranks become features.
   */
  extraSources: string[];
  /** Last share of each user's training events that labels the ranker's rows (L1 never sees it while labelling). */
  labelFraction: number;
  /**
   * Label windows: window 0 labels with the last labelFraction of each user's events; window k > 0 does
   * the same on what window k-1 left to L1, so the ranker sees more users' groups. 1 = a single window.
   */
  labelWindows: number;
  /** Negatives kept per positive in each user's group; 0 keeps every candidate. */
  negativesPerPositive: number;
  /** Share of the labelled users held out for the GBDT's early stopping. */
  validFraction: number;
  gbdt: Partial<GbdtParams>;
  features: Partial<RankerFeatureOptions>;
  business: Partial<BusinessConfig>;
  /** Features reported in each explanation. */
  explainTop: number;
  seed: number;
  threads: number;
}

export const TWO_STAGE_DEFAULTS: TwoStageOptions = {
  candidates: 200,
  easeLambda: 500,
  easeRecentHalfLives: [10],
  easeScoreHalfLives: [],
  extraSources: ['two-tower'],
  labelFraction: 0.2,
  labelWindows: 1,
  negativesPerPositive: 0,
  validFraction: 0.15,
  gbdt: { objective: 'binary', numRounds: 600, learningRate: 0.03, numLeaves: 31, minDataInLeaf: 50, lambdaL2: 1, featureFraction: 0.8, baggingFraction: 0.8, earlyStoppingRounds: 50 },
  features: {},
  business: {},
  explainTop: 3,
  seed: 1,
  threads: 1,
};

/** Extra L1 sources (item-kNN, popularity, the two-tower): a factory, since L1 is fitted twice. */
export type SourceFactory = () => CandidateSource[];

/** What `fit` saw and chose: L1 recall at the candidate count, rows, the ranker's rounds and top features. */
export interface TwoStageReport {
  sources: string[];
  candidatesPerSource: number;
  assemble: AssembleReport;
  trainRows: number;
  validRows: number;
  bestIteration: number;
  validMetric: number;
  metric: string;
  topFeatures: { name: string; gain: number }[];
  seconds: { l1Early: number; assemble: number; gbdt: number; l1Full: number };
}

/** One explained recommendation list. */
export interface ExplainedRecommendations {
  items: Int32Array;
  scores: Float32Array;
  explanations: Explanation[];
}

interface L1 {
  merger: CandidateMerger;
  features: RankerFeatures;
}

/**
 * The two-stage recommender: L1 sources (EASE, its recency-weighted view and any extra sources) give
 * merged candidates; a GBDT on ranker features orders them; the business layer makes the final list.
 * Training is leakage-free: L1 and the feature statistics are fitted on the earlier part of each user's
 * history, the later part labels the candidates, the ranker learns on that, then L1 and the statistics
 * are refitted on all of the training data for serving.
 * @example const ts = new TwoStage({ candidates: 200 }); await ts.fit(train); ts.recommend(userQuery(train, 0), 10);
 */
export class TwoStage {
  readonly options: TwoStageOptions;
  private l1?: L1;
  private model?: GbdtModel;
  private business?: BusinessLayer;
  private x = new Float32Array(0);
  private raw = new Float64Array(0);
  private contrib = new Float64Array(0);

  constructor(
    options: Partial<TwoStageOptions> = {},
    private readonly extraSources: SourceFactory = () => [],
  ) {
    this.options = { ...TWO_STAGE_DEFAULTS, ...options, gbdt: { ...TWO_STAGE_DEFAULTS.gbdt, ...options.gbdt } };
    const o = this.options;
    if (!(o.candidates >= 1) || !Number.isInteger(o.candidates)) throw new Error(`two-stage: candidates must be a positive integer, got ${o.candidates}`);
    if (!(o.labelFraction > 0 && o.labelFraction < 1)) throw new Error(`two-stage: labelFraction must be in (0, 1), got ${o.labelFraction}`);
    if (!(o.labelWindows >= 1) || !Number.isInteger(o.labelWindows)) throw new Error(`two-stage: labelWindows must be a positive integer, got ${o.labelWindows}`);
    if (!(o.validFraction >= 0 && o.validFraction < 1)) throw new Error(`two-stage: validFraction must be in [0, 1), got ${o.validFraction}`);
  }

  /** Fits the L1 sources and the feature statistics on `ds`. */
  private async fitL1(ds: Dataset): Promise<L1> {
    const o = this.options;
    const ease = new EaseSource({ lambda: o.easeLambda });
    ease.fit(ds);
    const sources: CandidateSource[] = [ease];
    for (const h of o.easeRecentHalfLives) sources.push(ease.view({ name: `ease-h${h}`, halfLife: h }));
    for (const s of [...namedSources(o.extraSources, o), ...this.extraSources()]) {
      await s.fit(ds);
      sources.push(s);
    }
    const per = sources.map(() => o.candidates);
    for (const h of o.easeScoreHalfLives) {
      sources.push(ease.view({ name: `ease-s${h}`, halfLife: h }));
      per.push(0);
    }
    const merger = new CandidateMerger(sources, per);
    const features = RankerFeatures.fit(ds, merger.names, o.features);
    return { merger, features };
  }

  /**
   * The ranker's training and validation sets, built without leakage (see the class comment), and the
   * L1 recall they saw. `fit` uses it; `tandem export-ranker-data` writes it out.
   */
  async trainingData(train: Dataset): Promise<{ train: RankerTrainingSet; valid: RankerTrainingSet; report: AssembleReport; seconds: { l1: number; assemble: number } }> {
    const o = this.options;
    const sets: RankerTrainingSet[] = [];
    let report: AssembleReport | undefined;
    let l1Seconds = 0;
    let assembleSeconds = 0;
    let base = train;
    for (let w = 0; w < o.labelWindows; w++) {
      const t0 = performance.now();
      const { earlier, later } = splitUserTime(base, o.labelFraction);
      const l1 = await this.fitL1(earlier);
      const t1 = performance.now();
      const got = assembleRankerData({
        features: l1.features,
        labels: later,
        queryOf: (u) => userQuery(earlier, u),
        // the user's own items are never candidates, in training as in serving
        candidatesOf: (q) => l1.merger.merge(q as UserQuery, new Set(q.history)),
        negativesPerPositive: o.negativesPerPositive,
        keepGroupsWithoutPositive: false,
        seed: o.seed + w,
      });
      l1Seconds += (t1 - t0) / 1000;
      assembleSeconds += (performance.now() - t1) / 1000;
      sets.push(got.set);
      report ??= got.report; // the recall of the window closest to serving
      base = earlier;
    }
    const { train: tr, valid } = splitGroups(concatSets(sets), o.validFraction, o.seed + 1);
    return { train: tr, valid, report: report!, seconds: { l1: l1Seconds, assemble: assembleSeconds } };
  }

  /** Trains the whole pipeline on `train`; `log` receives progress lines. */
  async fit(train: Dataset, log: (line: string) => void = () => {}): Promise<TwoStageReport> {
    const o = this.options;
    const data = await this.trainingData(train);
    const { report } = data;
    log(`two-stage: L1 on the earlier ${Math.round((1 - o.labelFraction) * 100)}% found ${report.labelItemsFound}/${report.labelItems} label items (recall ${report.recall.toFixed(4)} at ${o.candidates} per source); ${report.rows} rows, ${report.positives} positives`);
    const t0 = performance.now();
    const hasValid = data.valid.nRows > 0 && o.validFraction > 0;
    const params: Partial<GbdtParams> = { seed: o.seed, ...o.gbdt };
    if (!hasValid) params.earlyStoppingRounds = 0;
    const result = await trainGbdt(data.train, params, { valid: hasValid ? data.valid : undefined, threads: o.threads });
    this.model = result.model;
    const t1 = performance.now();
    const best = result.validHistory.length > 0 ? result.validHistory[result.bestIteration - 1] : NaN;
    log(`two-stage: GBDT ${result.bestIteration} trees, valid ${result.metric} ${best.toFixed(5)} (${((t1 - t0) / 1000).toFixed(1)}s)`);
    this.l1 = await this.fitL1(train);
    this.business = new BusinessLayer(train.items, o.business);
    const t2 = performance.now();
    const gain = this.model.featureImportance('gain');
    const names = data.train.featureNames;
    const topFeatures = Array.from(gain, (g, f) => ({ name: names[f], gain: g }))
      .sort((a, b) => b.gain - a.gain)
      .slice(0, 10);
    return {
      sources: this.l1.merger.names,
      candidatesPerSource: o.candidates,
      assemble: report,
      trainRows: data.train.nRows,
      validRows: data.valid.nRows,
      bestIteration: result.bestIteration,
      validMetric: best,
      metric: result.metric,
      topFeatures,
      seconds: { l1Early: data.seconds.l1, assemble: data.seconds.assemble, gbdt: (t1 - t0) / 1000, l1Full: (t2 - t1) / 1000 },
    };
  }

  /** Merged candidates, their ranker probabilities, and the business layer's order. */
  private score(query: UserQuery, n: number, exclude?: ReadonlySet<number>): { m: MergedCandidates; order: Int32Array; scores: Float32Array } {
    if (!this.l1 || !this.model || !this.business) throw new Error('two-stage: call fit() before recommending');
    const seenAll = new Set<number>(query.history);
    if (exclude) for (const i of exclude) seenAll.add(i);
    const m = this.l1.merger.merge(query, seenAll);
    const W = this.l1.features.width;
    if (this.x.length < m.count * W) this.x = new Float32Array(m.count * W);
    if (this.raw.length < m.count) this.raw = new Float64Array(m.count);
    this.l1.features.extract(query, m, this.x, 0);
    this.model.predict(this.x, m.count, this.raw);
    const { order, scores } = this.business.select(m.items, m.count, this.raw, m.l1Rank, seenAll, n);
    return { m, order, scores };
  }

  /** The best `n` items for the query, best first, never an item of its history or of `exclude`. */
  recommend(query: UserQuery, n: number, exclude?: ReadonlySet<number>): Int32Array {
    const { m, order } = this.score(query, n, exclude);
    return Int32Array.from(order, (c) => m.items[c]);
  }

  /** Like `recommend`, with final scores and a short explanation per item (source, top contributing features). */
  recommendExplained(query: UserQuery, n: number, exclude?: ReadonlySet<number>): ExplainedRecommendations {
    const { m, order, scores } = this.score(query, n, exclude);
    const W = this.l1!.features.width;
    const names = this.l1!.features.names;
    if (this.contrib.length !== W + 1) this.contrib = new Float64Array(W + 1);
    const explanations = Array.from(order, (c) => {
      this.model!.contributions(this.x.subarray(c * W, (c + 1) * W), this.contrib);
      return explain(m.sources[m.foundBy[c]], names, this.contrib, this.options.explainTop);
    });
    return { items: Int32Array.from(order, (c) => m.items[c]), scores, explanations };
  }

  /** The trained ranker (after fit). */
  get ranker(): GbdtModel | undefined {
    return this.model;
  }

  /** Feature column names, in row order (after fit). */
  get featureNames(): string[] {
    return this.l1 ? [...this.l1.features.names] : [];
  }
}

/** The named extra sources, fresh and unfitted. */
function namedSources(names: readonly string[], o: TwoStageOptions): CandidateSource[] {
  return names.map((name) => {
    switch (name) {
      case 'itemknn':
        return new ItemKnnSource();
      case 'itemknn-recent':
        return new ItemKnnSource({ name: 'itemknn-recent', historyHalfLife: 10 });
      case 'popularity':
        return new PopularitySource({ halfLifeDays: 30 });
      case 'two-tower':
        // one thread: reproducible, and no worker attaching to the kernel memory (seen failing intermittently
        // with "start offset of Float32Array should be a multiple of 4" when fitted twice in one process)
        return new ScoringTwoTower({ config: TWO_TOWER_PRESET, seed: o.seed, threads: 1 });
      default:
        throw new Error(`two-stage: unknown extra source '${name}' (known: itemknn, itemknn-recent, popularity, two-tower)`);
    }
  });
}

/** The two-tower source that also scores any item (its dot product), so it is a feature for every candidate. */
class ScoringTwoTower extends TwoTowerSource {
  private q = new Float32Array(0);

  scoreItems(query: UserQuery, items: ArrayLike<number>, out: Float32Array): void {
    const model = this.model;
    if (!model) throw new Error('two-tower: fit before scoring');
    const k = model.dim;
    if (this.q.length !== k) this.q = new Float32Array(k);
    model.embedQuery(query, this.q);
    const vecs = this.itemEmbeddings();
    const ni = model.features.numItems;
    for (let c = 0; c < items.length; c++) {
      const i = items[c];
      if (i < 0 || i >= ni) {
        out[c] = NaN;
        continue;
      }
      let s = 0;
      for (let d = 0; d < k; d++) s += vecs[i * k + d] * this.q[d];
      out[c] = s;
    }
  }
}
