/**
 * Train orchestration: fit every configured stage on a training slice, evaluate the whole engine (the
 * same Recommender `serve` runs) on each user's held-out latest interactions, then refit on all the
 * data and write the model directory.
 */
import { randomBytes } from 'node:crypto';
import type { Dataset } from '../../data/index.ts';
import { parseSplit, splitDataset } from '../../data/index.ts';
import { dataFingerprint, tandemVersion, writeModelDir, type Model, type ModelManifest, type StageEntry } from './model-dir.ts';
import { Recommender } from './recommender.ts';
import { buildSegments } from './segments.ts';
import { DEFAULT_BUSINESS, type BusinessRules, type EngineSource, type Ranker, type StageRegistry } from './stages.ts';

export interface StageConfig {
  kind: string;
  /** Unique name (defaults to the kind). */
  name?: string;
  params?: Record<string, unknown>;
  /** Weight in reciprocal-rank fusion (default 1). */
  weight?: number;
}

export interface TrainOptions {
  dataset: Dataset;
  registry: StageRegistry;
  stages: StageConfig[];
  ranker?: { kind: string; params?: Record<string, unknown> } | null;
  business?: Partial<BusinessRules>;
  /** Share of each user's latest interactions held out for evaluation (0 skips evaluation). */
  holdout?: number;
  /** Evaluate on at most this many users (sampled evenly). */
  evalUsers?: number;
  /** Extra run parameters to record in the manifest (the data source, the command line). */
  parameters?: Record<string, unknown>;
  log?: (line: string) => void;
}

export interface TrainResult {
  manifest: ModelManifest;
  metrics: Record<string, number>;
  seconds: number;
}

function defaultBusiness(ds: Dataset, given: Partial<BusinessRules> | undefined): BusinessRules {
  const cat = ds.items.columns.find((c) => c.kind === 'multi-categorical' || c.kind === 'categorical');
  return { ...DEFAULT_BUSINESS, categoryFeature: cat?.name ?? null, ...(given ?? {}) };
}

function fitStages(train: Dataset, opts: TrainOptions, entries: StageEntry[]): Promise<EngineSource[]> {
  return Promise.all(
    entries.map(async (e) => {
      const src = opts.registry.sources.get(e.kind)!.create(e.params);
      await src.fit(train);
      return src;
    }),
  );
}

/**
 * Trains the engine and writes the model directory `out`.
 * @example await trainModel('models/m1', { dataset, registry, stages: [{ kind: 'ease' }], holdout: 0.2 })
 */
