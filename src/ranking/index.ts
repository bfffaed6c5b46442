// Public surface of the ranking layer: ranker features and training rows, the ranker-model interface
// with its kinds (gbdt/, deep/ and their blend/), the business layer, and the GBDT library.
import { gbdtRankerKind } from './gbdt/ranker-model.ts';
import { dcnRankerKind } from './deep/ranker-model.ts';
import { blendRankerKind } from './blend/blend.ts';
import type { RankerModelKind } from './model/model.ts';

export type { EmbeddingSpace, NeighbourLists, RankerFeatureOptions } from './ranker/features.ts';
export { CONTENT_VECTOR_COLUMN, ID_COLUMN, RankerFeatures, RANKER_FEATURE_PARAMS, RECENT_VECTOR_COLUMN, VECTOR_COLUMN, cosineNeighbours, principalAxes, transitionNeighbours } from './ranker/features.ts';
export type { RankerTrainingSet, AssembleOptions, AssembleReport } from './ranker/training.ts';
export { splitUserTime, assembleRankerData, splitGroups, splitGroupsByTime, labelWindowStarts, concatSets } from './ranker/training.ts';
export type { Contribution } from './ranker/ranker.ts';
export { Ranker, topPositive } from './ranker/ranker.ts';
export type { RankerModel, RankerModelKind, RankerRun } from './model/model.ts';
export { defineRankerKind, sigmoidOfMargins } from './model/model.ts';
export { GbdtRankerModel, GBDT_RANKER_PARAMS, gbdtRankerKind } from './gbdt/ranker-model.ts';
export type { DcnTrainParams, DcnTrainResult, EncoderSpec } from './deep/index.ts';
export type { EmbedGroups } from './ranker/features.ts';
export { backendKernels, DcnEnsemble, DcnModel, DCN_PARAMS, dcnRankerKind, fitEncoder, trainDcn } from './deep/index.ts';
export { BlendModel, BLEND_PARAMS, blendRankerKind, chooseWeight, residualOffsets } from './blend/index.ts';
export type { Adjustment, Boost, BusinessConfig } from './business/business.ts';
export { BusinessLayer, BUSINESS_PARAMS, categoryColumn } from './business/business.ts';
export { formatFloat32, libsvmLines, csvLines, writeLines } from './ranker/export.ts';
export type { GbdtParams, ObjectiveName, MetricName, GbdtData, Objective, Tree, TreeNode, TrainSettings, TrainResult, LibsvmOptions } from './gbdt/index.ts';
export { GBDT_PARAMS, GbdtParamError, resolveParams, paramDocs, paramFlag, paramOptionDefs, paramsFromOptions, validateData, BinMapper, createObjective, binaryObjective, regressionObjective, lambdarankObjective } from './gbdt/index.ts';
export { auc, logLoss, rmse, ndcgAt, FlatForest, treeToObject, predictNodeRef, GbdtModel, MODEL_FORMAT, MODEL_VERSION, trainGbdt, importXgboostJson, loadXgboostModel } from './gbdt/index.ts';
export { parseLibsvmData, readLibsvmData, LibsvmError } from './gbdt/index.ts';

/** Every ranker-model kind of this build. */
export const RANKER_KINDS: readonly RankerModelKind[] = [gbdtRankerKind, dcnRankerKind, blendRankerKind];
