/**
 * The `two-tower` pipeline: the two-tower model alone, ranking the full catalog by exact dot
 * products. Its epoch count is chosen by early stopping on a validation window (the context's, or
 * the last 20% of each user's training events), then the model is refit on all training data.
 */
import { splitDataset, type Dataset } from '../data/index.ts';
import { TwoTowerModel, TwoTowerSource, type TwoTowerConfig, type UserQuery } from '../retrieval/index.ts';
import type { SourceKind } from './engine/index.ts';

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

/** What a pipeline's fit receives (the shape the evaluation harness passes). */
export interface TwoTowerFitContext {
  train: Dataset;
  valid?: { train: Dataset; test: Dataset };
  seed?: number;
  threads?: number;
  log?: (line: string) => void;
}

/**
 * @example
 *   const p = twoTowerPipeline(); await p.fit({ train, seed: 1, threads: 2 });
 *   p.recommend(userQuery(train, 0), 10, new Set())
 */
export function twoTowerPipeline(config: Partial<TwoTowerConfig> = {}) {
  let source: TwoTowerSource | null = null;
  return {
    name: 'two-tower',
    source: () => source,
    async fit(ctx: TwoTowerFitContext): Promise<void> {
      const valid = ctx.valid ?? splitDataset(ctx.train, { kind: 'user-temporal', fraction: 0.2 });
      source = new TwoTowerSource({ config: { ...TWO_TOWER_PRESET, ...config }, valid, seed: ctx.seed, threads: ctx.threads, log: ctx.log });
      await source.fit(ctx.train);
    },
    recommend(query: UserQuery, n: number, exclude?: ReadonlySet<number>): Int32Array {
      if (!source) throw new Error('two-tower: fit before recommend');
      return source.candidates(query, n, exclude).items;
    },
  };
}

/** The two-tower as an engine source kind (model directories): params are TwoTowerConfig fields plus threads/seed. */
export const twoTowerKind: SourceKind = {
  kind: 'two-tower',
  create: (params) => {
    const { threads, seed, ...config } = params as Partial<TwoTowerConfig> & { threads?: number; seed?: number };
    return new TwoTowerSource({ config: { ...TWO_TOWER_PRESET, ...config }, threads, seed });
  },
  load: async (dir) => new TwoTowerSource().use(await TwoTowerModel.load(dir)),
};
