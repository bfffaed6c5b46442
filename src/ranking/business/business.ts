import type { EntityTable, FeatureColumn } from '../../data/index.ts';

/** A fixed boost (factor > 1) or demotion (factor < 1) for items whose feature holds a value. */
export interface Boost {
  feature: string;
  value: string;
  factor: number;
}

/** Business rules applied after the ranker: value blend, boosts, hard filters, diversity. */
export interface BusinessConfig {
  /** Numeric item column holding the item's value (a price); null: rank by P(action) alone. */
  valueFeature: string | null;
  /** final = P(action) x value^valueExponent (1 = expected revenue; 0 ignores value). Missing value counts as 1. */
  valueExponent: number;
  boosts: Boost[];
  /** Drop the items of the user's history (and the request's exclude set). */
  excludeSeen: boolean;
  /** Keep only items with one of these values in `categoryFeature` (empty: no restriction). */
  allowCategories: string[];
  /** Drop items with any of these values in `categoryFeature`. */
  denyCategories: string[];
  categoryFeature: string | null;
  /** Numeric item column: items whose value is <= 0 are unavailable (missing counts as available). */
  availabilityFeature: string | null;
  /** MMR trade-off: 1 = pure relevance (off); lower values favour items unlike those already picked. */
  diversityLambda: number;
  /** Item column MMR compares items on: categorical/multi-categorical (Jaccard) or vector (cosine). */
  diversityFeature: string | null;
}

export const BUSINESS_DEFAULTS: BusinessConfig = {
  valueFeature: null,
  valueExponent: 1,
  boosts: [],
  excludeSeen: true,
  allowCategories: [],
  denyCategories: [],
  categoryFeature: null,
  availabilityFeature: null,
  diversityLambda: 1,
  diversityFeature: null,
};

/** One recommendation's reason: the source that found it and the features that raised it most. */
export interface Explanation {
  source: string;
  features: { name: string; contribution: number }[];
  text: string;
}

/**
 * The business layer over one catalog: turns ranker probabilities into the final ordered list.
 * Built once (columns resolved, category masks made); `select` allocates only its outputs.
 * @example const biz = new BusinessLayer(ds.items, { valueFeature: 'price', valueExponent: 0.5 });
 *          const { order } = biz.select(items, count, pAction, l1Rank, seen, 10);
 */
export class BusinessLayer {
  readonly config: BusinessConfig;
  private readonly value?: Float64Array;
  private readonly boost: Float32Array;
  private readonly allowed: Uint8Array;
  private readonly diversity?: FeatureColumn;

  constructor(
    readonly items: EntityTable,
    config: Partial<BusinessConfig> = {},
  ) {
    const c = (this.config = { ...BUSINESS_DEFAULTS, ...config });
    const n = items.size;
    if (!Number.isFinite(c.valueExponent)) throw new Error(`business.valueExponent: ${c.valueExponent} is not a finite number`);
    if (!(c.diversityLambda >= 0 && c.diversityLambda <= 1)) throw new Error(`business.diversityLambda: must be in [0, 1], got ${c.diversityLambda}`);
    if (c.valueFeature !== null) this.value = numericColumn(items, c.valueFeature, 'business.valueFeature');
    // per-item multiplicative boost, every matching rule applied
    this.boost = new Float32Array(n).fill(1);
    c.boosts.forEach((b, k) => {
      if (!(b.factor >= 0) || !Number.isFinite(b.factor)) throw new Error(`business.boosts[${k}].factor: must be a finite number >= 0, got ${b.factor}`);
      const has = valueMask(items, b.feature, b.value, `business.boosts[${k}].feature`);
      for (let i = 0; i < n; i++) if (has[i]) this.boost[i] *= b.factor;
    });
    // hard filters that do not depend on the request
    this.allowed = new Uint8Array(n).fill(1);
    if (c.allowCategories.length > 0 || c.denyCategories.length > 0) {
      if (c.categoryFeature === null) throw new Error('business.categoryFeature: allowCategories/denyCategories need a category feature');
      if (c.allowCategories.length > 0) {
        const any = new Uint8Array(n);
        for (const v of c.allowCategories) {
          const has = valueMask(items, c.categoryFeature, v, 'business.categoryFeature');
          for (let i = 0; i < n; i++) any[i] |= has[i];
        }
        for (let i = 0; i < n; i++) if (!any[i]) this.allowed[i] = 0;
      }
      for (const v of c.denyCategories) {
        const has = valueMask(items, c.categoryFeature, v, 'business.categoryFeature');
        for (let i = 0; i < n; i++) if (has[i]) this.allowed[i] = 0;
      }
    }
    if (c.availabilityFeature !== null) {
      const av = numericColumn(items, c.availabilityFeature, 'business.availabilityFeature');
      for (let i = 0; i < n; i++) if (av[i] <= 0) this.allowed[i] = 0;
    }
    if (c.diversityFeature !== null) {
      const col = items.column(c.diversityFeature);
      if (!col) throw new Error(`business.diversityFeature: the catalog has no column '${c.diversityFeature}'`);
      if (col.kind === 'numeric' || col.kind === 'text') throw new Error(`business.diversityFeature: column '${c.diversityFeature}' is ${col.kind}; use a categorical, multi-categorical or vector column`);
      this.diversity = col;
    } else if (c.diversityLambda < 1) {
      throw new Error('business.diversityFeature: diversityLambda < 1 needs a feature to compare items on');
    }
  }

