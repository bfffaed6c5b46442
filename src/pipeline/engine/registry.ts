/** The stage kinds this build of Tandem can train and load: every source kind of retrieval, every ranker kind of ranking. */
import { RANKER_KINDS } from '../../ranking/index.ts';
import { SOURCE_KINDS } from '../../retrieval/index.ts';
import { makeRegistry, type StageRegistry } from './config.ts';

/**
 * Every source and ranker kind known to this build.
 * @example const model = await readModelDir(dir, builtinRegistry())
 */
export function builtinRegistry(): StageRegistry {
  return makeRegistry(SOURCE_KINDS, RANKER_KINDS);
}
