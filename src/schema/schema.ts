/**
 * One declarative schema for every set of options in Tandem: pipeline, stage, ranker, GBDT and
 * two-tower parameters, engine configurations and command-line flags. A schema lists each option's
 * type, default, range and description; checking, defaults, docs tables and CLI flags all come from it,
 * so a typo (`{lamda: 10}`) is refused naming the parameter and the known ones, never silently ignored.
 */

/** A number; `integer` and the bounds are checked. `nullable` allows an explicit null. */
export interface NumberSpec {
  type: 'number';
  description: string;
  default?: number | null;
  min?: number;
  max?: number;
  /** `min` itself is not allowed (a rate in (0, 1]). */
  exclusiveMin?: boolean;
  integer?: boolean;
  nullable?: boolean;
  alias?: string;
  required?: boolean;
}

export interface BooleanSpec {
  type: 'boolean';
  description: string;
  default?: boolean;
  alias?: string;
  required?: boolean;
}

/** A string, optionally one of `values`. */
export interface StringSpec {
  type: 'string';
  description: string;
  default?: string | null;
  values?: readonly string[];
  nullable?: boolean;
  alias?: string;
  required?: boolean;
}

/** A list of strings or numbers; from text it is comma-separated. Bounds apply to each number. */
export interface ListSpec {
  type: 'list';
  of: 'string' | 'number';
  description: string;
  default?: readonly (string | number)[] | null;
  min?: number;
  max?: number;
  integer?: boolean;
  values?: readonly string[];
  /** null allowed (with `default: null`: absent means "not given", apart from an empty list). */
  nullable?: boolean;
  alias?: string;
  required?: boolean;
}

/** A nested object with its own schema; missing fields take their defaults. */
export interface ObjectSpec {
  type: 'object';
  fields: Schema;
  description: string;
  nullable?: boolean;
  /** Absent or null stays null instead of an object of defaults (with `nullable`). */
  defaultNull?: boolean;
  required?: boolean;
}

/** A list of objects of one schema (boost rules, stages). */
export interface ArraySpec {
  type: 'array';
  of: Schema;
  description: string;
  default?: readonly Record<string, unknown>[];
  minItems?: number;
  required?: boolean;
}

/** A free-form object, checked later by whoever owns it (a stage's params, checked by its kind's schema). */
export interface RecordSpec {
  type: 'record';
  description: string;
  default?: Record<string, unknown>;
  required?: boolean;
}

export type Spec = NumberSpec | BooleanSpec | StringSpec | ListSpec | ObjectSpec | ArraySpec | RecordSpec;
export type Schema = { readonly [name: string]: Spec };

type Base<S> = S extends { type: 'number' }
  ? number
  : S extends { type: 'boolean' }
    ? boolean
    : S extends { type: 'string'; values: readonly (infer V)[] }
      ? V
      : S extends { type: 'string' }
        ? string
        : S extends { type: 'list'; of: 'number' }
          ? number[]
          : S extends { type: 'list'; values: readonly (infer V)[] }
            ? V[]
            : S extends { type: 'list' }
              ? string[]
              : S extends { type: 'object'; fields: infer F extends Schema }
                ? Infer<F>
                : S extends { type: 'array'; of: infer F extends Schema }
                  ? Infer<F>[]
                  : S extends { type: 'record' }
                    ? Record<string, unknown>
                    : never;

/** The value of one spec: null where allowed, undefined where nothing fills it in. */
export type ValueOf<S> = S extends { nullable: true }
  ? Base<S> | null
  : S extends { type: 'boolean' | 'list' | 'object' | 'array' | 'record' }
    ? Base<S>
    : S extends { default: number | string | boolean | readonly unknown[] | object }
      ? Base<S>
      : S extends { required: true }
        ? Base<S>
        : Base<S> | undefined;

/** The checked, complete object a schema describes. */
export type Infer<S extends Schema> = { -readonly [K in keyof S]: ValueOf<S[K]> };

/** `Infer<S>` for a concrete schema; a plain record for the erased `Schema` (registries of kinds of any schema). */
export type ParamsOf<S extends Schema> = Schema extends S ? Record<string, unknown> : Infer<S>;

