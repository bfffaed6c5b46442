import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, DataError, DelimitedParser, formatLoadReport, loadConfigFile, loadDataset, loadTrainTest, parseIsoTimestamp, parseSplit, parseYear, splitDataset, validateConfig, type DatasetConfig, type FeatureColumn } from './index.ts';
import { scratchDir } from '../math/tmpdir.fixture.ts';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const shopConfig = (): Promise<DatasetConfig> => loadConfigFile(join(fixtures, 'shop/shop.json'));

function bag(c: FeatureColumn | undefined, row: number): string[] {
  assert.ok(c && (c.kind === 'multi-categorical' || c.kind === 'text'));
  return Array.from(c.codes.subarray(c.offsets[row], c.offsets[row + 1]), (k) => c.vocab.values[k]);
}

function num(c: FeatureColumn | undefined, row: number): number {
  assert.ok(c && c.kind === 'numeric');
  return c.values[row];
}

function cat(c: FeatureColumn | undefined, row: number): string | null {
  assert.ok(c && (c.kind === 'categorical' || c.kind === 'id'));
  return c.codes[row] < 0 ? null : c.vocab.values[c.codes[row]];
}

async function loadError(config: DatasetConfig): Promise<DataError> {
  try {
    await loadDataset(config);
  } catch (e) {
    assert.ok(e instanceof DataError, String(e));
    return e;
  }
  assert.fail('expected a DataError');
}

test('the full shop config loads users, items (quoted CSV, vectors) and typed events', async () => {
  const { dataset: ds, report } = await loadDataset(await shopConfig());
  assert.deepEqual(report.files.map((f) => [f.path.slice(fixtures.length), f.rows, f.skipped]), [
    ['shop/items.csv', 3, 0],
    ['shop/users.tsv', 3, 0],
    ['shop/events.csv', 6, 0],
  ]);
  // u4 and D-400 appear only in events: rows without features
  assert.deepEqual(ds.users.ids.values, ['u1', 'u2', 'u3', 'u4']);
  assert.deepEqual(ds.items.ids.values, ['A-100', 'B-200', 'C-300', 'D-400']);
  const u = ds.users;
  assert.equal(num(u.column('age'), 0), 34);
  assert.ok(Number.isNaN(num(u.column('age'), 1)));
  assert.equal(cat(u.column('country'), 1), 'FR');
  assert.equal(cat(u.column('country'), 2), null);
  assert.equal(cat(u.column('country'), 3), null);
  const it = ds.items;
  assert.deepEqual(bag(it.column('tags'), 0), ['running', 'trail']);
  assert.deepEqual(bag(it.column('tags'), 1), []);
  assert.deepEqual(bag(it.column('title'), 0), ['trail', 'runner', '2', 'storm', 'edition']);
  assert.deepEqual(bag(it.column('title'), 1), ['a', 'book', 'in', 'two', 'lines']);
  assert.equal(num(it.column('price'), 0), 89.9);
  const emb = it.column('embedding');
  assert.ok(emb?.kind === 'vector' && emb.dim === 4);
  assert.deepEqual(Array.from(emb.values.subarray(0, 8)), [Math.fround(0.1), Math.fround(0.2), Math.fround(-0.3), Math.fround(0.4), 0, 0, 0, 1]);
  assert.ok(Number.isNaN(emb.values[8]) && Number.isNaN(emb.values[15]));
  assert.deepEqual(ds.eventTypes.map((e) => [e.name, e.weight, e.negative]), [
    ['view', 1, false],
    ['cart', 3, false],
    ['purchase', 10, false],
    ['dislike', 2, true],
  ]);
  const x = ds.interactions;
  assert.deepEqual(Array.from(x.event), [0, 1, 2, 0, 3, 0]);
  assert.deepEqual(Array.from(x.value), [1, 1, Math.fround(89.9), 1, 1, 1]);
  assert.deepEqual(Array.from(x.timestamp), [1709287200, 1709287500, 1709287650 - 3600, 1709337600, 1709366400, 1709467200]);
  assert.deepEqual(Array.from(x.user), [0, 0, 0, 1, 1, 3]);
  assert.deepEqual(Array.from(x.item), [0, 0, 0, 1, 2, 3]);
});

