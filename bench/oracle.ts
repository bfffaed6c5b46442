/**
 * The synthetic shop's own choice model as a ranker: what an L2 could reach at best on the candidates the
 * L1 gives (`tandem bench ranker --quality --oracle`). For a user at the 90% point of their active window,
 * an item's score is the log-probability the generator gives it per event, P(category) x P(item | category):
 * the category by its size and the drifted taste's match (`focus`), the item among its category's released
 * items by popularity times exp(sharpness x taste match + novelty), the way `userEvents` draws its
 * candidates and picks among them (the eight popularity-drawn candidates taken as the category itself).
 */
import type { Dataset, SyntheticTruth } from '../src/data/index.ts';
import type { RankerModel } from '../src/ranking/index.ts';

/** Where in a user's window the oracle stands: the held-out events are the last 20% of each user's. */
const WINDOW_POINT = 0.9;

/**
 * What the oracle knows: everything (`full`); the category choice and popularity, no taste within the
 * category (`category`); no novelty boost (`no-novelty`); the taste where the user's window starts,
 * not drifted (`no-drift`).
 */
export type OracleParts = 'full' | 'category' | 'no-novelty' | 'no-drift';
export const ORACLE_PARTS: readonly OracleParts[] = ['full', 'category', 'no-novelty', 'no-drift'];

export function oracleModel(truth: SyntheticTruth, train: Dataset, featureNames: readonly string[], parts: OracleParts = 'full'): RankerModel {
  const F = featureNames.length;
  const fu = featureNames.indexOf('id_user');
  const fi = featureNames.indexOf('id_item');
  if (fu < 0 || fi < 0) throw new Error("--oracle: the rows need id_user and id_item (--param ids=both)");
  const d = truth.dim;
  const nItems = truth.itemCategory.length;
  const nCat = truth.categoryVectors.length / d;
  // dataset index -> generator index, through the ids (u<k>, i<k>)
  const genUser = new Int32Array(train.numUsers).fill(-1);
  for (let u = 0; u < truth.userWindow.length / 2; u++) {
    const k = train.users.ids.get(`u${u}`);
    if (k >= 0) genUser[k] = u;
  }
  const genItem = new Int32Array(train.numItems).fill(-1);
  for (let i = 0; i < nItems; i++) {
    const k = train.items.ids.get(`i${i}`);
    if (k >= 0) genItem[k] = i;
  }
  const catSize = new Float64Array(nCat);
  for (let i = 0; i < nItems; i++) catSize[truth.itemCategory[i]]++;
  // per user (cached): log P(category) and the log of each category's normaliser sum_j pi_j exp(l_j)
  const cache = new Map<number, { logCat: Float64Array; logNorm: Float64Array; taste: Float64Array; t: number }>();
  const logit = (taste: Float64Array, t: number, i: number) => {
    if (parts === 'category') return 0;
    let a = 0;
    for (let q = 0; q < d; q++) a += taste[q] * truth.itemTaste[i * d + q];
    const age = t - truth.itemRelease[i];
    return truth.sharpness * a + (parts !== 'no-novelty' && age >= 0 && age < 8 * truth.noveltySeconds ? truth.novelty * Math.exp(-age / truth.noveltySeconds) : 0);
  };
  const withinPop = (i: number) => (truth.itemPopularity[i] * nItems) / catSize[truth.itemCategory[i]];
  const userState = (u: number) => {
    let st = cache.get(u);
    if (st) return st;
    const s = truth.userWindow[2 * u];
    const len = truth.userWindow[2 * u + 1] - s;
    const f = parts === 'no-drift' ? 0 : WINDOW_POINT;
    const t = s + WINDOW_POINT * len;
    const taste = new Float64Array(d);
    for (let q = 0; q < d; q++) taste[q] = truth.userTaste[u * d + q] + f * truth.userDrift[u * d + q];
    // the category logits at the phase's midpoint, as the generator's
    const mid = parts === 'no-drift' ? 0 : (Math.min(3, Math.floor(f * 4)) + 0.5) / 4;
    const logCat = new Float64Array(nCat);
    let mx = -Infinity;
    for (let c = 0; c < nCat; c++) {
      let a = 0;
      let b = 0;
      for (let q = 0; q < d; q++) {
        a += truth.userTaste[u * d + q] * truth.categoryVectors[c * d + q];
        b += truth.userDrift[u * d + q] * truth.categoryVectors[c * d + q];
      }
      logCat[c] = catSize[c] > 0 ? Math.log(catSize[c]) + truth.focus * (a + mid * b) : -Infinity;
      if (logCat[c] > mx) mx = logCat[c];
    }
    let z = 0;
    for (let c = 0; c < nCat; c++) z += Math.exp(logCat[c] - mx);
    for (let c = 0; c < nCat; c++) logCat[c] -= mx + Math.log(z);
    const norm = new Float64Array(nCat);
    for (let i = 0; i < nItems; i++) if (truth.itemRelease[i] <= t) norm[truth.itemCategory[i]] += withinPop(i) * Math.exp(logit(taste, t, i));
    st = { logCat, logNorm: norm.map(Math.log), taste, t };
    cache.set(u, st);
    return st;
  };
  const score = (x: Float32Array, r: number) => {
    const u = genUser[x[r * F + fu]] ?? -1;
    const i = genItem[x[r * F + fi]] ?? -1;
    if (!(u >= 0 && i >= 0)) return -1e9;
    const st = userState(u);
    if (truth.itemRelease[i] > st.t) return -1e9;
    const c = truth.itemCategory[i];
    return st.logCat[c] + Math.log(withinPop(i)) + logit(st.taste, st.t, i) - st.logNorm[c];
  };
  return {
    kind: 'oracle',
    nFeatures: F,
    // a probability, as the business layer expects of predict
    predict(x, n, out) {
      for (let r = 0; r < n; r++) out[r] = Math.exp(score(x, r));
    },
    margins(x, n, out) {
      for (let r = 0; r < n; r++) out[r] = score(x, r);
    },
    save: async () => {
      throw new Error('the oracle is not saved');
    },
    summary: () => ({ windowPoint: WINDOW_POINT, parts }),
  };
}
