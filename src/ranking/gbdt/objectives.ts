import type { ObjectiveName } from './options.ts';

type Arr = Float32Array | Float64Array;

/**
 * A training objective over raw scores (margins). `gradients` writes the first and second derivative of
 * `loss` with respect to each row's score into caller-owned arrays; tests hold both to central
 * differences of `loss`.
 */
export interface Objective {
  readonly name: ObjectiveName;
  /** The constant raw score boosting starts from. */
  initScore(labels: Arr, weights: Arr | undefined): number;
  gradients(scores: Float64Array, labels: Arr, weights: Arr | undefined, groups: Int32Array | undefined, grad: Float64Array, hess: Float64Array): void;
  /** The loss summed over rows (for lambdarank: its pairwise surrogate with the |ΔNDCG| weights of the current ranking). */
  loss(scores: Float64Array, labels: Arr, weights: Arr | undefined, groups: Int32Array | undefined): number;
  /** Raw score to output (probability for binary). */
  transform(raw: number): number;
  /** Throws naming the row when a label is not valid for this objective. */
  checkLabels(labels: Arr, what: string): void;
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** log(1 + e^x) without overflow. */
/** Sum of weights and weighted sum of labels (weight 1 when there are none): the base score's inputs. */
function weightedSums(labels: ArrayLike<number>, weights: ArrayLike<number> | null | undefined): { sw: number; sy: number } {
  let sw = 0;
  let sy = 0;
  for (let i = 0; i < labels.length; i++) {
    const w = weights ? weights[i] : 1;
    sw += w;
    sy += w * labels[i];
  }
  return { sw, sy };
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** Binary log loss on labels in [0, 1]: p = sigmoid(s), g = w (p - y), h = w p (1 - p). */
export const binaryObjective: Objective = {
  name: 'binary',
  initScore(labels, weights) {
    const { sw, sy } = weightedSums(labels, weights);
    const p = Math.min(1 - 1e-15, Math.max(1e-15, sy / sw));
    return Math.log(p / (1 - p));
  },
  gradients(scores, labels, weights, _groups, grad, hess) {
    for (let i = 0; i < scores.length; i++) {
      const p = 1 / (1 + Math.exp(-scores[i]));
      const w = weights ? weights[i] : 1;
      grad[i] = w * (p - labels[i]);
      hess[i] = w * p * (1 - p);
    }
  },
  loss(scores, labels, weights) {
    let s = 0;
    for (let i = 0; i < scores.length; i++) s += (weights ? weights[i] : 1) * (softplus(scores[i]) - labels[i] * scores[i]);
    return s;
  },
  transform: sigmoid,
  checkLabels(labels, what) {
    for (let i = 0; i < labels.length; i++) if (!(labels[i] >= 0 && labels[i] <= 1)) throw new Error(`${what}[${i}]: binary labels must be in [0, 1], got ${labels[i]}`);
  },
};

/** Squared error: loss = w (s - y)^2 / 2, g = w (s - y), h = w. */
export const regressionObjective: Objective = {
  name: 'regression',
  initScore(labels, weights) {
    const { sw, sy } = weightedSums(labels, weights);
    return sw > 0 ? sy / sw : 0;
  },
  gradients(scores, labels, weights, _groups, grad, hess) {
    for (let i = 0; i < scores.length; i++) {
      const w = weights ? weights[i] : 1;
      grad[i] = w * (scores[i] - labels[i]);
      hess[i] = w;
    }
  },
  loss(scores, labels, weights) {
    let s = 0;
    for (let i = 0; i < scores.length; i++) {
      const d = scores[i] - labels[i];
      s += 0.5 * (weights ? weights[i] : 1) * d * d;
    }
    return s;
  },
  transform: (x) => x,
  checkLabels() {},
};

/**
 * LambdaRank with NDCG. Within each group, for every pair (h, l) with label_h > label_l and at least
 * one of them in the current top `truncation`, the pair adds
 *   |ΔNDCG_hl| * log(1 + exp(-σ (s_h - s_l)))
 * to the loss, where |ΔNDCG_hl| = |gain_h - gain_l| |disc(rank_h) - disc(rank_l)| / IDCG, gain = 2^label - 1,
 * disc(r) = 1 / log2(r + 2). The ranks are those of the current scores, held fixed for the derivatives
 * (as in LightGBM). A group's weight is the weight of its first row. No lambda normalisation.
 * @example const o = lambdarankObjective(30, 1); o.gradients(scores, labels, undefined, groups, g, h);
 */
export function lambdarankObjective(truncation: number, sigma: number): Objective {
  // scratch grown on demand, reused across groups and calls
  let order = new Int32Array(0);
  let sortedLabels = new Float64Array(0);
  let gainOrd = new Float64Array(0);
  let disc = new Float64Array(0);
  const prepare = (len: number): void => {
    if (order.length < len) {
      order = new Int32Array(len);
      sortedLabels = new Float64Array(len);
      gainOrd = new Float64Array(len);
      disc = Float64Array.from({ length: len }, (_, i) => 1 / Math.log2(i + 2));
    }
  };
  /** Visits the weighted pairs of group [a, b): fn(hi row, lo row, |ΔNDCG|). */
  const forPairs = (scores: Float64Array, labels: Arr, a: number, b: number, fn: (h: number, l: number, delta: number) => void): void => {
    const len = b - a;
    prepare(len);
    for (let i = 0; i < len; i++) {
      order[i] = i;
      sortedLabels[i] = labels[a + i];
    }
    const sl = sortedLabels.subarray(0, len).sort().reverse();
    let idcg = 0;
    for (let i = 0; i < Math.min(len, truncation); i++) idcg += (2 ** sl[i] - 1) * disc[i];
    if (idcg <= 0) return;
    const inv = 1 / idcg;
    // current ranking: score descending, ties by row (deterministic)
    const ord = order.subarray(0, len).sort((x, y) => scores[a + y] - scores[a + x] || x - y);
    for (let p = 0; p < len; p++) gainOrd[p] = 2 ** labels[a + ord[p]] - 1;
    const top = Math.min(len, truncation);
    for (let p = 0; p < top; p++) {
      const i = ord[p];
      const gi = gainOrd[p];
      const dp = disc[p];
      for (let q = p + 1; q < len; q++) {
        const gj = gainOrd[q];
        if (gi === gj) continue;
        // |gain_i - gain_j| |disc(p) - disc(q)| / IDCG; disc decreases with rank, so dp > disc[q]
        const delta = Math.abs(gi - gj) * (dp - disc[q]) * inv;
        if (gi > gj) fn(a + i, a + ord[q], delta);
        else fn(a + ord[q], a + i, delta);
      }
    }
  };
  const requireGroups = (groups: Int32Array | undefined, n: number): Int32Array => {
    if (!groups) throw new Error('lambdarank: ranking groups are required');
    if (groups[groups.length - 1] !== n) throw new Error(`lambdarank: groups end at ${groups[groups.length - 1]}, scores have ${n} rows`);
    return groups;
  };
  return {
    name: 'lambdarank',
    initScore: () => 0,
    gradients(scores, labels, weights, groups, grad, hess) {
      const g = requireGroups(groups, scores.length);
      grad.fill(0, 0, scores.length);
      hess.fill(0, 0, scores.length);
      for (let k = 0; k + 1 < g.length; k++) {
        const w = weights ? weights[g[k]] : 1;
        forPairs(scores, labels, g[k], g[k + 1], (h, l, delta) => {
          // rho = sigmoid(-σ (s_h - s_l)); dL/ds_h = -σ |Δ| rho, d²L/ds_h² = σ² |Δ| rho (1 - rho)
          const rho = 1 / (1 + Math.exp(sigma * (scores[h] - scores[l])));
          const lambda = w * sigma * delta * rho;
          const curv = w * sigma * sigma * delta * rho * (1 - rho);
          grad[h] -= lambda;
          grad[l] += lambda;
          hess[h] += curv;
          hess[l] += curv;
        });
      }
    },
    loss(scores, labels, weights, groups) {
      const g = requireGroups(groups, scores.length);
      let s = 0;
      for (let k = 0; k + 1 < g.length; k++) {
        const w = weights ? weights[g[k]] : 1;
        forPairs(scores, labels, g[k], g[k + 1], (h, l, delta) => {
          s += w * delta * softplus(-sigma * (scores[h] - scores[l]));
        });
      }
      return s;
    },
    transform: (x) => x,
    checkLabels(labels, what) {
      for (let i = 0; i < labels.length; i++) {
        if (!(labels[i] >= 0 && labels[i] <= 31)) throw new Error(`${what}[${i}]: lambdarank labels must be relevance grades in [0, 31], got ${labels[i]}`);
      }
    },
  };
}

/** The objective named by the parameters. */
export function createObjective(name: ObjectiveName, opts: { lambdarankTruncation: number; sigmoid: number } = { lambdarankTruncation: 30, sigmoid: 1 }): Objective {
  switch (name) {
    case 'binary':
      return binaryObjective;
    case 'regression':
      return regressionObjective;
    case 'lambdarank':
      return lambdarankObjective(opts.lambdarankTruncation, opts.sigmoid);
  }
}