test('JSON Lines config: fields by key, arrays, numbers or strings, auto timestamps', async () => {
  const { dataset: ds } = await loadDataset(await loadConfigFile(join(fixtures, 'shop/shop-jsonl.json')));
  assert.deepEqual(bag(ds.items.column('tags'), 0), ['running', 'trail']);
  assert.deepEqual(bag(ds.items.column('tags'), 1), ['paper', 'gift']);
  assert.equal(num(ds.items.column('price'), 1), 12.5);
  const emb = ds.items.column('embedding');
  assert.ok(emb?.kind === 'vector' && Number.isNaN(emb.values[3]));
  assert.deepEqual(ds.users.ids.values, ['u1', '7']);
  assert.deepEqual(Array.from(ds.interactions.timestamp), [1709287200, 1709287200.123, 1709337600]);
  assert.deepEqual(Array.from(ds.interactions.event), [0, 1, 0]);
});

test('a bad row is a DataError naming file, line, column and the column name', async () => {
  const c = await shopConfig();
  c.interactions.path = join(fixtures, 'shop/bad-events.csv');
  const e = await loadError(c);
  assert.equal(e.file, c.interactions.path);
  assert.equal(e.line, 3);
  assert.equal(e.column, 3);
  assert.equal(e.columnName, 'event');
  assert.equal(e.message, `${c.interactions.path}:3: column 3 (event): unknown event type 'click'; expected one of view, cart, purchase, dislike`);
});

test('skipBadRows skips, counts exactly and keeps the first problems as data', async () => {
  const c = await shopConfig();
  const file = join(fixtures, 'shop/bad-events.csv');
  c.interactions.path = file;
  const { dataset, report } = await loadDataset(c, { skipBadRows: true });
  const r = report.files[2];
  assert.equal(r.rows, 2);
  assert.equal(r.skipped, 6);
  assert.equal(dataset.interactions.length, 2);
  assert.deepEqual(
    r.problems.map((p) => [p.line, p.column, p.columnName ?? '', p.message]),
    [
      [3, 3, 'event', "unknown event type 'click'; expected one of view, cart, purchase, dislike"],
      [4, 4, 'price_paid', "'12.x' is not a number"],
      [5, 5, 'time', 'timestamp 1969-12-31T23:59:59Z is out of range (before 1970 or after 2099)'],
      [6, 0, '', 'expected 5 fields, found 3'],
      [8, 1, 'user_id', 'missing user id'],
      [9, 5, 'time', "'2024-02-30T00:00:00Z' is not an ISO 8601 date"],
    ],
  );
  assert.ok(r.problems.every((p) => p.file === file));
  // capped list, exact counts
  const capped = await loadDataset(c, { skipBadRows: true, maxProblems: 2 });
  assert.equal(capped.report.files[2].problems.length, 2);
  assert.equal(capped.report.files[2].skipped, 6);
  const text = formatLoadReport(capped.report).split('\n');
  assert.equal(text.length, 6);
  assert.match(text[2], /events\.csv: 2 rows loaded, 6 bad rows skipped$/);
  assert.match(text[4], /^  .*bad-events\.csv:4: column 4 \(price_paid\): '12\.x' is not a number$/);
  assert.equal(text[5], '  ... and 4 more');
  // a skipped row adds no user or item rows: u3 comes from users.tsv, nobody new
  assert.equal(dataset.numUsers, 3);
});

