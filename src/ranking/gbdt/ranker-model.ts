/**
 * The GBDT as an L2 ranker-model kind: our histogram GBDT trained with binary log loss (or LambdaRank)
 * on the ranker's feature rows, early stopping on held-out users' groups.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { withDefaults } from '../../schema/index.ts';
import { defineRankerKind, type RankerModel } from '../model/model.ts';
import { trainGbdt } from './booster.ts';
import { GbdtModel } from './model.ts';
import { GBDT_PARAMS } from './options.ts';

/** The GBDT ranker's parameters: the GBDT schema with the defaults chosen for ranking on ML-100K valid. */
export const GBDT_RANKER_PARAMS = withDefaults(GBDT_PARAMS, {
  objective: 'binary',
  numRounds: 600,
  learningRate: 0.03,
  numLeaves: 31,
  minDataInLeaf: 50,
  lambdaL2: 1,
  featureFraction: 0.8,
  baggingFraction: 0.8,
  earlyStoppingRounds: 50,
});

const MODEL_FILE = 'gbdt-model.json';

/** A trained GBDT behind the RankerModel interface. */
export class GbdtRankerModel implements RankerModel {
  readonly kind = 'gbdt';

  constructor(
    readonly model: GbdtModel,
    private readonly info: Record<string, unknown> = {},
  ) {}

  get nFeatures(): number {
    return this.model.nFeatures;
  }

  /** P(action) for the binary objective (the business layer multiplies it by item value), margins otherwise. */
  predict(x: Float32Array, n: number, out: Float64Array): void {
    this.model.predict(x, n, out);
  }

  /** Path contributions (Saabas) over the flat forest: bit for bit the tree objects' (differential test). */
  contributions(x: Float32Array, row: number, out: Float64Array): void {
    this.model.forest.contributions(x, row * this.model.nFeatures, out);
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    this.model.save(join(dir, MODEL_FILE));
  }

  summary(): Record<string, unknown> {
    return { trees: this.model.treeObjects().length, ...this.info };
  }
}

/** The `gbdt` ranker-model kind. */
export const gbdtRankerKind = defineRankerKind({
  kind: 'gbdt',
  description: 'histogram GBDT (LightGBM-style, leaf-wise) on the ranker features',
  params: GBDT_RANKER_PARAMS,
  async train({ train, valid }, params, run) {
    const useValid = valid !== null && valid.nRows > 0 && params.earlyStoppingRounds > 0;
    const t0 = performance.now();
    const r = await trainGbdt(train, { ...params, seed: run.seed, ...(useValid ? {} : { earlyStoppingRounds: 0 }) }, { valid: useValid ? valid : undefined, threads: run.threads });
    const best = r.validHistory.length > 0 ? r.validHistory[r.bestIteration - 1] : NaN;
    const gain = r.model.featureImportance('gain');
    const top = Array.from(gain, (g, f) => ({ name: train.featureNames[f], gain: Math.round(g * 1000) / 1000 }))
      .sort((a, b) => b.gain - a.gain)
      .slice(0, 10);
    run.log(`gbdt: ${r.bestIteration} trees, valid ${r.metric} ${Number.isFinite(best) ? best.toFixed(5) : 'n/a'} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    return new GbdtRankerModel(r.model, { bestIteration: r.bestIteration, metric: r.metric, validMetric: Number.isFinite(best) ? best : null, topFeatures: top });
  },
  async load(dir) {
    return new GbdtRankerModel(GbdtModel.load(join(dir, MODEL_FILE)));
  },
  refitParams(params, summary) {
    const best = summary.bestIteration;
    return typeof best === 'number' && best > 0 ? { ...params, numRounds: best, earlyStoppingRounds: 0 } : null;
  },
});
