// Public surface of the pipeline layer: the one engine, its named configurations (pipelines), evaluation, the demo.
export * from './engine/index.ts';
export type { EngineFlags, PipelineSpec, TwoStageParams } from './pipelines.ts';
export { TWO_STAGE_PARAMS, defaultEngineConfig, engineConfigFromFlags, listPipelines, pipelineConfig, pipelineSpec, registerPipeline, resolvePipelineParams, twoStageConfig } from './pipelines.ts';
// the deep-ranker pipelines register themselves after the base ones
export { DCN_PIPELINE_PARAMS } from './deep-pipelines.ts';
export type { EvaluationReport, EvaluationRun, PipelineResult } from './evaluate.ts';
export { runEvaluation } from './evaluate.ts';
export type { RankerExport } from './export.ts';
export { exportRankerData } from './export.ts';
export type { DataSource, EvaluationDataSpec } from './data-source.ts';
export { DATA_FLAGS, DEFAULT_SPLIT, DEFAULT_TABLE_METRICS, SYNTHETIC_OPTIONS, dataSourceFromFlags, formatLoadReport, formatResultsTable, formatTable, generateSyntheticDataset, loadEvaluationData, syntheticShape } from './data-source.ts';
export type { DemoModel, DemoOptions, DemoResult } from './demo.ts';
export { DEMO_DATA, DEMO_PARAMS, DEMO_PIPELINES, itemLabel, runDemo } from './demo.ts';
export { writeDatasetFiles } from './write-dataset.ts';
export { engineParameterDocs, syntheticOptionDocs } from './docs.ts';
export * from './retrain/index.ts';
