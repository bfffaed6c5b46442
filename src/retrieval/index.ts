export type { CandidateSource, ScoredItems, UserQuery } from './source.ts';
export { userQuery } from './source.ts';
