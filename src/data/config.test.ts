import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ORDER_TIME_NOTE, formatLoadReport, loadConfigFile, loadDataset, validateConfig } from './index.ts';
import { scratchDir } from '../math/tmpdir.fixture.ts';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

function problems(json: unknown): string[] {
  try {
    validateConfig(json, { baseDir: '/data' });
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('expected a ConfigError');
}

test('loadConfigFile fills defaults and resolves paths against the config file', async () => {
  const c = await loadConfigFile(join(fixtures, 'shop/shop.json'));
  assert.equal(c.interactions.path, join(fixtures, 'shop/events.csv'));
  assert.equal(c.interactions.format, 'delimited');
  assert.equal(c.interactions.separator, ',');
  assert.equal(c.interactions.header, true);
  assert.equal(c.interactions.encoding, 'utf8');
  assert.equal(c.users?.separator, '\t');
  assert.equal(c.items?.path, join(fixtures, 'shop/items.csv'));
  assert.deepEqual(c.eventTypes?.[3], { name: 'dislike', weight: 2, negative: true });
  assert.deepEqual(c.eventTypes?.[0], { name: 'view', weight: 1, negative: false });
  const j = await loadConfigFile(join(fixtures, 'shop/shop-jsonl.json'));
  assert.equal(j.interactions.format, 'jsonl');
  // validating twice changes nothing
  assert.deepEqual(validateConfig(c), c);
});

test('config errors name the JSON path of the field', () => {
  const base = { interactions: { path: 'e.csv', user: 'u', item: 'i' } };
  assert.deepEqual(problems({ ...base, items: { path: 'i.csv', id: 'id', features: [{ name: 'a', kind: 'numeric' }, { name: 'b', kind: 'text' }, { name: 'c', kind: 'cat' }] } }), [
    "items.features[2].kind: unknown kind 'cat'; expected one of id, categorical, multi-categorical, numeric, text, vector",
  ]);
  const many = problems({
    eventTypes: [{ name: 'view' }, { name: 'buy', weight: 'lots' }, { name: 'view' }],
    interactions: { path: 'e.dat', user: 'u', item: -1, sepparator: ',' },
    users: { path: 'u.csv', features: [{ name: 'v', kind: 'vector' }, { name: 'g', kind: 'numeric', separator: '|' }, { name: 'v', kind: 'text' }] },
  });
  assert.deepEqual(many.sort(), [
    "eventTypes[1].weight: expected a finite number, found 'lots'",
    "eventTypes[2].name: event type 'view' is declared twice",
    'interactions.event: is required when more than one event type is declared (view, buy)',
    'interactions.item: expected a column name or a 0-based column index, found -1',
    "interactions.separator: is required for 'e.dat' (only .csv and .tsv files have a default)",
    "interactions.sepparator: unknown field 'sepparator'; expected one of path, format, separator, header, columns, encoding, quote, user, item, event, value, timestamp, timestampFormat",
    "users.features[0].dim: is required for kind 'vector'",
    "users.features[1].separator: applies only to kind multi-categorical or vector, not 'numeric'",
    "users.features[2].name: feature 'v' is declared twice",
    'users.id: is required',
  ]);
  assert.deepEqual(problems({ ...base, items: { path: 'i.csv', id: 0, features: [{ name: 'g', kind: 'multi-categorical', flags: [1, 2], labels: ['a'] }] } }), [
    'items.features[0].labels: has 1 labels for 2 flag columns',
  ]);
  assert.deepEqual(problems({ interactions: { path: 'e.jsonl', user: 'u', item: 'i', separator: ',' } }), ['interactions.separator: does not apply to a JSON Lines file (fields are read by key)']);
  assert.deepEqual(problems({ interactions: { path: 'e.csv', user: 'u', item: 'i', timestampFormat: 'unix' } }), [
    "interactions.timestampFormat: unknown timestampFormat 'unix'; expected one of auto, unix-seconds, unix-ms, iso8601, order",
    "interactions.timestampFormat: needs a 'timestamp' column (or 'order', for logs that only know each user's order of events)",
  ]);
  assert.deepEqual(problems([]), [': expected an object, found a list']);
  assert.deepEqual(problems({}), ['interactions: is required']);
  // comments are allowed anywhere
  assert.doesNotThrow(() => validateConfig({ $schema: 'x', comment: 'hi', interactions: { ...base.interactions, comment: 'ok' } }));
});

test('ConfigError message lists the file and each problem; invalid JSON names line and column', async () => {
  const dir = scratchDir('tandem-config-');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{\n  "interactions": {\n    "path": "e.csv",\n    "user": "u"\n    "item": "i"\n  }\n}\n');
  await assert.rejects(loadConfigFile(bad), (e: Error) => e instanceof ConfigError && /bad\.json: invalid JSON at line 5, column 5/.test(e.message));
  const wrong = join(dir, 'wrong.json');
  writeFileSync(wrong, JSON.stringify({ interactions: { path: 'e.csv', user: 'u', item: 'i' }, items: { path: 'i.csv', id: 'id', features: [{ name: 'c', kind: 'cat' }] } }));
  await assert.rejects(loadConfigFile(wrong), (e: Error) => e.message === `${wrong}: items.features[0].kind: unknown kind 'cat'; expected one of id, categorical, multi-categorical, numeric, text, vector`);
  await assert.rejects(loadConfigFile(join(dir, 'missing.json')), /missing\.json: cannot read the config file/);
});

test('the worked example in docs/dataset-config.md is the tested shop fixture', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/dataset-config.md', import.meta.url)), 'utf8');
  const block = (lang: string, after: string): string => {
    const at = doc.indexOf(after);
    assert.ok(at >= 0, `docs mention ${after}`);
    const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(doc.slice(at));
    assert.ok(m, `a ${lang} block after ${after}`);
    return m[1];
  };
  assert.deepEqual(JSON.parse(block('json', '`shop.json`:')), JSON.parse(readFileSync(join(fixtures, 'shop/shop.json'), 'utf8')));
  assert.equal(block('', '`events.csv`:'), readFileSync(join(fixtures, 'shop/events.csv'), 'utf8'));
  assert.equal(block('', '`users.tsv`'), readFileSync(join(fixtures, 'shop/users.tsv'), 'utf8'));
  assert.equal(block('', '`items.csv`'), readFileSync(join(fixtures, 'shop/items.csv'), 'utf8').replaceAll('\r\n', '\n'));
});

