/**
 * The two-stage engine with the deep ranker: `two-stage-dcn` (the DCN instead of the GBDT) and
 * `two-stage-blend` (both, their log-odds averaged with a weight chosen on the validation users' rows).
 * Same sources, candidates, ranker rows and business rules as `two-stage`; only `ranker` differs.
 */
import { schema, type Infer } from '../schema/index.ts';
import { registerPipeline, TWO_STAGE_PARAMS, twoStageConfig, type TwoStageParams } from './pipelines.ts';

/** The DCN's main knobs as pipeline parameters (the rest: the `dcn` kind's defaults). */
export const DCN_PIPELINE_PARAMS = schema({
  crossLayers: { type: 'number', integer: true, min: 0, max: 8, default: 3, description: 'DCN cross layers' },
  hidden: { type: 'list', of: 'number', integer: true, min: 1, default: [256, 128], description: "widths of the DCN's MLP" },
  embedDim: { type: 'number', integer: true, min: 1, max: 64, default: 8, description: 'embedding width of each coded categorical column' },
  dcnLearningRate: { type: 'number', min: 0, exclusiveMin: true, max: 1, default: 0.001, description: "the DCN's Adam learning rate" },
  dcnEpochs: { type: 'number', integer: true, min: 1, default: 30, description: 'DCN epochs at most (early stopping on held-out users)' },
  dcnBatch: { type: 'number', integer: true, min: 1, default: 512, description: "the DCN's minibatch rows" },
  dcnL2: { type: 'number', min: 0, default: 0, description: "the DCN's L2 penalty" },
});

const TWO_STAGE_DCN_PARAMS = schema({ ...TWO_STAGE_PARAMS, ...DCN_PIPELINE_PARAMS });
const TWO_STAGE_BLEND_PARAMS = schema({
  ...TWO_STAGE_DCN_PARAMS,
  blendWeight: { type: 'number', min: 0, max: 1, nullable: true, default: null, description: "the GBDT's weight in the blend (null: chosen on the validation rows)" },
});

type DcnPipelineParams = Infer<typeof TWO_STAGE_DCN_PARAMS>;

/** The `dcn` kind's params from the pipeline's. */
function dcnParams(p: DcnPipelineParams): Record<string, unknown> {
  return { crossLayers: p.crossLayers, hidden: p.hidden, embedDim: p.embedDim, learningRate: p.dcnLearningRate, epochs: p.dcnEpochs, batchSize: p.dcnBatch, l2: p.dcnL2 };
}

/** two-stage's configuration with another ranker model. */
function withRanker(p: TwoStageParams, kind: string, params: Record<string, unknown>): Record<string, unknown> {
  const c = twoStageConfig(p) as Record<string, unknown>;
  return { ...c, ranker: { ...(c.ranker as Record<string, unknown>), kind, params } };
}

registerPipeline({
  name: 'two-stage-dcn',
  description: "two-stage's candidates, rows and rules, re-ranked by a DCN-v2 instead of the GBDT",
  params: TWO_STAGE_DCN_PARAMS,
  config: (p) => withRanker(p as TwoStageParams, 'dcn', dcnParams(p)),
});

registerPipeline({
  name: 'two-stage-blend',
  description: "two-stage's candidates, rows and rules, re-ranked by the GBDT and the DCN, their log-odds averaged (weight chosen on validation)",
  params: TWO_STAGE_BLEND_PARAMS,
  config: (p) => {
    const gbdt = ((twoStageConfig(p as TwoStageParams) as Record<string, unknown>).ranker as { params: Record<string, unknown> }).params;
    return withRanker(p as TwoStageParams, 'blend', { gbdt, dcn: dcnParams(p), weight: p.blendWeight });
  },
});
