/** Scoring an engine offline: the evaluation protocol over the engine's own request path. */
import type { Dataset } from '../../data/index.ts';
import { DEFAULT_KS, evaluateRecommender, relevantTestItems, type EvaluationResult, type Recommender } from '../../evaluation/index.ts';
import { NO_PROGRESS, type Progress, type ProgressTask } from '../../math/index.ts';
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
export function scoreEngine(engine: Engine, train: Dataset, test: Dataset, opts: { ks?: readonly number[]; maxUsers?: number; seed?: number; auc?: boolean; progress?: Progress } = {}): EvaluationResult {
  const single = engine.config.sources.length === 1 && !engine.hasRanker ? engine.source(engine.sourceNames[0]) : null;
  const scoreAll = single && 'scoreAll' in single ? (single as unknown as { scoreAll(q: unknown): Float32Array }).scoreAll.bind(single) : undefined;
  const progress = opts.progress ?? NO_PROGRESS;
  let task: ProgressTask | null = null;
  try {
    return evaluateRecommender(
      train,
      test,
      engineRecommender(engine, train),
      {
        ks: opts.ks ?? DEFAULT_KS,
        maxUsers: opts.maxUsers,
        seed: opts.seed,
        scorer: opts.auc && scoreAll ? (q) => scoreAll(q) : undefined,
        progress: (done, total) => (task ??= progress.start('scoring', total, 'users')).set(done),
      },
    );
  } finally {
    (task as ProgressTask | null)?.finish();
  }
}


/**
 * Scores a running service over HTTP under the same protocol: `GET {url}/v1/users/{id}/recommendations?k=K`
 * for every test user with a relevant item (K = max(ks)), at most `concurrency` requests at a time;
 * returned ids the data does not hold count as misses. `train` and `test` are the data the served model
 * was trained on and its held-out side (the service excludes the user's training items itself).
 * @example const r = await scoreService('http://127.0.0.1:8080', train, test); r.metrics['ndcg@10']
 */
export async function scoreService(url: string, train: Dataset, test: Dataset, opts: { ks?: readonly number[]; concurrency?: number; headers?: Record<string, string>; progress?: Progress } = {}): Promise<EvaluationResult & { requests: number; failed: number }> {
  const ks = opts.ks ?? DEFAULT_KS;
  const k = Math.max(...ks);
  const rel = relevantTestItems(train, test);
  const users: number[] = [];
  for (let u = 0; u < train.numUsers; u++) if (rel.offsets[u + 1] > rel.offsets[u]) users.push(u);
  const lists = new Map<number, Int32Array>();
  const ids = train.users.ids.values;
  let next = 0;
  let failed = 0;
  const base = url.replace(/\/+$/, '');
  const worker = async (): Promise<void> => {
    while (next < users.length) {
      const u = users[next++];
      const res = await fetch(`${base}/v1/users/${encodeURIComponent(ids[u])}/recommendations?k=${k}`, { headers: opts.headers });
      if (!res.ok) {
        failed++;
        throw new Error(`${base}: user '${ids[u]}': HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      }
      const body = (await res.json()) as { items: { id: string }[] };
      // items added since training are not in the data: they can only be misses
      lists.set(u, Int32Array.from(body.items.map((it) => train.items.ids.get(it.id)).filter((i) => i >= 0)));
      task.tick();
    }
  };
  const task = (opts.progress ?? NO_PROGRESS).start('requests', users.length, 'users');
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, worker)).finally(() => task.finish());
  const r = evaluateRecommender(train, test, (q) => lists.get(q.user) ?? new Int32Array(0), { ks });
  return { ...r, requests: users.length, failed };
}
