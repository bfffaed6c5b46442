// The DCN's parameters: one schema (defaults, ranges, docs) for the kind, its trainer and the docs tables.
import { schema, type Infer } from '../../schema/index.ts';

/** The DCN ranker's parameters (defaults chosen on ML-100K train-inner -> valid: docs/ranking.md). */
export const DCN_PARAMS = schema({
  crossLayers: { type: 'number', integer: true, min: 0, max: 8, default: 3, description: 'cross layers x_{l+1} = x0 ⊙ (W x_l + b) + x_l (full rank)' },
  hidden: { type: 'list', of: 'number', integer: true, min: 1, default: [256, 128], description: 'widths of the MLP beside the cross stack (empty: cross stack only)' },
  embedDim: { type: 'number', integer: true, min: 1, max: 64, default: 8, description: 'embedding width of each coded categorical column (u_gender, u_occupation, ...)' },
  embed: { type: 'boolean', default: true, description: 'embed the coded categorical columns (off: they enter as numbers)' },
  clip: { type: 'number', min: 0, exclusiveMin: true, default: 5, description: 'standardised numeric inputs are clipped to [-clip, clip]' },
  learningRate: { type: 'number', min: 0, exclusiveMin: true, max: 1, default: 0.0003, description: "Adam's learning rate" },
  l2: { type: 'number', min: 0, default: 0, description: 'L2 penalty added to the gradient of every updated weight' },
  batchSize: { type: 'number', integer: true, min: 1, default: 512, description: 'rows per minibatch' },
  epochs: { type: 'number', integer: true, min: 1, default: 30, description: 'epochs at most (early stopping on the validation users)' },
  patience: { type: 'number', integer: true, min: 0, default: 3, description: 'epochs without a better validation figure before stopping (0: no early stopping)' },
  stopMetric: { type: 'string', values: ['logloss', 'ndcg'], default: 'logloss', description: "the validation figure early stopping watches (logloss: the objective's loss; ndcg: ndcg@10 over the user groups)" },
  ensemble: { type: 'number', integer: true, min: 1, max: 8, default: 1, description: 'networks trained on the same rows at seeds seed, seed+1, ... (each its own initialisation, batch order and early stopping), their log-odds averaged: n times the training and the scoring' },
  objective: { type: 'string', values: ['binary', 'softmax'], default: 'binary', description: "binary: log loss per row (calibrated P(action)); softmax: listwise cross-entropy over each user's candidates (scores, not probabilities)" },
});

/** The DCN's checked parameters, as the trainer takes them. */
export type DcnTrainParams = Infer<typeof DCN_PARAMS>;
