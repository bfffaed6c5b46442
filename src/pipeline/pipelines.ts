/**
 * The named pipelines `tandem evaluate` and `tandem demo` run. A pipeline is an engine configuration
 * (sources, an optional ranker, business rules) made from a few declared parameters: it is fitted by
 * `fitEngine` and scored through the engine's own request path, so a pipeline's figures are what the
 * same configuration serves. `two-stage` is `tandem train`'s default engine.
 */
import type { Dataset } from '../data/index.ts';
import { ItemCatalog } from '../features/index.ts';
import { NO_PROGRESS, type Progress } from '../math/index.ts';
import { ITEMKNN_PARAMS, POPULARITY_PARAMS, TWO_TOWER_PARAMS } from '../retrieval/index.ts';
import { check, ParamError, schema, type Infer, type Schema } from '../schema/index.ts';
import { assembleModel, checkEngineConfig, Engine, fitEngine, fitStages, rankerTrainingRows, trainRankerModel, type EngineConfigInput, type StageRegistry } from './engine/index.ts';

/** What a pipeline's own tuning gets: the validation pair, and how to score an engine on it. */
export interface TuneContext {
  valid: { train: Dataset; test: Dataset };
  registry: StageRegistry;
  seed: number;
  threads: number;
  log(line: string): void;
  /** Where the tuning fits report (default none). */
  progress?: Progress;
  /** The validation metric (ndcg@10 on valid.test) of an engine fitted on valid.train. */
  score(engine: Engine): number;
}

/** A registered pipeline kind: its parameters and the engine configuration they make. */
export interface PipelineSpec<S extends Schema = Schema> {
  name: string;
  description: string;
  params: S;
  /** The engine configuration of checked parameters `p` for training data `train` (its shape may inform defaults). */
  config(p: Infer<S>, train: Dataset): EngineConfigInput;
  /** Settings `--tune` scores on the validation split (each merged over `p`); the best is refitted on train. */
  grid?(p: Infer<S>, train: Dataset): Record<string, unknown>[];
  /** Or a pipeline's own tuning on the validation split (cheaper than a grid of whole fits); returns the chosen parameters. */
  tune?(p: Infer<S>, ctx: TuneContext): Promise<{ chosen: Record<string, unknown>; tuning: { setting: Record<string, unknown>; metric: number }[] }>;
}

const registry = new Map<string, PipelineSpec>();

/**
 * Adds a pipeline kind.
 * @example registerPipeline({ name: 'my-ease', description: '...', params: {}, config: () => ({ sources: [{ kind: 'ease', params: { lambda: 100 } }] }) })
 */
export function registerPipeline<const S extends Schema>(spec: PipelineSpec<S>): void {
  if (!/^[a-z][a-z0-9-]*$/.test(spec.name)) throw new Error(`pipeline name '${spec.name}' must be lower-case letters, digits and dashes`);
  if (registry.has(spec.name)) throw new Error(`pipeline '${spec.name}' is already registered`);
  registry.set(spec.name, spec as unknown as PipelineSpec);
}

/** Every registered pipeline kind, in registration order. */
export function listPipelines(): PipelineSpec[] {
  return [...registry.values()];
}

/** The spec of `name`, or an error listing the known names. */
export function pipelineSpec(name: string): PipelineSpec {
  const s = registry.get(name);
  if (!s) throw new Error(`unknown pipeline '${name}' (known: ${[...registry.keys()].join(', ') || 'none'})`);
  return s;
}

/**
 * Checks `given` against the pipeline's schema (text from the command line is converted) and fills in
 * defaults. Errors name the pipeline and the parameter.
 * @example resolvePipelineParams('itemknn', { neighbours: '50' }).neighbours // 50
 */
