type Arr = Float32Array | Float64Array;

/**
 * Area under the ROC curve of raw scores against binary labels (label > 0.5 is positive), with sample
 * weights; tied scores count one half.
 * @example auc(new Float64Array([0.1, 0.9]), new Float32Array([0, 1])); // 1
 */
export function auc(scores: ArrayLike<number>, labels: Arr, weights?: Arr): number {
  const n = labels.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a] - scores[b]);
  let negSoFar = 0;
  let area = 0;
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < n; ) {
    // one block of tied scores
    let j = i;
    let bp = 0;
    let bn = 0;
    while (j < n && scores[order[j]] === scores[order[i]]) {
      const r = order[j];
      const w = weights ? weights[r] : 1;
      if (labels[r] > 0.5) bp += w;
      else bn += w;
      j++;
    }
    area += bp * (negSoFar + bn / 2);
    negSoFar += bn;
    pos += bp;
    neg += bn;
    i = j;
  }
  return pos > 0 && neg > 0 ? area / (pos * neg) : NaN;
}

/** Mean weighted log loss of raw scores (margins) against labels in [0, 1]. */
export function logLoss(raw: ArrayLike<number>, labels: Arr, weights?: Arr): number {
  let s = 0;
  let sw = 0;
  for (let i = 0; i < labels.length; i++) {
    const w = weights ? weights[i] : 1;
    const x = raw[i];
    const sp = x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
    s += w * (sp - labels[i] * x);
    sw += w;
  }
  return s / sw;
}

/** Weighted root mean squared error. */
export function rmse(pred: ArrayLike<number>, labels: Arr, weights?: Arr): number {
  let s = 0;
  let sw = 0;
  for (let i = 0; i < labels.length; i++) {
    const w = weights ? weights[i] : 1;
    const d = pred[i] - labels[i];
    s += w * d * d;
    sw += w;
  }
  return Math.sqrt(s / sw);
}

/**
 * Mean NDCG@k over groups (offsets), gain 2^label - 1; groups with no relevant row count as 1 (LightGBM's
 * convention). Ties in score are broken by row order.
 */
export function ndcgAt(scores: ArrayLike<number>, labels: Arr, groups: Int32Array, k: number): number {
  let total = 0;
  const nq = groups.length - 1;
  for (let q = 0; q < nq; q++) {
    const a = groups[q];
    const len = groups[q + 1] - a;
    const idx = Array.from({ length: len }, (_, i) => a + i);
    const ideal = idx.map((r) => labels[r]).sort((x, y) => y - x);
    let idcg = 0;
    for (let i = 0; i < Math.min(k, len); i++) idcg += (2 ** ideal[i] - 1) / Math.log2(i + 2);
    if (idcg <= 0) {
      total += 1;
      continue;
    }
    idx.sort((x, y) => scores[y] - scores[x] || x - y);
    let dcg = 0;
    for (let i = 0; i < Math.min(k, len); i++) dcg += (2 ** labels[idx[i]] - 1) / Math.log2(i + 2);
    total += dcg / idcg;
  }
  return total / nq;
}
