// The layer rules of ../shared/design/ARCHITECTURE.md, checked on every import of the code base:
// a layer is reached only through its index.ts, imports go down the layer table only, and no file
// imports itself back through a cycle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The layer table, lowest first (ARCHITECTURE.md, with `schema`, the one option mechanism, as the leaf
 * under every layer): a file may import a layer only when it sits lower in this table. The benchmarks
 * and the browser tests sit at the top with the CLI; only the CLI imports the benchmarks.
 */
const LAYERS = ['schema', 'math', 'data', 'features', 'store', 'vectors', 'retrieval', 'ranking', 'evaluation', 'experiments', 'pipeline', 'serve', 'cli'] as const;
const RANK: Record<string, number> = { ...Object.fromEntries(LAYERS.map((l, i) => [l, i])), bench: LAYERS.length - 1, e2e: LAYERS.length };

const ROOT = resolve(new URL('..', import.meta.url).pathname);

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.(ts|mts)$/.test(name)) out.push(p);
  }
  return out;
}

/** `src/retrieval/ease.ts` -> 'retrieval'; `bench/x.ts` -> 'bench'. */
function layerOf(file: string): string {
  const rel = relative(ROOT, file).split('/');
  return rel[0] === 'src' ? rel[1] : rel[0];
}

/** Relative imports of a file (static `import ... from`, `export ... from`, and `import('...')`), resolved. */
function importsOf(file: string): { target: string; typeOnly: boolean; line: number }[] {
  const text = readFileSync(file, 'utf8');
  const out: { target: string; typeOnly: boolean; line: number }[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?[^'";]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[3] ?? m[4];
    const line = text.slice(0, m.index).split('\n').length + (m[0].startsWith('\n') ? 1 : 0);
    out.push({ target: resolve(dirname(file), spec), typeOnly: Boolean(m[2]), line });
  }
  return out;
}

const SELF = new URL(import.meta.url).pathname;
const all = [...files(join(ROOT, 'src')), ...files(join(ROOT, 'bench')), ...files(join(ROOT, 'e2e'))].filter((f) => f !== SELF);

test('every layer folder of the table exists, and no source folder sits outside it', () => {
  const folders = readdirSync(join(ROOT, 'src')).filter((n) => statSync(join(ROOT, 'src', n)).isDirectory());
  assert.deepEqual([...folders].sort(), [...LAYERS].sort());
});

test('another layer is reached only through its index.ts, and imports go down the layer table', () => {
  const problems: string[] = [];
  for (const f of all) {
    const from = layerOf(f);
    const tests = f.endsWith('.test.ts');
    for (const { target, line } of importsOf(f)) {
      const to = layerOf(target);
      if (to === from) continue;
      const where = `${relative(ROOT, f)}:${line}`;
      const up = !(RANK[to] < RANK[from]) && !(from === 'cli' && to === 'bench');
      if (up) problems.push(`${where}: ${from} imports ${to} (${relative(ROOT, target)}), which is not below it in the layer table`);
      // a test may reach another layer's test fixture; everything else goes through that layer's index.ts
      const viaIndex = /\/(src\/[^/]+|bench)\/index\.ts$/.test(target);
      if (!viaIndex && !(tests && /fixture/.test(target))) problems.push(`${where}: imports ${relative(ROOT, target)}, not ${to}'s index.ts`);
    }
  }
  assert.deepEqual(problems, []);
});

test('no import cycle between files', () => {
  const graph = new Map<string, string[]>();
  for (const f of all) graph.set(f, importsOf(f).filter((i) => !i.typeOnly).map((i) => i.target));
  const state = new Map<string, 1 | 2>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 1);
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 1) cycles.push([...stack.slice(stack.indexOf(t)), t].map((x) => relative(ROOT, x)).join(' -> '));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});
