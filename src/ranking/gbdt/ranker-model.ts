/**
 * The GBDT as an L2 ranker-model kind: our histogram GBDT trained with binary log loss (or LambdaRank)
 * on the ranker's feature rows, early stopping on held-out users' groups.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { NO_PROGRESS } from '../../math/index.ts';
import { schema, withDefaults } from '../../schema/index.ts';
import { defineRankerKind, type RankerModel } from '../model/model.ts';
import { trainGbdt } from './booster.ts';
import { GbdtModel } from './model.ts';
import { GBDT_PARAMS } from './options.ts';

/** The GBDT ranker's parameters: the GBDT schema with the defaults chosen for ranking on ML-100K valid, and `bags`. */
export const GBDT_RANKER_PARAMS = schema({
  ...withDefaults(GBDT_PARAMS, {
  objective: 'binary',
  numRounds: 600,
  learningRate: 0.03,
  numLeaves: 31,
  minDataInLeaf: 50,
  lambdaL2: 1,
  featureFraction: 0.8,
  baggingFraction: 0.8,
  earlyStoppingRounds: 50,
  }),
  bags: { type: 'number', integer: true, min: 1, max: 20, default: 1, description: 'GBDTs trained with seeds seed, seed+1, ... (their bagging and feature sampling differ) whose margins are averaged' },
});

const MODEL_FILE = 'gbdt-model.json';
const bagFile = (i: number): string => (i === 0 ? MODEL_FILE : `gbdt-model-${i}.json`);

/** Trained GBDTs (one, or a bag) behind the RankerModel interface: their margins averaged. */
export class GbdtRankerModel implements RankerModel {
  readonly kind = 'gbdt';
  readonly models: GbdtModel[];
  private scratch = new Float64Array(0);
  private contrib = new Float64Array(0);

  constructor(
    models: GbdtModel | GbdtModel[],
    private readonly info: Record<string, unknown> = {},
  ) {
    this.models = Array.isArray(models) ? models : [models];
    const f = this.models[0].nFeatures;
    if (this.models.some((m) => m.nFeatures !== f || m.objective !== this.models[0].objective)) throw new Error('gbdt ranker: the bagged models differ in features or objective');
  }

  /** The first (or only) model. */
  get model(): GbdtModel {
    return this.models[0];
  }

  get nFeatures(): number {
    return this.models[0].nFeatures;
  }

  /** P(action) for the binary objective (the business layer multiplies it by item value), margins otherwise. */
  predict(x: Float32Array, n: number, out: Float64Array): void {
    if (this.models.length === 1) {
      this.models[0].predict(x, n, out);
      return;
    }
    // the bag's margins averaged, then the link: one forest of every tree scaled by 1/k
    this.margins(x, n, out);
    if (this.models[0].objective === 'binary') for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-out[i]));
  }

  /** The bag's averaged raw margin (log-odds for the binary objective). */
  margins(x: Float32Array, n: number, out: Float64Array): void {
    if (this.scratch.length < n) this.scratch = new Float64Array(n);
    out.fill(0, 0, n);
    for (const m of this.models) {
      m.predictRaw(x, n, this.scratch);
      for (let i = 0; i < n; i++) out[i] += this.scratch[i];
    }
    const k = this.models.length;
    for (let i = 0; i < n; i++) out[i] /= k;
  }

    /** Path contributions (Saabas) over the flat forests (bit for bit the tree objects'), averaged over the bag. */
  contributions(x: Float32Array, row: number, out: Float64Array): void {
    const F = this.nFeatures;
    if (this.models.length === 1) {
      this.models[0].forest.contributions(x, row * F, out);
      return;
    }
    if (this.contrib.length !== F + 1) this.contrib = new Float64Array(F + 1);
    out.fill(0, 0, F + 1);
    for (const m of this.models) {
      m.forest.contributions(x, row * F, this.contrib);
      for (let f = 0; f <= F; f++) out[f] += this.contrib[f] / this.models.length;
    }
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    this.models.forEach((m, i) => m.save(join(dir, bagFile(i))));
  }

  summary(): Record<string, unknown> {
    return { trees: this.models.reduce((a, m) => a + m.treeObjects().length, 0), ...(this.models.length > 1 ? { bags: this.models.length } : {}), ...this.info };
  }
}

/** The `gbdt` ranker-model kind. */
export const gbdtRankerKind = defineRankerKind({
  kind: 'gbdt',
  description: 'histogram GBDT (LightGBM-style, leaf-wise) on the ranker features',
  params: GBDT_RANKER_PARAMS,
  async train({ train, valid }, params, run) {
    const { bags, ...gbdt } = params;
    const useValid = valid !== null && valid.nRows > 0 && gbdt.earlyStoppingRounds > 0;
    const models: GbdtModel[] = [];
    const info: Record<string, unknown>[] = [];
    let top: { name: string; gain: number }[] = [];
    for (let b = 0; b < bags; b++) {
      const t0 = performance.now();
      // a task per bag: early stopping ends each at its own round
      const task = (run.progress ?? NO_PROGRESS).start(bags > 1 ? `gbdt ${b + 1}/${bags}` : 'gbdt', gbdt.numRounds, 'rounds');
      const onRound = (round: number, metric: number): void => {
        task.set(round + 1);
        if (Number.isFinite(metric)) task.note(`valid ${metric.toFixed(4)}`);
      };
      const r = await trainGbdt(train, { ...gbdt, seed: run.seed + b, ...(useValid ? {} : { earlyStoppingRounds: 0 }) }, { valid: useValid ? valid : undefined, threads: run.threads, onRound }).finally(() => task.finish());
      const best = r.validHistory.length > 0 ? r.validHistory[r.bestIteration - 1] : NaN;
      if (b === 0) {
        const gain = r.model.featureImportance('gain');
        top = Array.from(gain, (g, f) => ({ name: train.featureNames[f], gain: Math.round(g * 1000) / 1000 }))
          .sort((a, c) => c.gain - a.gain)
          .slice(0, 10);
      }
      run.log(`gbdt${bags > 1 ? ` ${b + 1}/${bags}` : ''}: ${r.bestIteration} trees, valid ${r.metric} ${Number.isFinite(best) ? best.toFixed(5) : 'n/a'} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      models.push(r.model);
      info.push({ bestIteration: r.bestIteration, metric: r.metric, validMetric: Number.isFinite(best) ? best : null });
    }
    return new GbdtRankerModel(models, { ...info[0], ...(bags > 1 ? { perBag: info } : {}), topFeatures: top });
  },
  async load(dir, params, read) {
    // every file through the loader's reader when there is one (the model loader checks each)
    const one = async (path: string): Promise<GbdtModel> => {
      if (!read) return GbdtModel.load(path);
      let json: unknown;
      try {
        json = JSON.parse(Buffer.from(await read(path)).toString('utf8'));
      } catch (e) {
        throw new Error(`${path}: ${(e as Error).message}`);
      }
      return GbdtModel.fromJSON(json, path);
    };
    const models: GbdtModel[] = [];
    for (let i = 0; i < params.bags; i++) models.push(await one(join(dir, bagFile(i))));
    return new GbdtRankerModel(models);
  },
  refitParams(params, summary) {
    const best = summary.bestIteration;
    return typeof best === 'number' && best > 0 ? { ...params, numRounds: best, earlyStoppingRounds: 0 } : null;
  },
});
