// Public surface of the ranking layer; filled in as the layer grows.
export {};
export type { L1Block, RankerQuery, RankerFeatureOptions, NeighbourLists } from './ranker/features.ts';
export { RankerFeatures, RANKER_FEATURE_DEFAULTS, cosineNeighbours, transitionNeighbours } from './ranker/features.ts';
export type { RankerTrainingSet, AssembleOptions, AssembleReport } from './ranker/training.ts';
export { splitUserTime, assembleRankerData, splitGroups, concatSets } from './ranker/training.ts';
export type { Boost, BusinessConfig, Explanation } from './business/business.ts';
export { BusinessLayer, BUSINESS_DEFAULTS, explain } from './business/business.ts';
export { formatFloat32, libsvmLines, csvLines, writeLines } from './ranker/export.ts';
export type { GbdtParams, ObjectiveName, MetricName, GbdtData, Objective, Tree, TreeNode, TrainSettings, TrainResult, LibsvmOptions } from './gbdt/index.ts';
export { GBDT_PARAMS, GbdtParamError, resolveParams, paramDocs, paramFlag, paramOptionDefs, paramsFromOptions, validateData, BinMapper, createObjective, binaryObjective, regressionObjective, lambdarankObjective } from './gbdt/index.ts';
export { auc, logLoss, rmse, ndcgAt, FlatForest, treeToObject, predictNodeRef, GbdtModel, MODEL_FORMAT, MODEL_VERSION, trainGbdt, importXgboostJson, loadXgboostModel } from './gbdt/index.ts';
export { parseLibsvmData, readLibsvmData, LibsvmError } from './gbdt/index.ts';
