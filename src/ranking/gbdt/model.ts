import { readFileSync, writeFileSync } from 'node:fs';
import { sigmoid } from './objectives.ts';
import type { GbdtParams, ObjectiveName } from './options.ts';
import { FlatForest, type Tree, type TreeNode, checkTree, predictNodeRef, treeToObject } from './tree.ts';

export const MODEL_FORMAT = 'tandem-gbdt';
export const MODEL_VERSION = 1;

export interface GbdtModelInit {
  objective: ObjectiveName;
  nFeatures: number;
  /** Raw score every prediction starts from. */
  baseScore: number;
  trees: Tree[];
  featureNames?: string[];
  params?: GbdtParams;
  /** Where the model came from: trained here or imported. */
  source?: 'tandem' | 'xgboost';
}

/**
 * A trained ensemble: flat trees, a base score and an objective (which fixes the output transform).
 * Prediction runs on the FlatForest made once from the trees.
 * @example const m = GbdtModel.load('ranker.json'); const p = new Float64Array(n); m.predict(x, n, p);
 */
export class GbdtModel {
  readonly objective: ObjectiveName;
  readonly nFeatures: number;
  readonly baseScore: number;
  readonly trees: Tree[];
  readonly featureNames?: string[];
  readonly params?: GbdtParams;
  readonly source: 'tandem' | 'xgboost';
  private flat?: FlatForest;

  constructor(init: GbdtModelInit) {
    this.objective = init.objective;
    this.nFeatures = init.nFeatures;
    this.baseScore = init.baseScore;
    this.trees = init.trees;
    this.featureNames = init.featureNames;
    this.params = init.params;
    this.source = init.source ?? 'tandem';
    init.trees.forEach((t, i) => checkTree(t, init.nFeatures, `tree ${i}`));
  }

  /** The flattened form prediction uses (built once). */
  get forest(): FlatForest {
    return (this.flat ??= new FlatForest(this.trees, this.nFeatures, this.baseScore));
  }

  /**
   * Raw scores (margins) for nRows row-major rows into `out`; `treeLimit` uses only the first trees.
   * @example model.predictRaw(x, 500, scores);
   */
  predictRaw(x: Float32Array | Float64Array, nRows: number, out: Float64Array, treeLimit?: number): Float64Array {
    return this.forest.predictRaw(x, nRows, out, treeLimit);
  }

  /** Predictions on the output scale (probabilities for binary, margins otherwise) into `out`. */
  predict(x: Float32Array | Float64Array, nRows: number, out: Float64Array): Float64Array {
    this.predictRaw(x, nRows, out);
    if (this.objective === 'binary') for (let i = 0; i < nRows; i++) out[i] = sigmoid(out[i]);
    return out;
  }

  /** Reference prediction of one row: the recursive walk over the object form of every tree (tests). */
  predictRowRef(row: ArrayLike<number>): number {
    let s = this.baseScore;
    for (const t of this.treeObjects()) s += predictNodeRef(t, row);
    return s;
  }

  treeObjects(): TreeNode[] {
    return this.trees.map(treeToObject);
  }

  /** Per-feature importance: total split gain, or the number of splits. */
  featureImportance(kind: 'gain' | 'split' = 'gain'): Float64Array {
    const out = new Float64Array(this.nFeatures);
    for (const t of this.trees) {
      for (let i = 0; i < t.feature.length; i++) out[t.feature[i]] += kind === 'gain' ? t.gain[i] : 1;
    }
    return out;
  }

  /**
   * Per-feature contributions to one row's raw score (the path attribution of Saabas): out[f] sums,
   * over trees, the change in node value at each split on f along the row's path; out[nFeatures] is the
   * bias. Summed, they give the raw score. `out` has length nFeatures + 1.
   * @example const c = new Float64Array(m.nFeatures + 1); m.contributions(row, c);
   */
  contributions(row: ArrayLike<number>, out: Float64Array): Float64Array {
    out.fill(0);
    let bias = this.baseScore;
    for (const t of this.trees) {
      if (t.feature.length === 0) {
        bias += t.leafValue[0];
        continue;
      }
      let node = 0;
      let v = t.nodeValue[0];
      bias += v;
      while (node >= 0) {
        const x = row[t.feature[node]];
        const next = Number.isNaN(x) ? (t.defaultLeft[node] ? t.left[node] : t.right[node]) : x < t.threshold[node] ? t.left[node] : t.right[node];
        const nv = next >= 0 ? t.nodeValue[next] : t.leafValue[~next];
        out[t.feature[node]] += nv - v;
        v = nv;
        node = next;
      }
    }
    out[this.nFeatures] = bias;
    return out;
  }