/** What a caller may give: any subset, nested objects partial too. */
export type Given<S extends Schema> = { [K in keyof S]?: S[K] extends { type: 'object'; fields: infer F extends Schema } ? Given<F> | null : ValueOf<S[K]> | null };

/** Declares a schema keeping its literal types (`const` inference): `Infer<typeof X>` is then exact. */
export function schema<const S extends Schema>(s: S): S {
  return s;
}

/** One problem found while checking: where, and what is wrong. */
export interface Problem {
  path: string;
  message: string;
}

/** Options that failed their schema. `problems` lists every one; the message names the first. */
export class ParamError extends Error {
  override name = 'ParamError';
  constructor(
    readonly problems: Problem[],
    /** The field of the first problem (a dotted path). */
    readonly field = problems[0]?.path ?? '',
  ) {
    super(problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; '));
  }
}

/**
 * One bad request value (`events[3].item`, `features.age`, `k`): a ParamError with a single problem.
 * @example throw new InputError('k', 'must be an integer from 1 to 100, got 0')
 */
export class InputError extends ParamError {
  override name = 'InputError';
  constructor(field: string, message: string) {
    super([{ path: field, message }]);
  }
}

export interface CheckOptions {
  /** Accept text for numbers, booleans and lists (command lines, `--param k=v`). */
  coerce?: boolean;
  /** Allow keys the schema does not list (kept as given). Default false: they are errors. */
  allowUnknown?: boolean;
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const al = a.toLowerCase();
  const bl = b.toLowerCase();
  let prev = Array.from({ length: bl.length + 1 }, (_, j) => j);
  for (let i = 1; i <= al.length; i++) {
    const cur = [i];
    for (let j = 1; j <= bl.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (al[i - 1] === bl[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[bl.length];
}

/** `unknown parameter (known: a, b, c)`, with the closest name suggested when one is near. */
export function unknownMessage(name: string, known: readonly string[], what = 'parameter'): string {
  let best = '';
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(name, k);
    if (d < bestD) (bestD = d), (best = k);
  }
  const hint = best && bestD <= Math.max(1, Math.floor(best.length / 3)) ? `; did you mean '${best}'?` : '';
  return `unknown ${what} (known: ${known.join(', ') || 'none'})${hint}`;
}

function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function range(s: NumberSpec | ListSpec): string {
  const lo = s.min === undefined ? '-inf' : s.min;
  const hi = s.max === undefined ? 'inf' : s.max;
  return `${'exclusiveMin' in s && s.exclusiveMin ? '(' : '['}${lo}, ${hi}]`;
}

function checkNumber(v: unknown, s: NumberSpec | ListSpec, path: string, out: Problem[], coerce: boolean): number | undefined {
  let x = v;
  if (coerce && typeof x === 'string' && x.trim() !== '') x = Number(x);
  if (typeof x !== 'number' || !Number.isFinite(x)) {
    out.push({ path, message: `${JSON.stringify(v)} is not a finite number` });
    return undefined;
  }
  if (s.integer && !Number.isInteger(x)) out.push({ path, message: `${x} is not an integer` });
  const low = s.min !== undefined && ('exclusiveMin' in s && s.exclusiveMin ? x <= s.min : x < s.min);
  if (low || (s.max !== undefined && x > s.max)) out.push({ path, message: `${x} is outside ${range(s)}` });
  return x;
}

function checkValue(v: unknown, s: Spec, path: string, out: Problem[], o: CheckOptions): unknown {
  if (v === null && ('nullable' in s && s.nullable)) return null;
  switch (s.type) {
    case 'number':
      return checkNumber(v, s, path, out, o.coerce ?? false);
    case 'boolean': {
      if (o.coerce && typeof v === 'string') {
        if (v === 'true' || v === '1') return true;
        if (v === 'false' || v === '0') return false;
      }
      if (typeof v !== 'boolean') out.push({ path, message: `${JSON.stringify(v)} is not true or false` });
      return v;
    }
    case 'string': {
      let x = v;
      if (o.coerce && typeof x === 'number') x = String(x);
      if (typeof x !== 'string') {
        out.push({ path, message: `${JSON.stringify(v)} is not a string` });
        return undefined;
      }
      if (s.values && !s.values.includes(x)) out.push({ path, message: `'${x}' is not one of ${s.values.join(', ')}` });
      return x;
    }
    case 'list': {
      let x = v;
      if (o.coerce && typeof x === 'string') x = x.split(',').map((p) => p.trim()).filter((p) => p !== '');
      if (o.coerce && typeof x === 'number') x = [x];
      if (!Array.isArray(x)) {
        out.push({ path, message: `${JSON.stringify(v)} is not a list` });
        return undefined;
      }
      return x.map((e, i) => {
        const p = join(path, i);
        if (s.of === 'number') return checkNumber(e, s, p, out, o.coerce ?? false);
        if (typeof e !== 'string') out.push({ path: p, message: `${JSON.stringify(e)} is not a string` });
        else if (s.values && !s.values.includes(e)) out.push({ path: p, message: `'${e}' is not one of ${s.values.join(', ')}` });
        return e;
      });
    }
    case 'object':
      if (!isPlainObject(v)) {
        out.push({ path, message: `must be an object` });
        return undefined;
      }
      return checkInto(s.fields, v, path, out, o);
    case 'array': {
      if (!Array.isArray(v)) {
        out.push({ path, message: 'must be a list' });
        return undefined;
      }
      if (s.minItems !== undefined && v.length < s.minItems) out.push({ path, message: `must hold at least ${s.minItems} entr${s.minItems === 1 ? 'y' : 'ies'}` });
      return v.map((e, i) => {
        if (!isPlainObject(e)) {
          out.push({ path: join(path, i), message: 'must be an object' });
          return undefined;
        }
        return checkInto(s.of, e, join(path, i), out, o);
      });
    }
    case 'record':
      if (!isPlainObject(v)) {
        out.push({ path, message: 'must be an object' });
        return undefined;
      }
      return { ...v };
  }
}

function defaultOf(s: Spec, path: string, out: Problem[], o: CheckOptions): unknown {
  if (s.required) {
    out.push({ path, message: 'is required' });
    return undefined;
  }
  switch (s.type) {
    case 'object':
      return s.defaultNull ? null : checkInto(s.fields, {}, path, out, o);
    case 'list':
      return s.default ? [...s.default] : s.nullable ? null : [];
    case 'array':
      return s.default ? s.default.map((e, i) => checkInto(s.of, e, join(path, i), out, o)) : [];
    case 'boolean':
      return s.default ?? false;
    case 'record':
      return s.default ? { ...s.default } : {};
    default:
      return s.default ?? (s.nullable ? null : undefined);
  }
}

function checkInto(sc: Schema, given: Record<string, unknown>, path: string, out: Problem[], o: CheckOptions): Record<string, unknown> {
  const res: Record<string, unknown> = {};
  const known = Object.keys(sc);
  for (const key of Object.keys(given)) {
    if (!(key in sc)) {
      if (o.allowUnknown) res[key] = given[key];
      else out.push({ path: join(path, key), message: unknownMessage(key, known) });
    }
  }
  for (const key of known) {
    const s = sc[key];
    const v = given[key];
    const p = join(path, key);
    res[key] = v === undefined || (v === null && !('nullable' in s && s.nullable)) ? defaultOf(s, p, out, o) : checkValue(v, s, p, out, o);
  }
  return res;
}

/**
 * Checks `given` against `sc`, filling in defaults; never throws.
 * @example safeCheck(EASE_PARAMS, { lamda: 10 }) // { ok: false, problems: [{ path: 'lamda', message: "unknown parameter (known: lambda, ...); did you mean 'lambda'?" }] }
 */
export function safeCheck<S extends Schema>(sc: S, given: unknown, opts: CheckOptions & { path?: string } = {}): { ok: true; value: Infer<S> } | { ok: false; problems: Problem[] } {
  const problems: Problem[] = [];
  const path = opts.path ?? '';
  if (given !== undefined && given !== null && !isPlainObject(given)) return { ok: false, problems: [{ path, message: 'must be an object' }] };
  const value = checkInto(sc, (given ?? {}) as Record<string, unknown>, path, problems, opts);
  return problems.length ? { ok: false, problems } : { ok: true, value: value as Infer<S> };
}

/**
 * Checks `given` against `sc` and returns the complete object (defaults filled in); throws ParamError
 * naming every bad field, each prefixed by `path` (e.g. `stages[1].params`).
 * @example const p = check(GBDT_PARAMS, { numLeaves: 63 }); p.learningRate // 0.1
 */
export function check<S extends Schema>(sc: S, given: unknown, opts: CheckOptions & { path?: string } = {}): Infer<S> {
  const r = safeCheck(sc, given, opts);
  if (!r.ok) throw new ParamError(r.problems);
  return r.value;
}

/** The schema's defaults as a complete object (required fields left undefined). */
export function defaults<S extends Schema>(sc: S): Infer<S> {
  const problems: Problem[] = [];
  const out = checkInto(sc, {}, '', problems, {});
  return out as Infer<S>;
}

/** The same schema with other defaults (tuned presets): each value is checked against its spec. */
export function withDefaults<const S extends Schema>(sc: S, values: Given<S>): S {
  check(sc, values);
  const out: Record<string, Spec> = {};
  for (const [k, s] of Object.entries(sc)) {
    const v = (values as Record<string, unknown>)[k];
    if (v === undefined) out[k] = s;
    else if (s.type === 'object') out[k] = { ...s, fields: withDefaults(s.fields, v as Given<Schema>) };
    else out[k] = { ...s, default: v } as Spec;
  }
  return out as unknown as S;
}

/** A spec's range or allowed values, as docs and help show them. */
export function describeRange(s: Spec): string {
  switch (s.type) {
    case 'number':
      return `${s.integer ? 'integer ' : ''}${range(s)}`;
    case 'string':
      return s.values ? s.values.join(' \\| ') : 'text';
    case 'boolean':
      return 'true \\| false';
    case 'list':
      return `list of ${s.of === 'number' ? `${s.integer ? 'integers' : 'numbers'} in ${range(s)}` : s.values ? s.values.join(' \\| ') : 'strings'}`;
    case 'object':
      return 'object';
    case 'array':
      return 'list of objects';
    case 'record':
      return 'object';
  }
}

function defaultText(s: Spec): string {
  if (s.type === 'object') return '';
  const d = 'default' in s ? s.default : undefined;
  if (d === undefined) return s.type === 'boolean' ? 'false' : '';
  if (d === null) return 'null';
  if (Array.isArray(d)) return d.every((x) => typeof x !== 'object') ? d.join(',') : JSON.stringify(d);
  return typeof d === 'object' ? JSON.stringify(d) : String(d);
}

/**
 * A markdown table of the schema (nested objects flattened as `a.b`), for the docs.
 * @example docsTable(GBDT_PARAMS)
 */
export function docsTable(sc: Schema, prefix = ''): string {
  const rows = ['| parameter | default | range | meaning |', '|---|---|---|---|'];
  const walk = (s: Schema, pre: string): void => {
    for (const [k, spec] of Object.entries(s)) {
      if (spec.type === 'object') walk(spec.fields, `${pre}${k}.`);
      else rows.push(`| \`${pre}${k}\` | ${defaultText(spec)} | ${describeRange(spec)} | ${spec.description} |`);
    }
  };
  walk(sc, prefix);
  return rows.join('\n');
}

/** `numLeaves` -> `num-leaves`: a parameter's command-line flag. */
export function flagName(name: string): string {
  return name.replace(/[A-Z]+/g, (m) => '-' + m.toLowerCase());
}

// ---------------------------------------------------------------- command lines

/** A command-line mistake: printed with the usage line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** CLI option specs: flat (no nested objects), flags are the keys. */
export type OptionSpec = NumberSpec | BooleanSpec | StringSpec | ListSpec;
export type OptionDefs = { readonly [flag: string]: OptionSpec };

/** Parsed flags: lists and booleans always present, others when given or defaulted. */
export type ParsedOptions<D extends OptionDefs> = Infer<D>;

/**
 * Parses `--name value`, `--name=value`, `--flag`, `--no-flag` and `-k value` against `defs`, then
 * checks every value against its spec (one mechanism with every parameter schema).
 * @example parseArgs(['--k', '5'], { k: { type: 'number', default: 10, description: 'items' } }).options.k // 5
 */
export function parseArgs<const D extends OptionDefs>(argv: readonly string[], defs: D): { options: ParsedOptions<D>; positional: string[] } {
  const given: Record<string, unknown> = {};
  const positional: string[] = [];
  const aliases = new Map<string, string>();
  for (const [name, d] of Object.entries(defs)) if (d.alias) aliases.set(d.alias, name);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-' || /^-\d/.test(a)) {
      positional.push(a);
      continue;
    }
    let key = a.replace(/^--?/, '');
    let value: string | undefined;
    const eq = key.indexOf('=');
    if (eq >= 0) {
      value = key.slice(eq + 1);
      key = key.slice(0, eq);
    }
    if (!a.startsWith('--')) key = aliases.get(key) ?? key;
    const def = defs[key];
    if (!def && key.startsWith('no-') && defs[key.slice(3)]?.type === 'boolean') {
      given[key.slice(3)] = false;
      continue;
    }
    if (!def) throw new UsageError(`unknown option '${a}'${hint(key, Object.keys(defs))}`);
    if (def.type === 'boolean') {
      given[key] = value === undefined ? true : value !== 'false' && value !== '0';
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`option '--${key}' needs a value`);
      const next = argv[i + 1];
      // `--api-key $KEY --port 80` with KEY unset: the next option is not this one's value
      const flag = next.slice(2).split('=')[0];
      if (next.startsWith('--') && (Object.hasOwn(defs, flag) || (flag.startsWith('no-') && Object.hasOwn(defs, flag.slice(3))))) throw new UsageError(`option '--${key}' needs a value, got the option '${next}' (an unset shell variable?)`);
      value = argv[++i];
    }
    // a list option given twice (`--model a --model b`) collects both
    given[key] = def.type === 'list' && typeof given[key] === 'string' ? `${given[key] as string},${value}` : value;
  }
  const r = safeCheck(defs, given, { coerce: true });
  if (!r.ok) {
    const p = r.problems[0];
    throw new UsageError(p.message === 'is required' ? `option '--${p.path}' is required` : `option '--${p.path.replace(/\[\d+\]$/, '')}': ${p.message}`);
  }
  return { options: r.value as ParsedOptions<D>, positional };
}

function hint(key: string, known: string[]): string {
  const m = /did you mean '([^']+)'/.exec(unknownMessage(key, known));
  return m ? ` (did you mean '--${m[1]}'?)` : '';
}

