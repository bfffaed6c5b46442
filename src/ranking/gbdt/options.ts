/**
 * The GBDT's parameters, declared with the project's one schema mechanism (src/schema): each
 * parameter's type, default, range and description. Validation, defaults, docs (`paramDocs`) and CLI
 * flags come from this table. Model hyperparameters are apart from run settings (`TrainSettings`:
 * threads, verbosity, validation data).
 */
import { ParamError, check, docsTable, flagName, schema, type Infer, type OptionDefs } from '../../schema/index.ts';

/** Every parameter with its default, allowed range and meaning. */
export const GBDT_PARAMS = schema({
  objective: { type: 'string', default: 'binary', values: ['binary', 'lambdarank', 'regression'], description: 'loss: binary log loss, LambdaRank (NDCG, needs groups) or squared error' },
  numRounds: { type: 'number', integer: true, default: 100, min: 1, max: 1e6, description: 'boosting rounds (trees)' },
  learningRate: { type: 'number', default: 0.1, min: 0, max: 1, exclusiveMin: true, description: "shrinkage applied to each tree's leaf values" },
  numLeaves: { type: 'number', integer: true, default: 31, min: 2, max: 131072, description: 'maximum leaves per tree (leaf-wise growth)' },
  maxDepth: { type: 'number', integer: true, default: -1, min: -1, max: 1000, description: 'maximum tree depth; -1 means no limit' },
  minDataInLeaf: { type: 'number', integer: true, default: 20, min: 1, max: 1e9, description: 'minimum rows in a leaf' },
  minSumHessianInLeaf: { type: 'number', default: 1e-3, min: 0, max: 1e12, description: 'minimum sum of hessians in a leaf' },
  lambdaL1: { type: 'number', default: 0, min: 0, max: 1e12, description: 'L1 regularisation of leaf values' },
  lambdaL2: { type: 'number', default: 0, min: 0, max: 1e12, description: 'L2 regularisation of leaf values' },
  minGainToSplit: { type: 'number', default: 0, min: 0, max: 1e12, description: 'minimum loss reduction to make a split' },
  maxBin: { type: 'number', integer: true, default: 255, min: 2, max: 255, description: 'maximum value bins per feature (missing values get one more)' },
  binSampleRows: { type: 'number', integer: true, default: 200000, min: 100, max: 1e9, description: 'rows sampled to find the quantile bin edges' },
  baggingFraction: { type: 'number', default: 1, min: 0, max: 1, exclusiveMin: true, description: 'fraction of rows drawn (without replacement) for each tree' },
  featureFraction: { type: 'number', default: 1, min: 0, max: 1, exclusiveMin: true, description: 'fraction of features drawn for each tree' },
  earlyStoppingRounds: { type: 'number', integer: true, default: 0, min: 0, max: 1e6, description: 'stop when the validation metric has not improved for this many rounds; 0 = off' },
  metric: { type: 'string', default: 'auto', values: ['auto', 'logloss', 'auc', 'l2', 'ndcg'], description: 'validation metric; auto = logloss, ndcg or l2 by objective' },
  ndcgAt: { type: 'number', integer: true, default: 10, min: 1, max: 1e6, description: 'cut-off of the ndcg metric' },
  lambdarankTruncation: { type: 'number', integer: true, default: 30, min: 1, max: 1e6, description: 'LambdaRank uses pairs with at least one item in the current top this-many' },
  sigmoid: { type: 'number', default: 1, min: 0, max: 1e3, exclusiveMin: true, description: 'steepness of the LambdaRank pairwise sigmoid' },
  seed: { type: 'number', integer: true, default: 1, min: 0, max: 4294967295, description: 'seed for bagging, feature sampling and bin sampling' },
});

export type GbdtParams = Infer<typeof GBDT_PARAMS>;
export type ObjectiveName = GbdtParams['objective'];
export type MetricName = GbdtParams['metric'];

/** A parameter that failed validation, named. */
export class GbdtParamError extends Error {
  override name = 'GbdtParamError';
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(`gbdt parameter '${param}': ${message}`);
  }
}

/**
 * Fills defaults and validates every parameter, throwing `GbdtParamError` naming the first bad one.
 * @example const p = resolveParams({ objective: 'binary', numLeaves: 63 }); p.learningRate; // 0.1
 */
export function resolveParams(partial: Partial<GbdtParams> = {}): GbdtParams {
  try {
    return check(GBDT_PARAMS, partial);
  } catch (err) {
    if (err instanceof ParamError) throw new GbdtParamError(err.problems[0].path, err.problems[0].message);
    throw err;
  }
}

/** Markdown table of the parameters, for docs/gbdt.md. */
export function paramDocs(): string {
  return docsTable(GBDT_PARAMS);
}

/** `numLeaves` -> `num-leaves`: the CLI flag of a parameter. */
export function paramFlag(name: string): string {
  return flagName(name);
}

/**
 * Command-line option specs made from the schema, with `prefix` before each flag. Read the parsed
 * values back with `paramsFromOptions`.
 * @example const defs = paramOptionDefs('gbdt-'); // { 'gbdt-num-leaves': { type: 'number', default: 31, ... }, ... }
 */
export function paramOptionDefs(prefix = ''): OptionDefs {
  const out: Record<string, OptionDefs[string]> = {};
  for (const [key, def] of Object.entries(GBDT_PARAMS)) out[prefix + paramFlag(key)] = { ...def };
  return out;
}

/** The parameters from options parsed with `paramOptionDefs(prefix)`, validated by resolveParams. */
export function paramsFromOptions(options: Record<string, unknown>, prefix = ''): GbdtParams {
  const partial: Record<string, unknown> = {};
  for (const key of Object.keys(GBDT_PARAMS)) {
    const v = options[prefix + paramFlag(key)];
    if (v !== undefined) partial[key] = v;
  }
  return resolveParams(partial as Partial<GbdtParams>);
}
