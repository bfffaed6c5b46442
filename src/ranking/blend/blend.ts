/**
 * The `blend` ranker-model kind: the GBDT and the DCN trained on the same rows, their log-odds averaged
 * with weight w on the GBDT, z = w z_gbdt + (1 - w) z_dcn, P = sigmoid(z). w is chosen on the validation
 * users' rows (the rows both models' early stopping watched) from a grid, and saved with the two models.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { schema } from '../../schema/index.ts';
import { DCN_PARAMS, dcnRankerKind } from '../deep/ranker-model.ts';
import { backendKernels } from '../deep/model.ts';
import { trainDcn } from '../deep/train.ts';
import { GBDT_RANKER_PARAMS, gbdtRankerKind } from '../gbdt/ranker-model.ts';
import { ndcgAt } from '../gbdt/metrics.ts';
import { contributionsOfRow, defineRankerKind, sigmoidInPlace, sigmoidOfMargins, type RankerModel, type RankerRun } from '../model/model.ts';
import { concatSets, splitGroups, type RankerTrainingSet } from '../ranker/training.ts';
import { applyStack, fitStack, type StackSpec } from './stack.ts';

export const BLEND_FILE = 'blend.json';

/** The blend's parameters: each model's own, and how the weight is chosen. */
export const BLEND_PARAMS = schema({
  gbdt: { type: 'object', fields: GBDT_RANKER_PARAMS, description: "the GBDT's parameters" },
  dcn: { type: 'object', fields: DCN_PARAMS, description: "the DCN's parameters" },
  weights: { type: 'list', of: 'number', min: 0, max: 1, default: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1], description: "the GBDT weights tried on the validation rows (the DCN's is 1 - w)" },
  weight: { type: 'number', min: 0, max: 1, nullable: true, default: null, description: 'a fixed GBDT weight (null: chosen on the validation rows; 0.5 without them)' },
  metric: { type: 'string', values: ['ndcg', 'logloss'], default: 'ndcg', description: 'what the weight is chosen by on the validation rows (ndcg: ndcg@10 over the user groups)' },
  combine: { type: 'string', values: ['weight', 'stack', 'residual'], default: 'weight', description: "weight: one GBDT weight for every row; stack: a logistic regression on both log-odds and their products with stackColumns, fitted on the validation rows; residual: the DCN trained on top of the GBDT's log-odds (z = z_gbdt + z_dcn: it learns what the trees leave)" },
  residualCrossFit: { type: 'boolean', default: true, description: "combine 'residual': the DCN trains on out-of-fold GBDT log-odds (two GBDTs, each fitted on half the users, score the other half) instead of the final GBDT's in-sample ones" },
  stackColumns: { type: 'list', of: 'string', default: ['u_events', 'i_pop_total'], description: "ranker columns (log1p, standardised) the stacker's weights move with" },
  stackL2: { type: 'number', min: 0, default: 0.001, description: "the stacker's ridge penalty" },
  // 100: on ML-100K valid (seeds 42-44) and the shop's valid split the blend's ndcg@10 was the same to
  // +-0.0001 with the DCN on the top 25, 50, 100 or every candidate; 100 keeps a margin over any k a
  // response returns, and bounds the DCN's cost per request whatever the candidate count (docs/ranking.md)
  dcnTop: { type: 'number', integer: true, min: 1, nullable: true, default: 100, description: "combine 'weight': a cascade. In a request the DCN scores only the GBDT's top n candidates; each other candidate gets its GBDT log-odds plus (1 - w) times the DCN's mean difference from the GBDT over those n (what the blend would give if the DCN agreed with the trees as much as it does on the top). null: the DCN scores every candidate. Training and the weight's choice are unchanged; combine 'stack' and 'residual' score every candidate (dcnTop unused)" },
});

/** Needs the models' log-odds. */
function marginsOf(m: RankerModel): (x: Float32Array, n: number, out: Float64Array) => void {
  if (!m.margins) throw new Error(`blend: the ${m.kind} model gives no margins`);
  return m.margins.bind(m);
}