export function resolvePipelineParams(name: string, given: Record<string, unknown> = {}): Record<string, unknown> {
  const spec = pipelineSpec(name);
  try {
    return check(spec.params, given, { coerce: true });
  } catch (err) {
    if (err instanceof ParamError) throw new ParamError(err.problems.map((p) => ({ path: p.path, message: `pipeline '${name}' parameter ${p.message}` })));
    throw err;
  }
}

/** The engine configuration of pipeline `name` with parameters `given` on `train`. */
export function pipelineConfig(name: string, given: Record<string, unknown>, train: Dataset): EngineConfigInput {
  const spec = pipelineSpec(name);
  return spec.config(resolvePipelineParams(name, given) as never, train);
}

const tune = { type: 'boolean', default: false, description: 'pick the setting on the validation split from a small grid' } as const;

// ---------------------------------------------------------------- single sources

registerPipeline({
  name: 'popularity',
  description: 'the most popular items (event-weighted counts, optional time decay), the same for everyone',
  params: schema({ ...POPULARITY_PARAMS, tune }),
  config: (p) => ({ sources: [{ kind: 'popularity', params: { halfLifeDays: p.halfLifeDays } }], fallbacks: [] }),
  grid: () => [0, 3, 7, 14, 30, 90, 365].map((h) => ({ halfLifeDays: h })),
});

registerPipeline({
  name: 'itemknn',
  description: 'item-to-item cosine over co-occurrence, top neighbours per item, scored on the user history',
  params: schema({ ...ITEMKNN_PARAMS, tune }),
  config: (p) => ({ sources: [{ kind: 'itemknn', params: { neighbours: p.neighbours, shrink: p.shrink, value: p.value, historyHalfLife: p.historyHalfLife } }], fallbacks: [] }),
  grid: () => [50, 100, 200, 400, 800].flatMap((k) => [0, 20].map((h) => ({ neighbours: k, historyHalfLife: h }))),
});

const EASE_PIPELINE_PARAMS = schema({
  lambda: { type: 'number', min: 0, exclusiveMin: true, default: 500, description: 'EASE ridge strength' },
  halfLife: { type: 'number', min: 0, default: 0, description: 'history recency when scoring (events; 0: off)' },
  maxItems: { type: 'number', integer: true, min: 1, default: 3000, description: 'most popular items EASE keeps (dense weights: items^2, fit O(items^3))' },
  tune,
});

registerPipeline({
  name: 'ease',
  description: 'EASE item-to-item weights (Steck 2019), dense, on the most popular items',
  params: EASE_PIPELINE_PARAMS,
  config: (p) => ({ sources: [{ kind: 'ease', params: { lambda: p.lambda, halfLife: p.halfLife, maxItems: p.maxItems } }], fallbacks: [] }),
  grid: () => [50, 100, 250, 500, 1000, 2000].flatMap((l) => [0, 10].map((h) => ({ lambda: l, halfLife: h }))),
});

const TWO_TOWER_PIPELINE_PARAMS = schema({
  ...TWO_TOWER_PARAMS,
  validate: { type: 'boolean', default: true, description: "pick the epoch count (at most `epochs`) on the last 20% of each user's training events, then refit on all" },
  threads: { type: 'number', integer: true, min: 1, nullable: true, default: 1, description: 'training threads (1: reproducible; null: the run setting)' },
});

registerPipeline({
  name: 'two-tower',
  description: 'two-tower retrieval (features + history bag, in-batch softmax with log-Q) over the item index',
  params: TWO_TOWER_PIPELINE_PARAMS,
  config: (p) => ({ sources: [{ kind: 'two-tower', params: p }], fallbacks: [] }),
});

// ---------------------------------------------------------------- the two-stage engine

