/**
 * Training the DCN on the ranker's rows: mean binary log loss (or listwise softmax over each user's
 * candidates), minibatch Adam over the dense part and
 * lazy Adam over the embedding rows a batch touched (src/math's Optimizer), early stopping on the
 * validation users' rows with the best epoch's weights kept. One thread, seeded: the same rows and
 * seed give the same weights bit for bit.
 */
import { NO_PROGRESS, Optimizer, Rng, optimizerStateSize } from '../../math/index.ts';
import { ndcgAt } from '../gbdt/metrics.ts';
import type { RankerTrainingSet } from '../ranker/training.ts';
import { Encoder, fitEncoder, shapeOf } from './encoder.ts';
import { backendKernels, DcnModel } from './model.ts';
import { DcnNet, initDcnParams, logLossGrad, softmaxGroupGrad, type NetKernels } from './net.ts';
import type { RankerRun } from '../model/model.ts';
import type { DcnTrainParams } from './params.ts';

export type { DcnTrainParams };

export interface DcnTrainResult {
  model: DcnModel;
  /** Epochs whose weights were kept (the best validation epoch, or every epoch without validation). */
  bestEpoch: number;
  validHistory: number[];
  trainLoss: number[];
  seconds: number;
}

/** Validation figure of the model's logits: log loss (lower is better) or ndcg@10 over the groups. */
function validMetric(metric: 'logloss' | 'ndcg', objective: 'binary' | 'softmax', z: Float64Array, set: RankerTrainingSet): number {
  if (metric === 'ndcg') return ndcgAt(z, set.labels, set.groups, 10);
  // 'logloss' is the training loss: the listwise one for softmax (its logits are not calibrated)
  if (objective === 'softmax') return softmaxGroupGrad(z, set.labels, set.groups, set.groups.length - 1, new Float64Array(set.nRows));
  let s = 0;
  for (let r = 0; r < set.nRows; r++) {
    const x = z[r];
    s += (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))) - set.labels[r] * x;
  }
  return s / Math.max(1, set.nRows);
}

/**
 * Fixed log-odds added to the DCN's output in training and validation, per row (another model's margins:
 * the DCN then learns what is left, a residual; the blend's `combine: 'residual'`).
 */
export interface DcnOffsets {
  train: Float64Array;
  valid: Float64Array | null;
}

/**
 * Trains a DCN on `train`, stopping early on `valid` (when given and patience > 0). With `offsets` the
 * loss reads offset + logit and the head starts at zero (the DCN starts as the offset's model).
 * @example const { model } = await trainDcn(rows.train, rows.valid, params, { seed: 1, threads: 1, log: console.log });
 */
