import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParamError, UsageError, check, defaults, docsTable, flagName, helpText, parseArgs, safeCheck, schema, withDefaults } from './index.ts';

const S = schema({
  lambda: { type: 'number', default: 500, min: 0, exclusiveMin: true, description: 'ridge strength' },
  neighbours: { type: 'number', integer: true, min: 1, default: 100, description: 'kept per item' },
  mode: { type: 'string', values: ['a', 'b'], default: 'a', description: 'mode' },
  feature: { type: 'string', nullable: true, default: null, description: 'a column or null' },
  halfLives: { type: 'list', of: 'number', min: 0, default: [10], description: 'half-lives' },
  use: { type: 'list', of: 'string', nullable: true, default: null, description: 'columns (null: all)' },
  on: { type: 'boolean', description: 'switch' },
  gbdt: { type: 'object', description: 'nested', fields: { numLeaves: { type: 'number', integer: true, min: 2, default: 31, description: 'leaves' } } },
  boosts: { type: 'array', description: 'rules', of: { feature: { type: 'string', required: true, description: 'column' }, factor: { type: 'number', default: 1, min: 0, description: 'multiplier' } } },
  params: { type: 'record', description: 'checked by the owner' },
});

test('check fills every default, nested objects and nullable lists included', () => {
  const v = check(S, {});
  assert.deepEqual(v, { lambda: 500, neighbours: 100, mode: 'a', feature: null, halfLives: [10], use: null, on: false, gbdt: { numLeaves: 31 }, boosts: [], params: {} });
  assert.deepEqual(defaults(S), v);
  const w = check(S, { gbdt: { numLeaves: 63 }, boosts: [{ feature: 'genre' }], use: [], params: { x: 1 } });
  assert.equal(w.gbdt.numLeaves, 63);
  assert.deepEqual(w.boosts, [{ feature: 'genre', factor: 1 }]);
  assert.deepEqual(w.use, [], 'an empty list stays apart from null');
  assert.deepEqual(w.params, { x: 1 });
});

test('a typo is refused naming the parameter, the known ones and the closest', () => {
  assert.throws(
    () => check(S, { lamda: 10 }),
    (e: Error) => e instanceof ParamError && e.field === 'lamda' && /unknown parameter \(known: lambda, neighbours, .*\); did you mean 'lambda'\?/.test(e.message),
  );
  // nested paths and list indices are named
  const r = safeCheck(S, { gbdt: { numLeafs: 3 }, boosts: [{ factor: -1 }], halfLives: [1, -2] }, { path: 'stages[1].params' });
  assert.equal(r.ok, false);
  if (!r.ok) {
    const paths = r.problems.map((p) => p.path);
    assert.deepEqual(paths.sort(), ['stages[1].params.boosts[0].factor', 'stages[1].params.boosts[0].feature', 'stages[1].params.gbdt.numLeafs', 'stages[1].params.halfLives[1]'].sort());
  }
});

test('types and ranges are checked; text is converted only when asked', () => {
  assert.throws(() => check(S, { lambda: 0 }), /lambda: 0 is outside \(0, inf\]/);
  assert.throws(() => check(S, { neighbours: 2.5 }), /neighbours: 2.5 is not an integer/);
  assert.throws(() => check(S, { mode: 'c' }), /mode: 'c' is not one of a, b/);
  assert.throws(() => check(S, { lambda: '10' }), /lambda: "10" is not a finite number/);
  assert.throws(() => check(S, { lambda: NaN }), /not a finite number/);
  const v = check(S, { lambda: '10', on: 'true', halfLives: '1, 2,3', use: 'a,b' }, { coerce: true });
  assert.equal(v.lambda, 10);
  assert.equal(v.on, true);
  assert.deepEqual(v.halfLives, [1, 2, 3]);
  assert.deepEqual(v.use, ['a', 'b']);
  assert.throws(() => check(S, 'x'), /must be an object/);
});

test('withDefaults makes a preset of the same schema, checked', () => {
  const P = withDefaults(S, { lambda: 250, gbdt: { numLeaves: 15 } });
  const v = check(P, {});
  assert.equal(v.lambda, 250);
  assert.equal(v.gbdt.numLeaves, 15);
  assert.equal(v.neighbours, 100);
  assert.throws(() => withDefaults(S, { lambda: -1 }), /lambda: -1 is outside/);
  assert.throws(() => withDefaults(S, { nope: 1 } as never), /nope: unknown parameter/);
});

test('docs and flags come from the schema', () => {
  const t = docsTable(S);
  assert.match(t, /\| `lambda` \| 500 \| \(0, inf\] \| ridge strength \|/);
  assert.match(t, /\| `gbdt.numLeaves` \| 31 \| integer \[2, inf\] \| leaves \|/);
  assert.equal(flagName('minSumHessianInLeaf'), 'min-sum-hessian-in-leaf');
});

test('parseArgs: flags, aliases, --no-, lists, numbers, and errors that name the flag', () => {
  const defs = schema({
    k: { type: 'number', integer: true, min: 1, default: 10, alias: 'k', description: 'items' },
    out: { type: 'string', description: 'file' },
    ks: { type: 'list', of: 'number', default: [10, 100], description: 'cutoffs' },
    serve: { type: 'boolean', default: true, description: 'serve afterwards' },
    kind: { type: 'string', values: ['gbdt', 'none'], default: 'gbdt', description: 'ranker' },
  });
  const { options, positional } = parseArgs(['-k', '5', '--out=x.json', '--ks', '1,2', '--no-serve', 'rest'], defs);
  assert.deepEqual(options, { k: 5, out: 'x.json', ks: [1, 2], serve: false, kind: 'gbdt' });
  assert.deepEqual(positional, ['rest']);
  assert.equal(parseArgs([], defs).options.out, undefined);
  assert.throws(() => parseArgs(['--k', '0'], defs), (e: Error) => e instanceof UsageError && /option '--k': 0 is outside \[1, inf\]/.test(e.message));
  assert.throws(() => parseArgs(['--kind', 'dcn'], defs), /option '--kind': 'dcn' is not one of gbdt, none/);
  assert.throws(() => parseArgs(['--knd', 'x'], defs), /unknown option '--knd' \(did you mean '--kind'\?\)/);
  assert.throws(() => parseArgs(['--ks', '1,x'], defs), /option '--ks': "x" is not a finite number/);
  assert.throws(() => parseArgs(['--out'], defs), /needs a value/);
  assert.match(helpText('tandem x', 'does x', defs), /--kind <string> +ranker \[gbdt\|none\] \(default: gbdt\)/);
});
