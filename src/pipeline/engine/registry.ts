/**
 * The stage kinds this build of Tandem can train and load. Each entry adapts one CandidateSource (or
 * ranker) to the engine's SourceKind / RankerKind; add new ones here as their layers land.
 */
import { EaseSource, type EaseOptions } from '../../retrieval/index.ts';
import { makeRegistry, type SourceKind, type StageRegistry } from './stages.ts';
import { twoTowerKind } from '../two-tower.ts';
import { itemKnnKind, popularityKind } from '../baselines.ts';
import { gbdtRankerKind } from '../two-stage/engine-ranker.ts';

/** EASE item-to-item weights (dense; for catalogs up to some ten thousand items). */
export const easeKind: SourceKind = {
  kind: 'ease',
  create: (params) => new EaseSource(params as Partial<EaseOptions>),
  load: (dir) => EaseSource.load(dir),
};

/**
 * Every source and ranker kind known to this build.
 * @example const model = await readModelDir(dir, builtinRegistry())
 */
export function builtinRegistry(): StageRegistry {
  return makeRegistry([easeKind, twoTowerKind, itemKnnKind, popularityKind], [gbdtRankerKind]);
}
