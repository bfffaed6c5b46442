export type { CandidateSource, ScoredItems, UserQuery } from './source.ts';
export { userQuery } from './source.ts';
export type { EaseOptions } from './ease.ts';
export { EaseSource, EASE_DEFAULTS, invertSpd, invertGaussJordan } from './ease.ts';
export type { ItemScorer, MergedCandidates } from './merge.ts';
export { CandidateMerger } from './merge.ts';
