// Public surface of the evaluation layer; filled in as the layer grows.
export { RANKING_METRICS, MetricAccumulator, aucOfScores } from './metrics.ts';
export type { RankingMetric } from './metrics.ts';
export { DEFAULT_KS, evaluateRecommender, relevantTestItems, sampleSorted } from './protocol.ts';
export type { EvaluateOptions, EvaluationResult, Recommender, Scorer } from './protocol.ts';
export { DEFAULT_TABLE_METRICS, formatResultsTable, formatTable } from './table.ts';
export type { ResultRow } from './table.ts';
export type { DetailOptions, GroupDetails, PipelineDetails, PopularityBias, ReportInput, ReportSummary } from './report/index.ts';
export { ReportBuilder, gini, pipelineDetails, popularityRanks, renderReport, writeReport } from './report/index.ts';
