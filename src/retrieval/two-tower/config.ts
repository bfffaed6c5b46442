/**
 * The two-tower's hyperparameters: one declarative definition (default, range, description), from
 * which validation and the docs table come. Run settings (threads, seed, logging) live apart.
 */
import type { FeatureSpaceOptions } from '../../features/index.ts';
import type { LossKind } from './model.ts';
import type { LrSchedule, OptimizerKind } from '../../math/index.ts';

export interface TwoTowerConfig {
  /** Embedding width of every table. */
  embeddingDim: number;
  hidden: number[];
  /** Output dimension k. */
  dim: number;
  normalize: boolean;
  temperature: number;
  loss: LossKind;
  /** softmax: extra shared negatives per batch (mixed); bce: negatives per positive. */
  negatives: number;
  negativeSampling: 'uniform' | 'popularity';
  /** Strength of the log-Q correction in the softmax (0 off, 1 full). */
  logQ: number;
  optimizer: OptimizerKind;
  lr: number;
  schedule: LrSchedule;
  warmupSteps: number;
  /** L2 on dense weights and on the embedding rows a batch touched. */
  l2: number;
  batchSize: number;
  epochs: number;
  /** Early stopping: epochs without a better validation recall before stopping. */
  patience: number;
  /** Exponential moving average of the weights (0: off). */
  emaDecay: number;
  /** Probability that an example's own user/item id is replaced by the OOV row (teaches cold start). */
  idDropout: number;
  /** Probability that an example hides the user's id and whole history (features only: teaches cold start). */
  coldDropout: number;
  initStd: number;
  historyLength: number;
  recencyDecay: number;
  shareItemEmbeddings: boolean;
  userId: boolean;
  itemId: boolean;
  numericBuckets: number;
  userFeatures?: string[];
  itemFeatures?: string[];
}

type ParamDef = { default: unknown; description: string; check?: (v: never) => boolean; range?: string };

