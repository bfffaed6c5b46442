/** Scoring an engine offline: the evaluation protocol over the engine's own request path. */
import type { Dataset } from '../../data/index.ts';
import { DEFAULT_KS, evaluateRecommender, type EvaluationResult, type Recommender } from '../../evaluation/index.ts';
import type { Engine } from './engine.ts';

/**
 * The engine as the evaluation protocol's recommender function: a known user's request by external id
 * through `Engine.recommend` (no explanations built), item ids back to the dataset's indices.
 * @example const recommend = engineRecommender(engine, train); recommend(train.query(0), 10, new Set())
 */
export function engineRecommender(engine: Engine, data: Dataset): Recommender {
  const ids = data.users.ids.values;
  return (q, n) => {
    const r = engine.recommend({ user: ids[q.user], k: n, explain: false });
    const out = new Int32Array(r.items.length);
    for (let i = 0; i < out.length; i++) out[i] = engine.catalog.index(r.items[i].id);
    return out;
  };
}

/**
 * Scores an engine on held-out interactions through `Engine.recommend` (the service's request path):
 * each test user's top max(ks) items, excluding their training items, against their relevant test items.
 * @example const r = scoreEngine(engine, train, test, { ks: [10, 100] }); r.metrics['ndcg@10']
 */
export function scoreEngine(engine: Engine, train: Dataset, test: Dataset, opts: { ks?: readonly number[]; maxUsers?: number; seed?: number; auc?: boolean } = {}): EvaluationResult {
  const single = engine.config.sources.length === 1 && !engine.hasRanker ? engine.source(engine.sourceNames[0]) : null;
  const scoreAll = single && 'scoreAll' in single ? (single as unknown as { scoreAll(q: unknown): Float32Array }).scoreAll.bind(single) : undefined;
  return evaluateRecommender(
    train,
    test,
    engineRecommender(engine, train),
    { ks: opts.ks ?? DEFAULT_KS, maxUsers: opts.maxUsers, seed: opts.seed, scorer: opts.auc && scoreAll ? (q) => scoreAll(q) : undefined },
  );
}

