/**
 * The `two-tower` pipeline: the two-tower model alone, ranking the full catalog through an exact
 * vector index (the engine's stage picks exact or HNSW by catalog size instead). Its epoch count is chosen by early stopping on a validation window (the context's, or
 * the last 20% of each user's training events), then the model is refit on all training data.
 */
import { splitDataset } from '../data/index.ts';
import { TwoTowerSource, type TwoTowerConfig, type TwoTowerIndexOptions, type UserQuery } from '../retrieval/index.ts';
import type { SourceKind } from './engine/index.ts';
import { registerPipeline, type FitContext, type ParamDef, type Pipeline } from './registry.ts';

/**
 * The preset: the hyperparameters chosen on MovieLens-100K train-inner / valid (see docs/two-tower.md).
 * Everything not named here takes the config schema's default, which is the same value.
 */
export const TWO_TOWER_PRESET: Partial<TwoTowerConfig> = {
  embeddingDim: 32,
  hidden: [128],
  dim: 64,
  normalize: true,
  temperature: 0.05,
  loss: 'softmax',
  logQ: 1,
  batchSize: 512,
  lr: 0.01,
  epochs: 10,
  patience: 2,
  emaDecay: 0.995,
  historyLength: 50,
  coldDropout: 0.1,
  idDropout: 0.05,
};

/** The pipeline's parameters (flags: `--param two-tower.lr=0.005`); defaults are the preset's. */
export const TWO_TOWER_PIPELINE_PARAMS: Record<string, ParamDef> = {
  epochs: { type: 'number', default: 10, min: 1, integer: true, description: 'maximum epochs (validation picks the count, then a refit on all of train)' },
  patience: { type: 'number', default: 2, min: 1, integer: true, description: 'early stopping: epochs without a better validation recall@100' },
  lr: { type: 'number', default: 0.01, min: 0, description: 'Adam learning rate' },
  optimizer: { type: 'string', default: 'adam', values: ['adam', 'adagrad'], description: 'optimiser (lazy sparse updates of embedding rows)' },
  loss: { type: 'string', default: 'softmax', values: ['softmax', 'bce'], description: 'in-batch sampled softmax, or BCE with sampled negatives' },
  negatives: { type: 'number', default: 0, min: 0, integer: true, description: 'softmax: extra shared negatives per batch; bce: negatives per positive' },
  negativeSampling: { type: 'string', default: 'uniform', values: ['uniform', 'popularity'], description: 'how extra negatives are drawn' },
  logQ: { type: 'number', default: 1, min: 0, max: 1, description: 'strength of the log-Q sampling correction' },
  temperature: { type: 'number', default: 0.05, min: 1e-6, description: 'softmax temperature' },
  normalize: { type: 'boolean', default: true, description: 'L2-normalise tower outputs' },
  dim: { type: 'number', default: 64, min: 1, integer: true, description: 'output dimension k' },
  embeddingDim: { type: 'number', default: 32, min: 1, integer: true, description: 'embedding width' },
  hidden: { type: 'string', default: '128', description: "hidden widths of each tower, comma-separated ('' for none)" },
  batchSize: { type: 'number', default: 512, min: 2, integer: true, description: 'positives per batch' },
  emaDecay: { type: 'number', default: 0.995, min: 0, max: 0.999999, description: 'moving average of the weights (0: off)' },
  historyLength: { type: 'number', default: 50, min: 0, integer: true, description: 'most recent events in the history bag' },
  recencyDecay: { type: 'number', default: 1, min: 1e-6, max: 1, description: 'history weight multiplier per step back' },
  coldDropout: { type: 'number', default: 0.1, min: 0, max: 1, description: "share of examples that hide the user's id and history" },
  idDropout: { type: 'number', default: 0.05, min: 0, max: 1, description: 'share of ids replaced by the OOV row' },
  shareItemEmbeddings: { type: 'boolean', default: true, description: 'history bag and item tower share the item-id table' },
  l2: { type: 'number', default: 0, min: 0, description: 'L2 regularisation' },
};

/** A pipeline parameter object (already checked by the registry) as a model config. */
function configOf(p: Record<string, number | string | boolean>): Partial<TwoTowerConfig> {
  const { hidden, ...rest } = p;
  const h = String(hidden ?? '128').trim();
  const widths = h === '' ? [] : h.split(',').map((x) => Number(x.trim()));
  if (widths.some((w) => !Number.isInteger(w) || w < 1)) throw new Error(`pipeline 'two-tower' parameter 'hidden': '${hidden}' is not a list of positive integers`);
  return { ...(rest as Partial<TwoTowerConfig>), hidden: widths };
}

