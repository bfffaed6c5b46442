import type { UserQuery } from '../../data/index.ts';
import type { CandidateBlock } from '../../features/index.ts';
import type { RankerModel } from '../model/model.ts';
import { CONTENT_VECTOR_COLUMN, RECENT_VECTOR_COLUMN, VECTOR_COLUMN, type RankerFeatures } from './features.ts';

/** A feature that raised a candidate's score, and by how much. */
export interface Contribution {
  feature: string;
  contribution: number;
}

/**
 * The L2 stage of a request: the ranker features of the merged candidates (`RankerFeatures.extract`,
 * the same call that built the training rows) scored by a ranker model. Scratch is reused: `rows`,
 * `rank` and `explain` read the last request's rows, valid until the next call. Explanations are
 * computed lazily for the candidates returned only (path contributions cost about three times the
 * scoring itself when done for all 500 candidates).
 * @example const r = new Ranker(features, model); const p = r.rank(query, block); r.explain(0)
 */
export class Ranker {
  private x = new Float32Array(0);
  private out = new Float64Array(0);
  private contrib: Float64Array;
  private count = 0;
  /** The explained columns: each feature alone, except the `vec_*` axis products, reported as one. */
  private readonly explained: { names: string[]; columns: number[][] };
  private readonly grouped: Float64Array;

  constructor(
    readonly features: RankerFeatures,
    readonly model: RankerModel,
    /** Contributing features reported per explained candidate. */
    readonly explainTop = 3,
  ) {
    if (model.nFeatures !== features.width) throw new Error(`ranker: the ${model.kind} model takes ${model.nFeatures} features, the feature set has ${features.width} (${features.names.join(', ')})`);
    this.contrib = new Float64Array(features.width + 1);
    this.explained = explainedColumns(features.names, features.embedOnly, features.options.vectors, features.embedGroups.pool);
    this.grouped = new Float64Array(this.explained.names.length);
  }

  get featureNames(): readonly string[] {
    return this.features.names;
  }

  /** The block's feature rows (count x width, row-major; NaN = missing): a view of reused scratch. */
  rows(query: UserQuery, block: CandidateBlock): Float32Array {
    const W = this.features.width;
    const n = block.count;
    if (this.x.length < n * W) this.x = new Float32Array(Math.max(n * W, this.x.length * 2));
    this.features.extract(query, block, this.x, 0);
    this.count = n;
    return this.x.subarray(0, n * W);
  }

  /** Each candidate's score (P(action) for the binary GBDT; the model's `predictRequest` where it has one), a view of reused scratch. */
  rank(query: UserQuery, block: CandidateBlock): Float64Array {
    const x = this.rows(query, block);
    const n = block.count;
    if (this.out.length < n) this.out = new Float64Array(Math.max(n, this.out.length * 2));
    if (this.model.predictRequest) this.model.predictRequest(x, n, this.out);
    else this.model.predict(x, n, this.out);
    return this.out.subarray(0, n);
  }

  /** The features that raised candidate `i` of the last request most (positive contributions, largest first). */
  explain(i: number): Contribution[] {
    return this.explainMany([i])[0];
  }

  /** `explain` of several candidates of the last request, in one batched pass where the model has one (`contributionsOf`). */
  explainMany(cs: readonly number[]): Contribution[][] {
    for (const i of cs) if (!(Number.isInteger(i) && i >= 0 && i < this.count)) throw new Error(`ranker: explain(${i}): the last request had ${this.count} candidates`);
    if (!this.model.contributions) return cs.map(() => []);
    const n = cs.length;
    const W = this.features.width + 1;
    if (this.contrib.length < n * W) this.contrib = new Float64Array(n * W);
    if (this.model.contributionsOf) this.model.contributionsOf(this.x, Int32Array.from(cs), n, this.contrib);
    else for (let k = 0; k < n; k++) this.model.contributions(this.x, cs[k], this.contrib.subarray(k * W, (k + 1) * W));
    const { names, columns } = this.explained;
    const g = this.grouped;
    return cs.map((_, k) => {
      const o = k * W;
      for (let e = 0; e < names.length; e++) {
        let sum = 0;
        for (const f of columns[e]) sum += this.contrib[o + f];
        g[e] = sum;
      }
      const top = topPositive(g, names.length, this.explainTop);
      const out: Contribution[] = [];
      for (const e of top) if (e >= 0) out.push({ feature: names[e], contribution: Math.round(g[e] * 1e4) / 1e4 });
      return out;
    });
  }
}

