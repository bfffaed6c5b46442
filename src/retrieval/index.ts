// Public surface of the retrieval layer: candidate sources (each a registered kind with a checked
// parameter schema), the one candidate merge, and the two-tower model.
import { contentKind } from './content.ts';
import { easeKind } from './ease.ts';
import { itemKnnKind } from './itemknn.ts';
import { popularityKind } from './popularity.ts';
import { segmentsKind } from './segments.ts';
import type { SourceKind } from './source.ts';
import { twoTowerKind } from './two-tower/source.ts';

export type { CandidateSource, FitContext, RequestContext, ScoredItems, SourceKind, StageContext, UserQuery } from './source.ts';
export { defineSourceKind, noCandidates } from './source.ts';
export type { EaseOptions } from './ease.ts';
export { EaseSource, EASE_DEFAULTS, EASE_PARAMS, easeKind, invertSpd, invertSpdRowByRow, invertGaussJordan } from './ease.ts';
export type { MergeRequest, MergeSource } from './merge.ts';
export { CandidateMerger, RRF_K } from './merge.ts';
export type { TwoTowerConfig } from './two-tower/config.ts';
export { TWO_TOWER_PARAMS, resolveConfig as resolveTwoTowerConfig } from './two-tower/config.ts';
export type { TrainRunOptions, EpochStats, TrainResult } from './two-tower/train.ts';
export { trainTwoTower } from './two-tower/train.ts';
export { TrainingError } from './two-tower/core.ts';
export { TwoTowerModel } from './two-tower/two-tower.ts';
export type { RetrievalMetrics } from './two-tower/eval.ts';
export { evaluateRetrieval } from './two-tower/eval.ts';
export type { PeerExport } from './two-tower/peer-export.ts';
export { exportTrainingInputs } from './two-tower/peer-export.ts';
export type { TwoTowerSourceOptions, TwoTowerIndexOptions } from './two-tower/source.ts';
export { TwoTowerSource, TWO_TOWER_INDEX_PARAMS, TWO_TOWER_STAGE_PARAMS, twoTowerKind } from './two-tower/source.ts';
export { saveArrays, loadArrays } from './arrays-io.ts';
export type { PopularityOptions } from './popularity.ts';
export { PopularitySource, POPULARITY_DEFAULTS, POPULARITY_PARAMS, popularityKind } from './popularity.ts';
export type { ItemKnnOptions, KnnValue } from './itemknn.ts';
export { ItemKnnSource, ITEMKNN_DEFAULTS, ITEMKNN_PARAMS, itemKnnKind, userItemMatrix } from './itemknn.ts';
export type { Segments, SegmentColumn } from './segments.ts';
export { SegmentsSource, SEGMENTS_PARAMS, buildSegments, matchSegments, segmentsKind } from './segments.ts';
export { ContentSource, CONTENT_PARAMS, contentKind } from './content.ts';

/** Every candidate-source kind of this build, by name. */
export const SOURCE_KINDS: readonly SourceKind[] = [popularityKind, itemKnnKind, easeKind, twoTowerKind, segmentsKind, contentKind];
