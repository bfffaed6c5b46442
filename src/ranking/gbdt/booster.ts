import { Rng } from '../../math/index.ts';
import { BinMapper } from './binning.ts';
import { type GbdtData, validateData } from './data.ts';
import type { HistContext } from './histogram.ts';
import { gbdtKernels } from './kernels.ts';
import { TreeLearner } from './learner.ts';
import { auc, logLoss, ndcgAt, rmse } from './metrics.ts';
import { GbdtModel } from './model.ts';
import { createObjective } from './objectives.ts';
import { type GbdtParams, GbdtParamError, type MetricName, resolveParams } from './options.ts';
import { JobPool, kernelScratchBytes } from './pool.ts';
import type { Tree } from './tree.ts';

/** Run settings, apart from the model's hyperparameters. */
export interface TrainSettings {
  /** Validation data for the metric and early stopping. */
  valid?: GbdtData;
  /** Threads building histograms (1 = this thread only); the model is the same for any count. */
  threads?: number;
  /**
   * How histograms are built: 'row' (default) from a row-major copy of the bins, faster for the
   * scattered rows of deep leaves at the cost of a second n x F bytes; 'col' from the column-major bins
   * alone. The model is the same either way.
   */
  histogramLayout?: 'row' | 'col';
  /**
   * 'direct' (default): histograms read each row's gradient in place; 'copy': gather the gradients
   * of a leaf into leaf order before its histogram (a serial pass; kept as the reference). Same model.
   */
  gradients?: 'direct' | 'copy';
  /**
   * Histogram loops: 'wasm' the WebAssembly kernels (an error if they are not built), 'js' the TypeScript
   * loops, 'auto' (default) the kernels when built and TANDEM_KERNELS is not 'js'. Same model either way.
   */
  kernels?: 'auto' | 'wasm' | 'js';
  /** Called after each round with the validation metric (NaN without validation data). */
  onRound?: (round: number, metric: number) => void;
}

export interface TrainResult {
  model: GbdtModel;
  /** The metric early stopping watched, e.g. 'logloss'. */
  metric: Exclude<MetricName, 'auto'>;
  /** Validation metric after each round (empty without validation data). */
  validHistory: number[];
  /** Rounds kept (all, or the best one's count when early stopping). */
  bestIteration: number;
  /** Seconds spent binning the data. */
  binSeconds: number;
  /** Split steps that ran across several threads (0 on one thread). */
  parallelSteps: number;
  /** Which histogram loops ran: the WebAssembly kernels or the TypeScript reference. */
  kernels: 'wasm' | 'js';
}

/**
 * Trains a gradient-boosted tree ensemble (histogram-based, leaf-wise) on flat data.
 * @example
 * const { model } = await trainGbdt({ features: x, nRows, nFeatures, labels: y }, { objective: 'binary', numRounds: 200 }, { threads: 2 });
 */
