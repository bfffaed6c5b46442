// Public surface of the pipeline layer; filled in as the layer grows.
export {};
export * from './engine/index.ts';
export type { TwoStageOptions, TwoStageReport, ExplainedRecommendations, SourceFactory } from './two-stage/two-stage.ts';
export { TwoStage, TWO_STAGE_DEFAULTS } from './two-stage/two-stage.ts';
export type { RankerExport } from './two-stage/export.ts';
export { exportRankerData } from './two-stage/export.ts';
export type { TwoStageFitContext } from './two-stage/pipeline.ts';
export { twoStagePipeline } from './two-stage/pipeline.ts';
