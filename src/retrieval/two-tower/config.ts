/**
 * The two-tower's hyperparameters: one declarative definition (default, range, description), from
 * which validation and the docs table come. Run settings (threads, seed, logging) live apart.
 */
import type { FeatureSpaceOptions } from '../../features/index.ts';
import { ParamError, check, schema, type Given, type Infer } from '../../schema/index.ts';

/** Every hyperparameter with its default, range and meaning (the defaults are the preset chosen on MovieLens-100K train-inner / valid, docs/two-tower.md). */
export const TWO_TOWER_PARAMS = schema({
  embeddingDim: { type: 'number', integer: true, min: 1, default: 32, description: 'width of every embedding table' },
  hidden: { type: 'list', of: 'number', integer: true, min: 1, default: [128], description: 'hidden layer widths of each tower (ReLU)' },
  dim: { type: 'number', integer: true, min: 1, default: 64, description: 'output dimension k' },
  normalize: { type: 'boolean', default: true, description: 'L2-normalise tower outputs (cosine scores)' },
  temperature: { type: 'number', min: 0, exclusiveMin: true, default: 0.05, description: 'logits = score / temperature' },
  loss: { type: 'string', values: ['softmax', 'bce'], default: 'softmax', description: "'softmax' (in-batch, log-Q, mixed negatives) or 'bce' (sampled negatives)" },
  negatives: { type: 'number', integer: true, min: 0, default: 0, description: 'softmax: extra shared negatives per batch; bce: negatives per positive' },
  negativeSampling: { type: 'string', values: ['uniform', 'popularity'], default: 'uniform', description: 'how extra negatives are drawn' },
  logQ: { type: 'number', min: 0, max: 1, default: 1, description: 'strength of the log-Q sampling correction (0 off, 1 full)' },
  optimizer: { type: 'string', values: ['adam', 'adagrad'], default: 'adam', description: 'optimiser (lazy sparse updates of embedding rows)' },
  lr: { type: 'number', min: 0, exclusiveMin: true, default: 0.01, description: 'base learning rate' },
  schedule: { type: 'string', values: ['constant', 'linear', 'cosine'], default: 'cosine', description: 'learning-rate decay after warm-up' },
  warmupSteps: { type: 'number', integer: true, min: 0, default: 50, description: 'linear warm-up steps' },
  l2: { type: 'number', min: 0, default: 0, description: 'L2 regularisation on dense weights and on the embedding rows a batch touched' },
  batchSize: { type: 'number', integer: true, min: 2, default: 512, description: 'positives per batch' },
  epochs: { type: 'number', integer: true, min: 1, default: 10, description: 'maximum epochs (with validation data, early stopping picks fewer)' },
  patience: { type: 'number', integer: true, min: 1, default: 2, description: 'early stopping: epochs without a better validation recall@100' },
  parallel: { type: 'string', values: ['sync', 'hogwild'], default: 'sync', description: "threads > 1: 'sync' (the threads share each batch, one optimiser step: the one-thread result up to float rounding, reproducible) or 'hogwild' (each thread its own batches, racing updates)" },
  emaDecay: { type: 'number', min: 0, max: 0.999999, default: 0.995, description: 'decay of the moving average of the weights (0: off)' },
  idDropout: { type: 'number', min: 0, max: 1, default: 0.05, description: 'probability of replacing an id by the OOV row during training' },
  coldDropout: { type: 'number', min: 0, max: 1, default: 0.1, description: "probability of hiding the user's id and history in an example (teaches features-only users)" },
  initStd: { type: 'number', min: 0, exclusiveMin: true, default: 0.05, description: 'standard deviation of the embedding initialisation' },
  historyLength: { type: 'number', integer: true, min: 0, default: 50, description: 'most recent events in the history bag' },
  recencyDecay: { type: 'number', min: 0, max: 1, exclusiveMin: true, default: 1, description: 'history weight multiplier per step back in time' },
  shareItemEmbeddings: { type: 'boolean', default: true, description: 'history bag and item tower share the item-id table' },
  userId: { type: 'boolean', default: true, description: 'user-id embedding in the user tower' },
  itemId: { type: 'boolean', default: true, description: 'item-id embedding in the item tower' },
  numericBuckets: { type: 'number', integer: true, min: 0, default: 10, description: 'quantile-bucket embeddings for numeric features (0: off)' },
  userFeatures: { type: 'list', of: 'string', nullable: true, default: null, description: 'user features to use (null: all)' },
  itemFeatures: { type: 'list', of: 'string', nullable: true, default: null, description: 'item features to use (null: all)' },
});

export type TwoTowerConfig = Infer<typeof TWO_TOWER_PARAMS>;

/**
 * Defaults filled in and every value checked; an error names the parameter.
 * @example resolveConfig({ lr: 0.005 }).dim // 64
 */
export function resolveConfig(partial: Given<typeof TWO_TOWER_PARAMS> = {}): TwoTowerConfig {
  try {
    return check(TWO_TOWER_PARAMS, partial);
  } catch (err) {
    if (err instanceof ParamError) throw new Error(`two-tower: parameter ${err.message}`);
    throw err;
  }
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
    userFeatures: c.userFeatures ?? undefined,
    itemFeatures: c.itemFeatures ?? undefined,
  };
}