test('an unknown column names the file and lists its header; headerless files need indices or names', async () => {
  const c = await shopConfig();
  c.interactions.user = 'userid';
  const e = await loadError(c);
  assert.equal(e.line, 1);
  assert.match(e.message, /events\.csv:1: unknown column 'userid' \(interactions\.user\); the header has: user_id, sku, event, price_paid, time$/);
  const c2 = await shopConfig();
  c2.items!.features![4].column = 'embedding';
  assert.match((await loadError(c2)).message, /items\.csv:1: unknown column 'embedding' \(items feature 'embedding'\); the header has: sku, category, tags, price, title, vec$/);
  const dir = scratchDir('tandem-load-');
  writeFileSync(join(dir, 'e.tsv'), 'a\tx\t5\nb\ty\t7\n');
  const headerless: DatasetConfig = { interactions: { path: join(dir, 'e.tsv'), header: false, user: 'user', item: 1 } };
  assert.match((await loadError(headerless)).message, /e\.tsv: interactions\.user names column 'user', but the file has no header; give a 0-based column index or a "columns" list/);
  const byIndex = await loadDataset({ interactions: { path: join(dir, 'e.tsv'), header: false, user: 0, item: 1, value: 2 } });
  assert.deepEqual(Array.from(byIndex.dataset.interactions.value), [5, 7]);
  const tooFar = await loadError({ interactions: { path: join(dir, 'e.tsv'), header: false, user: 0, item: 3 } });
  assert.match(tooFar.message, /interactions\.item is column 3 \(0-based\), but rows have 3 fields/);
  writeFileSync(join(dir, 'h.tsv'), 'u\ti\tu\na\tx\t5\n');
  assert.match((await loadError({ interactions: { path: join(dir, 'h.tsv'), user: 'u', item: 'i' } })).message, /h\.tsv:1: column 'u' \(interactions\.user\) is named twice \(columns 1 and 3\); refer to it by 0-based index/);
  assert.match((await loadError({ interactions: { path: join(dir, 'h.tsv'), header: true, columns: ['u', 'i'], user: 'u', item: 'i' } })).message, /h\.tsv:1: "columns" names 2 columns, but the header has 3: u, i, u/);
  const named = await loadDataset({ interactions: { path: join(dir, 'e.tsv'), columns: ['u', 'i', 'v'], user: 'u', item: 'i', value: 'v' } });
  assert.deepEqual(named.dataset.users.ids.values, ['a', 'b']);
  await assert.rejects(loadDataset({ interactions: { path: join(dir, 'nope.tsv'), user: 0, item: 1 } }), (err: Error) => err instanceof DataError && /nope\.tsv: cannot read the interactions file: ENOENT/.test(err.message));
});

test('entity files: duplicate ids, bad vectors and bad flags are row errors', async () => {
  const dir = scratchDir('tandem-load-');
  writeFileSync(join(dir, 'e.csv'), 'u,i\nx,1\n');
  writeFileSync(join(dir, 'items.csv'), 'id,vec,f1,f2\n1,1 2,0,1\n2,1 2 3,1,1\n1,0 0,0,0\n3,1 z,0,0\n4,1 1,2,0\n');
  const cfg = (): DatasetConfig => ({
    interactions: { path: join(dir, 'e.csv'), user: 'u', item: 'i' },
    items: {
      path: join(dir, 'items.csv'),
      id: 'id',
      features: [
        { name: 'vec', kind: 'vector', dim: 2 },
        { name: 'g', kind: 'multi-categorical', flags: ['f1', 'f2'], labels: ['Comedy', 'Drama'] },
      ],
    },
  });
  const { report, dataset } = await loadDataset(cfg(), { skipBadRows: true });
  assert.deepEqual(
    report.files[0].problems.map((p) => `${p.line}:${p.column}:${p.columnName}: ${p.message}`),
    ['3:2:vec: expected a vector of 2 numbers, found 3', "4:1:id: duplicate id '1' (first at line 2)", '5:2:vec: vector element 1 "z" is not a number', '6:3:f1: flag must be 0 or 1, found "2"'],
  );
  assert.deepEqual(dataset.items.ids.values, ['1']);
  assert.deepEqual(bag(dataset.items.column('g'), 0), ['Drama']);
  await assert.rejects(loadDataset(cfg()), /items\.csv:3: column 2 \(vec\): expected a vector of 2 numbers, found 3/);
});

