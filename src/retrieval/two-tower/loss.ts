/**
 * Losses over user/item score matrices, with their gradients. Scores are raw dot products;
 * logits are score / temperature.
 */
import type { TrainKernels } from '../../math/index.ts';

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * Sampled softmax over columns: row i's positive is column i (i < B); columns B.. are extra sampled
 * negatives shared by every row (mixed negatives). S is B x C (C >= B) of scores u_i . v_j.
 * logit_ij = S_ij / tau - logQ_j (log-Q correction for the sampling bias, logQ null for none);
 * columns holding row i's own item elsewhere are masked out so a duplicate is never a negative.
 * Row weight w_i scales its loss; a negative weight marks negative feedback: that row instead pays
 * |w_i| softplus(S_ii / tau), pushing the pair apart. Returns the mean loss over B rows and writes
 * dS (B x C) = d loss / d S. `meanOver` (default B) is the batch size the mean divides by, when
 * these B rows are one thread's part of a larger batch.
 *
 * Deduplicated columns (`pos`, `lnCount`): the batch's item rows can be merged so that a column
 * stands for c_j identical copies (same item, same id dropout). Then row i's positive is column
 * pos[i] (not i), and column j enters row i's partition sum c_j times: logit + ln c_j, except the
 * positive's own column, whose other copies the plain form masks (so it counts once). The loss and
 * d loss / d (u_i, v) are the plain form's on the expanded batch; dS_ij is the sum of the plain dS
 * over column j's copies (tested against the plain form).
 * @example const loss = softmaxLoss(B, C, S, 0.05, logQ, colItem, w, dS);
 */
export function softmaxLoss(
  B: number,
  C: number,
  S: Float32Array,
  tau: number,
  logQ: Float32Array | null,
  colItem: Int32Array,
  w: Float32Array,
  dS: Float32Array,
  meanOver = B,
  pos: Int32Array | null = null,
  lnCount: Float32Array | null = null,
): number {
  let total = 0;
  const invTau = 1 / tau;
  const invB = 1 / meanOver;
  for (let i = 0; i < B; i++) {
    const o = i * C;
    const wi = w[i];
    const pi = pos ? pos[i] : i;
    if (wi < 0) {
      total += negativeRow(i, pi, C, S, invTau, invB, wi, dS);
      continue;
    }
    const own = colItem[pi];
    // pass 1: logits into dS (masked duplicates at -inf), and their max
    let max = -Infinity;
    for (let j = 0; j < C; j++) {
      let z = S[o + j] * invTau;
      if (logQ !== null) z -= logQ[j];
      if (lnCount !== null && j !== pi) z += lnCount[j];
      if (colItem[j] === own && j !== pi) z = -Infinity;
      dS[o + j] = z;
      if (z > max) max = z;
    }
    // pass 2: exp(z - max) and the partition sum; exp(-inf) = 0 drops the masked columns
    let sum = 0;
    for (let j = 0; j < C; j++) {
      const e = Math.exp(dS[o + j] - max);
      dS[o + j] = e;
      sum += e;
    }
    const zi = S[o + pi] * invTau - (logQ ? logQ[pi] : 0);
    total += wi * (Math.log(sum) + max - zi);
    // d/dS_ij = w_i (p_ij - [j = p_i]) / (tau B)
    const scale = (wi * invTau * invB) / sum;
    for (let j = 0; j < C; j++) dS[o + j] *= scale;
    dS[o + pi] -= wi * invTau * invB;
  }
  return total * invB;
}

// Negative feedback in the softmax loss: BCE towards "no", only the positive's column p gets gradient.
function negativeRow(i: number, p: number, C: number, S: Float32Array, invTau: number, invB: number, wi: number, dS: Float32Array): number {
  const o = i * C;
  for (let j = 0; j < C; j++) dS[o + j] = 0;
  const z = S[o + p] * invTau;
  dS[o + p] = -wi * sigmoid(z) * invTau * invB;
  return -wi * softplus(z);
}

/**
 * softmaxLoss on a backend's kernel (every array in its memory): the kernel takes the rows with
 * w_i >= 0, this function the negative-feedback rows. Same result within float32 rounding
 * (the kernel's exp is a polynomial, its sums are float32).
 * @example const loss = softmaxLossFast(backend.train!, B, C, S, 0.05, logQ, colItem, w, dS);
 */
export function softmaxLossFast(
  k: TrainKernels,
  B: number,
  C: number,
  S: Float32Array,
  tau: number,
  logQ: Float32Array | null,
  colItem: Int32Array,
  w: Float32Array,
  dS: Float32Array,
  meanOver = B,
  pos: Int32Array | null = null,
  lnCount: Float32Array | null = null,
): number {
  const invTau = 1 / tau;
  const invB = 1 / meanOver;
  let total = k.softmaxXent(B, C, S, invTau, logQ, colItem, w, invB, dS, pos, lnCount);
  for (let i = 0; i < B; i++) if (w[i] < 0) total += negativeRow(i, pos ? pos[i] : i, C, S, invTau, invB, w[i], dS);
  return total * invB;
}

/**
 * Binary cross-entropy with K sampled negatives per row: pos[i] = u_i . v_i, neg[i*K + k] = u_i . v_ik.
 * loss_i = w_i (softplus(-pos_i / tau) + sum_k softplus(neg_ik / tau)); for negative feedback
 * (w_i < 0) the positive term becomes |w_i| softplus(pos_i / tau). Returns the mean over B rows and
 * writes dPos, dNeg.
 * @example const loss = bceLoss(B, K, pos, neg, 1, w, dPos, dNeg);
 */
export function bceLoss(B: number, K: number, pos: Float32Array, neg: Float32Array, tau: number, w: Float32Array, dPos: Float32Array, dNeg: Float32Array): number {
  let total = 0;
  const invTau = 1 / tau;
  const invB = 1 / B;
  for (let i = 0; i < B; i++) {
    const wi = w[i];
    const z = pos[i] * invTau;
    if (wi < 0) {
      total += -wi * softplus(z);
      dPos[i] = -wi * sigmoid(z) * invTau * invB;
      for (let k = 0; k < K; k++) dNeg[i * K + k] = 0;
      continue;
    }
    total += wi * softplus(-z);
    dPos[i] = -wi * sigmoid(-z) * invTau * invB;
    for (let k = 0; k < K; k++) {
      const zn = neg[i * K + k] * invTau;
      total += wi * softplus(zn);
      dNeg[i * K + k] = wi * sigmoid(zn) * invTau * invB;
    }
  }
  return total * invB;
}
