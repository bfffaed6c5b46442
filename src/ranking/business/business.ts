/**
 * The business layer: turns ranked candidates into the final list. One implementation, used by every
 * request of the engine (and so by evaluation, the service and the dashboard alike): hard filters
 * (the user's history, allow/deny categories, availability), the value blend, boosts and demotions,
 * MMR diversity, and the adjustments each item's explanation reports. It reads item features through
 * the live catalog, so an item upserted while serving is filtered and boosted like a trained one.
 */
import { codeOf, type ItemCatalog } from '../../features/index.ts';
import { InputError, schema, type Infer } from '../../schema/index.ts';

/** The business rules' settings (one schema: defaults, ranges, docs; checked in configs and model directories). */
export const BUSINESS_PARAMS = schema({
  excludeSeen: { type: 'boolean', default: true, description: "never return the items of the user's history" },
  categoryFeature: { type: 'string', nullable: true, default: null, description: 'item column that `category=` and allow/deny filter on (categorical or multi-categorical); null: the first such column' },
  boosts: {
    type: 'array',
    description: 'multiply the score of items whose feature holds the value (factor < 1 demotes, 0 sinks)',
    of: {
      feature: { type: 'string', required: true, description: 'a categorical or multi-categorical item column' },
      value: { type: 'string', required: true, description: 'the value' },
      factor: { type: 'number', min: 0, required: true, description: 'the multiplier' },
    },
  },
  valueFeature: { type: 'string', nullable: true, default: null, description: "numeric item column holding the item's value (a price): final = score x value^valueExponent" },
  valueExponent: { type: 'number', min: -10, max: 10, default: 1, description: '1 = expected revenue, 0 ignores the value; a missing value counts as 1' },
  allowCategories: { type: 'list', of: 'string', default: [], description: 'keep only items with one of these values in the category feature (empty: all)' },
  denyCategories: { type: 'list', of: 'string', default: [], description: 'drop items with any of these values in the category feature' },
  availabilityFeature: { type: 'string', nullable: true, default: null, description: 'numeric item column: items whose value is <= 0 are unavailable (missing counts as available)' },
  diversityLambda: { type: 'number', min: 0, max: 1, default: 1, description: 'MMR trade-off: 1 = pure relevance (off); lower favours items unlike those already picked' },
  diversityFeature: { type: 'string', nullable: true, default: null, description: 'item column MMR compares on: categorical/multi-categorical (Jaccard) or vector (cosine)' },
});

export type BusinessConfig = Infer<typeof BUSINESS_PARAMS>;
export type Boost = BusinessConfig['boosts'][number];

/** One rule that changed an item's final score. */
export interface Adjustment {
  /** `genre=Comedy` for a boost, `price` for the value blend. */
  rule: string;
  factor: number;
}

/** The category column the rules use: the configured one, else the first categorical or multi-categorical item column (-1: none). */
export function categoryColumn(catalog: ItemCatalog, config: Pick<BusinessConfig, 'categoryFeature'>): number {
  if (config.categoryFeature !== null) return catalog.columnIndex(config.categoryFeature);
  return catalog.columns.findIndex((c) => c.kind === 'categorical' || c.kind === 'multi-categorical');
}

/**
 * @example
 *   const biz = new BusinessLayer(catalog, check(BUSINESS_PARAMS, { valueFeature: 'price', valueExponent: 0.5 }));
 *   const { order, scores } = biz.select(items, count, pAction, position, 10);
 */
export class BusinessLayer {
  readonly categoryCol: number;
  private readonly valueCol: number;
  private readonly availabilityCol: number;
  private readonly diversityCol: number;
  private readonly boostRules: { col: number; code: number; factor: number; label: string }[];
  private readonly allowCodes: number[];
  private readonly denyCodes: number[];
  // per item, grown with the catalog: boost product and the request-independent filters
  private boost = new Float32Array(0);
  private allowed = new Uint8Array(0);
  private sized = 0;