export async function trainGbdt(data: GbdtData, params: Partial<GbdtParams> = {}, settings: TrainSettings = {}): Promise<TrainResult> {
  const p = resolveParams(params);
  const threads = settings.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new Error(`trainGbdt: settings.threads must be an integer in [1, 64], got ${threads}`);
  const objective = createObjective(p.objective, p);
  validateData(data, 'data', p.objective === 'lambdarank');
  objective.checkLabels(data.labels, 'data.labels');
  const valid = settings.valid;
  if (valid) {
    validateData(valid, 'valid', p.objective === 'lambdarank');
    if (valid.nFeatures !== data.nFeatures) throw new Error(`valid.nFeatures: ${valid.nFeatures}, training data has ${data.nFeatures}`);
  }
  if (p.earlyStoppingRounds > 0 && !valid) throw new GbdtParamError('earlyStoppingRounds', 'needs validation data (settings.valid)');
  const metric: Exclude<MetricName, 'auto'> = p.metric !== 'auto' ? p.metric : p.objective === 'binary' ? 'logloss' : p.objective === 'lambdarank' ? 'ndcg' : 'l2';
  if (metric === 'ndcg' && valid && !valid.groups) throw new GbdtParamError('metric', 'ndcg needs ranking groups in the validation data');
  const higherBetter = metric === 'auc' || metric === 'ndcg';

  const n = data.nRows;
  const F = data.nFeatures;
  const t0 = performance.now();
  const mapper = BinMapper.fit(data, p.maxBin, p.binSampleRows, p.seed);
  const binOffset = new Int32Array(F + 1);
  for (let f = 0; f < F; f++) binOffset[f + 1] = binOffset[f] + mapper.valueBins(f) + 1;
  const slotSize = binOffset[F] * 2;
  const histBytes = p.numLeaves * slotSize * 8;
  if (histBytes > 2 ** 31) throw new GbdtParamError('numLeaves', `${p.numLeaves} leaves x ${binOffset[F]} bins need ${(histBytes / 2 ** 30).toFixed(1)} GiB of histograms; lower numLeaves or maxBin`);
  const direct = (settings.gradients ?? 'direct') === 'direct';
  if (settings.gradients !== undefined && settings.gradients !== 'direct' && settings.gradients !== 'copy') throw new Error(`trainGbdt: settings.gradients must be 'direct' or 'copy', got ${String(settings.gradients)}`);
  const rowLayout = settings.histogramLayout !== 'col';
  // bytes of every array the kernels read (each placed 16-byte aligned): the size of their memory
  const sizes = { bins: n * F, rowBins: rowLayout ? n * F : 0, idx: 4 * n, grad: 8 * n, hess: 8 * n, og: direct ? 0 : 8 * n, oh: direct ? 0 : 8 * n, hist: histBytes, feats: 4 * F, binOffset: 4 * (F + 1), rowTmp: 4 * n, scratch: kernelScratchBytes(F, threads) };
  const arena = gbdtKernels(settings.kernels ?? 'auto', Object.values(sizes), 'trainGbdt: settings.kernels');
  const kset = arena?.set ?? null;
  const shared = threads > 1;
  // the kernels' memory is carved in order from its base; without it, a (Shared)ArrayBuffer per array
  const place = (bytes: number): [ArrayBufferLike, number] => (arena ? [arena.set.memory.buffer, arena.take(bytes)] : [shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes), 0]);
  const alloc = <T>(C: { new (b: ArrayBufferLike, o: number, len: number): T; BYTES_PER_ELEMENT: number }, len: number): T => {
    const [b, o] = place(len * C.BYTES_PER_ELEMENT);
    return new C(b, o, len);
  };
  const bins = mapper.binColumns(data, alloc(Uint8Array, n * F));
  const binSeconds = (performance.now() - t0) / 1000;
  // direct: og/oh are the gradients themselves (shared with the workers), written by the objective
  const grad = alloc(Float64Array, n);
  const hess = alloc(Float64Array, n);
  const ctx: HistContext = {
    nRows: n,
    bins,
    idx: alloc(Int32Array, n),
    og: direct ? grad : alloc(Float64Array, n),
    oh: direct ? hess : alloc(Float64Array, n),
    direct,
    binOffset: kset ? alloc(Int32Array, F + 1) : binOffset,
    slotSize,
    hist: alloc(Float64Array, p.numLeaves * slotSize),
    feats: alloc(Int32Array, F),
    rowBins: rowLayout ? alloc(Uint8Array, n * F) : null,
    nFeatures: F,
    rowTmp: kset ? alloc(Int32Array, n) : undefined,
  };
  const scratchAt = place(sizes.scratch)[1];
  ctx.binOffset.set(binOffset);
  if (ctx.rowBins) {
    const rb = ctx.rowBins;
    for (let f = 0; f < F; f++) {
      const col = f * n;
      for (let r = 0; r < n; r++) rb[r * F + f] = bins[col + r];
    }
  }
  const pool = await JobPool.create(ctx, p, threads, kset ? { set: kset, scratchAt } : null);
  try {
    const learner = new TreeLearner(ctx, pool, mapper, p);
    const rng = new Rng(p.seed);
    const bagRng = rng.fork(1);
    const featRng = rng.fork(2);
    const base = objective.initScore(data.labels, data.weights);
    const scores = new Float64Array(n).fill(base);
    const inBag = p.baggingFraction < 1 ? new Uint8Array(n) : null;
    const nBag = inBag ? Math.max(1, Math.round(n * p.baggingFraction)) : n;
    const nUse = Math.max(1, Math.round(F * p.featureFraction));
    const allFeats = new Int32Array(F);
    for (let f = 0; f < F; f++) allFeats[f] = f;
    const validRaw = valid ? new Float64Array(valid.nRows).fill(base) : null;
    const trees: Tree[] = [];
    const history: number[] = [];
    let best = higherBetter ? -Infinity : Infinity;
    let bestIter = 0;
    for (let round = 0; round < p.numRounds; round++) {
      objective.gradients(scores, data.labels, data.weights, data.groups, grad, hess);
      for (let r = 0; r < n; r++) {
        if (!Number.isFinite(grad[r]) || !Number.isFinite(hess[r])) {
          throw new Error(`trainGbdt: round ${round}: the ${p.objective} objective gave a non-finite gradient/hessian (${grad[r]}, ${hess[r]}) at row ${r} (score ${scores[r]})`);
        }
      }
      // rows of this tree, ascending (selection sampling keeps order)
      if (inBag) {
        inBag.fill(0);
        let need = nBag;
        let m = 0;
        for (let r = 0; r < n && need > 0; r++) {
          if (bagRng.next() * (n - r) < need) {
            ctx.idx[m++] = r;
            inBag[r] = 1;
            need--;
          }
        }
      } else {
        for (let r = 0; r < n; r++) ctx.idx[r] = r;
      }
      if (nUse < F) {
        featRng.shuffle(allFeats);
        ctx.feats.set(allFeats.subarray(0, nUse));
        ctx.feats.subarray(0, nUse).sort();
      } else {
        ctx.feats.set(allFeats);
        ctx.feats.sort();
      }
      const tree = learner.grow(grad, hess, nBag, nUse);
      learner.addToScores(tree, scores, inBag);
      trees.push(tree);
      let m = NaN;
      if (valid && validRaw) {
        addTree(tree, valid, validRaw);
        m = evaluate(metric, validRaw, valid, p.ndcgAt);
        history.push(m);
        if (higherBetter ? m > best : m < best) {
          best = m;
          bestIter = round + 1;
        }
      }
      settings.onRound?.(round, m);
      if (p.earlyStoppingRounds > 0 && round + 1 - bestIter >= p.earlyStoppingRounds) break;
    }
    const keep = p.earlyStoppingRounds > 0 ? bestIter : trees.length;
    const model = new GbdtModel({ objective: p.objective, nFeatures: F, baseScore: base, trees: trees.slice(0, keep), featureNames: data.featureNames, params: p, source: 'tandem' });
    return { model, metric, validHistory: history, bestIteration: keep, binSeconds, parallelSteps: pool.parallelSteps, kernels: kset ? 'wasm' : 'js' };
  } finally {
    await pool.close();
  }
}

/** Adds one tree's values for every row of `d` to `out` (raw features, either layout). */
function addTree(t: Tree, d: GbdtData, out: Float64Array): void {
  const x = d.features;
  const F = d.nFeatures;
  const n = d.nRows;
  const col = d.layout === 'col';
  const root = t.feature.length > 0 ? 0 : ~0;
  for (let r = 0; r < n; r++) {
    let node = root;
    while (node >= 0) {
      const f = t.feature[node];
      const v = col ? x[f * n + r] : x[r * F + f];
      node = v < t.threshold[node] ? t.left[node] : v >= t.threshold[node] ? t.right[node] : t.defaultLeft[node] ? t.left[node] : t.right[node];
    }
    out[r] += t.leafValue[~node];
  }
}

function evaluate(metric: Exclude<MetricName, 'auto'>, raw: Float64Array, d: GbdtData, k: number): number {
  switch (metric) {
    case 'logloss':
      return logLoss(raw, d.labels, d.weights);
    case 'auc':
      return auc(raw, d.labels, d.weights);
    case 'l2':
      return rmse(raw, d.labels, d.weights);
    case 'ndcg':
      return ndcgAt(raw, d.labels, d.groups!, k);
  }
}