  /** A copy with only the first `n` trees. */
  truncate(n: number): GbdtModel {
    return new GbdtModel({ ...this, trees: this.trees.slice(0, n) });
  }

  /** Our versioned JSON form (thresholds of +Infinity, "all values left", are written as null). */
  toJSON(): object {
    return {
      format: MODEL_FORMAT,
      version: MODEL_VERSION,
      source: this.source,
      objective: this.objective,
      nFeatures: this.nFeatures,
      baseScore: this.baseScore,
      featureNames: this.featureNames ?? null,
      params: this.params ?? null,
      trees: this.trees.map((t) => ({
        feature: Array.from(t.feature),
        threshold: Array.from(t.threshold, (v) => (v === Infinity ? null : v)),
        defaultLeft: Array.from(t.defaultLeft),
        left: Array.from(t.left),
        right: Array.from(t.right),
        gain: Array.from(t.gain),
        nodeValue: Array.from(t.nodeValue),
        nodeCount: Array.from(t.nodeCount),
        leafValue: Array.from(t.leafValue),
        leafCount: Array.from(t.leafCount),
      })),
    };
  }

  /** Reads our JSON form, checking every field; errors name the field (e.g. `trees[3].left[2]`). */
  static fromJSON(json: unknown, what = 'model'): GbdtModel {
    const o = obj(json, what);
    if (o.format !== MODEL_FORMAT) throw new Error(`${what}.format: expected '${MODEL_FORMAT}', got ${JSON.stringify(o.format)}`);
    if (o.version !== MODEL_VERSION) throw new Error(`${what}.version: this reader knows version ${MODEL_VERSION}, got ${JSON.stringify(o.version)}`);
    const objective = o.objective;
    if (objective !== 'binary' && objective !== 'lambdarank' && objective !== 'regression') throw new Error(`${what}.objective: unknown objective ${JSON.stringify(objective)}`);
    const nFeatures = o.nFeatures;
    if (typeof nFeatures !== 'number' || !Number.isInteger(nFeatures) || nFeatures < 1) throw new Error(`${what}.nFeatures: expected a positive integer`);
    if (typeof o.baseScore !== 'number' || !Number.isFinite(o.baseScore)) throw new Error(`${what}.baseScore: expected a finite number`);
    if (!Array.isArray(o.trees)) throw new Error(`${what}.trees: expected an array`);
    const trees = o.trees.map((tj: unknown, i: number): Tree => {
      const p = `${what}.trees[${i}]`;
      const t = obj(tj, p);
      const nums = (k: string, nullAs?: number): number[] => {
        const a = t[k];
        if (!Array.isArray(a)) throw new Error(`${p}.${k}: expected an array`);
        return a.map((v, j) => {
          if (v === null && nullAs !== undefined) return nullAs;
          if (typeof v !== 'number') throw new Error(`${p}.${k}[${j}]: expected a number, got ${JSON.stringify(v)}`);
          return v;
        });
      };
      return {
        feature: Int32Array.from(nums('feature')),
        threshold: Float64Array.from(nums('threshold', Infinity)),
        defaultLeft: Uint8Array.from(nums('defaultLeft')),
        left: Int32Array.from(nums('left')),
        right: Int32Array.from(nums('right')),
        gain: Float64Array.from(nums('gain')),
        nodeValue: Float64Array.from(nums('nodeValue')),
        nodeCount: Float64Array.from(nums('nodeCount')),
        leafValue: Float64Array.from(nums('leafValue')),
        leafCount: Float64Array.from(nums('leafCount')),
      };
    });
    let featureNames: string[] | undefined;
    if (o.featureNames != null) {
      if (!Array.isArray(o.featureNames) || o.featureNames.length !== nFeatures || !o.featureNames.every((s: unknown) => typeof s === 'string')) {
        throw new Error(`${what}.featureNames: expected ${nFeatures} strings`);
      }
      featureNames = o.featureNames as string[];
    }
    const source = o.source === 'xgboost' ? 'xgboost' : 'tandem';
    try {
      return new GbdtModel({ objective, nFeatures, baseScore: o.baseScore, trees, featureNames, params: (o.params ?? undefined) as GbdtParams | undefined, source });
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    }
  }

  /** Writes our JSON form to `path`. */
  save(path: string): void {
    writeFileSync(path, JSON.stringify(this.toJSON()));
  }

  /** Reads a model saved by `save`. */
  static load(path: string): GbdtModel {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
    return GbdtModel.fromJSON(json, path);
  }
}

function obj(v: unknown, what: string): Record<string, any> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what}: expected an object`);
  return v as Record<string, any>;
}
