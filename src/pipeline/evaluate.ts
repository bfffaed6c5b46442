/**
 * Evaluate orchestration: fit each named pipeline on the train side, score it on the test side under
 * the full-ranking protocol, time both, and return the result object `tandem evaluate` prints and
 * writes as JSON.
 */
import { parseSplit, splitDataset, type Dataset } from '../data/index.ts';
import { DEFAULT_KS, evaluateRecommender } from '../evaluation/index.ts';
import { createPipeline, type FitContext, type Pipeline } from './registry.ts';

/** The rule that makes the validation split from train (the benchmark's train-inner/valid rule). */
export const VALID_SPLIT = 'user-temporal:0.2';

export interface EvaluationRun {
  train: Dataset;
  test: Dataset;
  /** Pipeline names, run in this order. */
  pipelines: readonly string[];
  /** Per-pipeline parameters, by pipeline name. */
  params?: Record<string, Record<string, unknown>>;
  /** The validation pair; by default made from `train` with VALID_SPLIT when a pipeline first asks. */
  valid?: { train: Dataset; test: Dataset };
  seed?: number;
  threads?: number;
  ks?: readonly number[];
  /** Also report AUC over the full catalog for pipelines that score every item (costs a sort per user). */
  auc?: boolean;
  /** Score at most this many test users (a seeded sample). */
  maxUsers?: number;
  log?: (msg: string) => void;
  /** Called with each pipeline once fitted and scored (the demo prints its recommendations). */
  onFitted?: (name: string, pipeline: Pipeline) => void;
}

/** One pipeline's line of the report. */
export interface PipelineResult {
  pipeline: string;
  metrics: Record<string, number>;
  trainSeconds: number;
  evalSeconds: number;
  /** Users scored. */
  users: number;
  /** What fit chose, when the pipeline says. */
  fit?: unknown;
}

/** The result object of `tandem evaluate` (its JSON file has exactly this shape). */
export interface EvaluationReport {
  dataset: {
    name: string;
    users: number;
    items: number;
    interactions: number;
    trainInteractions: number;
    testInteractions: number;
    evalUsers: number;
  };
  results: PipelineResult[];
}

/**
 * Fits and scores every named pipeline in turn.
 * @example const report = await runEvaluation({ train, test, pipelines: ['popularity', 'itemknn'] })
 */
export async function runEvaluation(run: EvaluationRun): Promise<EvaluationReport> {
  const log = run.log ?? (() => {});
  const { train, test } = run;
  // made once, and only if a pipeline reads ctx.valid
  let valid = run.valid;
  const ctx: FitContext = {
    train,
    get valid() {
      if (!valid) {
        log(`making the validation split of train (${VALID_SPLIT})`);
        valid = splitDataset(train, parseSplit(VALID_SPLIT));
      }
      return valid;
    },
    seed: run.seed ?? 1,
    threads: run.threads ?? 1,
    log,
  };
  // every name is checked before anything is fitted
  const pipelines = run.pipelines.map((name) => createPipeline(name, run.params?.[name] ?? {}));
  const results: PipelineResult[] = [];
  let evalUsers = 0;
  for (const p of pipelines) {
    log(`${p.name}: fitting on ${train.interactions.length} interactions`);
    const t0 = performance.now();
    await p.fit(ctx);
    const trainSeconds = (performance.now() - t0) / 1000;
    log(`${p.name}: fitted in ${trainSeconds.toFixed(2)} s; scoring`);
    const r = evaluateRecommender(train, test, (q, n, ex) => p.recommend(q, n, ex), {
      ks: run.ks ?? DEFAULT_KS,
      maxUsers: run.maxUsers,
      seed: run.seed,
      scorer: run.auc && p.score ? (q) => p.score!(q) : undefined,
    });
    evalUsers = r.users;
    log(`${p.name}: scored ${r.users} users in ${r.seconds.toFixed(2)} s, ndcg@10 ${(r.metrics['ndcg@10'] ?? NaN).toFixed(4)}`);
    const fit = p.report?.();
    results.push({ pipeline: p.name, metrics: r.metrics, trainSeconds: round(trainSeconds), evalSeconds: round(r.seconds), users: r.users, ...(fit !== undefined && fit !== null ? { fit } : {}) });
    run.onFitted?.(p.name, p);
  }
  return {
    dataset: {
      name: train.name,
      users: train.numUsers,
      items: train.numItems,
      interactions: train.interactions.length + test.interactions.length,
      trainInteractions: train.interactions.length,
      testInteractions: test.interactions.length,
      evalUsers,
    },
    results,
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
