export type { FeatureKind, FeatureSpec, EventTypeSpec, Schema } from './schema.ts';
export { FEATURE_KINDS, DEFAULT_EVENT, tokenize } from './schema.ts';
export { Vocabulary } from './vocabulary.ts';
export type { FeatureColumn, Interactions, UserIndex } from './dataset.ts';
export { Dataset, EntityTable, columnLength, emptyInteractions, selectInteractions } from './dataset.ts';
export type { FeatureValue } from './builder.ts';
export { DatasetBuilder, TableBuilder, ColumnBuilder } from './builder.ts';
