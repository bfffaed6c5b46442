// Public surface of the vectors layer: the VectorIndex interface, its exact and HNSW implementations,
// filters, persistence and synthetic data for tests and benchmarks.
export type { BatchSearchResult, IndexCapabilities, IndexKind, Metric, SearchFilter, SearchResult, VectorIndex } from './types.ts';
export { IndexArgumentError } from './types.ts';
export { maskFromCodes, maskFromIds } from './filter.ts';
export { ExactIndex } from './exact/exact-index.ts';
export type { ExactOptions } from './exact/exact-index.ts';
export { plainSearch } from './exact/reference.ts';
export { HnswIndex, HNSW_DEFAULTS } from './hnsw/hnsw-index.ts';
export type { HnswOptions, HnswParams, HnswPath } from './hnsw/hnsw-index.ts';
export { DEFAULT_EXACT_BELOW, buildIndex, chooseKind, createIndex, loadIndex } from './create.ts';
export type { IndexOptions } from './create.ts';
export type { FileReader, IndexManifest } from './persist.ts';
export { fsReader } from './persist.ts';
export { clusteredVectors, randomVectors } from './synthetic.ts';
