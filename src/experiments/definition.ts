/**
 * An experiment as a team writes it (experiments.json or POST /v1/experiments): a name, arms with their
 * traffic shares, when it runs, and how long after an exposure an event still counts for it. One schema
 * checks it (fields named on error); `resolveExperiment` adds the rules a schema cannot say.
 */
import { BUSINESS_PARAMS } from '../ranking/index.ts';
import { check, InputError, schema, type Infer } from '../schema/index.ts';

export const ARM_SCHEMA = schema({
  name: { type: 'string', description: 'the arm\'s name (unique in the experiment; [A-Za-z0-9_.-])', required: true },
  model: { type: 'string', description: 'the model directory this arm serves; null: the model the service was started with', nullable: true, default: null },
  interleave: { type: 'list', of: 'string', description: 'team-draft interleaving of two model directories (null: the served one) instead of one model: [teamA, teamB]', nullable: true, default: null },
  share: { type: 'number', description: 'the arm\'s share of the experiment\'s users (shares are normalised to sum to 1)', min: 0, exclusiveMin: true, default: 1 },
  ranker: { type: 'boolean', description: 'false: a variant of the arm\'s model that answers with its fused L1 order (the ranker off; business rules still apply)', default: true },
  candidates: { type: 'number', description: 'a variant of the arm\'s model: this L1 -> L2 candidate count per source instead of its own', integer: true, min: 1, max: 100000, nullable: true, default: null },
  business: { type: 'record', description: 'a variant of the arm\'s model: business rules replacing its own, field by field (boosts, filters, value, diversity: the engine\'s business schema)' },
});

export const EXPERIMENT_SCHEMA = schema({
  name: { type: 'string', description: 'the experiment\'s name ([A-Za-z0-9_.-], at most 64 characters)', required: true },
  arms: { type: 'array', of: ARM_SCHEMA, description: 'two or more arms; the first is the control', minItems: 1, required: true },
  start: { type: 'string', description: 'when assignment starts (ISO 8601 date or time); null: now', nullable: true, default: null },
  stop: { type: 'string', description: 'when assignment stops (ISO 8601); null: runs until stopped', nullable: true, default: null },
  attributionHours: { type: 'number', description: 'an event without an exposureId counts for the user\'s latest exposure of its item at most this many hours before it', min: 0, exclusiveMin: true, default: 24 },
  seed: { type: 'number', description: 'salt of the assignment hash (change it to reshuffle users between arms)', integer: true, min: 0, max: 4294967295, default: 0 },
});

export const EXPERIMENTS_FILE_SCHEMA = schema({
  experiments: { type: 'array', of: EXPERIMENT_SCHEMA, description: 'the experiments', default: [] },
});

export type ArmInput = Infer<typeof ARM_SCHEMA>;

/** One arm, checked: either a model (null: the served one) or an interleaving of two. */
export interface Arm {
  name: string;
  /** 'model': one list from `model`; 'interleave': team-draft of `teams[0]` and `teams[1]`. */
  type: 'model' | 'interleave';
  model: string | null;
  /** For 'interleave': the two teams' model directories (null: the served model). */
  teams: [string | null, string | null] | null;
  /** Normalised: the arms' shares sum to 1. */
  share: number;
  /** Variant of a 'model' arm: false turns its ranker off (true for interleave arms). */
  ranker: boolean;
  /** Variant of a 'model' arm: its L1 -> L2 candidate count (null: the model's own). */
  candidates: number | null;
  /** Variant of a 'model' arm: the business-rule fields that replace the model's (null: its own), checked. */
  business: Record<string, unknown> | null;
}