  /** True when the hard filters that do not depend on the request let `item` through. */
  isAllowed(item: number): boolean {
    return item >= 0 && item < this.allowed.length && this.allowed[item] === 1;
  }

  /**
   * The final score of candidate item `item` with ranker probability `p`: p x value^alpha x boosts.
   * @example biz.finalScore(3, 0.2) // 0.2 * price[3]^alpha * boost[3]
   */
  finalScore(item: number, p: number): number {
    let s = p;
    if (this.value) {
      const v = this.value[item];
      if (v === v && this.config.valueExponent !== 0) s *= Math.pow(Math.max(v, 0), this.config.valueExponent);
    }
    return s * this.boost[item];
  }

  /**
   * Filters, blends and orders `count` candidates; returns the positions (into `items`) of the best `n`,
   * best first, with their final scores. Ties break by `tieBreak` (the L1 rank: lower first). `seen`
   * holds the user's history and the request's exclusions (used when excludeSeen is on).
   */
  select(items: Int32Array, count: number, p: ArrayLike<number>, tieBreak: ArrayLike<number>, seen: ReadonlySet<number> | null, n: number): { order: Int32Array; scores: Float32Array } {
    const final = new Float64Array(count);
    const keep: number[] = [];
    for (let c = 0; c < count; c++) {
      const it = items[c];
      if (!this.isAllowed(it)) continue;
      if (this.config.excludeSeen && seen !== null && seen.has(it)) continue;
      final[c] = this.finalScore(it, p[c]);
      keep.push(c);
    }
    keep.sort((a, b) => final[b] - final[a] || tieBreak[a] - tieBreak[b]);
    const m = Math.min(n, keep.length);
    if (this.config.diversityLambda >= 1 || !this.diversity || m <= 1) {
      const order = Int32Array.from(keep.slice(0, m));
      return { order, scores: Float32Array.from(order, (c) => final[c]) };
    }
    return this.mmr(items, keep, final, m);
  }

  /**
   * Maximal marginal relevance: repeatedly picks the candidate maximising
   * lambda * rel - (1 - lambda) * max similarity to the picked ones, rel being the final score scaled to [0, 1].
   */
  private mmr(items: Int32Array, keep: number[], final: Float64Array, m: number): { order: Int32Array; scores: Float32Array } {
    const lambda = this.config.diversityLambda;
    let lo = Infinity;
    let hi = -Infinity;
    for (const c of keep) {
      lo = Math.min(lo, final[c]);
      hi = Math.max(hi, final[c]);
    }
    const span = hi > lo ? hi - lo : 1;
    const maxSim = new Float64Array(keep.length); // max similarity of each remaining candidate to the picked set
    const taken = new Uint8Array(keep.length);
    const order = new Int32Array(m);
    for (let k = 0; k < m; k++) {
      let best = -1;
      let bestVal = -Infinity;
      for (let q = 0; q < keep.length; q++) {
        if (taken[q]) continue;
        const v = lambda * ((final[keep[q]] - lo) / span) - (1 - lambda) * maxSim[q];
        if (v > bestVal) {
          bestVal = v;
          best = q;
        }
      }
      taken[best] = 1;
      order[k] = keep[best];
      const picked = items[keep[best]];
      for (let q = 0; q < keep.length; q++) if (!taken[q]) maxSim[q] = Math.max(maxSim[q], this.similarity(picked, items[keep[q]]));
    }
    return { order, scores: Float32Array.from(order, (c) => final[c]) };
  }