/** Two models' log-odds averaged with weight `weight` on the first. */
export class BlendModel implements RankerModel {
  readonly kind = 'blend';
  private a = new Float64Array(0);
  private b = new Float64Array(0);
  private ca = new Float64Array(0);
  /** dcnTop's scratch: the candidates by GBDT log-odds, their rows gathered, the DCN's log-odds of them. */
  private order = new Int32Array(0);
  private sub = new Float32Array(0);
  private zd = new Float64Array(0);

  constructor(
    readonly gbdt: RankerModel,
    readonly dcn: RankerModel,
    readonly weight: number,
    private readonly info: Record<string, unknown> = {},
    /** The learned stacker (combine 'stack'); null: the fixed weight. */
    readonly stack: StackSpec | null = null,
    /** combine 'residual': z = z_gbdt + z_dcn (the DCN was trained on the GBDT's log-odds); the weight is unused. */
    readonly residual = false,
    /** The cascade of `predictRequest`: the DCN scores the GBDT's top dcnTop of a request only (null: all). */
    readonly dcnTop: number | null = null,
  ) {
    if (gbdt.nFeatures !== dcn.nFeatures) throw new Error(`blend: the gbdt takes ${gbdt.nFeatures} features, the dcn ${dcn.nFeatures}`);
    if (!(weight >= 0 && weight <= 1)) throw new Error(`blend: weight must be in [0, 1], got ${weight}`);
    if (dcnTop !== null && (!Number.isInteger(dcnTop) || dcnTop < 1)) throw new Error(`blend: dcnTop must be a positive integer or null, got ${dcnTop}`);
    if (dcnTop !== null && (stack || residual)) throw new Error("blend: dcnTop (the cascade) goes with combine 'weight' only");
  }

  get nFeatures(): number {
    return this.gbdt.nFeatures;
  }

  /** z = w z_gbdt + (1 - w) z_dcn, or the stacker's z. */
  margins(x: Float32Array, n: number, out: Float64Array): void {
    if (this.a.length < n) this.a = new Float64Array(n);
    if (this.stack) {
      if (this.b.length < n) this.b = new Float64Array(n);
      marginsOf(this.gbdt)(x, n, this.a);
      marginsOf(this.dcn)(x, n, this.b);
      applyStack(this.stack, x, this.nFeatures, n, this.a, this.b, out);
      return;
    }
    if (this.residual) {
      marginsOf(this.gbdt)(x, n, this.a);
      marginsOf(this.dcn)(x, n, out);
      for (let i = 0; i < n; i++) out[i] += this.a[i];
      return;
    }
    const w = this.weight;
    // a model with weight 0 is not run
    if (w > 0) marginsOf(this.gbdt)(x, n, this.a);
    if (w < 1) marginsOf(this.dcn)(x, n, out);
    for (let i = 0; i < n; i++) out[i] = (w > 0 ? w * this.a[i] : 0) + (w < 1 ? (1 - w) * out[i] : 0);
  }

  predict(x: Float32Array, n: number, out: Float64Array): void {
    sigmoidOfMargins(this, x, n, out);
  }