test('loadTrainTest reads explicit files against shared tables', async () => {
  const c = await shopConfig();
  const { train, test: testSide, report } = await loadTrainTest(c, join(fixtures, 'shop/events.csv'), join(fixtures, 'shop/events.csv'));
  assert.equal(train.interactions.length, 6);
  assert.equal(testSide.interactions.length, 6);
  assert.equal(train.users, testSide.users);
  assert.equal(train.items, testSide.items);
  assert.deepEqual(Array.from(testSide.interactions.item), Array.from(train.interactions.item));
  assert.equal(report.files.length, 4);
});

test('timestamps: ISO 8601 with and without zones, unix seconds and ms; years from titles and dates', () => {
  assert.equal(parseIsoTimestamp('1970-01-01'), 0);
  assert.equal(parseIsoTimestamp('2024-03-01T12:00:00+01:00'), 1709290800);
  assert.equal(parseIsoTimestamp('2024-03-01 11:00:00'), 1709290800);
  assert.equal(parseIsoTimestamp('2024-03-01T11:00:00.250Z'), 1709290800.25);
  assert.equal(parseIsoTimestamp('2024-03-01T06:30-0430'), 1709290800);
  assert.ok(Number.isNaN(parseIsoTimestamp('2023-02-29')));
  assert.ok(Number.isNaN(parseIsoTimestamp('01/03/2024')));
  assert.ok(Number.isNaN(parseIsoTimestamp('2024-13-01')));
  assert.equal(parseYear('Toy Story (1995)'), 1995);
  assert.equal(parseYear('Jumanji (1995) '), 1995);
  assert.equal(parseYear('Death Note: Desu nôto (2006–2007)'), 2006);
  assert.equal(parseYear('Contempt (Mépris, Le) (1963)'), 1963);
  assert.equal(parseYear('01-Jan-1995'), 1995);
  assert.equal(parseYear('1995-11-22'), 1995);
  assert.ok(Number.isNaN(parseYear('unknown')));
  assert.ok(Number.isNaN(parseYear("Daddy's Home")));
});

test('timestamp formats: unix-ms, unix-seconds and range checks', async () => {
  const dir = scratchDir('tandem-load-');
  writeFileSync(join(dir, 'e.csv'), 'u,i,t\na,1,1700000000000\n');
  const ms = await loadDataset({ interactions: { path: join(dir, 'e.csv'), user: 'u', item: 'i', timestamp: 't', timestampFormat: 'unix-ms' } });
  assert.equal(ms.dataset.interactions.timestamp[0], 1700000000);
  const auto = await loadDataset({ interactions: { path: join(dir, 'e.csv'), user: 'u', item: 'i', timestamp: 't' } });
  assert.equal(auto.dataset.interactions.timestamp[0], 1700000000);
  const secs = await loadError({ interactions: { path: join(dir, 'e.csv'), user: 'u', item: 'i', timestamp: 't', timestampFormat: 'unix-seconds' } });
  assert.match(secs.message, /e\.csv:2: column 3 \(t\): timestamp 1700000000000 is out of range \(before 1970 or after 2099\)/);
  writeFileSync(join(dir, 'iso.csv'), 'u,i,t\na,1,1700000000\n');
  const iso = await loadError({ interactions: { path: join(dir, 'iso.csv'), user: 'u', item: 'i', timestamp: 't', timestampFormat: 'iso8601' } });
  assert.match(iso.message, /iso\.csv:2: column 3 \(t\): '1700000000' is not an ISO 8601 date/);
});

test('numbers are decimal: hex, Infinity and NaN are not numbers; empty numeric features are missing', async () => {
  const dir = scratchDir('tandem-load-');
  writeFileSync(join(dir, 'e.csv'), 'u,i,v\na,1,0x10\nb,1,Infinity\nc,1,NaN\nd,1, -2.5e1 \ne,1,.5\n');
  const { dataset, report } = await loadDataset({ interactions: { path: join(dir, 'e.csv'), user: 'u', item: 'i', value: 'v' } }, { skipBadRows: true });
  assert.deepEqual(report.files[0].problems.map((p) => `${p.line}:${p.column}: ${p.message}`), ["2:3: '0x10' is not a number", "3:3: 'Infinity' is not a number", "4:3: 'NaN' is not a number"]);
  assert.deepEqual(Array.from(dataset.interactions.value), [-25, 0.5]);
});

