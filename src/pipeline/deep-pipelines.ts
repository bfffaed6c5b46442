/**
 * The two-stage engine with the deep ranker: `two-stage-dcn` (the DCN instead of the GBDT) and
 * `two-stage-blend` (both, their log-odds averaged with a weight chosen on the validation users' rows).
 * Same sources, candidates, ranker rows and business rules as `two-stage`; only `ranker` differs.
 */
import { ItemCatalog } from '../features/index.ts';
import { NO_PROGRESS } from '../math/index.ts';
import { schema, withDefaults, type Infer } from '../schema/index.ts';
import { assembleModel, checkEngineConfig, Engine, fitStages, rankerTrainingRows, trainRankerModel } from './engine/index.ts';
import { registerPipeline, TWO_STAGE_PARAMS, twoStageConfig, type TuneContext, type TwoStageParams } from './pipelines.ts';

/** The DCN's main knobs as pipeline parameters (the rest: the `dcn` kind's defaults). */
export const DCN_PIPELINE_PARAMS = schema({
  crossLayers: { type: 'number', integer: true, min: 0, max: 8, default: 3, description: 'DCN cross layers' },
  hidden: { type: 'list', of: 'number', integer: true, min: 1, default: [256, 128], description: "widths of the DCN's MLP" },
  embedDim: { type: 'number', integer: true, min: 1, max: 64, default: 8, description: 'embedding width of each coded categorical column' },
  dcnLearningRate: { type: 'number', min: 0, exclusiveMin: true, max: 1, default: 0.0003, description: "the DCN's Adam learning rate" },
  dcnEpochs: { type: 'number', integer: true, min: 1, default: 30, description: 'DCN epochs at most (early stopping on held-out users)' },
  dcnBatch: { type: 'number', integer: true, min: 1, default: 512, description: "the DCN's minibatch rows" },
  dcnL2: { type: 'number', min: 0, default: 0, description: "the DCN's L2 penalty" },
  dcnStopMetric: { type: 'string', values: ['logloss', 'ndcg'], default: 'logloss', description: "what the DCN's early stopping watches on the held-out users' rows" },
  dcnObjective: { type: 'string', values: ['binary', 'softmax'], default: 'binary', description: "the DCN's loss: binary log loss per row, or listwise softmax over each user's candidates" },
  dcnEnsemble: { type: 'number', integer: true, min: 1, max: 8, default: 1, description: 'DCNs trained at successive seeds on the same rows, their log-odds averaged (n times the DCN\'s training and scoring)' },
  ids: { type: 'string', values: ['none', 'item', 'both'], default: 'none', description: 'id columns of the ranker rows, which the DCN embeds (the GBDT leaves them out): none, id_item, or id_user and id_item' },
  bagSlots: { type: 'number', integer: true, min: 0, max: 64, default: 0, description: "k > 0: the DCN also reads each multi-categorical or text item column (tags, genres, title words) as bags: the candidate's first k codes and the user's k most frequent ones, each bag's embeddings averaged (columns bag_* and ubag_*; the GBDT leaves them out); 0: off" },
  bagColumns: { type: 'list', of: 'string', nullable: true, default: null, description: 'the item columns bagSlots reads (null: every multi-categorical and text column)' },
  bagUserWeight: { type: 'string', values: ['count', 'tfidf'], default: 'count', description: "how the user's bags pick their codes: the most frequent in the history (count), or frequent there and rare in the catalog (tfidf)" },
  history: { type: 'number', integer: true, min: 0, max: 256, default: 0, description: "m > 0: the DCN also reads the user's last m items, their embeddings averaged (columns hist_*, in id_item's table with ids; the GBDT leaves them out); 0: off" },
  vectorRecent: { type: 'number', integer: true, min: 0, max: 256, default: 0, description: "m > 0 (with vectors): the DCN also reads the mean of the user's last m items' two-tower vectors against the candidate's, on the same axes (columns vrec_*; where the taste is now); 0: off" },
  contentDims: { type: 'number', integer: true, min: 0, max: 256, default: 0, description: "k > 0: for each vector item column (a content embedding) the DCN also reads the mean of the user's recent items' vectors and the candidate's on the column's k main axes, multiplied axis by axis (columns cvec_*; the GBDT leaves them out, and both read the cosines x_<column>_cos and x_<column>_max); 0: off" },
  vectors: { type: 'number', integer: true, min: 0, max: 64, default: 0, description: "k > 0: the DCN also reads the two-tower's user and item vectors on the k main axes of the item vectors, multiplied axis by axis (columns vec_0..vec_{k-1}; the GBDT leaves them out); 0: off" },
});