/** A checked experiment. Times are Unix seconds. */
export interface Experiment {
  name: string;
  arms: Arm[];
  start: number;
  stop: number | null;
  attributionSeconds: number;
  seed: number;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function time(v: string | null, field: string, fallback: number | null): number | null {
  if (v === null) return fallback;
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw new InputError(field, `must be an ISO 8601 date or time (got '${v}')`);
  return t / 1000;
}

/**
 * Checks one experiment definition (the schema, then unique arm names, a valid interleave pair, times
 * in order) and returns it with shares normalised and times in seconds. Throws ParamError/InputError
 * naming the field (`arms[1].share`), prefixed with `path`.
 * @example resolveExperiment({ name: 'v2', arms: [{ name: 'control' }, { name: 'v2', model: 'models/v2' }] })
 */
export function resolveExperiment(given: unknown, path = '', now = Date.now() / 1000): Experiment {
  const at = (f: string) => (path ? `${path}.${f}` : f);
  const e = check(EXPERIMENT_SCHEMA, given, { path });
  if (!NAME.test(e.name)) throw new InputError(at('name'), `must be 1 to 64 of [A-Za-z0-9_.-] (got '${e.name}')`);
  const names = new Set<string>();
  let total = 0;
  const arms: Arm[] = e.arms.map((a, i) => {
    const f = (x: string) => at(`arms[${i}].${x}`);
    if (!NAME.test(a.name)) throw new InputError(f('name'), `must be 1 to 64 of [A-Za-z0-9_.-] (got '${a.name}')`);
    if (names.has(a.name)) throw new InputError(f('name'), `'${a.name}' names two arms`);
    names.add(a.name);
    if (a.interleave !== null && a.model !== null) throw new InputError(f('interleave'), 'give either model or interleave, not both');
    if (a.interleave !== null && a.interleave.length !== 2) throw new InputError(f('interleave'), `must name two model directories, one per team (got ${a.interleave.length})`);
    // an absent (or empty) business record is no variant
    const givenBusiness = a.business && Object.keys(a.business).length > 0 ? a.business : null;
    if (a.interleave !== null && (!a.ranker || a.candidates !== null || givenBusiness !== null)) throw new InputError(f(!a.ranker ? 'ranker' : a.candidates !== null ? 'candidates' : 'business'), 'variants apply to a model arm; an interleave arm\'s teams are model directories as they are');
    let business: Record<string, unknown> | null = null;
    if (givenBusiness !== null) {
      // every field checked (unknown names refused with the known ones); only the given ones kept
      const full = check(BUSINESS_PARAMS, givenBusiness, { path: f('business') }) as Record<string, unknown>;
      business = Object.fromEntries(Object.keys(givenBusiness).map((k) => [k, full[k]]));
    }
    total += a.share;
    const teams = a.interleave === null ? null : (a.interleave.map((m) => (m === '' || m === 'served' ? null : m)) as [string | null, string | null]);
    return { name: a.name, type: teams ? 'interleave' : 'model', model: a.model, teams, share: a.share, ranker: a.ranker, candidates: a.candidates, business };
  });
  if (arms.length < 2 && arms[0].type !== 'interleave') throw new InputError(at('arms'), 'needs two or more arms (or one interleave arm)');
  for (const a of arms) a.share /= total;
  const start = time(e.start, at('start'), now)!;
  const stop = time(e.stop, at('stop'), null);
  if (stop !== null && stop <= start) throw new InputError(at('stop'), `must be after start (${new Date(start * 1000).toISOString()})`);
  return { name: e.name, arms, start, stop, attributionSeconds: e.attributionHours * 3600, seed: e.seed };
}

/**
 * Checks an experiments file's content (`{ "experiments": [...] }`); names must be unique.
 * @example parseExperiments(JSON.parse(text)) // [{ name: 'v2', arms: [...] }]
 */
export function parseExperiments(given: unknown, now = Date.now() / 1000): Experiment[] {
  const f = check(EXPERIMENTS_FILE_SCHEMA, given);
  const out: Experiment[] = [];
  const seen = new Set<string>();
  f.experiments.forEach((e, i) => {
    const x = resolveExperiment(e, `experiments[${i}]`, now);
    if (seen.has(x.name)) throw new InputError(`experiments[${i}].name`, `'${x.name}' names two experiments`);
    seen.add(x.name);
    out.push(x);
  });
  return out;
}

/** The model directories an experiment needs loaded (null: the served model), without repeats. */
export function modelsOf(e: Experiment): (string | null)[] {
  const s = new Set<string | null>();
  for (const a of e.arms) {
    if (a.type === 'model') s.add(a.model);
    else for (const t of a.teams!) s.add(t);
  }
  return [...s];
}
