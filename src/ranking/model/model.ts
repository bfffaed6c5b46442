/**
 * The L2 ranker-model interface: one implementation per folder (`gbdt/` today, `deep/` next), each a
 * registered kind with a checked parameter schema. A model scores feature rows; the features themselves
 * (`RankerFeatures`) and the training rows (`assembleRankerData`) are shared by every model kind.
 */
import type { Progress } from '../../math/index.ts';
import type { ParamsOf, Schema } from '../../schema/index.ts';
import type { RankerTrainingSet } from '../ranker/training.ts';

/** A trained ranker model: scores rows of `nFeatures` floats (NaN = missing), higher is better. */
export interface RankerModel {
  readonly kind: string;
  readonly nFeatures: number;
  /**
   * Scores rows 0..n-1 of the row-major `x` into `out`: P(action) for probabilistic models (the business
   * layer multiplies it by item value), otherwise any score where higher is better.
   */
  predict(x: Float32Array, n: number, out: Float64Array): void;
  /**
   * Optional: the log-odds (or raw margins) behind `predict`, rows 0..n-1 into `out`: what a blend of
   * models averages.
   */
  margins?(x: Float32Array, n: number, out: Float64Array): void;
  /**
   * Optional: `predict` of one request's candidates (rows 0..n-1, all one user's), where a model may
   * spend less on rows that cannot reach the top (the blend's `dcnTop` cascade). The engine's request
   * path (`Ranker.rank`) calls it; rows that mix users (training, validation) go through `predict`.
   * Absent: `predict`.
   */
  predictRequest?(x: Float32Array, n: number, out: Float64Array): void;
  /**
   * Optional: each feature's contribution to row `row`'s score (length nFeatures + 1, the bias last),
   * for explanations.
   */
  contributions?(x: Float32Array, row: number, out: Float64Array): void;
  /**
   * Optional: `contributions` of rows[0..n-1] at once, row k's into out[k (nFeatures + 1) ..]: a response's
   * k items in one pass where a model batches better than row by row (the DCN). Same values as `contributions`.
   */
  contributionsOf?(x: Float32Array, rows: Int32Array, n: number, out: Float64Array): void;
  save(dir: string): Promise<void>;
  /** Optional: gives back memory the garbage collector does not own (kernel memory); the model is unusable afterwards. */
  dispose?(): void;
  /** What training chose (rounds, validation metric, top features), recorded in the manifest. */
  summary(): Record<string, unknown>;
}

/** Run settings of a ranker model's training. */
export interface RankerRun {
  seed: number;
  threads: number;
  log(line: string): void;
  /** Where training reports its rounds or epochs (default none). */
  progress?: Progress;
}

/**
 * How the engine trains and reloads one kind of ranker model.
 * @example registry.rankers: [gbdtRankerKind]; config { ranker: { kind: 'gbdt', params: { numLeaves: 63 } } }
 */
export interface RankerModelKind<S extends Schema = Schema> {
  readonly kind: string;
  readonly description: string;
  readonly params: S;
  /** Trains on `train`; `valid` (other users' groups) drives early stopping when given. */
  train(data: { train: RankerTrainingSet; valid: RankerTrainingSet | null }, params: ParamsOf<S>, run: RankerRun): Promise<RankerModel>;
  /**
   * The model `save(dir)` wrote. `read` reads a file's bytes (absent: plain fs): the model loader
   * passes one that checks each file against the model directory's manifest, so read every file through it.
   */
  load(dir: string, params: ParamsOf<S>, read?: (path: string) => Promise<Uint8Array>): Promise<RankerModel>;
  /**
   * Optional: the parameters that train the model again on every row (validation rows included) for
   * the amount of training validation chose (e.g. the GBDT's best round count), from the first fit's summary.
   */
  refitParams?(params: ParamsOf<S>, summary: Record<string, unknown>): ParamsOf<S> | null;
}

/** Keeps a kind's parameter types while registries hold kinds of any schema. */
export function defineRankerKind<const S extends Schema>(k: RankerModelKind<S>): RankerModelKind {
  return k as unknown as RankerModelKind;
}

/** out[0..n) = sigmoid(out[0..n)): log-odds to probabilities, in place. */
export function sigmoidInPlace(out: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-out[i]));
}

/** `predict` of a model with log-odds: sigmoid(margins), rows 0..n-1 into out. */
export function sigmoidOfMargins(m: Pick<RankerModel, 'margins'>, x: Float32Array, n: number, out: Float64Array): void {
  m.margins!(x, n, out);
  sigmoidInPlace(out, n);
}

/** `contributions` of one row through a model's batched `contributionsOf`. */
export function contributionsOfRow(m: Pick<RankerModel, 'contributionsOf'>, x: Float32Array, row: number, out: Float64Array): void {
  m.contributionsOf!(x, Int32Array.of(row), 1, out);
}
