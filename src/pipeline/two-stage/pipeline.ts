import type { UserQuery } from '../../retrieval/index.ts';
import { registerPipeline, type FitContext, type ParamDef, type Pipeline } from '../registry.ts';
import { TWO_STAGE_DEFAULTS, TwoStage, type SourceFactory, type TwoStageOptions, type TwoStageReport } from './two-stage.ts';

/** What a pipeline's fit receives; `valid` is ignored: two-stage makes its own leakage-free cut of `train`. */
export type TwoStageFitContext = Pick<FitContext, 'train'> & Partial<Pick<FitContext, 'seed' | 'threads' | 'log'>>;

/**
 * The `two-stage` pipeline for `tandem evaluate`: L1 sources -> merged candidates -> GBDT ranker ->
 * business layer, with the defaults tuned on ml-100k train-inner/valid.
 * @example const p = twoStagePipeline(); await p.fit({ train, seed: 1, threads: 2 }); p.recommend(userQuery(train, 0), 10, new Set());
 */
export function twoStagePipeline(options: Partial<TwoStageOptions> = {}, extraSources?: SourceFactory): Pipeline & { model(): TwoStage | null; report(): TwoStageReport | null } {
  let model: TwoStage | null = null;
  let report: TwoStageReport | null = null;
  return {
    name: 'two-stage',
    model: () => model,
    report: () => report,
    async fit(ctx: TwoStageFitContext): Promise<void> {
      const m = new TwoStage({ ...options, seed: ctx.seed ?? options.seed ?? 1, threads: ctx.threads ?? options.threads ?? 1 }, extraSources);
      report = await m.fit(ctx.train, ctx.log ? (l) => ctx.log!(l) : undefined);
      model = m;
    },
    recommend(query: UserQuery, n: number, exclude?: ReadonlySet<number>): Int32Array {
      if (!model) throw new Error('two-stage: fit before recommend');
      return model.recommend(query, n, exclude);
    },
  };
}

const D = TWO_STAGE_DEFAULTS;

/** The two-stage pipeline's parameters (defaults are the tuned settings). */
export const TWO_STAGE_PARAMS: Record<string, ParamDef> = {
  candidates: { type: 'number', default: D.candidates, min: 1, integer: true, description: 'candidates asked of each L1 source' },
  easeLambda: { type: 'number', default: D.easeLambda, min: 1e-6, description: 'EASE ridge strength' },
  easeRecent: { type: 'string', default: D.easeRecentHalfLives.join(','), description: 'half-lives (events) of recency-weighted EASE views, comma-separated; empty for none' },
  sources: { type: 'string', default: D.extraSources.join(','), description: 'extra L1 sources, comma-separated: itemknn, itemknn-recent, popularity, two-tower; empty for none' },
  easeScore: { type: 'string', default: D.easeScoreHalfLives.join(','), description: 'half-lives of EASE recency views that only add score features (no candidates), comma-separated' },
  labelFraction: { type: 'number', default: D.labelFraction, min: 0.01, max: 0.99, description: 'last share of each user\'s training events that labels the ranker\'s rows' },
  labelWindows: { type: 'number', default: D.labelWindows, min: 1, max: 5, integer: true, description: 'label windows stacked for more ranker rows' },
  negatives: { type: 'number', default: D.negativesPerPositive, min: 0, integer: true, description: 'negatives kept per positive (0: every candidate)' },
  objective: { type: 'string', default: D.gbdt.objective as string, values: ['binary', 'lambdarank'], description: 'ranker loss' },
  numLeaves: { type: 'number', default: D.gbdt.numLeaves as number, min: 2, integer: true, description: 'GBDT leaves per tree' },
  learningRate: { type: 'number', default: D.gbdt.learningRate as number, min: 1e-4, max: 1, description: 'GBDT shrinkage' },
  numRounds: { type: 'number', default: D.gbdt.numRounds as number, min: 1, integer: true, description: 'GBDT rounds at most (early stopping on held-out users)' },
};

registerPipeline({
  name: 'two-stage',
  description: 'EASE (+ recency views, + extra sources) candidates re-ranked by a GBDT on ranker features, then business rules',
  params: TWO_STAGE_PARAMS,
  create: (p) => {
    const list = (s: unknown) => String(s).split(',').map((x) => x.trim()).filter((x) => x !== '');
    return twoStagePipeline({
      candidates: p.candidates as number,
      easeLambda: p.easeLambda as number,
      easeRecentHalfLives: list(p.easeRecent).map(Number),
      extraSources: list(p.sources),
      easeScoreHalfLives: list(p.easeScore).map(Number),
      labelFraction: p.labelFraction as number,
      labelWindows: p.labelWindows as number,
      negativesPerPositive: p.negatives as number,
      gbdt: { ...D.gbdt, objective: p.objective as 'binary' | 'lambdarank', numLeaves: p.numLeaves as number, learningRate: p.learningRate as number, numRounds: p.numRounds as number },
    });
  },
});