/** The help text of a command, made from its option specs. */
export function helpText(usage: string, summary: string, defs: OptionDefs): string {
  const lines = [`Usage: ${usage}`, '', summary, '', 'Options:'];
  for (const [name, d] of Object.entries(defs)) {
    const type = d.type === 'list' ? (d.of === 'number' ? 'numbers' : 'list') : d.type;
    const flag = `${d.alias ? `-${d.alias}, ` : ''}--${name}${d.type === 'boolean' ? '' : ` <${type}>`}`;
    const dt = defaultText(d);
    const def = d.required ? ' (required)' : 'default' in d && d.default !== undefined && d.default !== null && !(Array.isArray(d.default) && d.default.length === 0) ? ` (default: ${dt})` : '';
    const values = d.type === 'string' && d.values ? ` [${d.values.join('|')}]` : '';
    lines.push(`  ${flag.padEnd(30)} ${d.description}${values}${def}`);
  }
  return lines.join('\n');
}

/** One CLI command (or benchmark): its option specs and what it runs. Commands stay thin. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionDefs;
  /** Returns the process exit code. */
  run(argv: readonly string[]): Promise<number>;
}

/**
 * `KEY=VALUE,KEY=VALUE` as an object (values stay text: the pipeline's schema converts them). A piece
 * without `=` continues the previous value, so list values need no quoting: `sources=two-tower,itemknn,candidates=300`.
 * @example keyValues(['sources=two-tower', 'itemknn', 'candidates=300'], '--param') // { sources: 'two-tower,itemknn', candidates: '300' }
 */
export function keyValues(list: readonly string[], flag: string): Record<string, unknown> {
  const out: Record<string, string> = {};
  let last: string | null = null;
  for (const item of list) {
    const m = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(item);
    if (m) {
      out[(last = m[1])] = m[2];
      continue;
    }
    if (last === null) throw new UsageError(`${flag} '${item}': expected KEY=VALUE, as in candidates=300`);
    out[last] = out[last] === '' ? item : `${out[last]},${item}`;
  }
  return out;
}
