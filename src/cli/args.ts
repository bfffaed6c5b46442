/**
 * Declarative command-line options: each option has a type, a default and a description; the
 * parser, validation and `--help` text all come from that one definition.
 */
export type OptionType = 'string' | 'number' | 'boolean' | 'list' | 'numbers';

export interface OptionDef {
  type: OptionType;
  description: string;
  default?: string | number | boolean | string[] | number[];
  /** Short alias without dashes, e.g. 'k'. */
  alias?: string;
  required?: boolean;
}

export type OptionDefs = Record<string, OptionDef>;

export type ParsedOptions<D extends OptionDefs> = {
  [K in keyof D]: D[K]['type'] extends 'number'
    ? number
    : D[K]['type'] extends 'boolean'
      ? boolean
      : D[K]['type'] extends 'list'
        ? string[]
        : D[K]['type'] extends 'numbers'
          ? number[]
          : string;
};

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses `--name value`, `--name=value`, `--flag`, `--no-flag` and `-k value` against `defs`. */
export function parseArgs<D extends OptionDefs>(argv: readonly string[], defs: D): { options: ParsedOptions<D>; positional: string[] } {
  const out: Record<string, unknown> = {};
  const positional: string[] = [];
  const aliases = new Map<string, string>();
  for (const [name, d] of Object.entries(defs)) if (d.alias) aliases.set(d.alias, name);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-') {
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
    let def = defs[key];
    if (!def && key.startsWith('no-') && defs[key.slice(3)]?.type === 'boolean') {
      out[key.slice(3)] = false;
      continue;
    }
    if (!def) throw new UsageError(`unknown option '${a}'`);
    if (def.type === 'boolean') {
      out[key] = value === undefined ? true : value !== 'false' && value !== '0';
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`option '--${key}' needs a value`);
      value = argv[++i];
    }
    out[key] = convert(key, def, value);
  }
  for (const [name, d] of Object.entries(defs)) {
    if (out[name] === undefined) {
      if (d.required) throw new UsageError(`option '--${name}' is required`);
      out[name] = d.default !== undefined ? d.default : d.type === 'boolean' ? false : d.type === 'list' || d.type === 'numbers' ? [] : undefined;
    }
  }
  return { options: out as ParsedOptions<D>, positional };
}

function convert(key: string, def: OptionDef, value: string): unknown {
  switch (def.type) {
    case 'number': {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`option '--${key}': '${value}' is not a number`);
      return n;
    }
    case 'list':
      return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    case 'numbers':
      return value.split(',').map((s) => {
        const n = Number(s);
        if (s.trim() === '' || !Number.isFinite(n)) throw new UsageError(`option '--${key}': '${s}' is not a number`);
        return n;
      });
    default:
      return value;
  }
}

/** The help text for a command, made from its option definitions. */
export function helpText(usage: string, summary: string, defs: OptionDefs): string {
  const lines = [`Usage: ${usage}`, '', summary, '', 'Options:'];
  for (const [name, d] of Object.entries(defs)) {
    const flag = `${d.alias ? `-${d.alias}, ` : ''}--${name}${d.type === 'boolean' ? '' : ` <${d.type}>`}`;
    const def = d.default !== undefined ? ` (default: ${Array.isArray(d.default) ? d.default.join(',') : d.default})` : d.required ? ' (required)' : '';
    lines.push(`  ${flag.padEnd(30)} ${d.description}${def}`);
  }
  return lines.join('\n');
}