/**
 * How explanations name the feature columns: one entry per column, except that the `vec_*` axis products
 * (marked VECTOR_COLUMN in `embedOnly`; each alone means little: one principal axis of the two-tower's
 * space) are summed into one entry, `vec_<source>` (the user-item match in that source's space), placed
 * where the first of them is (the `vrec_*` products likewise: `vrec_<source>`, the recent items' match;
 * the `cvec_<column>_*` products one entry per vector item column, `cvec_<column>`); and the slots of a bag (`pool`: the bag's first column per column, -1 for
 * none) are one entry named after the bag (bag_tags_0, bag_tags_1 -> bag_tags; hist_* -> hist).
 * @example explainedColumns(['sim_last', 'vec_0', 'vec_1'], Uint8Array.of(0, 2, 2), 'two-tower') // names ['sim_last', 'vec_two-tower'], columns [[0], [1, 2]]
 */
export function explainedColumns(featureNames: readonly string[], embedOnly: Uint8Array, vectorSource: string | null, pool?: Int32Array): { names: string[]; columns: number[][] } {
  const names: string[] = [];
  const columns: number[][] = [];
  // the entry of each group of axis products by its name (vec_<source>, vrec_<source>, cvec_<column>), once met
  const vecEntry = new Map<string, number>();
  const bagEntry = new Map<number, number>();
  featureNames.forEach((n, f) => {
    const first = pool ? pool[f] : -1;
    if (first >= 0 && (first !== f || pool![f + 1] === f)) {
      let entry = bagEntry.get(first);
      if (entry === undefined) {
        entry = names.length;
        bagEntry.set(first, entry);
        names.push(featureNames[first].replace(/_0$/, ''));
        columns.push([]);
      }
      columns[entry].push(f);
      return;
    }
    const kind = embedOnly[f];
    if (kind === VECTOR_COLUMN || kind === RECENT_VECTOR_COLUMN || kind === CONTENT_VECTOR_COLUMN) {
      // cvec_<column>_<j>: one entry per content column, cvec_<column>
      const name = kind === CONTENT_VECTOR_COLUMN ? n.replace(/_\d+$/, '') : `${kind === VECTOR_COLUMN ? 'vec' : 'vrec'}_${vectorSource ?? 'vectors'}`;
      let entry = vecEntry.get(name);
      if (entry === undefined) {
        entry = names.length;
        vecEntry.set(name, entry);
        names.push(name);
        columns.push([]);
      }
      columns[entry].push(f);
      return;
    }
    names.push(n);
    columns.push([f]);
  });
  return { names, columns };
}

/**
 * Indices of the `top` largest positive values of v[0..n), largest first (ties: lower index first),
 * -1 padded. @example topPositive(Float64Array.of(0.1, -1, 0.5), 3, 2) // Int32Array [2, 0]
 */
export function topPositive(v: ArrayLike<number>, n: number, top: number): Int32Array {
  const out = new Int32Array(top).fill(-1);
  // insertion into a tiny sorted list
  for (let f = 0; f < n; f++) {
    const x = v[f];
    if (!(x > 0)) continue;
    let k = top - 1;
    if (out[k] >= 0 && v[out[k]] >= x) continue;
    while (k > 0 && (out[k - 1] < 0 || v[out[k - 1]] < x)) {
      out[k] = out[k - 1];
      k--;
    }
    out[k] = f;
  }
  return out;
}
