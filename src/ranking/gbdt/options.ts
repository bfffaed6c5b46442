/**
 * The GBDT's one options schema: each parameter's type, default, range and description. Validation,
 * defaults and docs (`paramDocs`) come from this table. Model hyperparameters are apart from run
 * settings (`TrainSettings`: threads, verbosity, validation data).
 */

export type ObjectiveName = 'binary' | 'lambdarank' | 'regression';
export type MetricName = 'auto' | 'logloss' | 'auc' | 'l2' | 'ndcg';

export interface GbdtParams {
  objective: ObjectiveName;
  numRounds: number;
  learningRate: number;
  numLeaves: number;
  maxDepth: number;
  minDataInLeaf: number;
  minSumHessianInLeaf: number;
  lambdaL1: number;
  lambdaL2: number;
  minGainToSplit: number;
  maxBin: number;
  binSampleRows: number;
  baggingFraction: number;
  featureFraction: number;
  earlyStoppingRounds: number;
  metric: MetricName;
  ndcgAt: number;
  lambdarankTruncation: number;
  sigmoid: number;
  seed: number;
}

type ParamDef =
  | { type: 'int' | 'number'; default: number; min: number; max: number; minExclusive?: boolean; description: string }
  | { type: 'enum'; default: string; values: readonly string[]; description: string };

/** Every parameter with its default, allowed range and meaning. */
export const GBDT_PARAMS: { readonly [K in keyof GbdtParams]: ParamDef } = {
  objective: { type: 'enum', default: 'binary', values: ['binary', 'lambdarank', 'regression'], description: 'loss: binary log loss, LambdaRank (NDCG, needs groups) or squared error' },
  numRounds: { type: 'int', default: 100, min: 1, max: 1e6, description: 'boosting rounds (trees)' },
  learningRate: { type: 'number', default: 0.1, min: 0, max: 1, minExclusive: true, description: 'shrinkage applied to each tree\'s leaf values' },
  numLeaves: { type: 'int', default: 31, min: 2, max: 131072, description: 'maximum leaves per tree (leaf-wise growth)' },
  maxDepth: { type: 'int', default: -1, min: -1, max: 1000, description: 'maximum tree depth; -1 means no limit' },
  minDataInLeaf: { type: 'int', default: 20, min: 1, max: 1e9, description: 'minimum rows in a leaf' },
  minSumHessianInLeaf: { type: 'number', default: 1e-3, min: 0, max: 1e12, description: 'minimum sum of hessians in a leaf' },
  lambdaL1: { type: 'number', default: 0, min: 0, max: 1e12, description: 'L1 regularisation of leaf values' },
  lambdaL2: { type: 'number', default: 0, min: 0, max: 1e12, description: 'L2 regularisation of leaf values' },
  minGainToSplit: { type: 'number', default: 0, min: 0, max: 1e12, description: 'minimum loss reduction to make a split' },
  maxBin: { type: 'int', default: 255, min: 2, max: 255, description: 'maximum value bins per feature (missing values get one more)' },
  binSampleRows: { type: 'int', default: 200000, min: 100, max: 1e9, description: 'rows sampled to find the quantile bin edges' },
  baggingFraction: { type: 'number', default: 1, min: 0, max: 1, minExclusive: true, description: 'fraction of rows drawn (without replacement) for each tree' },
  featureFraction: { type: 'number', default: 1, min: 0, max: 1, minExclusive: true, description: 'fraction of features drawn for each tree' },
  earlyStoppingRounds: { type: 'int', default: 0, min: 0, max: 1e6, description: 'stop when the validation metric has not improved for this many rounds; 0 = off' },
  metric: { type: 'enum', default: 'auto', values: ['auto', 'logloss', 'auc', 'l2', 'ndcg'], description: 'validation metric; auto = logloss, ndcg or l2 by objective' },
  ndcgAt: { type: 'int', default: 10, min: 1, max: 1e6, description: 'cut-off of the ndcg metric' },
  lambdarankTruncation: { type: 'int', default: 30, min: 1, max: 1e6, description: 'LambdaRank uses pairs with at least one item in the current top this-many' },
  sigmoid: { type: 'number', default: 1, min: 0, max: 1e3, minExclusive: true, description: 'steepness of the LambdaRank pairwise sigmoid' },
  seed: { type: 'int', default: 1, min: 0, max: 4294967295, description: 'seed for bagging, feature sampling and bin sampling' },
};