  constructor(
    readonly catalog: ItemCatalog,
    readonly config: BusinessConfig,
  ) {
    const c = config;
    const col = (name: string | null, field: string, kinds: string[]): number => {
      if (name === null) return -1;
      const i = catalog.columnIndex(name);
      if (i < 0) throw new Error(`business.${field}: the catalog has no column '${name}' (known: ${catalog.columns.map((x) => x.name).join(', ') || 'none'})`);
      if (!kinds.includes(catalog.columns[i].kind)) throw new Error(`business.${field}: column '${name}' is ${catalog.columns[i].kind}, expected ${kinds.join(' or ')}`);
      return i;
    };
    const coded = ['categorical', 'multi-categorical', 'id'];
    this.categoryCol = c.categoryFeature !== null ? col(c.categoryFeature, 'categoryFeature', coded) : categoryColumn(catalog, c);
    this.valueCol = col(c.valueFeature, 'valueFeature', ['numeric']);
    this.availabilityCol = col(c.availabilityFeature, 'availabilityFeature', ['numeric']);
    this.diversityCol = col(c.diversityFeature, 'diversityFeature', [...coded, 'vector']);
    if (c.diversityLambda < 1 && this.diversityCol < 0) throw new Error('business.diversityFeature: diversityLambda < 1 needs a feature to compare items on');
    this.boostRules = c.boosts.map((b, k) => {
      const ci = col(b.feature, `boosts[${k}].feature`, coded);
      return { col: ci, code: codeOf(catalog.columns[ci], b.value), factor: b.factor, label: `${b.feature}=${b.value}` };
    });
    if ((c.allowCategories.length > 0 || c.denyCategories.length > 0) && this.categoryCol < 0) throw new Error('business.categoryFeature: allowCategories/denyCategories need a category feature');
    const codes = (vs: readonly string[]) => vs.map((v) => (this.categoryCol >= 0 ? codeOf(catalog.columns[this.categoryCol], v) : -1));
    this.allowCodes = codes(c.allowCategories);
    this.denyCodes = codes(c.denyCategories);
    this.ensure(catalog.size);
  }

  /** Per-item arrays cover every catalog item (recomputing none of the existing ones). */
  private ensure(n: number): void {
    if (n <= this.sized) return;
    if (n > this.boost.length) {
      const cap = Math.max(n, Math.ceil(this.boost.length * 1.25) + 16);
      const b = new Float32Array(cap);
      b.set(this.boost.subarray(0, this.sized));
      const a = new Uint8Array(cap);
      a.set(this.allowed.subarray(0, this.sized));
      this.boost = b;
      this.allowed = a;
    }
    for (let it = this.sized; it < n; it++) this.compute(it);
    this.sized = n;
  }

  private compute(it: number): void {
    const cat = this.catalog;
    let f = 1;
    for (const r of this.boostRules) if (cat.hasCode(it, r.col, r.code)) f *= r.factor;
    this.boost[it] = f;
    let ok = true;
    if (this.allowCodes.length > 0) ok = this.allowCodes.some((code) => cat.hasCode(it, this.categoryCol, code));
    if (ok && this.denyCodes.some((code) => cat.hasCode(it, this.categoryCol, code))) ok = false;
    if (ok && this.availabilityCol >= 0 && cat.number(it, this.availabilityCol) <= 0) ok = false;
    this.allowed[it] = ok ? 1 : 0;
  }

  /** Item `item` was upserted (or is new): its boosts and filters follow its new features. */
  refresh(item: number): void {
    this.ensure(this.catalog.size);
    this.compute(item);
  }

  /** True when the request-independent filters let `item` through and it is live. */
  isAllowed(item: number): boolean {
    if (item >= this.sized) this.ensure(this.catalog.size);
    return item >= 0 && item < this.sized && this.allowed[item] === 1 && this.catalog.isLive(item);
  }

  /**
   * The items a request must never return: the user's history (when excludeSeen) and the request's own
   * exclusions. @example biz.exclusions(query.history, [7]) // Set {history..., 7}
   */
  exclusions(history: ArrayLike<number>, extra: Iterable<number> = []): Set<number> {
    const out = new Set<number>(extra);
    if (this.config.excludeSeen) for (let i = 0; i < history.length; i++) out.add(history[i]);
    return out;
  }

  /**
   * The code of `value` in the category column (for a request's `category=`); -1 without a category
   * column. A value the column never held is the caller's mistake, not an empty answer: InputError on
   * `category`, naming the known values.
   */
  categoryCode(value: string): number {
    if (this.categoryCol < 0) return -1;
    const col = this.catalog.columns[this.categoryCol];
    const code = codeOf(col, value);
    if (code < 0) {
      const known = 'vocab' in col ? col.vocab.values : [];
      const shown = known.slice(0, 40).join(', ') + (known.length > 40 ? `, ... (${known.length - 40} more)` : '');
      throw new InputError('category', `unknown ${col.name} '${value}' (known: ${shown || 'none'})`);
    }
    return code;
  }

