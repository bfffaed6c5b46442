// The blend of ranker models: the GBDT's and the DCN's log-odds, weight chosen on validation.
export { BlendModel, BLEND_PARAMS, blendRankerKind, chooseWeight, residualOffsets } from './blend.ts';