  /**
   * `predict` of one request's candidates. With `dcnTop` (a cascade): the GBDT scores all n, the DCN only
   * the top dcnTop of them by GBDT log-odds (ties: the earlier row). Those get the blend's z; every other
   * row i gets z_gbdt[i] + (1 - w) d, d the mean of z_dcn - z_gbdt over the top: the blend's value had
   * the DCN differed from the trees there as it does on average on the top. The tail keeps the trees'
   * order and can still pass a top row the DCN marked down.
   */
  predictRequest(x: Float32Array, n: number, out: Float64Array): void {
    const top = this.dcnTop;
    const w = this.weight;
    if (top === null || n <= top || w === 0 || w === 1) return this.predict(x, n, out);
    const F = this.nFeatures;
    if (this.a.length < n) this.a = new Float64Array(n);
    if (this.order.length < n) this.order = new Int32Array(n);
    if (this.sub.length < top * F) this.sub = new Float32Array(top * F);
    if (this.zd.length < top) this.zd = new Float64Array(top);
    const zg = this.a;
    marginsOf(this.gbdt)(x, n, zg);
    const order = this.order.subarray(0, n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((i, j) => zg[j] - zg[i] || i - j);
    for (let k = 0; k < top; k++) this.sub.set(x.subarray(order[k] * F, (order[k] + 1) * F), k * F);
    marginsOf(this.dcn)(this.sub, top, this.zd);
    let d = 0;
    for (let k = 0; k < top; k++) d += this.zd[k] - zg[order[k]];
    const tail = (1 - w) * (d / top);
    for (let i = 0; i < n; i++) out[i] = zg[i] + tail;
    for (let k = 0; k < top; k++) out[order[k]] = w * zg[order[k]] + (1 - w) * this.zd[k];
    sigmoidInPlace(out, n);
  }

  /** The weighted sum of both models' contributions (each sums to its log-odds, so these sum to the blend's). */
  contributions(x: Float32Array, row: number, out: Float64Array): void {
    contributionsOfRow(this, x, row, out);
  }

  /** `contributions` of n rows: each model's batched where it can be (the DCN), then weighed row by row. */
  contributionsOf(x: Float32Array, rows: Int32Array, n: number, out: Float64Array): void {
    const F = this.nFeatures;
    const W = F + 1;
    if (this.ca.length < n * W) this.ca = new Float64Array(n * W);
    out.fill(0, 0, n * W);
    const wg = new Float64Array(n).fill(this.residual ? 1 : this.weight);
    const wd = new Float64Array(n).fill(this.residual ? 1 : 1 - this.weight);
    if (this.stack) {
      // the stacker is linear in the two log-odds with row-dependent weights: z = b + wg zg + wd zd
      const one = Float64Array.of(1);
      const zero = Float64Array.of(0);
      const g1 = new Float64Array(1);
      const d1 = new Float64Array(1);
      const b = new Float64Array(1);
      for (let k = 0; k < n; k++) {
        const xr = x.subarray(rows[k] * F, (rows[k] + 1) * F);
        applyStack(this.stack, xr, F, 1, zero, zero, b);
        applyStack(this.stack, xr, F, 1, one, zero, g1);
        applyStack(this.stack, xr, F, 1, zero, one, d1);
        wg[k] = g1[0] - b[0];
        wd[k] = d1[0] - b[0];
        out[k * W + F] += b[0];
      }
    }
    const add = (m: RankerModel, w: Float64Array) => {
      if (!m.contributions || w.every((v) => v === 0)) return;
      if (m.contributionsOf) m.contributionsOf(x, rows, n, this.ca);
      else for (let k = 0; k < n; k++) m.contributions(x, rows[k], this.ca.subarray(k * W, (k + 1) * W));
      for (let k = 0; k < n; k++) for (let f = 0; f < W; f++) out[k * W + f] += w[k] * this.ca[k * W + f];
    };
    add(this.gbdt, wg);
    add(this.dcn, wd);
  }

  dispose(): void {
    this.gbdt.dispose?.();
    this.dcn.dispose?.();
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await this.gbdt.save(join(dir, 'gbdt'));
    await this.dcn.save(join(dir, 'dcn'));
    await writeFile(join(dir, BLEND_FILE), JSON.stringify({ weight: this.weight, ...(this.stack ? { stack: this.stack } : {}), ...(this.residual ? { residual: true } : {}) }));
  }

  summary(): Record<string, unknown> {
    return { weight: this.weight, ...(this.dcnTop !== null ? { dcnTop: this.dcnTop } : {}), ...(this.residual ? { residual: true } : {}), ...(this.stack ? { stack: { columns: this.stack.names, theta: this.stack.theta.map((t) => Math.round(t * 1e4) / 1e4) } } : {}), ...this.info, gbdt: this.gbdt.summary(), dcn: this.dcn.summary() };
  }
}

/**
 * The GBDT weight of `weights` whose blend scores best on `valid` (ndcg@10: higher; log loss: lower);
 * ties keep the earlier weight. Returns it and every weight's figure.
 * @example chooseWeight(zGbdt, zDcn, valid, [0, 0.5, 1], 'ndcg')
 */
export function chooseWeight(zg: Float64Array, zd: Float64Array, valid: RankerTrainingSet, weights: readonly number[], metric: 'ndcg' | 'logloss'): { weight: number; figures: { weight: number; value: number }[] } {
  const z = new Float64Array(valid.nRows);
  const figures: { weight: number; value: number }[] = [];
  let best = metric === 'ndcg' ? -Infinity : Infinity;
  let weight = weights[0];
  for (const w of weights) {
    for (let r = 0; r < z.length; r++) z[r] = w * zg[r] + (1 - w) * zd[r];
    let v: number;
    if (metric === 'ndcg') v = ndcgAt(z, valid.labels, valid.groups, 10);
    else {
      let s = 0;
      for (let r = 0; r < z.length; r++) s += (z[r] > 0 ? z[r] + Math.log1p(Math.exp(-z[r])) : Math.log1p(Math.exp(z[r]))) - valid.labels[r] * z[r];
      v = s / Math.max(1, z.length);
    }
    figures.push({ weight: w, value: v });
    if (metric === 'ndcg' ? v > best : v < best) {
      best = v;
      weight = w;
    }
  }
  return { weight, figures };
}

/**
 * What the residual DCN trains on: the training rows (reordered when cross-fitted) with the GBDT log-odds
 * it learns on top of, out of fold (`crossFit`: each half of the users scored by a GBDT with `params`
 * fitted on the other half) or in sample (`gbdt`'s), and the validation rows' log-odds from `gbdt`.
 * @example const o = await residualOffsets({ train, valid }, gbdt, params.gbdt, true, run);
 */
export async function residualOffsets(data: { train: RankerTrainingSet; valid: RankerTrainingSet | null }, gbdt: RankerModel, params: Parameters<typeof gbdtRankerKind.train>[1], crossFit: boolean, run: RankerRun): Promise<{ rows: RankerTrainingSet; train: Float64Array; valid: Float64Array | null }> {
  let rows = data.train;
  const train = new Float64Array(rows.nRows);
  if (crossFit && data.train.groups.length > 2) {
    const { train: a, valid: b } = splitGroups(data.train, 0.5, run.seed);
    rows = concatSets([b, a]);
    const fold = async (fit: RankerTrainingSet, other: RankerTrainingSet, at: number) => {
      const m = await gbdtRankerKind.train({ train: fit, valid: data.valid }, params, { ...run, progress: run.progress?.scope('gbdt fold') });
      marginsOf(m)(other.features, other.nRows, train.subarray(at, at + other.nRows));
      m.dispose?.();
    };
    await fold(a, b, 0);
    await fold(b, a, b.nRows);
  } else marginsOf(gbdt)(rows.features, rows.nRows, train);
  const v = data.valid && data.valid.nRows > 0 ? new Float64Array(data.valid.nRows) : null;
  if (v) marginsOf(gbdt)(data.valid!.features, data.valid!.nRows, v);
  return { rows, train, valid: v };
}

/** The `blend` ranker-model kind. */
export const blendRankerKind = defineRankerKind({
  kind: 'blend',
  description: "the GBDT's and the DCN's log-odds averaged, the weight chosen on the validation rows",
  params: BLEND_PARAMS,
  async train(data, params, run) {
    if (params.weights.length === 0 && params.weight === null) throw new Error('blend: weights is empty and no fixed weight is given');
    // the stacker's columns, checked before either model trains
    const stackCols = params.combine === 'stack' ? params.stackColumns.map((name) => {
      const k = data.train.featureNames.indexOf(name);
      if (k < 0) throw new Error(`blend: stackColumns: no ranker column '${name}' (columns: ${data.train.featureNames.join(', ')})`);
      return k;
    }) : [];
    const gbdt = await gbdtRankerKind.train(data, params.gbdt, { ...run, progress: run.progress?.scope('gbdt') });
    const valid = data.valid;
    if (params.combine === 'residual') {
      if (params.dcn.ensemble !== 1) throw new Error(`blend: combine 'residual' trains one DCN on the GBDT's log-odds; dcn.ensemble must be 1, got ${params.dcn.ensemble}`);
      const o = await residualOffsets(data, gbdt, params.gbdt, params.residualCrossFit, run);
      const r = await trainDcn(o.rows, valid, params.dcn, { ...run, progress: run.progress?.scope('dcn') }, backendKernels(), { train: o.train, valid: o.valid });
      return new BlendModel(gbdt, r.model, 1, {}, null, true);
    }
    const dcn = await dcnRankerKind.train(data, params.dcn, { ...run, progress: run.progress?.scope('dcn') });
    let weight = params.weight ?? 0.5;
    const info: Record<string, unknown> = {};
    if (params.weight === null && valid && valid.nRows > 0) {
      const zg = new Float64Array(valid.nRows);
      const zd = new Float64Array(valid.nRows);
      marginsOf(gbdt)(valid.features, valid.nRows, zg);
      marginsOf(dcn)(valid.features, valid.nRows, zd);
      const c = chooseWeight(zg, zd, valid, params.weights, params.metric);
      weight = c.weight;
      info.weightChoice = { metric: params.metric, figures: c.figures.map((f) => ({ weight: f.weight, value: Math.round(f.value * 1e5) / 1e5 })) };
      run.log(`blend: gbdt weight ${weight} chosen on ${valid.nRows} validation rows (${params.metric}: ${c.figures.map((f) => `${f.weight} ${f.value.toFixed(4)}`).join(', ')})`);
      if (params.combine === 'stack') {
        const stack = fitStack(valid.features, valid.nFeatures, valid.nRows, valid.labels, zg, zd, stackCols, params.stackColumns, params.stackL2);
        const zs = new Float64Array(valid.nRows);
        applyStack(stack, valid.features, valid.nFeatures, valid.nRows, zg, zd, zs);
        const v = ndcgAt(zs, valid.labels, valid.groups, 10);
        run.log(`blend: stacker on ${params.stackColumns.join(', ')} fitted on ${valid.nRows} validation rows: θ ${stack.theta.map((t) => t.toFixed(3)).join(' ')} (ndcg@10 of those rows ${v.toFixed(4)})`);
        return new BlendModel(gbdt, dcn, weight, { ...info, stackNdcg: Math.round(v * 1e5) / 1e5 }, stack);
      }
    }
    if (params.combine === 'stack') run.log('blend: no validation rows to fit the stacker on: the weight is used');
    return new BlendModel(gbdt, dcn, weight, info, null, false, params.dcnTop);
  },
  async load(dir, params, read) {
    const path = join(dir, BLEND_FILE);
    let weight: unknown;
    let stack: StackSpec | null = null;
    let residual = false;
    try {
      const f = JSON.parse(Buffer.from(read ? await read(path) : await readFile(path)).toString('utf8')) as { weight?: unknown; stack?: StackSpec; residual?: unknown };
      weight = f.weight;
      stack = f.stack ?? null;
      residual = f.residual === true;
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
    if (typeof weight !== 'number' || !(weight >= 0 && weight <= 1)) throw new Error(`${path}: weight: a number in [0, 1], got ${JSON.stringify(weight)}`);
    if (stack) {
      const nums = (a: unknown, n: number) => Array.isArray(a) && a.length === n && a.every((v) => typeof v === 'number' && Number.isFinite(v));
      const K = Array.isArray(stack.columns) ? stack.columns.length : -1;
      if (K < 0 || !nums(stack.columns, K) || !nums(stack.mean, K) || !nums(stack.std, K) || !nums(stack.theta, 3 + 2 * K)) throw new Error(`${path}: stack: columns, mean, std (K numbers each) and theta (3 + 2K numbers)`);
    }
    const gbdt = await gbdtRankerKind.load(join(dir, 'gbdt'), params.gbdt, read);
    const dcn = await dcnRankerKind.load(join(dir, 'dcn'), params.dcn, read);
    return new BlendModel(gbdt, dcn, weight, {}, stack, residual, stack || residual ? null : params.dcnTop);
  },
  refitParams(params, summary) {
    const g = summary.gbdt as Record<string, unknown> | undefined;
    const d = summary.dcn as Record<string, unknown> | undefined;
    // the stacker needs held-out rows to be fitted on: no refit on every row
    if (typeof summary.weight !== 'number' || !g || !d || params.combine === 'stack') return null;
    return { ...params, weight: summary.weight, gbdt: (gbdtRankerKind.refitParams?.(params.gbdt, g) as typeof params.gbdt | null) ?? params.gbdt, dcn: (dcnRankerKind.refitParams?.(params.dcn, d) as typeof params.dcn | null) ?? params.dcn };
  },
});