test('skipBadRows also skips malformed quoting and invalid JSON lines, counted like any bad row', async () => {
  const dir = scratchDir('tandem-load-');
  writeFileSync(join(dir, 'e.csv'), 'u,i\na,1\nb,"2"x\nc,3\n');
  const csv = await loadDataset({ interactions: { path: join(dir, 'e.csv'), user: 'u', item: 'i' } }, { skipBadRows: true });
  assert.deepEqual(csv.dataset.users.ids.values, ['a', 'c']);
  assert.equal(csv.report.files[0].skipped, 1);
  assert.match(csv.report.files[0].problems[0].message, /unexpected "x" after a closing quote/);
  assert.equal(csv.report.files[0].problems[0].line, 3);
  await assert.rejects(loadDataset({ interactions: { path: join(dir, 'e.csv'), user: 'u', item: 'i' } }), /e\.csv:3: column 2: unexpected "x"/);
  writeFileSync(join(dir, 'e.jsonl'), '{"u":"a","i":"1"}\n{"u":"b",\n["c"]\n{"u":"d"}\n{"u":"e","i":5}\n');
  const jl = await loadDataset({ interactions: { path: join(dir, 'e.jsonl'), user: 'u', item: 'i' } }, { skipBadRows: true });
  assert.deepEqual(jl.dataset.users.ids.values, ['a', 'e']);
  assert.deepEqual(jl.report.files[0].problems.map((p) => [p.line, p.columnName ?? '', p.message.slice(0, 30)]), [
    [2, '', 'invalid JSON: Expected double-'],
    [3, '', 'expected a JSON object, found '],
    [4, 'i', 'missing item id'],
  ]);
  assert.equal(jl.report.files[0].rows, 2);
});

test('integer ids take a direct index that agrees with the vocabulary ("01" is not "1")', async () => {
  const dir = scratchDir('tandem-load-');
  const ids = ['1', '01', '1', 'x', '16777216', '16777216', '0', '0', '3000', '+3', '3000', '1.0'];
  writeFileSync(join(dir, 'e.tsv'), ids.map((u, k) => `${u}\t${ids[ids.length - 1 - k]}\n`).join(''));
  // the users file adds '3000' first, outside the direct index: the index must find it, not add it again
  writeFileSync(join(dir, 'u.tsv'), '3000\n');
  const { dataset: ds } = await loadDataset({ interactions: { path: join(dir, 'e.tsv'), columns: ['u', 'i'], user: 'u', item: 'i' }, users: { path: join(dir, 'u.tsv'), columns: ['id'], id: 'id' } });
  assert.deepEqual(ds.users.ids.values, ['3000', '1', '01', 'x', '16777216', '0', '+3', '1.0']);
  assert.deepEqual(Array.from(ds.interactions.user, (u) => ds.users.ids.values[u]), ids);
  assert.deepEqual(Array.from(ds.interactions.item, (i) => ds.items.ids.values[i]), [...ids].reverse());
});

test('a latin1 file read as UTF-8 gets a warning with the line of the first bad byte', async () => {
  const item = join(fixtures, 'ml-100k-mini/u.item');
  const cfg = (encoding: 'utf8' | 'latin1'): DatasetConfig => ({
    interactions: { path: join(fixtures, 'ml-100k-mini/u.data'), separator: '\t', header: false, user: 0, item: 1 },
    items: { path: item, separator: '|', header: false, encoding, id: 0, features: [{ name: 'title', kind: 'text', column: 1 }] },
  });
  const wrong = await loadDataset(cfg('utf8'));
  assert.deepEqual(wrong.report.files[0].warnings, [`${item}:3: bytes that are not UTF-8 (decoded as U+FFFD); if the file is ISO-8859-1, set "encoding": "latin1"`]);
  assert.match(formatLoadReport(wrong.report), /\n {2}warning: .*u\.item:3: bytes that are not UTF-8/);
  const right = await loadDataset(cfg('latin1'));
  assert.deepEqual(right.report.files.map((f) => f.warnings), [[], []]);
  const dir = scratchDir('tandem-load-');
  writeFileSync(join(dir, 'e.jsonl'), Buffer.concat([Buffer.from('{"u":"a","i":"1"}\n\n{"u":"b","i":"'), Buffer.from([0xe9]), Buffer.from('"}\n')]));
  const jl = await loadDataset({ interactions: { path: join(dir, 'e.jsonl'), user: 'u', item: 'i' } });
  assert.match(jl.report.files[0].warnings[0], /e\.jsonl:3: bytes that are not UTF-8/);
  // the line of a position in a chunk about to be pushed counts the parser's carry
  const p = new DelimitedParser({ separator: ',' }, 'x', () => {});
  p.push('a,b\n"c\n');
  assert.equal(p.lineAt('d"\ne', 4), 4);
});

