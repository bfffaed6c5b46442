/**
 * The exact inputs `trainTwoTower` starts from, for a peer implementation of the same model (the
 * PyTorch one in bench/twotower_torch.py): the fitted feature space with every entity's encoded bags,
 * the training examples, and the initial parameters that `trainTwoTower` draws for the same seed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../math/index.ts';
import { FeatureSpace } from '../../features/index.ts';
import type { Dataset } from '../../data/index.ts';
import { featureOptions, resolveConfig, type TwoTowerConfig } from './config.ts';
import { buildExamples } from './core.ts';
import { initParams, TwoTowerNet } from './model.ts';

export interface PeerExport {
  features: FeatureSpace;
  config: TwoTowerConfig;
  /** Initial parameters in our flat layout (tables, then each tower's W0, b0, W1, b1, ...). */
  params: Float32Array;
}

/**
 * Writes DIR/spec.json (config, feature-space state, layout) and one raw little-endian .bin file per
 * array: params, userStart, seqItems, seqWeights, exUser, itemLogProb, and the feature space's arrays.
 * @example const { features } = exportTrainingInputs(train, { epochs: 5 }, 1, '/tmp/tt');
 */
export function exportTrainingInputs(train: Dataset, config: Partial<TwoTowerConfig>, seed: number, dir: string): PeerExport {
  const cfg = resolveConfig(config);
  const fs = FeatureSpace.fit(train, featureOptions(cfg));
  const net = new TwoTowerNet(fs, cfg.hidden, cfg.dim, cfg.normalize);
  const params = new Float32Array(net.layout.total);
  // the same draws as trainTwoTower: Rng(seed).fork(0) initialises the parameters
  initParams(net.layout, params, new Rng(seed).fork(0), cfg.initStd);
  const ex = buildExamples(train);
  mkdirSync(dir, { recursive: true });
  const arrays: Record<string, Int32Array | Float32Array | Uint8Array> = {
    params,
    userStart: ex.userStart,
    seqItems: ex.seqItems,
    seqWeights: ex.seqWeights,
    exUser: ex.exUser,
    itemLogProb: ex.itemLogProb,
    ...fs.arrays(),
  };
  for (const [name, a] of Object.entries(arrays)) writeFileSync(join(dir, `${name}.bin`), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  writeFileSync(join(dir, 'spec.json'), JSON.stringify({ config: cfg, features: fs.toJSON(), layout: net.layout, arrays: Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, { type: a.constructor.name, length: a.length }])) }, null, 1));
  return { features: fs, config: cfg, params };
}
