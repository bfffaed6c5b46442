/**
 * Validation metrics for early stopping: full-catalog ranking by exact dot products, the user's
 * training items excluded, recall@K and NDCG@10 averaged over users with test items.
 */
import { getKernelBackend, NO_PROGRESS, TopK, type Progress } from '../../math/index.ts';
import type { Dataset } from '../../data/index.ts';
import { type UserQuery } from '../source.ts';
import type { TwoTowerModel } from './two-tower.ts';

export interface RetrievalMetrics {
  recall: number;
  ndcg10: number;
  users: number;
}

/**
 * Scores every item for the users of `test` (histories from `train`), ranks the catalog minus their
 * training items, and averages recall@K and NDCG@10 (binary relevance). `progress` hears of the users
 * scored (a task `validation`), block by block.
 * @example const { recall } = evaluateRetrieval(model, trainInner, valid, 100);
 */
export function evaluateRetrieval(model: TwoTowerModel, train: Dataset, test: Dataset, K = 100, users?: Int32Array, progress: Progress = NO_PROGRESS): RetrievalMetrics {
  const k = model.dim;
  const n = train.numItems;
  const V = model.embedItems();
  const byTest = test.byUser();
  const byTrain = train.byUser();
  const tx = test.interactions;
  const list: number[] = [];
  if (users) list.push(...users);
  else for (let u = 0; u < test.numUsers; u++) if (byTest.offsets[u + 1] > byTest.offsets[u]) list.push(u);
  // users per score block: at most 16M scores (64 MB) however big the catalog
  const chunk = Math.max(1, Math.min(128, Math.floor((1 << 24) / Math.max(1, n))));
  const scores = new Float32Array(chunk * n);
  const heap = new TopK(Math.max(K, 10));
  const top = new Int32Array(Math.max(K, 10));
  const mark = new Uint8Array(n);
  const gemm = getKernelBackend().gemm;
  let recall = 0;
  let ndcg = 0;
  const task = progress.start('validation', list.length, 'users');
  for (let a = 0; a < list.length; a += chunk) {
    task.set(a);
    const b = Math.min(list.length, a + chunk);
    const qs: UserQuery[] = [];
    for (let r = a; r < b; r++) qs.push(train.query(list[r]));
    const U = model.embedQueries(qs);
    gemm(false, true, b - a, n, k, 1, U, k, V, k, 0, scores, n);
    for (let r = a; r < b; r++) {
      const u = list[r];
      const off = (r - a) * n;
      for (let e = byTrain.offsets[u]; e < byTrain.offsets[u + 1]; e++) scores[off + train.interactions.item[byTrain.rows[e]]] = -Infinity;
      heap.reset();
      for (let i = 0; i < n; i++) if (scores[off + i] > heap.threshold()) heap.push(i, scores[off + i]);
      const got = heap.drainSorted(top);
      let nt = 0;
      for (let e = byTest.offsets[u]; e < byTest.offsets[u + 1]; e++) {
        const it = tx.item[byTest.rows[e]];
        if (!mark[it]) nt++;
        mark[it] = 1;
      }
      let hits = 0;
      let dcg = 0;
      for (let j = 0; j < got; j++) {
        if (!mark[top[j]]) continue;
        if (j < K) hits++;
        if (j < 10) dcg += 1 / Math.log2(j + 2);
      }
      let idcg = 0;
      for (let j = 0; j < Math.min(10, nt); j++) idcg += 1 / Math.log2(j + 2);
      for (let e = byTest.offsets[u]; e < byTest.offsets[u + 1]; e++) mark[tx.item[byTest.rows[e]]] = 0;
      if (nt > 0) {
        recall += hits / nt;
        ndcg += dcg / idcg;
      }
    }
  }
  task.set(list.length);
  task.finish();
  const m = Math.max(1, list.length);
  return { recall: recall / m, ndcg10: ndcg / m, users: list.length };
}
