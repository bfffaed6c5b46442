// The one engine: configuration, fitting, the request path, the model directory.
export type { EngineConfig, EngineConfigInput, RankerStageConfig, StageConfig, StageRegistry } from './config.ts';
export { ENGINE_PARAMS, RANKER_STAGE_PARAMS, RANKER_TRAINING_PARAMS, STAGE_PARAMS, checkEngineConfig, completeConfig, makeRegistry, rankerSpace, stageDefaults } from './config.ts';
export type { CheckedEvent, EngineOptions, EventInput, Explanation, LiveEventInput, LiveUserInput, Model, RecommendedItem, RecommendRequest, RecommendResult, RequestTrace, Strategy } from './engine.ts';
export { Engine, MAX_EVENT_TIMESTAMP } from './engine.ts';
export type { FitReport, RankerRows, RunSettings } from './fit.ts';
export { assembleModel, fitEngine, fitStages, rankerTrainingRows, trainRankerModel, VALID_SPLIT } from './fit.ts';
export type { ModelManifest, StageEntry } from './model-dir.ts';
export { ModelDirError, MODEL_FORMAT, MODEL_FORMAT_VERSION, checkTandemVersion, dataFingerprint, disposeModel, readManifest, readModelDir, tandemVersion, writeModelDir } from './model-dir.ts';
export type { SmokeRequest, SmokeResult } from './smoke.ts';
export { SMOKE_NEW_USER, smokeCheck } from './smoke.ts';
export { builtinRegistry } from './registry.ts';
export type { TrainOptions, TrainResult } from './train.ts';
export { trainModel } from './train.ts';
export { engineRecommender, scoreEngine, scoreService } from './score.ts';
export { fixtureDataset } from './fixture.ts';
