/**
 * The vector index contract: one interface, several implementations (exact, HNSW). Callers read
 * `capabilities` instead of checking concrete types.
 */

/** 'ip': score = inner product. 'cosine': score = cosine similarity (vectors and queries normalised). */
export type Metric = 'ip' | 'cosine';

export type IndexKind = 'exact' | 'hnsw';

/** The best items for one query, best first: parallel arrays of equal length (at most k). */
export interface SearchResult {
  ids: Int32Array;
  scores: Float32Array;
}

/**
 * Results for `nq` queries in one flat block: query q's results are at [q*k, q*k + counts[q]);
 * unused slots hold id -1 and score -Infinity.
 */
export interface BatchSearchResult {
  k: number;
  ids: Int32Array;
  scores: Float32Array;
  counts: Int32Array;
}

/**
 * Which items a search may return. All given parts must agree (logical AND).
 * @example { exclude: seenItems }                       // the user's seen items
 * @example { allow: maskFromCodes(genre, [3]) }          // restrict to a category
 * @example { predicate: (id) => inStock[id] === 1 }     // anything else
 */
export interface SearchFilter {
  /** Item ids never to return, e.g. the user's seen items. */
  exclude?: ReadonlySet<number> | ArrayLike<number>;
  /** Eligibility mask indexed by item id: only ids with allow[id] !== 0 (and id < allow.length) qualify. */
  allow?: Uint8Array;
  /** Any test over item ids; called only for items that would otherwise enter the top k. */
  predicate?: (id: number) => boolean;
}

/** What an implementation can do; callers branch on these, never on the class. */
export interface IndexCapabilities {
  /** Results are the exact top k (otherwise approximate, with a recall below 1). */
  readonly exact: boolean;
  /** `search` honours a SearchFilter and still returns k results when k eligible items exist. */
  readonly supportsFilter: boolean;
  readonly supportsAdd: boolean;
  readonly supportsRemove: boolean;
  readonly supportsUpdate: boolean;
  /** `save(dir)` writes a directory that `loadIndex(dir)` reads back. */
  readonly supportsSave: boolean;
  /** Search-time accuracy/speed knob (HNSW's efSearch) that `setSearchEffort` changes. */
  readonly tunable: boolean;
}

/**
 * An index over item embeddings, keyed by item id ("label", a non-negative int32).
 * @example
 *   const index = createIndex({ dim: 64, metric: 'ip' });
 *   index.add(vectors, labels);                 // vectors: Float32Array(n * 64), labels: Int32Array(n)
 *   const { ids, scores } = index.search(query, 10, { exclude: seen });
 */
export interface VectorIndex {
  readonly kind: IndexKind;
  readonly dim: number;
  readonly metric: Metric;
  /** Number of live items. */
  readonly size: number;
  readonly capabilities: IndexCapabilities;

  /** The top k items for `query` (length dim), best first; fewer only when fewer eligible items exist. */
  search(query: Float32Array, k: number, filter?: SearchFilter): SearchResult;
  /** `queries` holds nq x dim row-major; one filter for all, or one per query. */
  searchBatch(queries: Float32Array, k: number, filter?: SearchFilter | readonly (SearchFilter | undefined)[]): BatchSearchResult;

  /** Adds new items (vectors n x dim, labels n); a label already present is an error (use update). */
  add(vectors: Float32Array, labels: Int32Array | readonly number[]): void;
  /** Replaces the vectors of items already present; an unknown label is an error. */
  update(vectors: Float32Array, labels: Int32Array | readonly number[]): void;
  /** Removes items; labels not present are skipped. Returns how many were removed. */
  remove(labels: ArrayLike<number>): number;
  has(label: number): boolean;
  /** The stored vector of `label` (normalised for cosine), into `out` if given. */
  vector(label: number, out?: Float32Array): Float32Array;
  /** Live labels, in storage order. */
  labels(): Int32Array;

  /** Writes the index into directory `dir` (created if missing): manifest.json plus binary files. */
  save(dir: string): Promise<void>;
  /** Approximate resident bytes of the index (vectors, graph, maps). */
  memoryBytes(): number;
  /**
   * Optional: frees what the garbage collector cannot see or reclaim (kernel memory, a native graph)
   * at once. The index must not be used afterwards; a second call does nothing.
   */
  dispose?(): void;
}

/** A bad argument to an index method: `argument` names it, the message says what is wrong. */
export class IndexArgumentError extends Error {
  override name = 'IndexArgumentError';
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`${argument}: ${message}`);
  }
}
