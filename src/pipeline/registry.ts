/**
 * The open registry of named pipelines that `tandem evaluate` and `tandem demo` run. A pipeline is a
 * whole recommender (one source, or L1 + L2 + rules) behind one small surface; each registers itself
 * with a declared parameter schema, so flags, validation and help come from one place.
 */
import type { Dataset } from '../data/index.ts';
import type { UserQuery } from '../retrieval/index.ts';

/** What a pipeline gets to fit on. */
export interface FitContext {
  train: Dataset;
  /**
   * A per-user temporal split of `train` (same rule as the benchmark's train-inner/valid), for tuning
   * and early stopping. Made on first read, so pipelines that do not use it do not pay for it.
   */
  readonly valid?: { train: Dataset; test: Dataset };
  seed: number;
  threads: number;
  log(msg: string): void;
}

/** A fitted recommender under a name. */
export interface Pipeline {
  readonly name: string;
  fit(ctx: FitContext): Promise<void>;
  /** Up to `n` items for the query, best first, none in `exclude`. */
  recommend(query: UserQuery, n: number, exclude: ReadonlySet<number>): Int32Array;
  /** Optional: a score for every catalog item (the evaluation then reports AUC). */
  score?(query: UserQuery): Float32Array;
  /** Optional: what fit chose (tuned parameters, epochs), reported beside the metrics as `fit`. */
  report?(): unknown;
}

/** One declared pipeline parameter. */
export interface ParamDef {
  type: 'number' | 'string' | 'boolean';
  default: number | string | boolean;
  description: string;
  /** For numbers: the allowed range; for strings: the allowed values. */
  min?: number;
  max?: number;
  integer?: boolean;
  values?: readonly string[];
}

/** A registered pipeline kind: its name, what it is, its parameters and how to make one. */
export interface PipelineSpec {
  name: string;
  description: string;
  params: Record<string, ParamDef>;
  /** A fresh pipeline; `params` are already checked and complete (defaults filled in). */
  create(params: Record<string, number | string | boolean>): Pipeline;
}

const registry = new Map<string, PipelineSpec>();

/**
 * Adds a pipeline kind; a later layer registers `two-tower` or `two-stage` the same way.
 * @example registerPipeline({ name: 'my-pipe', description: '...', params: {}, create: () => new MyPipe() })
 */
export function registerPipeline(spec: PipelineSpec): void {
  if (!/^[a-z][a-z0-9-]*$/.test(spec.name)) throw new Error(`pipeline name '${spec.name}' must be lower-case letters, digits and dashes`);
  if (registry.has(spec.name)) throw new Error(`pipeline '${spec.name}' is already registered`);
  registry.set(spec.name, spec);
}

/** Every registered pipeline kind, in registration order. */
export function listPipelines(): PipelineSpec[] {
  return [...registry.values()];
}

/** The spec of `name`, or an error listing the known names. */
export function pipelineSpec(name: string): PipelineSpec {
  const s = registry.get(name);
  if (!s) throw new Error(`unknown pipeline '${name}' (known: ${[...registry.keys()].join(', ') || 'none'})`);
  return s;
}

/**
 * Checks `given` against the spec's parameter schema (strings from the command line are converted)
 * and fills in defaults. Errors name the pipeline and the parameter.
 */
export function resolveParams(spec: PipelineSpec, given: Record<string, unknown> = {}): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = {};
  for (const key of Object.keys(given)) {
    if (!(key in spec.params)) {
      throw new Error(`pipeline '${spec.name}': unknown parameter '${key}' (known: ${Object.keys(spec.params).join(', ') || 'none'})`);
    }
  }
  for (const [key, def] of Object.entries(spec.params)) {
    let v = given[key] ?? def.default;
    const where = `pipeline '${spec.name}' parameter '${key}'`;
    if (def.type === 'number') {
      if (typeof v === 'string' && v.trim() !== '') v = Number(v);
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${where}: ${JSON.stringify(given[key])} is not a number`);
      if (def.integer && !Number.isInteger(v)) throw new Error(`${where}: ${v} is not an integer`);
      if ((def.min !== undefined && v < def.min) || (def.max !== undefined && v > def.max)) {
        throw new Error(`${where}: ${v} is outside [${def.min ?? '-inf'}, ${def.max ?? 'inf'}]`);
      }
    } else if (def.type === 'boolean') {
      if (v === 'true' || v === '1') v = true;
      else if (v === 'false' || v === '0') v = false;
      if (typeof v !== 'boolean') throw new Error(`${where}: ${JSON.stringify(given[key])} is not true or false`);
    } else {
      if (typeof v !== 'string') throw new Error(`${where}: ${JSON.stringify(given[key])} is not a string`);
      if (def.values && !def.values.includes(v)) throw new Error(`${where}: '${v}' is not one of ${def.values.join(', ')}`);
    }
    out[key] = v;
  }
  return out;
}

/**
 * A fresh pipeline of kind `name` with checked parameters.
 * @example const p = createPipeline('itemknn', { neighbours: 200 }); await p.fit(ctx); p.recommend(q, 10, seen)
 */
export function createPipeline(name: string, params: Record<string, unknown> = {}): Pipeline {
  const spec = pipelineSpec(name);
  return spec.create(resolveParams(spec, params));
}