export async function trainModel(out: string, opts: TrainOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const ds = opts.dataset;
  const names = new Set<string>();
  const entries: StageEntry[] = opts.stages.map((s, i) => {
    const kind = opts.registry.sources.get(s.kind);
    if (!kind) throw new Error(`stages[${i}].kind: unknown source kind '${s.kind}' (known: ${[...opts.registry.sources.keys()].join(', ') || 'none'})`);
    const name = s.name ?? s.kind;
    if (names.has(name)) throw new Error(`stages[${i}].name: '${name}' is used twice`);
    if (names.size >= 255) throw new Error('at most 255 stages');
    names.add(name);
    const weight = s.weight ?? 1;
    if (!(weight >= 0)) throw new Error(`stages[${i}].weight: must be >= 0`);
    return { name, kind: s.kind, path: `stages/${name}`, weight, personalized: kind.personalized ?? true, params: { ...(s.params ?? {}) } };
  });
  const rankerKind = opts.ranker ? opts.registry.rankers.get(opts.ranker.kind) : undefined;
  if (opts.ranker && !rankerKind) throw new Error(`ranker.kind: unknown ranker '${opts.ranker.kind}' (known: ${[...opts.registry.rankers.keys()].join(', ') || 'none'})`);
  const business = defaultBusiness(ds, opts.business);
  const version = await tandemVersion();
  const createdAt = new Date().toISOString();
  const fingerprint = dataFingerprint(ds);
  const manifest = (): ModelManifest => ({
    format: 'tandem-model',
    formatVersion: 1,
    tandemVersion: version,
    modelVersion: `${createdAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${fingerprint.slice(0, 8)}-${randomBytes(3).toString('hex')}`,
    createdAt,
    schema: { user: ds.users.specs(), item: ds.items.specs(), eventTypes: ds.eventTypes.map((e) => ({ ...e })) },
    parameters: { holdout: opts.holdout ?? 0.2, stages: opts.stages, ranker: opts.ranker ?? null, ...(opts.parameters ?? {}) },
    metrics: {},
    data: { name: ds.name, fingerprint, users: ds.numUsers, items: ds.numItems, interactions: ds.interactions.length },
    stages: entries,
    ranker: opts.ranker ? { kind: opts.ranker.kind, path: 'ranker', params: opts.ranker.params ?? {} } : null,
    business,
    files: {},
  });
  const makeSources = (): EngineSource[] => entries.map((e) => opts.registry.sources.get(e.kind)!.create(e.params));
  const fitRanker = async (train: Dataset): Promise<Ranker | null> => (rankerKind ? rankerKind.fit(train, makeSources, opts.ranker!.params ?? {}) : null);

  let metrics: Record<string, number> = {};
  const holdout = opts.holdout ?? 0.2;
  if (holdout > 0) {
    if (!(holdout < 1)) throw new Error(`holdout must be in [0, 1), got ${holdout}`);
    // the data layer's per-user temporal split: the protocol `tandem evaluate` uses
    const { train, test } = splitDataset(ds, parseSplit(`user-temporal:${holdout}`));
    log(`evaluating: fitting ${entries.length} stage(s) on ${train.interactions.length} of ${ds.interactions.length} interactions`);
    const t1 = performance.now();
    const sources = await fitStages(train, opts, entries);
    const ranker = await fitRanker(train);
    const m: Model = { manifest: manifest(), dataset: train, segments: buildSegments(train), sources, ranker };
    metrics = evaluateRecommender(new Recommender(m, { maxK: 100 }), train, test, opts.evalUsers ?? 2000);
    metrics.evalFitSeconds = round3((performance.now() - t1) / 1000);
    log(`held-out metrics: ${Object.entries(metrics).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  log(`fitting ${entries.length} stage(s) on all ${ds.interactions.length} interactions`);
  const sources = await fitStages(ds, opts, entries);
  const ranker = await fitRanker(ds);
  const final = manifest();
  final.metrics = metrics;
  const training: Record<string, unknown> = {};
  entries.forEach((e, i) => {
    const h = sources[i].trainingHistory?.();
    if (h) training[e.name] = h;
  });
  if (Object.keys(training).length > 0) final.parameters.training = training;
  await writeModelDir(out, { manifest: final, dataset: ds, segments: buildSegments(ds), sources, ranker });
  const seconds = round3((performance.now() - t0) / 1000);
  log(`wrote ${out} (model ${final.modelVersion}) in ${seconds} s`);
  return { manifest: final, metrics, seconds };
}

/**
 * Scores a Recommender on held-out interactions: for each test user (at most `maxUsers`, spread
 * evenly), the top 100 items, excluding the user's training items, against the positive test items
 * not already in training. Returns recall@10, recall@100, ndcg@10 (binary relevance), hr@10, users.
 */
export function evaluateRecommender(rec: Recommender, train: Dataset, test: Dataset, maxUsers: number): Record<string, number> {
  const { offsets, rows } = test.byUser();
  const trainIdx = train.byUser();
  const users: number[] = [];
  for (let u = 0; u < test.numUsers; u++) if (offsets[u + 1] > offsets[u]) users.push(u);
  const step = Math.max(1, users.length / Math.max(1, maxUsers));
  let n = 0;
  let r10 = 0;
  let r100 = 0;
  let ndcg = 0;
  let hr = 0;
  const ids = train.users.ids.values;
  for (let f = 0; f < users.length; f += step) {
    const u = users[Math.floor(f)];
    const seen = new Set<number>();
    for (let j = trainIdx.offsets[u]; j < trainIdx.offsets[u + 1]; j++) seen.add(train.interactions.item[trainIdx.rows[j]]);
    const relevant = new Set<string>();
    for (let j = offsets[u]; j < offsets[u + 1]; j++) {
      const r = rows[j];
      const it = test.interactions.item[r];
      if (!test.eventTypes[test.interactions.event[r]].negative && !seen.has(it)) relevant.add(test.items.ids.values[it]);
    }
    if (relevant.size === 0) continue;
    const got = rec.recommendForUser(ids[u], { k: 100 }).items;
    let h10 = 0;
    let h100 = 0;
    let dcg = 0;
    got.forEach((g, i) => {
      if (!relevant.has(g.id)) return;
      h100++;
      if (i < 10) {
        h10++;
        dcg += 1 / Math.log2(i + 2);
      }
    });
    let idcg = 0;
    for (let i = 0; i < Math.min(10, relevant.size); i++) idcg += 1 / Math.log2(i + 2);
    r10 += h10 / relevant.size;
    r100 += h100 / relevant.size;
    ndcg += dcg / idcg;
    hr += h10 > 0 ? 1 : 0;
    n++;
  }
  const avg = (x: number): number => round3(n ? x / n : 0, 4);
  return { 'recall@10': avg(r10), 'recall@100': avg(r100), 'ndcg@10': avg(ndcg), 'hr@10': avg(hr), evalUsers: n };
}

function round3(x: number, digits = 3): number {
  const p = 10 ** digits;
  return Math.round(x * p) / p;
}