/** The two-stage pipeline's parameters: the main knobs of `tandem train`'s default engine. */
export const TWO_STAGE_PARAMS = schema({
  candidates: { type: 'number', integer: true, min: 1, default: 200, description: 'the L1 -> L2 candidate count: candidates each source contributes' },
  easeLambda: { type: 'number', min: 0, exclusiveMin: true, default: 500, description: 'EASE ridge strength' },
  easeRecent: { type: 'list', of: 'number', min: 0, exclusiveMin: true, default: [10], description: 'half-lives (events) of recency-weighted EASE views, more sources over the same weights; empty for none' },
  sources: { type: 'list', of: 'string', values: ['two-tower', 'itemknn', 'itemknn-recent', 'popularity'], default: ['two-tower'], description: 'more L1 sources beside EASE' },
  labelFraction: { type: 'number', min: 0.01, max: 0.99, default: 0.2, description: "last share of each user's training events that labels the ranker's rows" },
  labelWindows: { type: 'number', integer: true, min: 1, max: 5, default: 1, description: 'label windows stacked for more ranker rows' },
  validBy: { type: 'string', values: ['users', 'time'], default: 'users', description: "the ranker's early-stopping rows: held-out users, or the groups whose label window starts latest (a time-later slice)" },
  negatives: { type: 'number', integer: true, min: 0, default: 0, description: 'negatives kept per positive (0: every candidate)' },
  objective: { type: 'string', values: ['binary', 'lambdarank'], default: 'binary', description: 'ranker loss' },
  numLeaves: { type: 'number', integer: true, min: 2, default: 31, description: 'GBDT leaves per tree' },
  learningRate: { type: 'number', min: 1e-4, max: 1, default: 0.03, description: 'GBDT shrinkage' },
  numRounds: { type: 'number', integer: true, min: 1, default: 600, description: 'GBDT rounds at most (early stopping on held-out users)' },
  minDataInLeaf: { type: 'number', integer: true, min: 1, default: 50, description: 'GBDT minimum rows per leaf' },
  bags: { type: 'number', integer: true, min: 1, max: 20, default: 1, description: 'GBDTs with different seeds whose margins are averaged' },
  maxHistory: { type: 'number', integer: true, min: 1, default: 500, description: "the sources see at most this many of the user's latest events" },
  stopMetric: { type: 'string', values: ['logloss', 'ndcg', 'auc'], default: 'logloss', description: "the validation metric the GBDT's early stopping watches" },
  validFraction: { type: 'number', min: 0, max: 0.9, default: 0.15, description: "share of the labelled users held out for the GBDT's early stopping" },
  refit: { type: 'boolean', default: false, description: 'train the GBDT again on every row for the rounds early stopping chose' },
  twoTowerEpochs: { type: 'number', integer: true, min: 1, default: 10, description: "the two-tower's epochs (at most, when twoTowerValidate)" },
  twoTowers: { type: 'number', integer: true, min: 1, max: 5, default: 1, description: 'independently seeded two-tower sources (with two-tower among the sources): their candidates merge and the ranker sees each score (ML-100K, 2: recall@100 +0.007, ndcg@10 unchanged over 3 seeds; twice the two-tower fits)' },
  contentRecent: { type: 'number', integer: true, min: 0, max: 256, default: 10, description: "m > 0: the ranker reads each vector item column (a content embedding) as the candidate's cosine with the mean of the user's last m items' vectors and its largest cosine with one of them (x_<column>_cos, x_<column>_max); 0: off" },
  twoTowerValidate: { type: 'boolean', default: false, description: "pick the two-tower's epoch count on a validation slice of its training data (then refit); off: twoTowerEpochs epochs (valid ndcg@10 0.2807 against 0.2795 on ML-100K, and half the two-tower fits)" },
  tune,
});

export type TwoStageParams = Infer<typeof TWO_STAGE_PARAMS>;

/**
 * The engine configuration of the two-stage pipeline: EASE (+ its recency views) and the extra sources
 * give candidates, the GBDT ranks them, feature segments, content and popularity fill short lists.
 * `tandem train` fits exactly this by default.
 * @example checkEngineConfig(twoStageConfig(check(TWO_STAGE_PARAMS, {})), builtinRegistry())
 */
