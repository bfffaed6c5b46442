// The evaluation report: per-K curves, activity groups, coverage and popularity bias, and the HTML writer.
export type { DetailOptions, GroupDetails, PipelineDetails, PopularityBias } from './details.ts';
export { gini, pipelineDetails, popularityRanks } from './details.ts';
export type { ReportInput, ReportSummary } from './html.ts';
export { barsSvg, renderReport, writeReport } from './html.ts';
export { ReportBuilder } from './builder.ts';
