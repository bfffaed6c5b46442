/**
 * Fitting the engine: every stage on the training data and, when configured, the L2 ranker on
 * leakage-free rows. The rows come from the engine's own request path: L1 (every stage) is fitted on
 * the earlier part of each user's history, an Engine over that data answers each labelled user's
 * request exactly as serving would (history -> query -> sources -> merge), the ranker features of those
 * candidates are extracted by the call serving makes, and the later part labels them.
 */
import { randomBytes } from 'node:crypto';
import { concatSets, assembleRankerData, Ranker, RankerFeatures, labelWindowStarts, splitGroups, splitGroupsByTime, splitUserTime, type AssembleReport, type RankerModel, type RankerTrainingSet } from '../../ranking/index.ts';
import { ItemCatalog } from '../../features/index.ts';
import { parseSplit, splitDataset, type Dataset } from '../../data/index.ts';
import { NO_PROGRESS, type Progress } from '../../math/index.ts';
import type { CandidateSource, FitContext, StageContext } from '../../retrieval/index.ts';
import { checkEngineConfig, rankerSpace, type EngineConfig, type EngineConfigInput, type StageRegistry } from './config.ts';
import { Engine, type Model } from './engine.ts';
import { dataFingerprint, MODEL_FORMAT, MODEL_FORMAT_VERSION, tandemVersion, type ModelManifest } from './model-dir.ts';

/** Run settings of a fit (apart from the configuration). */
export interface RunSettings {
  seed?: number;
  threads?: number;
  log?: (line: string) => void;
  /** Where every long step reports (stages by name, `ranker rows`, `ranker`); default none. */
  progress?: Progress;
  /** Extra run parameters recorded in the manifest (the data source, the command line). */
  parameters?: Record<string, unknown>;
}

/** What fitting saw and chose. */
export interface FitReport {
  seconds: { total: number; rankerRows: number; rankerModel: number; stages: number };
  /** The ranker's training data: L1 recall of the label items at the candidate count, rows, positives. */
  ranker: (AssembleReport & { trainRows: number; validRows: number; summary: Record<string, unknown> }) | null;
}

/** The rule that cuts a validation split from data a stage is fitted on (the benchmark's train-inner/valid rule). */
export const VALID_SPLIT = 'user-temporal:0.2';

function runOf(r: RunSettings): Required<Omit<RunSettings, 'parameters'>> {
  return { seed: r.seed ?? 1, threads: r.threads ?? 1, log: r.log ?? (() => {}), progress: r.progress ?? NO_PROGRESS };
}

/**
 * Fits the stages of `config` on `ds` in order (a view's base before it); each gets the run settings
 * and a lazily made validation split of `ds`.
 */
