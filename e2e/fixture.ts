/**
 * A small real model for the browser tests and the docs' screenshots: the synthetic dataset (titles,
 * categories, tags, four event types), EASE and optionally the two-tower as L1, the GBDT ranker as L2.
 */
import { generateSynthetic } from '../src/data/index.ts';
import { builtinRegistry, trainModel, type StageRegistry } from '../src/pipeline/index.ts';

export interface FixtureModel {
  dir: string;
  registry: StageRegistry;
  seconds: number;
}

/** The built-in kinds. */
export function fixtureRegistry(): StageRegistry {
  return builtinRegistry();
}

/**
 * Trains into `dir` (which must not exist).
 * @example const m = await trainFixtureModel('/tmp/x/model', { users: 200, items: 150, interactions: 5000 })
 */
export async function trainFixtureModel(dir: string, size: { users: number; items: number; interactions: number; twoTower?: boolean; holdout?: number }): Promise<FixtureModel> {
  const t0 = performance.now();
  const registry = fixtureRegistry();
  const dataset = generateSynthetic({ users: size.users, items: size.items, interactions: size.interactions, seed: 5 });
  await trainModel(dir, {
    dataset,
    registry,
    config: {
      sources: size.twoTower ? [{ kind: 'ease', params: { lambda: 50 } }, { kind: 'two-tower' }] : [{ kind: 'ease', params: { lambda: 50 } }],
      fallbacks: [{ kind: 'segments' }, { kind: 'content' }, { kind: 'popularity' }],
      ranker: { kind: 'gbdt', params: { numRounds: 30 } },
    },
    threads: 1,
    holdout: size.holdout ?? 0,
    parameters: { source: { synthetic: size } },
  });
  return { dir, registry, seconds: (performance.now() - t0) / 1000 };
}