  /**
   * The final score of item `item` ranked `s`: s x value^valueExponent x boosts.
   * @example biz.finalScore(3, 0.2) // 0.2 * price[3]^alpha * boost[3]
   */
  finalScore(item: number, s: number): number {
    if (item >= this.sized) this.ensure(this.catalog.size);
    let f = s;
    if (this.valueCol >= 0 && this.config.valueExponent !== 0) {
      const v = this.catalog.number(item, this.valueCol);
      if (v === v) f *= Math.pow(Math.max(v, 0), this.config.valueExponent);
    }
    return f * this.boost[item];
  }

  /** The rules that changed item `item`'s score (boosts that matched, the value blend), for its explanation. */
  adjustments(item: number): Adjustment[] {
    const out: Adjustment[] = [];
    for (const r of this.boostRules) if (this.catalog.hasCode(item, r.col, r.code)) out.push({ rule: r.label, factor: r.factor });
    if (this.valueCol >= 0 && this.config.valueExponent !== 0) {
      const v = this.catalog.number(item, this.valueCol);
      if (v === v) out.push({ rule: this.catalog.columns[this.valueCol].name, factor: round(Math.pow(Math.max(v, 0), this.config.valueExponent)) });
    }
    return out;
  }

  /**
   * Filters, blends and orders `count` candidates; returns the positions (into `items`) of the best `n`,
   * best first, with their final scores. Ties break by `tieBreak` (the L1 position: lower first).
   * Items the filters drop are skipped (the caller already excluded the user's history).
   */
  select(items: Int32Array, count: number, scores: ArrayLike<number>, tieBreak: ArrayLike<number>, n: number): { order: Int32Array; scores: Float64Array } {
    const final = new Float64Array(count);
    const keep: number[] = [];
    for (let c = 0; c < count; c++) {
      const it = items[c];
      if (!this.isAllowed(it)) continue;
      final[c] = this.finalScore(it, scores[c]);
      keep.push(c);
    }
    keep.sort((a, b) => final[b] - final[a] || tieBreak[a] - tieBreak[b]);
    const m = Math.min(n, keep.length);
    if (this.config.diversityLambda >= 1 || this.diversityCol < 0 || m <= 1) {
      const order = Int32Array.from(keep.slice(0, m));
      return { order, scores: Float64Array.from(order, (c) => final[c]) };
    }
    return this.mmr(items, keep, final, m);
  }

  /**
   * Maximal marginal relevance: repeatedly picks the candidate maximising
   * lambda * rel - (1 - lambda) * max similarity to the picked ones, rel being the final score scaled to [0, 1].
   */
  private mmr(items: Int32Array, keep: number[], final: Float64Array, m: number): { order: Int32Array; scores: Float64Array } {
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
    return { order, scores: Float64Array.from(order, (c) => final[c]) };
  }

  /** Similarity of two items on the diversity feature: Jaccard of their value sets, or cosine of their vectors. */
  similarity(a: number, b: number): number {
    const ci = this.diversityCol;
    if (ci < 0) return 0;
    const col = this.catalog.columns[ci];
    if (col.kind === 'vector') {
      const x = this.catalog.vector(a, ci);
      const y = this.catalog.vector(b, ci);
      if (!x || !y) return 0;
      let ab = 0;
      let aa = 0;
      let bb = 0;
      for (let k = 0; k < x.length; k++) {
        ab += x[k] * y[k];
        aa += x[k] * x[k];
        bb += y[k] * y[k];
      }
      return aa > 0 && bb > 0 && ab === ab ? ab / Math.sqrt(aa * bb) : 0;
    }
    const ca = this.catalog.codes(a, ci);
    const cb = this.catalog.codes(b, ci);
    let inter = 0;
    for (let i = 0; i < ca.length; i++) {
      for (let j = 0; j < cb.length; j++) {
        if (ca[i] === cb[j]) {
          inter++;
          break;
        }
      }
    }
    const union = ca.length + cb.length - inter;
    return union > 0 ? inter / union : 0;
  }
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