export async function trainDcn(train: RankerTrainingSet, valid: RankerTrainingSet | null, p: DcnTrainParams, run: RankerRun, kernels: NetKernels = backendKernels(), offsets: DcnOffsets | null = null): Promise<DcnTrainResult> {
  const t0 = performance.now();
  if (train.nRows === 0) throw new Error('dcn: no training rows');
  const F = train.nFeatures;
  const spec = fitEncoder(train.features, train.nRows, F, train.cardinalities, p.embed, p.clip, train.embedOnly, train.embedGroups);
  const enc = new Encoder(spec);
  const shape = shapeOf(spec, p.embedDim, p.crossLayers, p.hidden);
  const softmax = p.objective === 'softmax';
  const G = train.groups.length - 1;
  let maxGroup = 0;
  for (let g = 0; g < G; g++) maxGroup = Math.max(maxGroup, train.groups[g + 1] - train.groups[g]);
  // softmax batches are whole groups: room for the largest
  const B = softmax ? Math.max(Math.min(p.batchSize, train.nRows), maxGroup) : Math.min(p.batchSize, train.nRows);
  const net = new DcnNet(shape, kernels, B);
  const L = net.layout;
  const rng = new Rng(run.seed);
  const params = kernels.alloc(L.total);
  initDcnParams(L, p.embedDim, params, rng);
  if (offsets) {
    if (offsets.train.length !== train.nRows || (valid && offsets.valid && offsets.valid.length !== valid.nRows)) throw new Error('dcn: the offsets do not match the rows');
    params.fill(0, L.headCross.offset, L.headBias.offset + 1);
  }
  const grad = kernels.alloc(L.total);
  const state = kernels.alloc(optimizerStateSize('adam', L.total));
  const opt = new Optimizer({ kind: 'adam', lr: p.learningRate, l2: p.l2 }, params, state, true, kernels.fast);
  const useValid = valid !== null && valid.nRows > 0 && p.patience > 0;
  const order = new Int32Array(train.nRows);
  for (let i = 0; i < order.length; i++) order[i] = i;
  const groupOrder = Int32Array.from({ length: G }, (_, g) => g);
  // batches of the epoch: rows order[starts[k] .. starts[k+1]); softmax: group g of batch k is segs
  const starts: number[] = [];
  const segStarts: number[] = [];
  const segs = new Int32Array(B + 1);
  const rowIdx = new Int32Array(B);
  const labels = new Float64Array(B);
  const denseN = L.total - L.denseStart;
  const validHistory: number[] = [];
  const trainLoss: number[] = [];
  let best = useValid && p.stopMetric === 'ndcg' ? -Infinity : Infinity;
  let bestEpoch = 0;
  let bestParams: Float32Array | null = null;
  let sinceBest = 0;
  let checker: DcnModel | null = null;
  const zValid = new Float64Array(useValid ? valid!.nRows : 0);
  const task = (run.progress ?? NO_PROGRESS).start('dcn', p.epochs, 'epochs');
  try {
    for (let epoch = 0; epoch < p.epochs; epoch++) {
      starts.length = 0;
      segStarts.length = 0;
      if (softmax) {
        // whole groups in a shuffled order, packed into batches of at most B rows
        rng.shuffle(groupOrder);
        let r = 0;
        let inBatch = 0;
        for (let k = 0; k < G; k++) {
          const g = groupOrder[k];
          const len = train.groups[g + 1] - train.groups[g];
          if (inBatch + len > B || starts.length === 0) {
            starts.push(r);
            inBatch = 0;
          }
          segStarts.push(r);
          for (let i = train.groups[g]; i < train.groups[g + 1]; i++) order[r++] = i;
          inBatch += len;
        }
        starts.push(r);
        segStarts.push(r);
      } else {
        rng.shuffle(order);
        // the tail of the shuffled order (fewer than B rows) waits for the next epoch's shuffle
        for (let a = 0; a + B <= train.nRows || (a < train.nRows && starts.length === 0); a += B) starts.push(a);
        starts.push(Math.min(train.nRows, starts[starts.length - 1] + B));
      }
      let lossSum = 0;
      let steps = 0;
      let seg = 0;
      for (let k = 0; k + 1 < starts.length; k++) {
        const a = starts[k];
        const b = starts[k + 1] - a;
        for (let r = 0; r < b; r++) {
          rowIdx[r] = order[a + r];
          labels[r] = train.labels[rowIdx[r]];
        }
        enc.encode(train.features, rowIdx, 0, b, L.d0, net.x0, net.codes);
        net.gatherEmbeddings(params, b);
        const z = net.forward(params, b);
        if (offsets) for (let r = 0; r < b; r++) z[r] += offsets.train[rowIdx[r]];
        let loss: number;
        if (softmax) {
          let n = 0;
          while (segStarts[seg] < a + b) segs[n++] = segStarts[seg++] - a;
          segs[n] = b;
          loss = softmaxGroupGrad(z, labels, segs, n, net.dz);
        } else loss = logLossGrad(b, z, labels, net.dz);
        if (!Number.isFinite(loss)) throw new Error(`dcn: the loss is not finite at epoch ${epoch + 1}, step ${steps + 1} (lower learningRate, now ${p.learningRate})`);
        lossSum += loss;
        steps++;
        grad.fill(0, L.denseStart);
        for (const g of net.rowGrads) g.clear();
        net.backward(params, b, grad);
        // Adam on the dense part; lazy Adam on the table rows this batch touched
        opt.beginStep();
        opt.updateDense(L.denseStart, denseN, grad, L.denseStart);
        net.rowGrads.forEach((g, t) => opt.updateRows(L.tables[t].offset, p.embedDim, g.rows, g.n, g.grads));
      }
      trainLoss.push(lossSum / steps);
      task.set(epoch + 1);
      if (!useValid) {
        bestEpoch = epoch + 1;
        continue;
      }
      // one scoring copy for every epoch's check (kernel memory is not given back)
      if (checker) checker.setParams(params);
      else checker = new DcnModel(spec, p.embedDim, p.crossLayers, p.hidden, params, {}, kernels);
      checker.margins(valid!.features, valid!.nRows, zValid);
      if (offsets?.valid) for (let r = 0; r < zValid.length; r++) zValid[r] += offsets.valid[r];
      const v = validMetric(p.stopMetric, p.objective, zValid, valid!);
      validHistory.push(v);
      task.note(`valid ${p.stopMetric} ${v.toFixed(5)}`);
      const better = p.stopMetric === 'ndcg' ? v > best : v < best;
      if (better) {
        best = v;
        bestEpoch = epoch + 1;
        bestParams = params.slice();
        sinceBest = 0;
      } else if (++sinceBest >= p.patience) break;
    }
  } finally {
    task.finish();
  }
  const seconds = (performance.now() - t0) / 1000;
  const kept = bestParams ?? params;
  const info = { bestEpoch, epochs: trainLoss.length, metric: p.stopMetric, validMetric: useValid ? best : null, trainLoss: trainLoss[bestEpoch - 1] ?? null };
  run.log(`dcn: ${bestEpoch} of ${trainLoss.length} epochs kept, train loss ${(trainLoss[bestEpoch - 1] ?? NaN).toFixed(5)}, valid ${p.stopMetric} ${useValid ? best.toFixed(5) : 'n/a'} (${seconds.toFixed(1)} s, ${L.total} parameters)`);
  const model = new DcnModel(spec, p.embedDim, p.crossLayers, p.hidden, kept, info, kernels);
  // the training state back to the kernel memory (the model holds its own copy of the weights)
  net.dispose();
  checker?.dispose();
  for (const a of [params, grad, state]) kernels.free?.(a);
  return { model, bestEpoch, validHistory, trainLoss, seconds };
}
