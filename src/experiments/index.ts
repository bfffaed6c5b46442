// Public surface of the experiments layer: definitions (one checked schema), hashing assignment,
// team-draft interleaving, attribution of logged events to exposures, the report and its statistics,
// and the click-model simulation the benchmark and tests run.
export type { Arm, ArmInput, Experiment } from './definition.ts';
export { ARM_SCHEMA, EXPERIMENT_SCHEMA, EXPERIMENTS_FILE_SCHEMA, modelsOf, parseExperiments, resolveExperiment } from './definition.ts';
export type { Interleaved } from './assign.ts';
export { assignArm, assignmentPoint, teamDraft } from './assign.ts';
export type { TypeTally, UserTally } from './tally.ts';
export { ExperimentTally } from './tally.ts';
export type { ArmReport, DifferenceReport, ExperimentReport, InterleavingReport, TypeMetrics } from './report.ts';
export { REPORT_METHOD, SRM_ALPHA, buildReport, formatReport, loadExperimentsFile, reportFromLog } from './report.ts';
export type { Difference, Estimate } from './stats.ts';
export { Z95, bootstrapRatioSe, chiSquareSf, chiSquareTest, difference, meanEstimate, normalCdf, ratioEstimate, signTestP, twoSidedP } from './stats.ts';
export type { SimulationOptions, SimulationResult } from './simulate.ts';
export { simulateExperiment } from './simulate.ts';