export async function fitStages(ds: Dataset, config: EngineConfig, registry: StageRegistry, catalog: ItemCatalog, settings: RunSettings = {}): Promise<CandidateSource[]> {
  const run = runOf(settings);
  let valid: { train: Dataset; test: Dataset } | undefined;
  const fitCtx: FitContext = {
    ...run,
    valid: () => (valid ??= splitDataset(ds, parseSplit(VALID_SPLIT))),
  };
  const byName = new Map<string, CandidateSource>();
  const out: CandidateSource[] = [];
  for (const c of [...config.sources, ...config.fallbacks]) {
    const kind = registry.sources.get(c.kind)!;
    const ctx: StageContext = {
      dataset: ds,
      catalog,
      name: c.name!,
      stage: (name) => {
        const s = byName.get(name);
        if (!s) throw new Error(`stage '${c.name}' needs stage '${name}' before it`);
        return s;
      },
      ...run,
    };
    const t0 = performance.now();
    const src = kind.create(c.params, ctx);
    // the stage's own task shows its time; the source's tasks nest under its name
    const task = run.progress.start(c.name!, 0);
    await Promise.resolve(src.fit(ds, { ...fitCtx, progress: run.progress.scope(c.name!) })).finally(() => task.finish());
    run.log(`${c.name}: fitted on ${ds.interactions.length} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    byName.set(c.name!, src);
    out.push(src);
  }
  return out;
}

/** A manifest for `config` fitted on `ds` (files and metrics filled in later). */
async function draftManifest(ds: Dataset, config: EngineConfig, registry: StageRegistry, parameters: Record<string, unknown>): Promise<ModelManifest> {
  const createdAt = new Date().toISOString();
  const fingerprint = dataFingerprint(ds);
  return {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    tandemVersion: await tandemVersion(),
    modelVersion: `${createdAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${fingerprint.slice(0, 8)}-${randomBytes(3).toString('hex')}`,
    createdAt,
    schema: { user: ds.users.specs(), item: ds.items.specs(), eventTypes: ds.eventTypes.map((e) => ({ ...e })) },
    config,
    stages: [...config.sources, ...config.fallbacks].map((s) => ({ name: s.name!, kind: s.kind, path: `stages/${s.name}`, personalized: registry.sources.get(s.kind)!.personalized })),
    ranker: null,
    parameters,
    metrics: {},
    data: { name: ds.name, fingerprint, users: ds.numUsers, items: ds.numItems, interactions: ds.interactions.length },
    files: {},
  };
}

/** An engine without its ranker, fitted on `ds` (the L1 the ranker's rows come from). */
async function fitL1(ds: Dataset, config: EngineConfig, registry: StageRegistry, settings: RunSettings): Promise<Model> {
  const l1 = { ...config, ranker: null };
  const catalog = new ItemCatalog(ds.items);
  const stages = await fitStages(ds, l1, registry, catalog, settings);
  return { manifest: await draftManifest(ds, l1, registry, {}), dataset: ds, catalog, stages, ranker: null };
}

/** The ranker's training rows and what made them. */
export interface RankerRows {
  train: RankerTrainingSet;
  valid: RankerTrainingSet;
  report: AssembleReport;
  /** The L1 engine of the label window closest to serving (window 0) and its ranker features: the parity test rebuilds requests with it. */
  early: { model: Model; features: RankerFeatures };
}

/**
 * The negatives per positive that keep the rows within `maxRows`: estimated from a sample of up to 100
 * labelled users' requests (their candidate count and how many of their label items L1 found); the
 * configured value when it fits (0 = every candidate).
 */
function negativesWithin(engine: Engine, later: Dataset, maxRows: number, configured: number, seed: number): number {
  const { offsets, rows } = later.byUser();
  const neg = later.eventTypes.map((e) => e.negative);
  const users: number[] = [];
  for (let u = 0; u < later.numUsers; u++) {
    for (let k = offsets[u]; k < offsets[u + 1]; k++) if (!neg[later.interactions.event[rows[k]]]) {
      users.push(u);
      break;
    }
  }
  if (users.length === 0) return configured;
  const probe = Math.min(100, users.length);
  let candidates = 0;
  let positives = 0;
  for (let i = 0; i < probe; i++) {
    const u = users[Math.floor(((i + 0.5) * users.length) / probe + seed) % users.length];
    const { block } = engine.candidatesFor(u);
    const label = new Set<number>();
    for (let k = offsets[u]; k < offsets[u + 1]; k++) if (!neg[later.interactions.event[rows[k]]]) label.add(later.interactions.item[rows[k]]);
    candidates += block.count;
    for (let c = 0; c < block.count; c++) if (label.has(block.items[c])) positives++;
  }
  const c = candidates / probe;
  const p = Math.max(positives / probe, 0.5);
  const rowsPerUser = (n: number) => (n === 0 ? c : Math.min(c, p * (1 + n)));
  if (users.length * rowsPerUser(configured) <= maxRows) return configured;
  return Math.max(1, Math.floor((maxRows / users.length - p) / p));
}

/**
 * The ranker's training and validation rows of `config` on `train`, leakage-free (see the module comment).
 * `tandem train`, `tandem evaluate` and `tandem export-ranker-data` all build them here.
 */
export async function rankerTrainingRows(train: Dataset, given: EngineConfigInput, registry: StageRegistry, settings: RunSettings = {}): Promise<RankerRows> {
  const config = checkEngineConfig(given, registry);
  const rc = config.ranker;
  if (!rc) throw new Error('rankerTrainingRows: the configuration has no ranker');
  const run = runOf(settings);
  const t = rc.training;
  const sets: RankerTrainingSet[] = [];
  const starts: Float64Array[] = [];
  if (t.validBy === 'time' && train.timeKind !== 'seconds') throw new Error(`ranker.training.validBy 'time': this data's timestamps are positions within each user, with no clock shared across users; use validBy 'users'`);
  let report: AssembleReport | undefined;
  let early: RankerRows['early'] | undefined;
  let base = train;
  for (let w = 0; w < t.labelWindows; w++) {
    const { earlier, later } = splitUserTime(base, t.labelFraction);
    run.log(`ranker rows${t.labelWindows > 1 ? ` (window ${w + 1}/${t.labelWindows})` : ''}: L1 fitted on the earlier ${Math.round((1 - t.labelFraction) * 100)}% of each user's events (${earlier.interactions.length}), labelled by the later ${later.interactions.length}`);
    const progress = run.progress.scope(t.labelWindows > 1 ? `ranker rows (window ${w + 1}/${t.labelWindows})` : 'ranker rows');
    const model = await fitL1(earlier, config, registry, { ...settings, progress });
    const engine = new Engine(model);
    const featureTask = progress.start('ranker features', 0);
    const features = RankerFeatures.fit(earlier, engine.sourceNames, rc.features, rankerSpace(config, model.stages));
    featureTask.finish();
    if (w === 0 && !features.timed) run.log("ranker rows: this data's time is an order (positions within each user), so the day-based ranker features are off");
    const negatives = negativesWithin(engine, later, t.maxRows, t.negativesPerPositive, run.seed + w);
    if (negatives !== t.negativesPerPositive) run.log(`ranker rows: every candidate would make more than ${t.maxRows} rows; ${negatives} negatives kept per positive`);
    const got = assembleRankerData({
      progress,
      features,
      labels: later,
      requestOf: (u) => engine.candidatesFor(u),
      negativesPerPositive: negatives,
      keepGroupsWithoutPositive: false,
      seed: run.seed + w,
    });
    sets.push(got.set);
    if (t.validBy === 'time') starts.push(labelWindowStarts(later, got.set.groupUsers));
    if (w === 0) {
      report = got.report;
      early = { model, features };
    }
    base = earlier;
  }
  const all = concatSets(sets);
  const { train: tr, valid } = t.validBy === 'time' ? splitGroupsByTime(all, concatTimes(starts), t.validFraction) : splitGroups(all, t.validFraction, run.seed + 1);
  const r = report!;
  run.log(`ranker rows: L1 found ${r.labelItemsFound}/${r.labelItems} label items (recall ${r.recall.toFixed(4)} at ${config.candidates} per source); ${all.nRows} rows, ${r.positives} positives; ${tr.nRows} train, ${valid.nRows} valid`);
  if (tr.nRows === 0) throw new Error('ranker: no training rows (no user has a later event among the L1 candidates); train without a ranker (--ranker none) or with more data');
  return { train: tr, valid, report: r, early: early! };
}

/** Float64Arrays end to end. */
function concatTimes(parts: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Trains the configured ranker model on the rows (early stopping on their validation users; again on
 * every row when `ranker.training.refit`). Returns the model and what training chose.
 */
export async function trainRankerModel(rows: Pick<RankerRows, 'train' | 'valid'>, config: EngineConfig, registry: StageRegistry, settings: RunSettings = {}): Promise<{ model: RankerModel; summary: Record<string, unknown> }> {
  const rc = config.ranker;
  if (!rc) throw new Error('trainRankerModel: the configuration has no ranker');
  const run = runOf(settings);
  const kind = registry.rankers.get(rc.kind)!;
  let model = await kind.train({ train: rows.train, valid: rows.valid.nRows > 0 ? rows.valid : null }, rc.params, { ...run, progress: run.progress.scope('ranker') });
  let summary = model.summary();
  const again = rc.training.refit && rows.valid.nRows > 0 ? kind.refitParams?.(rc.params, summary) : null;
  if (again) {
    run.log(`ranker: trained again on all ${rows.train.nRows + rows.valid.nRows} rows for the amount early stopping chose`);
    model = await kind.train({ train: concatSets([rows.train, rows.valid]), valid: null }, again, { ...run, progress: run.progress.scope('ranker refit') });
    // the validation figures are the first fit's: the refit has none
    summary = { ...model.summary(), refit: true, validMetric: summary.validMetric ?? null, bestIteration: summary.bestIteration ?? null };
  }
  return { model, summary };
}

/**
 * A model in memory from fitted parts: stages fitted on `train` (in the configuration's order, over
 * `catalog`), and the ranker model trained on rows from an earlier window of `train` (its features are
 * fitted on all of `train`, as serving reads them).
 */
export async function assembleModel(train: Dataset, config: EngineConfig, registry: StageRegistry, catalog: ItemCatalog, stages: CandidateSource[], ranked: { model: RankerModel; summary: Record<string, unknown> } | null, parameters: Record<string, unknown> = {}, progress: Progress = NO_PROGRESS): Promise<Model> {
  const manifest = await draftManifest(train, config, registry, parameters);
  let ranker: Ranker | null = null;
  if (config.ranker && ranked) {
    const featureTask = progress.start('ranker features', 0);
    const features = RankerFeatures.fit(train, config.sources.map((s) => s.name!), config.ranker.features, rankerSpace(config, stages));
    featureTask.finish();
    ranker = new Ranker(features, ranked.model, config.ranker.explainTop);
    manifest.ranker = { kind: config.ranker.kind, path: 'ranker', features: [...features.names], summary: ranked.summary };
  }
  const training: Record<string, unknown> = {};
  [...config.sources, ...config.fallbacks].forEach((s, i) => {
    const h = stages[i].trainingHistory?.();
    if (h) training[s.name!] = h;
  });
  if (Object.keys(training).length > 0) manifest.parameters.training = training;
  return { manifest, dataset: train, catalog, stages, ranker };
}

/**
 * Fits the engine of `config` on `train`: the ranker on leakage-free rows (when configured), then every
 * stage on all of `train`. Returns the model in memory (write it with `writeModelDir`, serve it with `new Engine`).
 * @example const { model } = await fitEngine(train, { sources: [{ kind: 'ease' }] }, builtinRegistry()); new Engine(model).recommend({ user: '42' })
 */
export async function fitEngine(train: Dataset, given: EngineConfigInput, registry: StageRegistry, settings: RunSettings = {}): Promise<{ model: Model; report: FitReport }> {
  const t0 = performance.now();
  const config = checkEngineConfig(given, registry);
  const run = runOf(settings);
  let ranked: { model: RankerModel; summary: Record<string, unknown> } | null = null;
  let rankerReport: FitReport['ranker'] = null;
  let tRows = 0;
  let tModel = 0;
  if (config.ranker) {
    const rows = await rankerTrainingRows(train, config, registry, settings);
    tRows = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    ranked = await trainRankerModel(rows, config, registry, settings);
    tModel = (performance.now() - t1) / 1000;
    rankerReport = { ...rows.report, trainRows: rows.train.nRows, validRows: rows.valid.nRows, summary: ranked.summary };
  }
  const t2 = performance.now();
  const catalog = new ItemCatalog(train.items);
  const stages = await fitStages(train, config, registry, catalog, settings);
  const tStages = (performance.now() - t2) / 1000;
  const model = await assembleModel(train, config, registry, catalog, stages, ranked, { seed: run.seed, threads: run.threads, ...(settings.parameters ?? {}) }, run.progress);
  if (rankerReport) model.manifest.parameters.rankerTraining = { ...rankerReport };
  const seconds = { total: (performance.now() - t0) / 1000, rankerRows: tRows, rankerModel: tModel, stages: tStages };
  return { model, report: { seconds, ranker: rankerReport } };
}