export function twoStageConfig(p: TwoStageParams): EngineConfigInput {
  const sources: Record<string, unknown>[] = [{ kind: 'ease', params: { lambda: p.easeLambda } }];
  for (const h of p.easeRecent) sources.push({ name: `ease-h${h}`, kind: 'ease', params: { base: 'ease', halfLife: h } });
  for (const s of p.sources) {
    if (s === 'two-tower') {
      for (let t = 0; t < p.twoTowers; t++) {
        sources.push({ ...(t ? { name: `two-tower-${t + 1}` } : {}), kind: 'two-tower', params: { epochs: p.twoTowerEpochs, validate: p.twoTowerValidate, ...(t ? { seedOffset: t } : {}) } });
      }
    }
    else if (s === 'itemknn') sources.push({ kind: 'itemknn' });
    else if (s === 'itemknn-recent') sources.push({ name: 'itemknn-recent', kind: 'itemknn', params: { historyHalfLife: 10 } });
    else if (s === 'popularity') sources.push({ name: 'popularity-30d', kind: 'popularity', params: { halfLifeDays: 30 } });
  }
  return {
    sources,
    fallbacks: [{ kind: 'segments' }, { kind: 'content' }, { kind: 'popularity' }],
    candidates: p.candidates,
    maxHistory: p.maxHistory,
    ranker: {
      kind: 'gbdt',
      params: { objective: p.objective, numLeaves: p.numLeaves, learningRate: p.learningRate, numRounds: p.numRounds, minDataInLeaf: p.minDataInLeaf, bags: p.bags, metric: p.stopMetric },
      features: { contentRecent: p.contentRecent },
      training: { labelFraction: p.labelFraction, labelWindows: p.labelWindows, negativesPerPositive: p.negatives, validFraction: p.validFraction, validBy: p.validBy, refit: p.refit },
    },
  };
}

/**
 * The two-stage's `--tune`, on the validation split only, in two cheap steps: EASE's ridge strength on
 * EASE alone (a fit is seconds), then the GBDT's leaves and learning rate on ranker rows and L1 stages
 * built once (only the GBDT is fitted per setting).
 */
async function tuneTwoStage(p: TwoStageParams, ctx: TuneContext): Promise<{ chosen: Record<string, unknown>; tuning: { setting: Record<string, unknown>; metric: number }[] }> {
  const { valid, registry } = ctx;
  const progress = (ctx.progress ?? NO_PROGRESS).scope('tuning');
  const run = { seed: ctx.seed, threads: ctx.threads, log: () => {}, progress };
  const tuning: { setting: Record<string, unknown>; metric: number }[] = [];
  const chosen: Record<string, unknown> = { ...p };
  let best = -Infinity;
  for (const lambda of [125, 250, 500, 1000, 2000]) {
    const { model } = await fitEngine(valid.train, { sources: [{ kind: 'ease', params: { lambda } }], fallbacks: [] }, registry, { ...run, progress: progress.scope(`EASE lambda ${lambda}`) });
    const m = ctx.score(new Engine(model));
    tuning.push({ setting: { easeLambda: lambda, alone: true }, metric: m });
    ctx.log(`two-stage: valid ndcg@10 ${m.toFixed(4)} with EASE alone at lambda ${lambda}`);
    if (m > best) (best = m), (chosen.easeLambda = lambda);
  }
  const config = checkEngineConfig(twoStageConfig(chosen as TwoStageParams), registry);
  const rows = await rankerTrainingRows(valid.train, config, registry, run);
  const catalog = new ItemCatalog(valid.train.items);
  const stages = await fitStages(valid.train, config, registry, catalog, run);
  best = -Infinity;
  for (const numLeaves of [15, 31, 63]) {
    for (const learningRate of [0.03, 0.1]) {
      const c = checkEngineConfig({ ...config, ranker: { ...config.ranker, params: { ...config.ranker!.params, numLeaves, learningRate } } }, registry);
      const ranked = await trainRankerModel(rows, c, registry, { ...run, progress: progress.scope(`${numLeaves} leaves, learning rate ${learningRate}`) });
      const m = ctx.score(new Engine(await assembleModel(valid.train, c, registry, catalog, stages, ranked)));
      tuning.push({ setting: { numLeaves, learningRate }, metric: m });
      ctx.log(`two-stage: valid ndcg@10 ${m.toFixed(4)} with ${numLeaves} leaves, learning rate ${learningRate}`);
      if (m > best) {
        best = m;
        chosen.numLeaves = numLeaves;
        chosen.learningRate = learningRate;
      }
    }
  }
  return { chosen, tuning };
}

