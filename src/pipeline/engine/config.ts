/**
 * The engine configuration: which candidate sources (and fallbacks) run, the optional L2 ranker, the
 * business rules, and the L1 -> L2 candidate count. One schema checks it wherever it comes from (a
 * pipeline of `tandem evaluate`, `tandem train` flags, a JSON file, a model directory's manifest), and
 * each stage's `params` are checked against its kind's own schema: a typo (`{ lamda: 10 }`) names the
 * parameter, its stage and the known ones.
 */
import { BUSINESS_PARAMS, RANKER_FEATURE_PARAMS, type EmbeddingSpace, type RankerModelKind } from '../../ranking/index.ts';
import type { CandidateSource, SourceKind } from '../../retrieval/index.ts';
import { check, ParamError, safeCheck, schema, type Given, type Infer, type Problem } from '../../schema/index.ts';

/** One candidate-source stage. */
export const STAGE_PARAMS = schema({
  kind: { type: 'string', required: true, description: 'the source kind (ease, itemknn, two-tower, popularity, segments, content)' },
  name: { type: 'string', nullable: true, default: null, description: "unique name its candidates and ranker features carry (default: the kind)" },
  params: { type: 'record', description: "the kind's parameters (checked against the kind's schema)" },
  weight: { type: 'number', min: 0, default: 1, description: 'its weight in reciprocal-rank fusion' },
  candidates: { type: 'number', integer: true, min: 0, nullable: true, default: null, description: "candidates asked of it (null: the engine's `candidates`; 0: it only scores the others' candidates)" },
});

/** How the ranker's training rows are cut from the training data (leakage-free: docs/ranking.md). */
export const RANKER_TRAINING_PARAMS = schema({
  labelFraction: { type: 'number', min: 0.01, max: 0.99, default: 0.2, description: "last share of each user's training events that labels the rows (L1 is fitted on the rest)" },
  labelWindows: { type: 'number', integer: true, min: 1, max: 5, default: 1, description: 'label windows stacked for more rows (each cut from what the previous left to L1)' },
  negativesPerPositive: { type: 'number', integer: true, min: 0, default: 0, description: 'negatives kept per positive in each user group (0: every candidate, within maxRows)' },
  maxRows: { type: 'number', integer: true, min: 1000, default: 1_000_000, description: 'when every candidate of every labelled user would make more rows than this, negatives are sampled (all positives kept) so the rows fit: the training cost follows the budget, not the data' },
  validFraction: { type: 'number', min: 0, max: 0.9, default: 0.15, description: "share of the labelled users (validBy users) or of the user groups (validBy time) held out for the model's early stopping" },
  validBy: { type: 'string', values: ['users', 'time'], default: 'users', description: "which rows early stopping (and the blend's weight) watch: users, every group of randomly held-out users; time, the groups whose label window starts latest (a time-later slice: the models stop on rows later than they learn from; needs timestamps in seconds)" },
  refit: { type: 'boolean', default: false, description: 'train the model again on every row, validation users included, for the amount of training early stopping chose' },
});

/** The L2 ranker stage. */
export const RANKER_STAGE_PARAMS = schema({
  kind: { type: 'string', required: true, description: 'the ranker-model kind (gbdt, dcn, blend)' },
  params: { type: 'record', description: "the model kind's parameters (checked against its schema)" },
  features: { type: 'object', fields: RANKER_FEATURE_PARAMS, description: 'the ranker features' },
  training: { type: 'object', fields: RANKER_TRAINING_PARAMS, description: 'how the training rows are cut' },
  explainTop: { type: 'number', integer: true, min: 0, max: 50, default: 3, description: 'features reported per recommendation' },
});

export const ENGINE_PARAMS = schema({
  sources: { type: 'array', of: STAGE_PARAMS, minItems: 1, description: 'the L1 candidate sources, merged (their order is the column order of the ranker features)' },
  fallbacks: { type: 'array', of: STAGE_PARAMS, description: 'asked in order when the merged list has fewer than k items (segments, content, popularity)' },
  ranker: { type: 'object', fields: RANKER_STAGE_PARAMS, nullable: true, defaultNull: true, description: 'the L2 ranker; null: the fused L1 order' },
  candidates: { type: 'number', integer: true, min: 1, default: 200, description: 'the L1 -> L2 candidate count: candidates each source contributes to a request' },
  maxHistory: { type: 'number', integer: true, min: 1, default: 500, description: "the sources see at most this many of the user's latest events (all of them still count as seen)" },
  business: { type: 'object', fields: BUSINESS_PARAMS, description: 'business rules' },
});

/** A complete engine configuration (defaults filled in; stage params are their kinds' complete params). */
export type EngineConfig = Infer<typeof ENGINE_PARAMS>;
export type StageConfig = EngineConfig['sources'][number];
export type RankerStageConfig = NonNullable<EngineConfig['ranker']>;
/** What a caller may give: any subset of the configuration. */
export type EngineConfigInput = Given<typeof ENGINE_PARAMS> | Record<string, unknown>;

