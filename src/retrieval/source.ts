import type { Dataset, UserQuery } from '../data/index.ts';
import type { FeatureRow, ItemCatalog } from '../features/index.ts';
import type { Progress } from '../math/index.ts';
import type { ParamsOf, Schema } from '../schema/index.ts';
import type { FileReader } from '../vectors/index.ts';

export type { UserQuery };

/** Items with scores, best first: parallel arrays of equal length. */
export interface ScoredItems {
  items: Int32Array;
  scores: Float32Array;
}

/** What a request tells a source besides the history. */
export interface RequestContext {
  /** A mask by item index: only items with 1 may be returned (a requested category; absent: all). */
  allow?: Uint8Array;
  /** The user's feature row (a new user's embedding starts from it), or null. */
  features?: FeatureRow | null;
}

/** Run settings of a fit (apart from the source's hyperparameters). */
export interface FitContext {
  seed: number;
  threads: number;
  log(line: string): void;
  /** Where a long fit reports its steps (named under the stage; default none). */
  progress?: Progress;
  /**
   * A per-user temporal split of the data being fitted (the benchmark's train-inner/valid rule), made
   * on first call, for sources that pick settings on held-out events (the two-tower's epoch count).
   */
  valid(): { train: Dataset; test: Dataset };
}

/**
 * A source of L1 candidates: popularity, item-to-item, EASE, the two-tower, feature segments, content.
 * Every source has the same small surface, so the engine merges any of them and the evaluation
 * scores any of them through the engine.
 */
export interface CandidateSource {
  readonly name: string;
  /** Learns from the training interactions. */
  fit(train: Dataset, ctx?: FitContext): void | Promise<void>;
  /**
   * The query's top `n` items by this source's score, best first, never an item in `exclude` or outside
   * `ctx.allow`. A source with nothing to go on (no history it knows, no features) returns no items.
   */
  candidates(query: UserQuery, n: number, exclude?: ReadonlySet<number>, ctx?: RequestContext): ScoredItems;
  /** Writes the fitted state into `dir` (created by the caller). */
  save(dir: string): Promise<void>;
  /** Optional: the query's score of any items (NaN where none), so its score is a feature for candidates other sources found. */
  scoreItems?(query: UserQuery, items: ArrayLike<number>, out: Float32Array): void;
  /**
   * Optional, for sources with an embedding space (the two-tower): the query's user vector into `out`
   * (length: the space's width), false when there is nothing to embed. Deterministic: a training row and
   * a served request of the same query get the same vector, bit for bit.
   */
  userVector?(query: UserQuery, out: Float32Array): boolean;
  /** Optional, with `userVector`: every trained catalog item's vector in that space (numItems x width, row-major). */
  itemVectors?(): Float32Array;
  /** Optional live hook: item `item` (a dense index, possibly beyond the trained catalog) was added or changed. */
  upsertItem?(item: number, features: FeatureRow): void;
  /** Optional live hook: item `item` must never be returned again (until upserted). */
  removeItem?(item: number): void;
  /** Optional live hook: an event of weight `weight` (> 0) on `item` at `timestamp` (counters move). */
  observe?(item: number, weight: number, timestamp: number): void;
  /** Optional: per-epoch figures of the last fit, by run (`{ valid: [...], fit: [...] }`), for the manifest. */
  trainingHistory?(): Record<string, readonly object[]>;
  /**
   * Optional: frees at once what the garbage collector cannot see or reclaim (kernel memory, native
   * indexes). The engine's owner calls it when the model is dropped (a reload); the source must not be
   * used afterwards, and a second call does nothing.
   */
  dispose?(): void;
}

/** What a stage kind gets when it makes or loads a source. */
export interface StageContext {
  /** The model's data: its tables and (training) interactions. */
  dataset: Dataset;
  /** The live item catalog (trained items plus upserts), for sources that read item features. */
  catalog: ItemCatalog;
  /** The stage's unique name in the engine (the name its candidates carry). */
  name: string;
  /** An earlier stage of the same engine, by name (views share a fitted stage's state). */
  stage(name: string): CandidateSource;
  seed: number;
  threads: number;
  log(line: string): void;
  /**
   * How `load` reads the stage's files (absent: plain fs). The model loader passes one that checks
   * each file against the model directory's manifest and records it: read every file through it.
   */
  files?: FileReader;
}

/**
 * How the engine makes and reloads one kind of candidate source, with the schema of its parameters
 * (checked when a model is configured, trained and loaded: a typo names the parameter and the known ones).
 * @example const popularityKind = defineSourceKind({ kind: 'popularity', params: POPULARITY_PARAMS, personalized: false, create: (p, ctx) => new PopularitySource({ ...p, name: ctx.name }), load: (dir) => PopularitySource.load(dir) })
 */
export interface SourceKind<S extends Schema = Schema> {
  readonly kind: string;
  readonly description: string;
  readonly params: S;
  /** False for sources that ignore the query's items (popularity, segments): not asked for similar items. */
  readonly personalized: boolean;
  /** Names of earlier stages this configuration reads (checked to exist before it; default none). */
  dependsOn?(params: ParamsOf<S>): string[];
  /** A fresh, unfitted source. */
  create(params: ParamsOf<S>, ctx: StageContext): CandidateSource;
  /** The source `save(dir)` wrote. */
  load(dir: string, params: ParamsOf<S>, ctx: StageContext): Promise<CandidateSource>;
}

/** Keeps a kind's parameter types (`ParamsOf<S>`) while registries hold kinds of any schema. */
export function defineSourceKind<const S extends Schema>(k: SourceKind<S>): SourceKind {
  return k as unknown as SourceKind;
}

const EMPTY = { items: new Int32Array(0), scores: new Float32Array(0) };

/** A fresh empty answer (sources with nothing to go on). */
export function noCandidates(): ScoredItems {
  return { items: EMPTY.items, scores: EMPTY.scores };
}