/** The DCN settings `--tune` tries (each over the pipeline's parameters), on ranker rows and L1 stages built once. */
export const DCN_TUNE_GRID: readonly Record<string, unknown>[] = [
  { dcnObjective: 'binary', dcnLearningRate: 0.0003, dcnStopMetric: 'logloss' },
  { dcnObjective: 'softmax', dcnLearningRate: 0.0003, dcnStopMetric: 'ndcg' },
  { dcnObjective: 'softmax', dcnLearningRate: 0.001, dcnStopMetric: 'ndcg' },
  { dcnObjective: 'binary', dcnLearningRate: 0.0001, dcnStopMetric: 'logloss' },
];

const TWO_STAGE_DCN_PARAMS = schema({ ...TWO_STAGE_PARAMS, ...DCN_PIPELINE_PARAMS });
// two-stage-dcn's own defaults, chosen on ML-100K train-inner -> valid over seeds 42-44 (docs/ranking.md):
// the genres and title words as bags of 4 and the last 10 items, one cross layer (0.2731 mean against
// 0.2672 with no bags and three layers; its 500-candidate pass about 2 ms: 1.2x the 75-wide rows'), and
// three such networks averaged (0.2773 against one's 0.2731 and two's 0.2755; three times the cost)
const TWO_STAGE_DCN_DEFAULTS = schema(withDefaults(TWO_STAGE_DCN_PARAMS, { bagSlots: 4, history: 10, crossLayers: 1, dcnEnsemble: 3 }));
// chosen on ML-100K train-inner -> valid (docs/ranking.md): the DCN alone is best without ids, the blend
// with id_item (its DCN then ranks differently from the trees), the two-tower's vectors on their 4 main
// axes, the item's genres and title words and the user's as bags of 4 and the user's last 10 items (the
// DCN then trains best at the kind's 3e-4), and the GBDT at 0.7 (the best mean over seeds 42-44 on valid);
// one cross layer, not three: within 0.0004 of three on valid, and its 500-candidate pass at the rows'
// width (x0 127) about 2 ms where three took 2.5-2.8;
// two DCNs averaged and the GBDT at 0.6: valid means over seeds 42-44 of one / two / three DCNs at GBDT
// weights 0.5, 0.6, 0.7 were 0.2843 0.2851 0.2855 / 0.2861 0.2860 0.2853 / 0.2859 0.2868 0.2861, and two
// is the fewest within 0.001 of the best (0.5 and 0.6 level: the larger GBDT weight kept)
const TWO_STAGE_BLEND_PARAMS = schema({
  ...withDefaults(TWO_STAGE_DCN_PARAMS, { ids: 'item', vectors: 4, bagSlots: 4, history: 10, crossLayers: 1, dcnEnsemble: 2 }),
  blendWeight: { type: 'number', min: 0, max: 1, nullable: true, default: 0.6, description: "the GBDT's weight in the blend (null: chosen on the held-out users' ranker rows)" },
  // the cascade at 100, as the blend kind's default: the same ndcg@10 on ML-100K valid and the shop's valid as
  // every candidate; the two-DCN blend served at 1M items then costs 8.4 ms CPU a request, not 14.1
  blendDcnTop: { type: 'number', integer: true, min: 1, nullable: true, default: 100, description: "a cascade: the DCN scores only the GBDT's top n of each request's candidates, the rest keep the GBDT's order (null: every candidate)" },
  blendCombine: { type: 'string', values: ['weight', 'stack', 'residual'], default: 'weight', description: "weight: one GBDT weight; stack: a logistic regression on both log-odds and their products with the user's event count and the item's popularity, fitted on the validation rows; residual: the DCN trained on top of the GBDT's log-odds, z = z_gbdt + z_dcn" },
});

type DcnPipelineParams = Infer<typeof TWO_STAGE_DCN_PARAMS>;

/** The `dcn` kind's params from the pipeline's. */
function dcnParams(p: DcnPipelineParams): Record<string, unknown> {
  return { crossLayers: p.crossLayers, hidden: p.hidden, embedDim: p.embedDim, learningRate: p.dcnLearningRate, epochs: p.dcnEpochs, batchSize: p.dcnBatch, l2: p.dcnL2, stopMetric: p.dcnStopMetric, objective: p.dcnObjective, ensemble: p.dcnEnsemble };
}

