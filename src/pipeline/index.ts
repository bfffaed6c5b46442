// Public surface of the pipeline layer; filled in as the layer grows.
export {};
export * from './engine/index.ts';
export type { TwoStageOptions, TwoStageReport, ExplainedRecommendations, SourceFactory } from './two-stage/two-stage.ts';
export { TwoStage, TWO_STAGE_DEFAULTS } from './two-stage/two-stage.ts';
export type { RankerExport } from './two-stage/export.ts';
export { exportRankerData } from './two-stage/export.ts';
export type { TwoStageFitContext } from './two-stage/pipeline.ts';
export { twoStagePipeline, TWO_STAGE_PARAMS } from './two-stage/pipeline.ts';
export type { FitContext, ParamDef, Pipeline, PipelineSpec } from './registry.ts';
export { createPipeline, listPipelines, pipelineSpec, registerPipeline, resolveParams } from './registry.ts';
export { ITEMKNN_PARAMS, POPULARITY_PARAMS, SourcePipeline, itemKnnKind, popularityKind } from './baselines.ts';
export type { EvaluationReport, EvaluationRun, PipelineResult } from './evaluate.ts';
export { VALID_SPLIT, runEvaluation } from './evaluate.ts';
export type { DataSource, EvaluationDataSpec } from './data-source.ts';
export { DEFAULT_SPLIT, DEFAULT_TABLE_METRICS, SYNTHETIC_OPTIONS, formatLoadReport, formatResultsTable, formatTable, loadEvaluationData } from './data-source.ts';
export type { DemoOptions } from './demo.ts';
export { DEMO_DATA, DEMO_PIPELINES, itemLabel, runDemo } from './demo.ts';
export { TwoTowerPipeline, TWO_TOWER_PRESET, TWO_TOWER_PIPELINE_PARAMS, twoTowerKind } from './two-tower.ts';