test('a validated config validates again: a config file without a timestamp column loads', async () => {
  const dir = scratchDir('tandem-config-');
  writeFileSync(join(dir, 'e.csv'), 'u,i\na,x\n');
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ interactions: { path: 'e.csv', user: 'u', item: 'i' } }));
  const c = await loadConfigFile(join(dir, 'c.json'));
  assert.deepEqual(validateConfig(c), c);
  const { dataset } = await loadDataset(c);
  assert.deepEqual(Array.from(dataset.interactions.timestamp), [0]);
});

test('the sequence example in docs/dataset-config.md is the fixture, and loads: order for time, attributes from one JSON object', async () => {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/dataset-config.md', import.meta.url)), 'utf8');
  const section = doc.slice(doc.indexOf('## A sequence dataset'), doc.indexOf('## The fields'));
  const block = (after: string): string => {
    const m = /```[a-z]*\n([\s\S]*?)```/.exec(section.slice(section.indexOf(after)));
    assert.ok(section.includes(after) && m, `a block after ${after}`);
    return m[1];
  };
  const dir = join(fixtures, 'sequence');
  assert.deepEqual(JSON.parse(block('`sequence.json`:')), JSON.parse(readFileSync(join(dir, 'sequence.json'), 'utf8')));
  assert.equal(block('`sessions.tsv`'), readFileSync(join(dir, 'sessions.tsv'), 'utf8'));
  assert.equal(block('`items.json`'), readFileSync(join(dir, 'items.json'), 'utf8'));
  const { dataset: ds, report } = await loadDataset(await loadConfigFile(join(dir, 'sequence.json')));
  assert.equal(ds.timeKind, 'order');
  assert.deepEqual(Array.from(ds.interactions.timestamp), [0, 1, 0, 2, 1, 0]);
  assert.deepEqual(ds.items.ids.values, ['i1', 'i2', 'i3', 'i4', 'i5']);
  const attrs = ds.items.column('attributes');
  assert.ok(attrs?.kind === 'multi-categorical');
  const bag = (r: number): string[] => Array.from(attrs.codes.subarray(attrs.offsets[r], attrs.offsets[r + 1]), (k) => attrs.vocab.values[k]);
  assert.deepEqual([0, 1, 2, 3, 4].map(bag), [['red', 'cotton'], ['blue'], ['red', 'wool'], [], ['green']]);
  assert.match(formatLoadReport(report), /\ntime is an order \(timestampFormat "order"\)/);
  assert.ok(doc.includes(ORDER_TIME_NOTE), 'the doc quotes the report note as printed');
});