/**
 * The two-tower alone as a recommender: validation (the context's split of train) picks the epoch
 * count by recall@100, then the model is refit on all of train for that many epochs.
 * @example const p = new TwoTowerPipeline(); await p.fit(ctx); p.recommend(userQuery(train, 0), 10, new Set())
 */
export class TwoTowerPipeline implements Pipeline {
  readonly name = 'two-tower';
  source: TwoTowerSource | null = null;

  constructor(readonly config: Partial<TwoTowerConfig> = {}) {}

  async fit(ctx: FitContext): Promise<void> {
    const valid = ctx.valid ?? splitDataset(ctx.train, { kind: 'user-temporal', fraction: 0.2 });
    // offline evaluation ranks the full catalog: exact search whatever the catalog size
    this.source = new TwoTowerSource({ config: { ...TWO_TOWER_PRESET, ...this.config }, valid, seed: ctx.seed, threads: ctx.threads, index: { kind: 'exact' }, log: (l) => ctx.log(l) });
    await this.source.fit(ctx.train);
  }

  recommend(query: UserQuery, n: number, exclude: ReadonlySet<number>): Int32Array {
    if (!this.source) throw new Error("pipeline 'two-tower': recommend before fit");
    return this.source.candidates(query, n, exclude).items;
  }

  report(): Record<string, unknown> {
    const s = this.source;
    if (!s) return {};
    const last = (e: { validRecall?: number }[]) => e.map((x) => x.validRecall);
    return { epochs: s.fitEpochs.length, validRecallByEpoch: last(s.validEpochs), positivesPerSecond: Math.round(median(s.fitEpochs.map((e) => e.examplesPerSecond))) };
  }
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

registerPipeline({
  name: 'two-tower',
  description: 'two-tower retrieval (features + history bag, in-batch softmax with log-Q), exact full-catalog search',
  params: TWO_TOWER_PIPELINE_PARAMS,
  create: (p) => new TwoTowerPipeline(configOf(p)),
});

/** Index settings a two-tower stage accepts under its `index` parameter. */
const INDEX_KEYS = ['kind', 'exactBelow', 'M', 'efConstruction', 'efSearch', 'seed', 'filterExactFraction', 'mipsAugment'] as const;

/**
 * A stage's `index` parameter, checked: `{ kind: 'auto' | 'exact' | 'hnsw', exactBelow, M,
 * efConstruction, efSearch, seed, filterExactFraction, mipsAugment }` (all optional).
 */
export function twoTowerIndexOptions(v: unknown): TwoTowerIndexOptions {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error("two-tower stage parameter 'index': must be an object like { kind: 'hnsw', efSearch: 64 }");
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (!(INDEX_KEYS as readonly string[]).includes(k)) throw new Error(`two-tower stage parameter 'index.${k}': unknown (known: ${INDEX_KEYS.join(', ')})`);
    if (k === 'kind') {
      if (x !== 'auto' && x !== 'exact' && x !== 'hnsw') throw new Error(`two-tower stage parameter 'index.kind': must be 'auto', 'exact' or 'hnsw', got ${JSON.stringify(x)}`);
    } else if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new Error(`two-tower stage parameter 'index.${k}': must be a non-negative number, got ${JSON.stringify(x)}`);
    out[k] = x;
  }
  return out as TwoTowerIndexOptions;
}

/**
 * The two-tower as an engine source kind (model directories): params are TwoTowerConfig fields plus
 * threads/seed and `index` (see twoTowerIndexOptions). The item index is saved in the stage's folder and
 * read back at load, not rebuilt; live item upserts and deletes reach it through the LiveHooks.
 * @example { kind: 'two-tower', params: { epochs: 5, index: { kind: 'hnsw', efSearch: 64 } } }
 */
export const twoTowerKind: SourceKind = {
  kind: 'two-tower',
  create: (params) => {
    const { threads, seed, index, ...config } = params as Partial<TwoTowerConfig> & { threads?: number; seed?: number; index?: unknown };
    return new TwoTowerSource({ config: { ...TWO_TOWER_PRESET, ...config }, threads, seed, index: twoTowerIndexOptions(index) });
  },
  load: (dir) => TwoTowerSource.load(dir),
};
