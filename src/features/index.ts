// Public surface of the features layer.
export { BagBatch } from './bags.ts';
export type { FeatureSpaceOptions, TableSpec, BagFieldSpec, TowerInputSpec, EntityEncoding, RawFeatures } from './space.ts';
export { FeatureSpace, TowerBatch, DEFAULT_FEATURE_OPTIONS } from './space.ts';
export type { BagAlloc } from './bags.ts';
export type { CandidateBlock } from './candidates.ts';
export { blockOf, copyBlock, emptyBlock, growBlock } from './candidates.ts';
export type { FeatureRow } from './catalog.ts';
export { ItemCatalog, UnknownEntityError, checkFeatureRow, codeOf, columnValue, tableRow } from './catalog.ts';