/** The stage kinds a build knows. */
export interface StageRegistry {
  sources: ReadonlyMap<string, SourceKind>;
  rankers: ReadonlyMap<string, RankerModelKind>;
}

/** A registry from lists of kinds. @example makeRegistry(SOURCE_KINDS, RANKER_KINDS) */
export function makeRegistry(sources: readonly SourceKind[], rankers: readonly RankerModelKind[] = []): StageRegistry {
  return { sources: new Map(sources.map((s) => [s.kind, s])), rankers: new Map(rankers.map((r) => [r.kind, r])) };
}

/**
 * Checks a configuration against the engine schema and every stage's params against its kind's schema;
 * returns it complete (names filled in, every default explicit). Throws ParamError listing each problem
 * with its path (`sources[1].params.lamda: unknown parameter (known: lambda, ...); did you mean 'lambda'?`).
 * @example const config = checkEngineConfig({ sources: [{ kind: 'ease', params: { lambda: 300 } }] }, builtinRegistry())
 */
export function checkEngineConfig(given: unknown, registry: StageRegistry, path = ''): EngineConfig {
  const r = safeCheck(ENGINE_PARAMS, given, { path });
  if (!r.ok) throw new ParamError(r.problems);
  const c = r.value;
  const problems: Problem[] = [];
  const at = (p: string) => (path ? `${path}.${p}` : p);
  const names = new Map<string, string>();
  const stages = (list: StageConfig[], field: string) =>
    list.map((s, i) => {
      const where = at(`${field}[${i}]`);
      const kind = registry.sources.get(s.kind);
      if (!kind) {
        problems.push({ path: `${where}.kind`, message: `unknown source kind '${s.kind}' (known: ${[...registry.sources.keys()].join(', ')})` });
        return s;
      }
      const name = s.name ?? s.kind;
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) problems.push({ path: `${where}.name`, message: `'${name}' must be letters, digits, '.', '_' or '-'` });
      if (names.has(name)) problems.push({ path: `${where}.name`, message: `'${name}' is already the name of ${names.get(name)}; give this stage another name` });
      const p = safeCheck(kind.params, s.params, { path: `${where}.params` });
      if (!p.ok) problems.push(...p.problems);
      const params = (p.ok ? p.value : s.params) as Record<string, unknown>;
      if (p.ok) for (const dep of kind.dependsOn?.(p.value) ?? []) if (!names.has(dep)) problems.push({ path: `${where}.params`, message: `needs stage '${dep}' before it (known so far: ${[...names.keys()].join(', ') || 'none'})` });
      names.set(name, where);
      return { ...s, name, params };
    });
  c.sources = stages(c.sources, 'sources');
  c.fallbacks = stages(c.fallbacks, 'fallbacks');
  if (names.size > 255) problems.push({ path: at('sources'), message: 'at most 255 stages' });
  if (c.ranker) {
    const kind = registry.rankers.get(c.ranker.kind);
    if (!kind) problems.push({ path: at('ranker.kind'), message: `unknown ranker kind '${c.ranker.kind}' (known: ${[...registry.rankers.keys()].join(', ') || 'none'})` });
    else {
      const p = safeCheck(kind.params, c.ranker.params, { path: at('ranker.params') });
      if (!p.ok) problems.push(...p.problems);
      else c.ranker.params = p.value;
    }
    const v = c.ranker.features.vectors;
    if (v !== null && !c.sources.some((s) => s.name === v)) problems.push({ path: at('ranker.features.vectors'), message: `'${v}' is not among the sources (${c.sources.map((s) => s.name).join(', ')})` });
  }
  if (problems.length) throw new ParamError(problems);
  return c;
}

/** A configuration as JSON with every default spelled out (what the manifest stores). */
export function completeConfig(given: unknown, registry: StageRegistry): EngineConfig {
  return JSON.parse(JSON.stringify(checkEngineConfig(given, registry))) as EngineConfig;
}

/** The checked defaults of one stage kind's params (docs, help). */
export function stageDefaults(kind: SourceKind): Record<string, unknown> {
  return check(kind.params, {});
}

/**
 * The embedding space the ranker's `vectors` columns read: the fitted stage `ranker.features.vectors`
 * names, among `stages` (in the configuration's order of sources, then fallbacks); null when unset.
 * Training rows, the served model and a model read back all take it from their own stages here.
 */
export function rankerSpace(config: EngineConfig, stages: readonly CandidateSource[]): EmbeddingSpace | null {
  const name = config.ranker?.features.vectors ?? null;
  if (name === null) return null;
  const s = stages[[...config.sources, ...config.fallbacks].findIndex((c) => c.name === name)];
  if (!s || !s.userVector || !s.itemVectors) throw new Error(`ranker.features.vectors: stage '${name}' has no embedding space (a source with user and item vectors, such as a two-tower)`);
  return { userVector: (q, out) => s.userVector!(q, out), itemVectors: () => s.itemVectors!() };
}