/** two-stage's configuration with another ranker model (and the id columns when `ids`). */
function withRanker(p: TwoStageParams & { ids: string; vectors: number; vectorRecent: number; bagSlots: number; bagColumns: string[] | null; bagUserWeight: string; history: number; contentDims: number }, kind: string, params: Record<string, unknown>): Record<string, unknown> {
  const c = twoStageConfig(p) as Record<string, unknown>;
  const r = c.ranker as Record<string, unknown>;
  const vectors = p.vectors > 0 ? { vectors: 'two-tower', vectorDims: p.vectors, ...(p.vectorRecent > 0 ? { vectorRecent: p.vectorRecent } : {}) } : {};
  const bags = { ...(p.bagSlots > 0 ? { bagSlots: p.bagSlots, bagColumns: p.bagColumns, ...(p.bagUserWeight !== 'count' ? { bagUserWeight: p.bagUserWeight } : {}) } : {}), ...(p.history > 0 ? { history: p.history } : {}), ...(p.contentDims > 0 ? { contentDims: p.contentDims } : {}) };
  return { ...c, ranker: { ...r, kind, params, features: { ...((r.features as Record<string, unknown> | undefined) ?? {}), ids: p.ids, ...vectors, ...bags } } };
}

/**
 * `--tune` of the DCN pipelines: the L1 stages and the ranker rows of the validation split's train side
 * built once; per DCN_TUNE_GRID setting only the ranker is trained, and the engine scored on valid.
 */
async function tuneDcn(p: DcnPipelineParams, ctx: TuneContext, config: (q: DcnPipelineParams) => Record<string, unknown>): Promise<{ chosen: Record<string, unknown>; tuning: { setting: Record<string, unknown>; metric: number }[] }> {
  const { valid, registry } = ctx;
  const progress = (ctx.progress ?? NO_PROGRESS).scope('tuning');
  const run = { seed: ctx.seed, threads: ctx.threads, log: () => {}, progress };
  const base = checkEngineConfig(config(p), registry);
  const rows = await rankerTrainingRows(valid.train, base, registry, run);
  const catalog = new ItemCatalog(valid.train.items);
  const stages = await fitStages(valid.train, base, registry, catalog, run);
  const tuning: { setting: Record<string, unknown>; metric: number }[] = [];
  let chosen: Record<string, unknown> = { ...p };
  let best = -Infinity;
  for (const g of DCN_TUNE_GRID) {
    const q = { ...p, ...g } as DcnPipelineParams;
    const c = checkEngineConfig(config(q), registry);
    const t0 = performance.now();
    const ranked = await trainRankerModel(rows, c, registry, { ...run, progress: progress.scope(JSON.stringify(g)) });
    const m = ctx.score(new Engine(await assembleModel(valid.train, c, registry, catalog, stages, ranked)));
    tuning.push({ setting: g, metric: m });
    ctx.log(`dcn tuning: valid ndcg@10 ${m.toFixed(4)} with ${JSON.stringify(g)} (${((performance.now() - t0) / 1000).toFixed(1)} s, ${JSON.stringify(ranked.summary.bestEpoch ?? ranked.summary.weight)})`);
    if (m > best) {
      best = m;
      chosen = q;
    }
  }
  return { chosen, tuning };
}

registerPipeline({
  name: 'two-stage-dcn',
  description: "two-stage's candidates, rows and rules, re-ranked by a DCN-v2 instead of the GBDT",
  params: TWO_STAGE_DCN_DEFAULTS,
  config: (p) => withRanker(p as DcnPipelineParams, 'dcn', dcnParams(p)),
  tune: (p, ctx) => tuneDcn(p, ctx, (q) => withRanker(q as DcnPipelineParams, 'dcn', dcnParams(q))),
});

registerPipeline({
  name: 'two-stage-blend',
  description: "two-stage's candidates, rows and rules, re-ranked by the GBDT and the DCN, their log-odds averaged (weight chosen on validation)",
  params: TWO_STAGE_BLEND_PARAMS,
  config: (p) => {
    const gbdt = ((twoStageConfig(p as TwoStageParams) as Record<string, unknown>).ranker as { params: Record<string, unknown> }).params;
    return withRanker(p as DcnPipelineParams, 'blend', { gbdt, dcn: dcnParams(p), weight: p.blendWeight, combine: p.blendCombine, dcnTop: p.blendDcnTop });
  },
});