/** A parameter that failed validation, named. */
export class GbdtParamError extends Error {
  override name = 'GbdtParamError';
  constructor(readonly param: string, message: string) {
    super(`gbdt parameter '${param}': ${message}`);
  }
}

/**
 * Fills defaults and validates every parameter, throwing `GbdtParamError` naming the first bad one.
 * @example const p = resolveParams({ objective: 'binary', numLeaves: 63 }); p.learningRate; // 0.1
 */
export function resolveParams(partial: Partial<GbdtParams> = {}): GbdtParams {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(partial)) {
    if (!(key in GBDT_PARAMS)) throw new GbdtParamError(key, `unknown parameter; known: ${Object.keys(GBDT_PARAMS).join(', ')}`);
  }
  for (const [key, def] of Object.entries(GBDT_PARAMS) as [keyof GbdtParams, ParamDef][]) {
    const v = partial[key] === undefined ? def.default : partial[key];
    if (def.type === 'enum') {
      if (typeof v !== 'string' || !def.values.includes(v)) throw new GbdtParamError(key, `'${String(v)}' is not one of ${def.values.join(', ')}`);
    } else {
      if (typeof v !== 'number' || Number.isNaN(v)) throw new GbdtParamError(key, `'${String(v)}' is not a number`);
      if (def.type === 'int' && !Number.isInteger(v)) throw new GbdtParamError(key, `${v} is not an integer`);
      const low = def.minExclusive ? v <= def.min : v < def.min;
      if (low || v > def.max) throw new GbdtParamError(key, `${v} is outside ${def.minExclusive ? '(' : '['}${def.min}, ${def.max}]`);
    }
    out[key] = v;
  }
  return out as unknown as GbdtParams;
}

/** Markdown table of the parameters, for docs/gbdt.md. */
export function paramDocs(): string {
  const rows = ['| parameter | default | range | meaning |', '|---|---|---|---|'];
  for (const [key, def] of Object.entries(GBDT_PARAMS)) {
    const range = def.type === 'enum' ? def.values.join(' \\| ') : `${def.minExclusive ? '(' : '['}${def.min}, ${def.max}]`;
    rows.push(`| \`${key}\` | ${def.default} | ${range} | ${def.description} |`);
  }
  return rows.join('\n');
}

/** `numLeaves` -> `num-leaves`: the CLI flag of a parameter. */
export function paramFlag(name: string): string {
  return name.replace(/[A-Z0-9]+/g, (m) => '-' + m.toLowerCase());
}

/**
 * Command-line option definitions made from the schema (the shape of cli/args.ts OptionDefs, which this
 * layer cannot import): flag, type, default and description per parameter, with `prefix` before each flag.
 * Read the parsed values back with `paramsFromOptions`.
 * @example const defs = paramOptionDefs('gbdt-'); // { 'gbdt-num-leaves': { type: 'number', default: 31, ... }, ... }
 */
export function paramOptionDefs(prefix = ''): Record<string, { type: 'number' | 'string'; description: string; default: number | string }> {
  const out: Record<string, { type: 'number' | 'string'; description: string; default: number | string }> = {};
  for (const [key, def] of Object.entries(GBDT_PARAMS)) {
    const range = def.type === 'enum' ? def.values.join(' | ') : `${def.minExclusive ? '(' : '['}${def.min}, ${def.max}]`;
    out[prefix + paramFlag(key)] = { type: def.type === 'enum' ? 'string' : 'number', description: `${def.description}; ${range}`, default: def.default };
  }
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
