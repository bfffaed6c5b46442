import type { Dataset } from '../../data/index.ts';
import type { UserQuery } from '../../retrieval/index.ts';
import { TwoStage, type SourceFactory, type TwoStageOptions, type TwoStageReport } from './two-stage.ts';

/** What a pipeline's fit receives (the shape the evaluation harness passes). */
export interface TwoStageFitContext {
  train: Dataset;
  /** Ignored: two-stage makes its own leakage-free split of `train` (the same per-user temporal cut). */
  valid?: { train: Dataset; test: Dataset };
  seed?: number;
  threads?: number;
  log?: (line: string) => void;
}

/**
 * The `two-stage` pipeline for `tandem evaluate`: L1 sources -> merged candidates -> GBDT ranker ->
 * business layer, with the defaults tuned on ml-100k train-inner/valid.
 * @example const p = twoStagePipeline(); await p.fit({ train, seed: 1, threads: 2 }); p.recommend(userQuery(train, 0), 10);
 */
export function twoStagePipeline(options: Partial<TwoStageOptions> = {}, extraSources?: SourceFactory) {
  let model: TwoStage | null = null;
  let report: TwoStageReport | null = null;
  return {
    name: 'two-stage',
    /** The fitted model (for explanations) and what its fit reported. */
    model: () => model,
    report: () => report,
    async fit(ctx: TwoStageFitContext): Promise<void> {
      const m = new TwoStage({ ...options, seed: ctx.seed ?? options.seed ?? 1, threads: ctx.threads ?? options.threads ?? 1 }, extraSources);
      report = await m.fit(ctx.train, ctx.log);
      model = m;
    },
    recommend(query: UserQuery, n: number, exclude?: ReadonlySet<number>): Int32Array {
      if (!model) throw new Error('two-stage: fit before recommend');
      return model.recommend(query, n, exclude);
    },
  };
}
