/**
 * `tandem train`: fit the engine on a held-in part and score it on each user's latest interactions (the
 * same request path `serve` runs), then fit it on all the data and write the model directory.
 */
import { parseSplit, splitDataset, type Dataset } from '../../data/index.ts';
import type { EngineConfigInput, StageRegistry } from './config.ts';
import { Engine } from './engine.ts';
import { fitEngine, type FitReport, type RunSettings } from './fit.ts';
import { writeModelDir, type ModelManifest } from './model-dir.ts';
import { builtinRegistry } from './registry.ts';
import { scoreEngine } from './score.ts';

export interface TrainOptions extends RunSettings {
  dataset: Dataset;
  config: EngineConfigInput;
  registry?: StageRegistry;
  /** Share of each user's latest interactions held out for evaluation (0 skips evaluation). */
  holdout?: number;
  /** Evaluate on at most this many users (a seeded sample). */
  evalUsers?: number;
  /** Figures measured elsewhere for this configuration (the demo's table), recorded when holdout is 0. */
  metrics?: Record<string, number>;
}

export interface TrainResult {
  manifest: ModelManifest;
  metrics: Record<string, number>;
  report: FitReport;
  seconds: number;
}

/**
 * Trains the engine and writes the model directory `out`.
 * @example await trainModel('models/m1', { dataset, config: defaultEngineConfig(), holdout: 0.2 })
 */
export async function trainModel(out: string, opts: TrainOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const registry = opts.registry ?? builtinRegistry();
  const ds = opts.dataset;
  if (ds.interactions.length === 0) throw new Error(`${ds.name}: no interactions to train on; no model written`);
  let metrics: Record<string, number> = { ...(opts.metrics ?? {}) };
  const holdout = opts.holdout ?? 0.2;
  if (holdout > 0) {
    if (!(holdout < 1)) throw new Error(`holdout must be in [0, 1), got ${holdout}`);
    // the data layer's per-user temporal split: the protocol `tandem evaluate` uses
    const { train, test } = splitDataset(ds, parseSplit(`user-temporal:${holdout}`));
    log(`held-out evaluation: fitting on ${train.interactions.length} of ${ds.interactions.length} interactions`);
    const t1 = performance.now();
    const progress = opts.progress?.scope('held-out');
    const { model } = await fitEngine(train, opts.config, registry, { ...opts, log: (l) => log(`  ${l}`), progress });
    const r = scoreEngine(new Engine(model), train, test, { ks: [10, 100], maxUsers: opts.evalUsers ?? 2000, seed: opts.seed, progress });
    metrics = { ...Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, Math.round(v * 10000) / 10000])), evalUsers: r.users };
    metrics.evalFitSeconds = Math.round((performance.now() - t1) / 100) / 10;
    log(`held-out metrics: ${Object.entries(metrics).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  log(`fitting on all ${ds.interactions.length} interactions`);
  const { model, report } = await fitEngine(ds, opts.config, registry, { ...opts, progress: opts.progress?.scope('all data') });
  model.manifest.metrics = metrics;
  await writeModelDir(out, model);
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  log(`wrote ${out} (model ${model.manifest.modelVersion}) in ${seconds} s`);
  return { manifest: model.manifest, metrics, report, seconds };
}
