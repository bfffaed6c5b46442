// The GBDT library: histogram-based gradient boosting, flat-tree prediction, model I/O, XGBoost import.
export type { GbdtParams, ObjectiveName, MetricName } from './options.ts';
export { GBDT_PARAMS, GbdtParamError, resolveParams, paramDocs, paramFlag, paramOptionDefs, paramsFromOptions } from './options.ts';
export type { GbdtData } from './data.ts';
export { validateData } from './data.ts';
export { BinMapper } from './binning.ts';
export type { Objective } from './objectives.ts';
export { createObjective, binaryObjective, regressionObjective, lambdarankObjective, sigmoid } from './objectives.ts';
export { auc, logLoss, rmse, ndcgAt } from './metrics.ts';
export type { Tree, TreeNode } from './tree.ts';
export { FlatForest, treeToObject, predictNodeRef } from './tree.ts';
export { GbdtModel, MODEL_FORMAT, MODEL_VERSION } from './model.ts';
export type { TrainSettings, TrainResult } from './booster.ts';
export { trainGbdt } from './booster.ts';
export { importXgboostJson, loadXgboostModel } from './xgboost.ts';
export type { LibsvmOptions } from './libsvm.ts';
export { parseLibsvmData, readLibsvmData, LibsvmError } from './libsvm.ts';