test("timestampFormat 'order': each event's position within its user, reported, and kept across train and test files", async () => {
  const dir = scratchDir('tandem-load-');
  // users interleaved; line 5 is bad (no item) and, skipped, takes no position
  writeFileSync(join(dir, 'seq.tsv'), 'a\tx\nb\ty\na\ty\nb\t\na\tz\nb\tx\n');
  const cfg: DatasetConfig = { interactions: { path: join(dir, 'seq.tsv'), columns: ['u', 'i'], user: 'u', item: 'i', timestampFormat: 'order' } };
  const { dataset, report } = await loadDataset(cfg, { skipBadRows: true });
  assert.equal(report.files[0].skipped, 1);
  assert.deepEqual(Array.from(dataset.interactions.timestamp), [0, 0, 1, 2, 1]);
  assert.equal(dataset.timeKind, 'order');
  assert.equal(dataset.summary().timeKind, 'order');
  assert.equal(report.timeKind, 'order');
  assert.match(formatLoadReport(report), /\ntime is an order \(timestampFormat "order"\): each timestamp is the event's position within its user .*features measured in days do not apply$/);
  // a split side keeps the kind; global splits compare times across users, which an order cannot
  const { train, test: t } = splitDataset(dataset, parseSplit('leave-last-out'));
  assert.equal(train.timeKind, 'order');
  assert.deepEqual(Array.from(t.interactions.item, (i) => dataset.items.ids.values[i]), ['z', 'x']);
  assert.throws(() => splitDataset(dataset, parseSplit('global-temporal:0.5')), /global-temporal split: .*time is an order within each user .*use user-temporal or leave-last-out/);
  // test positions continue after the same user's training positions
  writeFileSync(join(dir, 'train.tsv'), 'a\tx\na\ty\nb\ty\n');
  // (test items must be in the catalog: with no items file, the train file's items)
  writeFileSync(join(dir, 'test.tsv'), 'b\tx\na\ty\n');
  const tt = await loadTrainTest(cfg, join(dir, 'train.tsv'), join(dir, 'test.tsv'));
  assert.deepEqual(Array.from(tt.train.interactions.timestamp), [0, 1, 0]);
  assert.deepEqual(Array.from(tt.test.interactions.timestamp), [1, 2]);
  assert.equal(tt.test.timeKind, 'order');
  // seconds stay the default, and say nothing
  const shop = await loadDataset(await shopConfig());
  assert.equal(shop.dataset.timeKind, 'seconds');
  assert.ok(!formatLoadReport(shop.report).includes('order'));
  assert.throws(() => validateConfig({ interactions: { path: 'e.csv', user: 'u', item: 'i', timestamp: 't', timestampFormat: 'order' } }), /interactions\.timestamp: does not go with timestampFormat 'order'/);
});

test('interactions.path is optional when train and test files supply the interactions, and a missing one is never read', async () => {
  const dir = scratchDir('tandem-load-');
  writeFileSync(join(dir, 'items.csv'), 'id,genre\nx,a\ny,b\nz,a\n');
  writeFileSync(join(dir, 'train.tsv'), 'u\ti\na\tx\nb\ty\n');
  writeFileSync(join(dir, 'test.tsv'), 'u\ti\na\tz\n');
  const json = { interactions: { user: 'u', item: 'i' }, items: { path: 'items.csv', id: 'id', features: [{ name: 'genre', kind: 'categorical' }] } };
  writeFileSync(join(dir, 'c.json'), JSON.stringify(json));
  const c = await loadConfigFile(join(dir, 'c.json'));
  assert.equal(c.interactions.path, undefined);
  assert.deepEqual(validateConfig(c), c, 'validating twice changes nothing');
  // the split files' names give the defaults the missing path would have given (a .tsv is tab-separated)
  const { train, test: t } = await loadTrainTest(c, join(dir, 'train.tsv'), join(dir, 'test.tsv'));
  assert.deepEqual(Array.from(train.interactions.item, (i) => train.items.ids.values[i]), ['x', 'y']);
  assert.deepEqual(Array.from(t.interactions.item, (i) => t.items.ids.values[i]), ['z']);
  // a path naming a file that does not exist is not read either
  const gone = await loadTrainTest({ ...c, interactions: { ...c.interactions, path: join(dir, 'nope.tsv') } }, join(dir, 'train.tsv'), join(dir, 'test.tsv'));
  assert.equal(gone.train.interactions.length, 2);
  // without split files the path is required, and the error names the field
  await assert.rejects(loadDataset(c), (e: Error) => e instanceof ConfigError && e.problems[0].path === 'interactions.path' && /^interactions\.path: is required to load the dataset \(it may be left out only when train and test files supply the interactions\)$/.test(e.message));
  // a path stays required everywhere else
  assert.throws(() => validateConfig({ interactions: { user: 'u', item: 'i' }, items: { id: 'id' } }), /items\.path: is required/);
});

test('JSON files: an object keyed by id (lists or objects of features) or an array of records, with numeric arrays as vectors', async () => {
  const dir = scratchDir('tandem-load-');
  writeFileSync(join(dir, 'e.csv'), 'u,i\na,i1\na,i9\n');
  // one object: id -> list of attributes, filling the one feature declared
  writeFileSync(join(dir, 'tags.json'), '{\n  "i1": ["red", "cotton"],\n  "i2": [],\n  "i3": ["blue"]\n}\n');
  const tags = await loadDataset({ interactions: { path: join(dir, 'e.csv'), user: 'u', item: 'i' }, items: { path: join(dir, 'tags.json'), id: 'id', features: [{ name: 'tags', kind: 'multi-categorical' }] } });
  assert.deepEqual(tags.dataset.items.ids.values, ['i1', 'i2', 'i3', 'i9']);
  assert.deepEqual([0, 1, 2, 3].map((r) => bag(tags.dataset.items.column('tags'), r)), [['red', 'cotton'], [], ['blue'], []]);
  // id -> object of features; 'id' is the default id key, numbers may be strings, vectors are numeric arrays
  writeFileSync(join(dir, 'items.json'), '{"i1": {"genre": "drama", "year": 1999, "emb": [0.5, -1]},\n "i2": {"genre": null, "year": "2001", "emb": [1, 2]}}');
  const cfg = (path: string, extra: object = {}): DatasetConfig => ({
    interactions: { path: join(dir, 'e.csv'), user: 'u', item: 'i' },
    items: { path, ...extra, features: [{ name: 'genre', kind: 'categorical' }, { name: 'year', kind: 'numeric' }, { name: 'emb', kind: 'vector', dim: 2 }] },
  } as DatasetConfig);
  const keyed = await loadDataset(cfg(join(dir, 'items.json')));
  assert.equal(cat(keyed.dataset.items.column('genre'), 0), 'drama');
  assert.equal(cat(keyed.dataset.items.column('genre'), 1), null);
  assert.equal(num(keyed.dataset.items.column('year'), 1), 2001);
  const emb = keyed.dataset.items.column('emb');
  assert.ok(emb?.kind === 'vector');
  assert.deepEqual(Array.from(emb.values.subarray(0, 4)), [0.5, -1, 1, 2]);
  // an array of records, id under a key the config names
  writeFileSync(join(dir, 'items-array.json'), '[{"sku": "i2", "genre": "comedy", "year": 2001, "emb": [3, 4]},\n {"sku": "i1", "emb": [5, 6]}]');
  const arr = await loadDataset(cfg(join(dir, 'items-array.json'), { id: 'sku' }));
  assert.deepEqual(arr.dataset.items.ids.values, ['i2', 'i1', 'i9']);
  assert.equal(cat(arr.dataset.items.column('genre'), 0), 'comedy');
  // row problems name file, line and the field
  writeFileSync(join(dir, 'bad.json'), '{"i1": {"emb": [1]},\n "i2": {"id": "i7"},\n "i3": ["x"],\n "i1": {}}');
  const { report } = await loadDataset(cfg(join(dir, 'bad.json')), { skipBadRows: true });
  assert.deepEqual(report.files[0].problems.map((p) => `${p.line}:${p.columnName}: ${p.message}`), [
    '1:emb: expected a vector of 2 numbers, found 1',
    "2:id: the record under key 'i2' holds another id, 'i7' (in an object keyed by id, the key is the id)",
    "3:id: the value under key 'i3' is a list, not an object of features; such a value fills the one feature of items, but items declares 3 features (genre, year, emb)",
  ]);
  assert.equal(report.files[0].skipped, 3);
  await assert.rejects(loadDataset(cfg(join(dir, 'bad.json'))), /bad\.json:1: field 'emb': expected a vector of 2 numbers, found 1/);
  // a keyed object holds users or items, not interactions
  writeFileSync(join(dir, 'e.json'), '{"a": {"i": "i1"}}');
  await assert.rejects(loadDataset({ interactions: { path: join(dir, 'e.json'), user: 'u', item: 'i' } }), /e\.json:1: an object keyed by id holds users or items; interactions need an array of records \(or JSON Lines\)/);
  writeFileSync(join(dir, 'e-array.json'), '[{"u": "a", "i": "i1"}, {"u": "b", "i": "i2"}]');
  const events = await loadDataset({ interactions: { path: join(dir, 'e-array.json'), user: 'u', item: 'i' } });
  assert.deepEqual(events.dataset.users.ids.values, ['a', 'b']);
  // format by extension, and the fields that do not apply to JSON
  assert.equal(validateConfig({ interactions: { path: 'e.json', user: 'u', item: 'i' } }).interactions.format, 'json');
  assert.throws(() => validateConfig({ interactions: { path: 'e.csv', user: 'u', item: 'i' }, items: { path: 'i.json', separator: ',' } }), /items\.separator: does not apply to a JSON file \(fields are read by key\)/);
});

test('a config file may name its files by absolute path', async () => {
  const dir = scratchDir('tandem-load-');
  const shop = JSON.parse(readFileSync(join(fixtures, 'shop/shop.json'), 'utf8'));
  for (const side of ['interactions', 'users', 'items']) shop[side].path = join(fixtures, 'shop', shop[side].path);
  writeFileSync(join(dir, 'shop.json'), JSON.stringify(shop));
  const { dataset } = await loadDataset(await loadConfigFile(join(dir, 'shop.json')));
  assert.equal(dataset.interactions.length, 6);
  assert.equal(dataset.items.columns.length, 5);
});

test('loading reports each file it reads as a task of its size in bytes (delimited, JSON Lines, one JSON document)', async () => {
  const { statSync } = await import('node:fs');
  const { RecordingProgress } = await import('../math/progress.fixture.ts');
  for (const cfg of ['shop/shop.json', 'shop/shop-jsonl.json', 'sequence/sequence.json']) {
    const config = await loadConfigFile(join(fixtures, cfg));
    const p = new RecordingProgress();
    const { report } = await loadDataset(config, { progress: p.scope('load') });
    assert.equal(p.tasks.length, report.files.length, cfg);
    for (const [i, f] of report.files.entries()) {
      const t = p.tasks[i];
      const size = statSync(f.path).size;
      assert.equal(t.name, `load > ${f.path.split('/').pop()}`);
      assert.deepEqual([t.total, t.unit, t.done, t.finished], [size, 'bytes', size, true], `${cfg}: ${t.name}`);
    }
  }
});
