// The deep ranker: DCN-v2 network, input encoding, training, the `dcn` ranker-model kind.
export type { DcnShape, DcnLayout, NetKernels } from './net.ts';
export { DcnNet, dcnLayout, initDcnParams, crossForward, crossBackward, headForward, headBackward, logLossGrad } from './net.ts';
export type { EncoderSpec } from './encoder.ts';
export { Encoder, fitEncoder, shapeOf } from './encoder.ts';
export { DcnModel, backendKernels, DCN_MODEL_FILE, DCN_PARAMS_FILE } from './model.ts';
export type { DcnTrainParams, DcnTrainResult } from './train.ts';
export { trainDcn } from './train.ts';
export { DCN_PARAMS, dcnRankerKind } from './ranker-model.ts';
export { DcnEnsemble, DCN_ENSEMBLE_FILE } from './ensemble.ts';
