/**
 * Evaluate orchestration: each named pipeline's engine configuration is fitted on the train side by
 * `fitEngine`, then scored on the test side under the full-ranking protocol through the engine's own
 * request path (`Engine.recommend`, in process: what `tandem serve` answers), timed, and reported.
 */
import { parseSplit, splitDataset, type Dataset } from '../data/index.ts';
import { DEFAULT_KS } from '../evaluation/index.ts';
import { NO_PROGRESS, type Progress } from '../math/index.ts';
import { builtinRegistry, Engine, fitEngine, scoreEngine, VALID_SPLIT, type FitReport, type StageRegistry } from './engine/index.ts';
import { pipelineConfig, pipelineSpec, resolvePipelineParams } from './pipelines.ts';

export { VALID_SPLIT };

export interface EvaluationRun {
  train: Dataset;
  test: Dataset;
  /** Pipeline names, run in this order. */
  pipelines: readonly string[];
  /** Per-pipeline parameters, by pipeline name. */
  params?: Record<string, Record<string, unknown>>;
  /** The validation pair; by default made from `train` with VALID_SPLIT when a pipeline tunes. */
  valid?: { train: Dataset; test: Dataset };
  seed?: number;
  threads?: number;
  ks?: readonly number[];
  /** Also report AUC over the full catalog for single-source pipelines that score every item. */
  auc?: boolean;
  /** Score at most this many test users (a seeded sample). */
  maxUsers?: number;
  registry?: StageRegistry;
  log?: (msg: string) => void;
  /** Where fits and scoring report their steps, each under its pipeline's name; default none. */
  progress?: Progress;
  /** Called with each pipeline's engine once fitted and scored (the demo prints its recommendations, the report draws it). */
  onFitted?: (name: string, engine: Engine) => void;
}

/** One pipeline's line of the report. */
export interface PipelineResult {
  pipeline: string;
  metrics: Record<string, number>;
  trainSeconds: number;
  evalSeconds: number;
  /** Users scored. */
  users: number;
  /** What fit chose (tuning, the ranker's rows and rounds, epochs). */
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

/** Validation users scored per tuning setting: enough to rank settings, bounded on big data. */
const TUNE_USERS = 3000;

function fitSummary(report: FitReport, engine: Engine, tuning: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (tuning) out.tuning = tuning;
  if (report.ranker) {
    const r = report.ranker;
    out.ranker = { l1Recall: round(r.recall), candidatesPerSource: engine.candidateCount, rows: r.rows, positives: r.positives, trainRows: r.trainRows, validRows: r.validRows, ...r.summary };
  }
  const training = engine.manifest.parameters.training as Record<string, { valid?: { validRecall?: number }[]; fit?: { examplesPerSecond?: number }[] }> | undefined;
  if (training) {
    for (const [name, h] of Object.entries(training)) {
      out[name] = { epochs: h.fit?.length ?? 0, validRecallByEpoch: h.valid?.map((e) => e.validRecall) ?? [], positivesPerSecond: Math.round(median((h.fit ?? []).map((e) => e.examplesPerSecond ?? 0))) };
    }
  }
  out.seconds = Object.fromEntries(Object.entries(report.seconds).map(([k, v]) => [k, round(v)]));
  return out;
}

/**
 * Fits and scores every named pipeline in turn.
 * @example const report = await runEvaluation({ train, test, pipelines: ['popularity', 'itemknn'] })
 */
export async function runEvaluation(run: EvaluationRun): Promise<EvaluationReport> {
  const log = run.log ?? (() => {});
  const progress = run.progress ?? NO_PROGRESS;
  const registry = run.registry ?? builtinRegistry();
  const { train, test } = run;
  const seed = run.seed ?? 1;
  const threads = run.threads ?? 1;
  const ks = run.ks ?? DEFAULT_KS;
  const maxK = Math.max(...ks);
  let valid = run.valid;
  const validSplit = (): { train: Dataset; test: Dataset } => {
    if (!valid) {
      log(`making the validation split of train (${VALID_SPLIT})`);
      valid = splitDataset(train, parseSplit(VALID_SPLIT));
    }
    return valid;
  };
  // every name and parameter is checked before anything is fitted
  const given = run.pipelines.map((name) => ({ name, params: resolvePipelineParams(name, run.params?.[name] ?? {}) }));
  const results: PipelineResult[] = [];
  let evalUsers = 0;
  for (const { name, params } of given) {
    const spec = pipelineSpec(name);
    const shown = progress.scope(name);
    const t0 = performance.now();
    let chosen = params;
    let tuning: { setting: Record<string, unknown>; metric: number }[] | null = null;
    const scoreValid = (engine: Engine, v: { train: Dataset; test: Dataset }) => scoreEngine(engine, v.train, v.test, { ks: [10, 100], maxUsers: TUNE_USERS, seed, progress: shown.scope('tuning') }).metrics['ndcg@10'];
    if (params.tune && spec.tune) {
      const v = validSplit();
      const r = await spec.tune(params as never, { valid: v, registry, seed, threads, log, progress: shown, score: (e) => scoreValid(e, v) });
      chosen = r.chosen;
      tuning = r.tuning.map((t) => ({ setting: t.setting, metric: round(t.metric) }));
    } else if (params.tune && spec.grid) {
      const v = validSplit();
      tuning = [];
      let best = -Infinity;
      for (const g of spec.grid(params as never, v.train)) {
        const setting = { ...params, ...g };
        const { model } = await fitEngine(v.train, pipelineConfig(name, setting, v.train), registry, { seed, threads, progress: shown.scope(`tuning ${JSON.stringify(g)}`) });
        const m = scoreValid(new Engine(model, { maxK: 100 }), v);
        tuning.push({ setting: g, metric: round(m) });
        log(`${name}: valid ndcg@10 ${m.toFixed(4)} with ${JSON.stringify(g)}`);
        if (m > best) (best = m), (chosen = setting);
      }
    }
    log(`${name}: fitting on ${train.interactions.length} interactions`);
    const { model, report } = await fitEngine(train, pipelineConfig(name, chosen, train), registry, { seed, threads, log: (l) => log(`${name}: ${l}`), progress: shown });
    const engine = new Engine(model, { maxK });
    const trainSeconds = (performance.now() - t0) / 1000;
    log(`${name}: fitted in ${trainSeconds.toFixed(2)} s; scoring`);
    const r = scoreEngine(engine, train, test, { ks, maxUsers: run.maxUsers, seed: run.seed, auc: run.auc, progress: shown });
    evalUsers = r.users;
    log(`${name}: scored ${r.users} users in ${r.seconds.toFixed(2)} s, ndcg@10 ${(r.metrics['ndcg@10'] ?? NaN).toFixed(4)}`);
    const tuned = tuning ? { chosen: Object.fromEntries(Object.entries(chosen).filter(([k]) => k !== 'tune')), tuning } : null;
    results.push({ pipeline: name, metrics: r.metrics, trainSeconds: round(trainSeconds), evalSeconds: round(r.seconds), users: r.users, fit: fitSummary(report, engine, tuned) });
    run.onFitted?.(name, engine);
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

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
