/**
 * The GBDT as an L2 ranker-model kind: our histogram GBDT trained with binary log loss (or LambdaRank)
 * on the ranker's feature rows, early stopping on held-out users' groups.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NO_PROGRESS } from '../../math/index.ts';
import { schema, withDefaults } from '../../schema/index.ts';
import { defineRankerKind, sigmoidInPlace, type RankerModel } from '../model/model.ts';
import type { RankerTrainingSet } from '../ranker/training.ts';
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
/** The row columns the trees read, when the rows hold columns they leave out (id codes). */
const COLUMNS_FILE = 'gbdt-columns.json';
const bagFile = (i: number): string => (i === 0 ? MODEL_FILE : `gbdt-model-${i}.json`);

/** Which columns of the rows the trees read: every one but the embed-only id codes and deep-only columns (null: all). */
export interface RowColumns {
  /** Width of the rows the model is given. */
  width: number;
  /** The columns the trees read, in their order. */
  keep: Int32Array;
}

/** The columns a GBDT reads of a set's rows: null when it reads them all. */
export function treeColumns(set: RankerTrainingSet): RowColumns | null {
  const e = set.embedOnly;
  if (!e || !e.some((v) => v !== 0)) return null;
  const keep: number[] = [];
  for (let f = 0; f < set.nFeatures; f++) if (e[f] === 0) keep.push(f);
  return { width: set.nFeatures, keep: Int32Array.from(keep) };
}

/** Rows 0..n-1 of x (width c.width) with only the columns c.keep, into out (grown when short). */
function gatherColumns(c: RowColumns, x: Float32Array, n: number, out: Float32Array): Float32Array {
  const K = c.keep.length;
  const W = c.width;
  if (out.length < n * K) out = new Float32Array(n * K);
  for (let r = 0; r < n; r++) for (let k = 0; k < K; k++) out[r * K + k] = x[r * W + c.keep[k]];
  return out;
}

/** A training set with only the columns c.keep. */
function projectSet(set: RankerTrainingSet, c: RowColumns): RankerTrainingSet {
  const card = set.cardinalities;
  return {
    ...set,
    features: gatherColumns(c, set.features, set.nRows, new Float32Array(0)),
    nFeatures: c.keep.length,
    featureNames: Array.from(c.keep, (f) => set.featureNames[f]),
    ...(card ? { cardinalities: Int32Array.from(c.keep, (f) => card[f]) } : {}),
    embedOnly: undefined,
    embedGroups: undefined,
  };
}

/** Trained GBDTs (one, or a bag) behind the RankerModel interface: their margins averaged. */
export class GbdtRankerModel implements RankerModel {
  readonly kind = 'gbdt';
  readonly models: GbdtModel[];
  private scratch = new Float64Array(0);
  private contrib = new Float64Array(0);
  private rows: Float32Array = new Float32Array(0);
  private inner = new Float64Array(0);

  constructor(
    models: GbdtModel | GbdtModel[],
    private readonly info: Record<string, unknown> = {},
    /** The rows' columns the trees read (null: every column, in order). */
    readonly columns: RowColumns | null = null,
  ) {
    this.models = Array.isArray(models) ? models : [models];
    const f = this.models[0].nFeatures;
    if (this.models.some((m) => m.nFeatures !== f || m.objective !== this.models[0].objective)) throw new Error('gbdt ranker: the bagged models differ in features or objective');
    if (columns && (columns.keep.length !== f || columns.keep.some((c) => !(c >= 0 && c < columns.width)))) throw new Error(`gbdt ranker: the trees read ${f} columns, the column map keeps ${columns.keep.length} of ${columns.width}`);
  }

  /** The first (or only) model. */
  get model(): GbdtModel {
    return this.models[0];
  }

  get nFeatures(): number {
    return this.columns ? this.columns.width : this.models[0].nFeatures;
  }

  /** The rows the trees read: x itself, or its kept columns. */
  private treeRows(x: Float32Array, n: number): Float32Array {
    if (!this.columns) return x;
    this.rows = gatherColumns(this.columns, x, n, this.rows);
    return this.rows;
  }

  /** P(action) for the binary objective (the business layer multiplies it by item value), margins otherwise. */
  predict(x: Float32Array, n: number, out: Float64Array): void {
    x = this.treeRows(x, n);
    if (this.models.length === 1) {
      this.models[0].predict(x, n, out);
      return;
    }
    // the bag's margins averaged, then the link: one forest of every tree scaled by 1/k
    this.treeMargins(x, n, out);
    if (this.models[0].objective === 'binary') sigmoidInPlace(out, n);
  }

  /** The bag's averaged raw margin (log-odds for the binary objective). */
  margins(x: Float32Array, n: number, out: Float64Array): void {
    x = this.treeRows(x, n);
    this.treeMargins(x, n, out);
  }

  private treeMargins(x: Float32Array, n: number, out: Float64Array): void {
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
    const c = this.columns;
    if (c) {
      // the kept columns' contributions at their row positions; the left-out columns' are 0
      const K = c.keep.length;
      this.rows = gatherColumns(c, x.subarray(row * c.width), 1, this.rows);
      if (this.inner.length !== K + 1) this.inner = new Float64Array(K + 1);
      this.treeContributions(this.rows, 0, this.inner);
      out.fill(0, 0, c.width + 1);
      for (let k = 0; k < K; k++) out[c.keep[k]] = this.inner[k];
      out[c.width] = this.inner[K];
      return;
    }
    this.treeContributions(x, row, out);
  }

  private treeContributions(x: Float32Array, row: number, out: Float64Array): void {
    const F = this.models[0].nFeatures;
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
    if (this.columns) await writeFile(join(dir, COLUMNS_FILE), JSON.stringify({ width: this.columns.width, keep: Array.from(this.columns.keep) }));
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
  async train(data, params, run) {
    const { bags, ...gbdt } = params;
    // the trees leave out the id codes (a split on an id's number means nothing)
    const columns = treeColumns(data.train);
    const train = columns ? projectSet(data.train, columns) : data.train;
    const valid = columns && data.valid ? projectSet(data.valid, columns) : data.valid;
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
    return new GbdtRankerModel(models, { ...info[0], ...(bags > 1 ? { perBag: info } : {}), topFeatures: top }, columns);
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
    const cPath = join(dir, COLUMNS_FILE);
    let columns: RowColumns | null = null;
    if (existsSync(cPath)) {
      const c = JSON.parse(Buffer.from(await (read ?? readFile)(cPath)).toString('utf8')) as { width: unknown; keep: unknown };
      if (typeof c.width !== 'number' || !Array.isArray(c.keep) || !c.keep.every((k) => Number.isInteger(k))) throw new Error(`${cPath}: expected { width, keep: [column, ...] }`);
      columns = { width: c.width, keep: Int32Array.from(c.keep as number[]) };
    }
    return new GbdtRankerModel(models, {}, columns);
  },
  refitParams(params, summary) {
    const best = summary.bestIteration;
    return typeof best === 'number' && best > 0 ? { ...params, numRounds: best, earlyStoppingRounds: 0 } : null;
  },
});