  /** Similarity of two items on the diversity feature: Jaccard of their category sets, or cosine of their vectors. */
  similarity(a: number, b: number): number {
    const col = this.diversity;
    if (!col) return 0;
    switch (col.kind) {
      case 'categorical':
      case 'id':
        return col.codes[a] >= 0 && col.codes[a] === col.codes[b] ? 1 : 0;
      case 'multi-categorical': {
        const a0 = col.offsets[a];
        const a1 = col.offsets[a + 1];
        const b0 = col.offsets[b];
        const b1 = col.offsets[b + 1];
        let inter = 0;
        for (let i = a0; i < a1; i++) {
          for (let j = b0; j < b1; j++) {
            if (col.codes[i] === col.codes[j]) {
              inter++;
              break;
            }
          }
        }
        const union = a1 - a0 + (b1 - b0) - inter;
        return union > 0 ? inter / union : 0;
      }
      case 'vector': {
        const d = col.dim;
        let ab = 0;
        let aa = 0;
        let bb = 0;
        for (let k = 0; k < d; k++) {
          const x = col.values[a * d + k];
          const y = col.values[b * d + k];
          ab += x * y;
          aa += x * x;
          bb += y * y;
        }
        return aa > 0 && bb > 0 && ab === ab ? ab / Math.sqrt(aa * bb) : 0;
      }
      default:
        return 0;
    }
  }
}

/**
 * A short explanation from the source that found the item and per-feature contributions to its score
 * (from the trees' paths): the `top` features that raised it most.
 * @example explain('ease', names, contributions, 2).text // "found by ease; raised by sim_last (+0.81), trans_last (+0.40)"
 */
export function explain(source: string, featureNames: readonly string[], contributions: ArrayLike<number>, top = 3): Explanation {
  const idx: number[] = [];
  for (let f = 0; f < featureNames.length; f++) if (contributions[f] > 0) idx.push(f);
  idx.sort((a, b) => contributions[b] - contributions[a] || a - b);
  const features = idx.slice(0, top).map((f) => ({ name: featureNames[f], contribution: contributions[f] }));
  const raised = features.map((f) => `${f.name} (+${f.contribution.toFixed(2)})`).join(', ');
  return { source, features, text: `found by ${source}${raised ? `; raised by ${raised}` : ''}` };
}

function numericColumn(items: EntityTable, name: string, field: string): Float64Array {
  const col = items.column(name);
  if (!col) throw new Error(`${field}: the catalog has no column '${name}'`);
  if (col.kind !== 'numeric') throw new Error(`${field}: column '${name}' is ${col.kind}, expected numeric`);
  return col.values;
}

/** 1 for items whose categorical or multi-categorical column `name` holds `value`. */
function valueMask(items: EntityTable, name: string, value: string, field: string): Uint8Array {
  const col = items.column(name);
  if (!col) throw new Error(`${field}: the catalog has no column '${name}'`);
  const out = new Uint8Array(items.size);
  if (col.kind === 'categorical' || col.kind === 'id') {
    const code = col.vocab.get(value);
    if (code >= 0) for (let i = 0; i < out.length; i++) out[i] = col.codes[i] === code ? 1 : 0;
  } else if (col.kind === 'multi-categorical') {
    const code = col.vocab.get(value);
    if (code >= 0) {
      for (let i = 0; i < out.length; i++) {
        for (let q = col.offsets[i]; q < col.offsets[i + 1]; q++) if (col.codes[q] === code) out[i] = 1;
      }
    }
  } else {
    throw new Error(`${field}: column '${name}' is ${col.kind}; boosts and category filters need a categorical or multi-categorical column`);
  }
  return out;
}