export const TWO_TOWER_PARAMS: Record<keyof TwoTowerConfig, ParamDef> = {
  embeddingDim: { default: 32, description: 'width of every embedding table', check: (v: number) => Number.isInteger(v) && v >= 1, range: 'integer >= 1' },
  hidden: { default: [128], description: 'hidden layer widths of each tower (ReLU)', check: (v: number[]) => Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 1), range: 'list of integers >= 1' },
  dim: { default: 64, description: 'output dimension k', check: (v: number) => Number.isInteger(v) && v >= 1, range: 'integer >= 1' },
  normalize: { default: true, description: 'L2-normalise tower outputs (cosine scores)', check: (v: boolean) => typeof v === 'boolean' },
  temperature: { default: 0.05, description: 'logits = score / temperature', check: (v: number) => v > 0, range: '> 0' },
  loss: { default: 'softmax', description: "'softmax' (in-batch, log-Q, mixed negatives) or 'bce' (sampled negatives)", check: (v: string) => v === 'softmax' || v === 'bce' },
  negatives: { default: 0, description: 'softmax: extra shared negatives per batch; bce: negatives per positive', check: (v: number) => Number.isInteger(v) && v >= 0, range: 'integer >= 0' },
  negativeSampling: { default: 'uniform', description: "how extra negatives are drawn: 'uniform' or 'popularity'", check: (v: string) => v === 'uniform' || v === 'popularity' },
  logQ: { default: 1, description: 'strength of the log-Q sampling correction (0..1)', check: (v: number) => v >= 0 && v <= 1, range: '0..1' },
  optimizer: { default: 'adam', description: "'adam' or 'adagrad' (lazy sparse updates)", check: (v: string) => v === 'adam' || v === 'adagrad' },
  lr: { default: 0.01, description: 'base learning rate', check: (v: number) => v > 0, range: '> 0' },
  schedule: { default: 'cosine', description: "'constant', 'linear' or 'cosine' decay after warm-up", check: (v: string) => ['constant', 'linear', 'cosine'].includes(v) },
  warmupSteps: { default: 50, description: 'linear warm-up steps', check: (v: number) => Number.isInteger(v) && v >= 0, range: 'integer >= 0' },
  l2: { default: 0, description: 'L2 regularisation on updated weights', check: (v: number) => v >= 0, range: '>= 0' },
  batchSize: { default: 512, description: 'positives per batch', check: (v: number) => Number.isInteger(v) && v >= 2, range: 'integer >= 2' },
  epochs: { default: 10, description: 'maximum epochs', check: (v: number) => Number.isInteger(v) && v >= 1, range: 'integer >= 1' },
  patience: { default: 3, description: 'early stopping patience in epochs (needs a validation set)', check: (v: number) => Number.isInteger(v) && v >= 1, range: 'integer >= 1' },
  emaDecay: { default: 0.995, description: 'decay of the moving average of the weights (0: off)', check: (v: number) => v >= 0 && v < 1, range: '[0, 1)' },
  idDropout: { default: 0.05, description: 'probability of replacing an id by the OOV row during training', check: (v: number) => v >= 0 && v <= 1, range: '0..1' },
  coldDropout: { default: 0.1, description: "probability of hiding the user's id and history in an example (features-only users)", check: (v: number) => v >= 0 && v <= 1, range: '0..1' },
  initStd: { default: 0.05, description: 'standard deviation of the embedding initialisation', check: (v: number) => v > 0, range: '> 0' },
  historyLength: { default: 50, description: 'most recent events in the history bag', check: (v: number) => Number.isInteger(v) && v >= 0, range: 'integer >= 0' },
  recencyDecay: { default: 1, description: 'history weight multiplier per step back in time', check: (v: number) => v > 0 && v <= 1, range: '(0, 1]' },
  shareItemEmbeddings: { default: true, description: 'history bag and item tower share the item-id table', check: (v: boolean) => typeof v === 'boolean' },
  userId: { default: true, description: 'user-id embedding in the user tower', check: (v: boolean) => typeof v === 'boolean' },
  itemId: { default: true, description: 'item-id embedding in the item tower', check: (v: boolean) => typeof v === 'boolean' },
  numericBuckets: { default: 10, description: 'quantile-bucket embeddings for numeric features (0: off)', check: (v: number) => Number.isInteger(v) && v >= 0, range: 'integer >= 0' },
  userFeatures: { default: undefined, description: 'user features to use (all when absent)' },
  itemFeatures: { default: undefined, description: 'item features to use (all when absent)' },
};

/** Defaults filled in and every value checked; an error names the parameter. */
export function resolveConfig(partial: Partial<TwoTowerConfig> = {}): TwoTowerConfig {
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(TWO_TOWER_PARAMS)) {
    const v = (partial as Record<string, unknown>)[name] ?? def.default;
    if (v !== undefined && def.check && !(def.check as (x: unknown) => boolean)(v)) {
      throw new Error(`two-tower: parameter '${name}' = ${JSON.stringify(v)} is invalid${def.range ? ` (expected ${def.range})` : ''}: ${def.description}`);
    }
    out[name] = v;
  }
  for (const k of Object.keys(partial)) if (!(k in TWO_TOWER_PARAMS)) throw new Error(`two-tower: unknown parameter '${k}'`);
  return out as unknown as TwoTowerConfig;
}

/** The feature-space options a config implies. */
export function featureOptions(c: TwoTowerConfig): Partial<FeatureSpaceOptions> {
  return {
    dim: c.embeddingDim,
    userId: c.userId,
    itemId: c.itemId,
    historyLength: c.historyLength,
    recencyDecay: c.recencyDecay,
    shareItemEmbeddings: c.shareItemEmbeddings,
    numericBuckets: c.numericBuckets,
    userFeatures: c.userFeatures,
    itemFeatures: c.itemFeatures,
  };
}
