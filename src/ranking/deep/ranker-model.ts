/**
 * The DCN-v2 as an L2 ranker-model kind: trained with log loss on the ranker's rows (the GBDT's rows),
 * early stopping on the validation users' rows.
 */
import { defineRankerKind } from '../model/model.ts';
import { DcnEnsemble } from './ensemble.ts';
import { DcnModel } from './model.ts';
import { DCN_PARAMS } from './params.ts';
import { trainDcn } from './train.ts';

export { DCN_PARAMS };



/** The `dcn` ranker-model kind. */
export const dcnRankerKind = defineRankerKind({
  kind: 'dcn',
  description: 'DCN-v2 (cross layers beside an MLP, embeddings of the coded categorical columns) on the ranker features',
  params: DCN_PARAMS,
  async train({ train, valid }, params, run) {
    if (params.ensemble === 1) return (await trainDcn(train, valid, params, run)).model;
    const members: DcnModel[] = [];
    for (let k = 0; k < params.ensemble; k++) {
      members.push((await trainDcn(train, valid, params, { ...run, seed: run.seed + k, progress: run.progress?.scope(`network ${k + 1}/${params.ensemble}`) })).model);
    }
    return new DcnEnsemble(members);
  },
  async load(dir, params, read) {
    if (params.ensemble === 1) return DcnModel.load(dir, read);
    return DcnEnsemble.load(dir, params.ensemble, (d) => DcnModel.load(d, read), read);
  },
  refitParams(params, summary) {
    const best = summary.bestEpoch;
    return typeof best === 'number' && best > 0 ? { ...params, epochs: best, patience: 0 } : null;
  },
});