registerPipeline({
  name: 'two-stage',
  description: 'EASE (+ recency views, + extra sources) candidates re-ranked by a GBDT on ranker features, then business rules: the default engine',
  params: TWO_STAGE_PARAMS,
  config: (p) => twoStageConfig(p),
  tune: (p, ctx) => tuneTwoStage(p, ctx),
});

/** `tandem train`'s default engine configuration (the two-stage pipeline's defaults). */
export function defaultEngineConfig(): EngineConfigInput {
  return twoStageConfig(check(TWO_STAGE_PARAMS, {}));
}

/** How a command line names an engine configuration (`tandem train`, `export-ranker-data`). */
export interface EngineFlags {
  /** A JSON engine configuration (checked against the engine schema); excludes `pipeline`/`param`. */
  engine?: Record<string, unknown>;
  /** A named pipeline whose configuration to use (default two-stage). */
  pipeline?: string;
  /** Its parameters, `KEY=VALUE`. */
  params?: Record<string, unknown>;
  /** Source kinds to use instead of the pipeline's (each with its defaults). */
  stages?: readonly string[];
  /** 'none' drops the ranker; a kind name sets it. */
  ranker?: string;
  /** Overrides the L1 -> L2 candidate count. */
  candidates?: number;
}

/**
 * The engine configuration a command line names: `--engine FILE`, else the pipeline's configuration
 * (two-stage by default), then the overrides (`--stages`, `--ranker`, `--candidates`).
 * @example engineConfigFromFlags({ ranker: 'none' }, train) // two-stage's sources, no ranker
 */
export function engineConfigFromFlags(f: EngineFlags, train: Dataset): EngineConfigInput {
  if (f.engine && (f.pipeline || (f.params && Object.keys(f.params).length))) throw new ParamError([{ path: 'engine', message: 'give an engine file or a pipeline with parameters, not both' }]);
  // `--ranker dcn` / `--ranker blend` with the two-stage pipeline: the two-stage pipeline made for that
  // ranker (its settings chosen on valid, e.g. the blend's id columns and weight), not the kind's bare defaults
  let pipeline = f.pipeline ?? 'two-stage';
  if (!f.engine && pipeline === 'two-stage' && f.ranker && registry.has(`two-stage-${f.ranker}`)) pipeline = `two-stage-${f.ranker}`;
  const c = { ...((f.engine ?? pipelineConfig(pipeline, f.params ?? {}, train)) as Record<string, unknown>) };
  if (f.stages && f.stages.length) {
    c.sources = f.stages.map((kind) => ({ kind }));
    // a fallback of a kind now among the sources is that source's job: keep the names unique
    const kinds = new Set(f.stages);
    c.fallbacks = ((c.fallbacks as { kind: string; name?: string }[] | undefined) ?? []).filter((x) => !kinds.has(x.name ?? x.kind));
  }
  if (f.ranker === 'none') c.ranker = null;
  else if (f.ranker) {
    const prev = (c.ranker as Record<string, unknown> | null) ?? {};
    // another kind takes its own defaults: the pipeline's params belong to the kind they were made for
    c.ranker = { ...prev, kind: f.ranker, params: prev.kind === f.ranker ? prev.params : {} };
  }
  if (f.candidates !== undefined) c.candidates = f.candidates;
  return c;
}
