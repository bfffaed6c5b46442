// Retraining from the live log: datasets from base data plus the log, the promotion check, the link swap.
export type { LogDataReport, LogSnapshot } from './log-data.ts';
export { datasetWithLog, readLogSnapshot, storeIdentity } from './log-data.ts';
export type { Comparison, TrainedLog } from './promote.ts';
export { PROMOTE_KS, PROMOTE_METRIC, compareOnLog, heldOutCut, linkTarget, replayStartOf, repointLink, trainedLog } from './promote.ts';
export type { RetrainOptions, RetrainResult } from './retrain.ts';
export { retrainFromLog, versionDirBeside } from './retrain.ts';
