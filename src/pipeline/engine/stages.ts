/**
 * The plug points of the engine. Every L1 source, the optional L2 ranker and the business rules enter
 * through these interfaces; the engine never names a concrete implementation.
 */
import type { Dataset, FeatureValue } from '../../data/index.ts';
import type { CandidateSource, ScoredItems, UserQuery } from '../../retrieval/index.ts';

/** A feature row as an API client sends it: feature name to value. */
export type FeatureRow = Record<string, FeatureValue>;

/**
 * Optional live hooks a source may implement; the Recommender calls them when the catalog changes
 * (a two-tower source embeds a new item from its features and adds it to its index).
 */
export interface LiveHooks {
  /** Item `item` (a dense index, possibly beyond the trained catalog) was added or its features changed. */
  upsertItem?(item: number, features: FeatureRow): void;
  /** Item `item` must never be returned again. */
  removeItem?(item: number): void;
  /**
   * `candidates` with the request's context, for sources that can use it: `allow` (a mask by item
   * index: the requested category) restricts the answer inside the source, so a selective category
   * still gets n candidates; `features` are the user's feature row (a new user's embedding uses them).
   * Sources without it are asked `candidates` and filtered after merging.
   */
  candidatesWith?(query: UserQuery, n: number, exclude: ReadonlySet<number>, ctx: { allow?: Uint8Array; features?: FeatureRow | null }): ScoredItems;
  /**
   * Per-epoch figures of the last fit, by run (e.g. `{ valid: [...], fit: [...] }`, each entry with an
   * `epoch` field): `train` records them in the manifest, where the dashboard draws the training curves.
   */
  trainingHistory?(): Record<string, readonly object[]>;
}

/** A candidate source as the engine holds it: the source plus its optional live hooks. */
export type EngineSource = CandidateSource & LiveHooks;

/**
 * How the engine makes and reloads one kind of candidate source.
 * @example registry.sources.set('popularity', { kind: 'popularity', create: (p) => new Popularity(p), load: (dir) => Popularity.load(dir) })
 */
export interface SourceKind {
  readonly kind: string;
  /** False for sources that ignore the query (popularity): not asked for similar items. Default true. */
  readonly personalized?: boolean;
  /** A fresh, unfitted source with these parameters. */
  create(params: Record<string, unknown>): EngineSource;
  /** The source `save(dir)` wrote; `dataset` holds the model's tables and training interactions. */
  load(dir: string, ctx: { dataset: Dataset }): Promise<EngineSource>;
}

/**
 * The merged L1 candidates of one request, as flat arrays of length `count` (the caller reads only
 * the first `count` entries; the arrays may be longer). Per-source columns are `count × sourceNames.length`
 * row-major: score NaN and rank -1 where that source did not propose the item.
 */
export interface Candidates {
  count: number;
  items: Int32Array;
  /** Fused L1 score (reciprocal-rank fusion over sources). */
  scores: Float32Array;
  /** Index into `sourceNames` of the source that ranked the item best. */
  source: Uint8Array;
  sourceNames: readonly string[];
  sourceScores: Float32Array;
  sourceRanks: Int32Array;
}

/** What a ranker returns: one score per candidate, and optionally the features that raised each most. */
export interface RankerOutput {
  /** Length >= candidates.count; higher is better (for example P(action)). */
  scores: Float32Array;
  /** `count × topN` indices into `featureNames`, -1 padded: the top contributing features per candidate. */
  topFeatures?: Int32Array;
  topN?: number;
  featureNames?: readonly string[];
  /**
   * Lazy alternative to `topFeatures`: the top contributing features (indices into `featureNames`) of
   * candidate `i`, asked only for the k candidates returned. Preferred when contributions are costly
   * (tree SHAP over hundreds of candidates): the engine calls it at most k times per request.
   */
  explain?(i: number): ArrayLike<number>;
}

/**
 * The L2 stage: scores the merged candidates of one request. The query holds only items the trained
 * stages know (dense index < the trained catalog size).
 */
export interface Ranker {
  readonly name: string;
  rank(query: UserQuery, candidates: Candidates): RankerOutput;
  save(dir: string): Promise<void>;
}

/**
 * How the engine trains and reloads a ranker. `fit` gets the training data and a factory of fresh
 * L1 sources, so it can fit L1 on an earlier window and label with a later one (no leakage).
 */
export interface RankerKind {
  readonly kind: string;
  fit(train: Dataset, makeSources: () => EngineSource[], params: Record<string, unknown>): Promise<Ranker>;
  load(dir: string, ctx: { dataset: Dataset }): Promise<Ranker>;
}

/** What a registry can build: the trainer and the loader find stage kinds here by name. */
export interface StageRegistry {
  sources: ReadonlyMap<string, SourceKind>;
  rankers: ReadonlyMap<string, RankerKind>;
}

/** A registry from lists of kinds. @example makeRegistry([popularityKind, itemKnnKind]) */
export function makeRegistry(sources: readonly SourceKind[], rankers: readonly RankerKind[] = []): StageRegistry {
  return { sources: new Map(sources.map((s) => [s.kind, s])), rankers: new Map(rankers.map((r) => [r.kind, r])) };
}

/**
 * Business rules applied after ranking. Boosts multiply the score of items whose feature has the value
 * (factor < 1 demotes); `valueFeature` blends in item value as score × value^valueExponent.
 */
export interface BusinessRules {
  /** Exclude items the user already interacted with. */
  excludeSeen: boolean;
  /** Item feature that `category=` filters on (a categorical or multi-categorical column). */
  categoryFeature: string | null;
  boosts: { feature: string; value: string; factor: number }[];
  valueFeature: string | null;
  valueExponent: number;
}

export const DEFAULT_BUSINESS: BusinessRules = { excludeSeen: true, categoryFeature: null, boosts: [], valueFeature: null, valueExponent: 1 };
