import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError, formatLoadReport, loadConfigFile, loadTrainTest, resolvePreset, type Dataset, type SplitFormat } from './index.ts';
import { scratchDir } from '../math/tmpdir.fixture.ts';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const BENCH = join(SHARED, 'benchmarks/ml-100k-temporal');
const ML100K = join(SHARED, 'datasets/ml-100k');
const noShared = existsSync(join(ML100K, 'u.data')) && existsSync(join(BENCH, 'train.tsv')) ? false : `MovieLens 100K or its benchmark split not found under ${SHARED} (../shared is absent)`;

/** Rows as user, item, event, value, timestamp in the original ids. */
function rows(ds: Dataset): string[] {
  const x = ds.interactions;
  return Array.from({ length: x.length }, (_, r) => `${ds.users.ids.values[x.user[r]]} ${ds.items.ids.values[x.item[r]]} ${ds.eventTypes[x.event[r]].name} ${x.value[r]} ${x.timestamp[r]}`);
}

function files(contents: Record<string, string>): (name: string) => string {
  const dir = scratchDir('tandem-split-');
  for (const [name, text] of Object.entries(contents)) writeFileSync(join(dir, name), text);
  return (name) => join(dir, name);
}

async function loadError(p: Promise<unknown>): Promise<DataError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof DataError, String(e));
    return e;
  }
  assert.fail('expected a DataError');
}

const latest = (): ReturnType<typeof resolvePreset> => resolvePreset('movielens-latest', join(fixtures, 'ml-latest'));

test('headerless TSV split files load against a CSV preset (movielens-latest), read as user, item, value, timestamp', async () => {
  const f = files({ 'train.tsv': '1\t1\t4.0\t964982703\n2\t2\t3.5\t1445714835\n', 'test.tsv': '1\t11\t4.5\t964982800\n' });
  const { train, test: t, report } = await loadTrainTest(latest(), f('train.tsv'), f('test.tsv'));
  assert.deepEqual(rows(train), ['1 1 rating 4 964982703', '2 2 rating 3.5 1445714835']);
  assert.deepEqual(rows(t), ['1 11 rating 4.5 964982800']);
  // the preset's movies are still the catalog
  assert.equal(train.items.column('genres')?.kind, 'multi-categorical');
  assert.equal(report.files[1].readAs, 'tab-separated user, item, value, timestamp, no header (detected from its first lines)');
  assert.match(formatLoadReport(report), /train\.tsv: 2 rows loaded\n {2}read as tab-separated user, item, value, timestamp, no header \(detected from its first lines\)/);
});

test('split files: separators, headers by name or by numbers, 2 to 4 columns, rows of the first event type', async () => {
  const f = files({
    'named.csv': 'user_id,item_id,rating\n1,1,5\n2,2,\n',
    'numbers.tsv': 'a\tb\tc\n1\t1\t2\n',
    'pairs.txt': '1;1\n2;11\n',
    'own.csv': 'userId,movieId,rating,timestamp\n1,2,3.0,1445714835\n',
    'iso.tsv': '1\t1\t1\t2024-03-01T10:00:00Z\n1\t2\t1\t1709287200000\n',
  });
  const at = async (name: string, format?: SplitFormat): Promise<{ ds: Dataset; readAs?: string }> => {
    const { train, report } = await loadTrainTest(latest(), f(name), f(name), { splitFormat: format });
    return { ds: train, readAs: report.files[1].readAs };
  };
  const named = await at('named.csv');
  assert.deepEqual(rows(named.ds), ['1 1 rating 5 0', '2 2 rating 1 0'], 'an empty value is 1');
  assert.equal(named.readAs, 'comma-separated user, item, value, after a header line (detected from its first lines)');
  assert.deepEqual(rows((await at('numbers.tsv')).ds), ['1 1 rating 2 0'], "'c' over numbers is a header");
  const pairs = await at('pairs.txt');
  assert.deepEqual(rows(pairs.ds), ['1 1 rating 1 0', '2 11 rating 1 0']);
  assert.equal(pairs.readAs, 'semicolon-separated user, item, no header (detected from its first lines)');
  // a file in the dataset's own format (its header names the config's columns) reads as it always did
  const own = await at('own.csv');
  assert.deepEqual(rows(own.ds), ['1 2 rating 3 1445714835']);
  assert.equal(own.readAs, "the dataset's own interaction format (detected: its first lines fit the config's columns)");
  // times as timestampFormat 'auto' reads them
  assert.deepEqual(rows((await at('iso.tsv')).ds), ['1 1 rating 1 1709287200', '1 2 rating 1 1709287200']);
  // the dataset's first event type: the shop's is 'view'
  const shop = await loadConfigFile(join(fixtures, 'shop/shop.json'));
  const g = files({ 'buys.tsv': 'u1\tB-200\t12.5\t1709287200\n' });
  const { train } = await loadTrainTest(shop, g('buys.tsv'), g('buys.tsv'));
  assert.deepEqual(rows(train), ['u1 B-200 view 12.5 1709287200']);
});

test('--split-format: tsv, csv, tsv-header, csv-header and config read as told', async () => {
  const f = files({ 'h.tsv': 'x\ty\n1\t1\n', 'plain.tsv': '1\t1\t4\t964982703\n', 'c.csv': '1,1\n' });
  const load = (name: string, splitFormat: SplitFormat) => loadTrainTest(latest(), f(name), f(name), { splitFormat });
  // 'x', 'y' are no names detection knows, so only the flag says this is a header
  assert.deepEqual(rows((await load('h.tsv', 'tsv-header')).train), ['1 1 rating 1 0']);
  assert.deepEqual(rows((await load('h.tsv', 'auto')).train), ['x y rating 1 0', '1 1 rating 1 0']);
  assert.equal((await load('c.csv', 'csv')).report.files[1].readAs, 'comma-separated user, item, no header (--split-format csv)');
  const wrongSep = await loadError(load('plain.tsv', 'csv'));
  assert.equal(wrongSep.message, `${f('plain.tsv')}:1: a split file holds user, item[, value, timestamp] on each line, comma-separated (--split-format csv); the first line has 1 field ('1\t1\t4\t964982703'); for the dataset's own format give --split-format config`);
  // the error of the issue, now saying how the file was read and what else there is
  const own = await loadError(load('plain.tsv', 'config'));
  assert.equal(own.message, `${f('plain.tsv')}:1: unknown column 'userId' (interactions.user); the header has: 1\t1\t4\t964982703 (the file was read as the dataset's own interaction format (--split-format config); for files of user, item[, value, timestamp] leave --split-format out, or give tsv, csv, tsv-header or csv-header)`);
});

test('a wrong guess is an error naming file, line, column and what was expected', async () => {
  const many = Array.from({ length: 200 }, (_, k) => `${k}\t${k}\t${k % 5}`).join('\n');
  const f = files({
    'bad-value.tsv': '1\t1\t4\n2\t2\tfive\n',
    'late-fields.tsv': `${many}\n7\t7\t1\t1700000000\n`,
    'one.txt': 'just-one-column\nanother\n',
    'swapped.tsv': 'movieId\tuserId\trating\n1\t1\t5\n',
    'five.tsv': '1\t1\tview\t4\t964982703\n',
  });
  const load = (name: string) => loadTrainTest(latest(), f(name), f(name));
  const v = await loadError(load('bad-value.tsv'));
  assert.deepEqual([v.line, v.column, v.columnName], [2, 3, 'value']);
  assert.equal(v.message, `${f('bad-value.tsv')}:2: column 3 (value): 'five' is not a number (the file was read as tab-separated user, item, value, no header (detected from its first lines); --split-format says how to read it)`);
  // past the sampled lines, a row of another shape is still an error that says what was expected
  assert.match((await loadError(load('late-fields.tsv'))).message, /late-fields\.tsv:201: expected 3 fields, found 4 \(the file was read as tab-separated user, item, value, no header/);
  assert.match((await loadError(load('one.txt'))).message, /one\.txt:1: cannot tell how to read this split file: a split file holds user, item\[, value, timestamp\] on each line, separated by tabs, commas, semicolons, '\|' or '::' \(the same number of fields, 2 to 4, on every line\), and its first line is 'just-one-column'; give --split-format/);
  const swapped = await loadError(load('swapped.tsv'));
  assert.deepEqual([swapped.line, swapped.column, swapped.columnName], [1, 1, 'movieId']);
  assert.match(swapped.message, /the header names the item here, but split files hold user, item, value in that order \(column 1 is the user\)/);
  assert.match((await loadError(load('five.tsv'))).message, /five\.tsv:1: cannot tell how to read this split file/);
  await assert.rejects(load('missing.tsv'), /missing\.tsv: cannot read the split file: ENOENT/);
});

test("the MovieLens 100K benchmark split files read exactly as the preset's own format reads them", { skip: noShared }, async () => {
  const preset = resolvePreset('movielens-100k', ML100K);
  const train = join(BENCH, 'train.tsv');
  const testFile = join(BENCH, 'test.tsv');
  const detected = await loadTrainTest(preset, train, testFile);
  const own = await loadTrainTest(preset, train, testFile, { splitFormat: 'config' });
  assert.equal(detected.train.interactions.length, 80367);
  assert.equal(detected.test.interactions.length, 19633);
  for (const side of ['train', 'test'] as const) {
    for (const k of ['user', 'item', 'event', 'value', 'timestamp'] as const) assert.deepEqual(detected[side].interactions[k], own[side].interactions[k], `${side}.${k}`);
  }
  assert.deepEqual(detected.train.users.ids.values, own.train.users.ids.values);
  assert.equal(detected.report.files[2].readAs, 'tab-separated user, item, value, timestamp, no header (detected from its first lines)');
});

test('a headerless file that fits both readings is read in the config format, and an error says how to ask for the other', async () => {
  const f = files({ 'e.tsv': 'a\tx\tview\t1700000000\n', 'split.tsv': 'a\tx\t5\t1700000100\n' });
  const cfg = { eventTypes: [{ name: 'view' }, { name: 'buy' }], interactions: { path: f('e.tsv'), columns: ['u', 'i', 'e', 't'], user: 'u', item: 'i', event: 'e', timestamp: 't' } };
  const own = await loadTrainTest(cfg, f('e.tsv'), f('e.tsv'));
  assert.equal(own.report.files[1].readAs, "the dataset's own interaction format (detected: its first lines fit the config's columns)");
  const e = await loadError(loadTrainTest(cfg, f('split.tsv'), f('split.tsv')));
  assert.match(e.message, /split\.tsv:1: column 3 \(e\): unknown event type '5'; expected one of view, buy \(the file was read as the dataset's own interaction format \(detected: .*\); for files of user, item\[, value, timestamp\] give --split-format tsv, csv, tsv-header or csv-header\)$/);
  const asked = await loadTrainTest(cfg, f('split.tsv'), f('split.tsv'), { splitFormat: 'tsv' });
  assert.deepEqual(rows(asked.train), ['a x view 5 1700000100']);
});

test('split files: an empty train or test file is an error naming it; a first line too long to sample is an error, not a guess', async () => {
  const f = files({ 'empty.tsv': '', 'train.tsv': '1\t1\t4\t964982703\n', 'long.tsv': `${'x'.repeat(70_000)}\t1\n` });
  // an empty side would score nothing (or fit on nothing) and still print a table: refused
  assert.match((await loadError(loadTrainTest(latest(), f('train.tsv'), f('empty.tsv')))).message, /empty\.tsv: no interactions \(it holds no rows\); the test side needs interactions to score/);
  assert.match((await loadError(loadTrainTest(latest(), f('empty.tsv'), f('train.tsv')))).message, /empty\.tsv: no interactions \(it holds no rows\); the train side needs interactions to fit on/);
  assert.match((await loadError(loadTrainTest(latest(), f('long.tsv'), f('empty.tsv')))).message, /long\.tsv:1: cannot tell how to read this split file: its first line is longer than 64 KiB/);
});

const mini = (): ReturnType<typeof resolvePreset> => resolvePreset('movielens-100k', join(fixtures, 'ml-100k-mini'));

test('a test item missing from the catalog is an error naming file, line and column, never a new catalog item; skipped, it is counted', async () => {
  // the mini MovieLens catalog: u.item holds 5 items
  const f = files({ 'train.tsv': '1\t1\t5\t881250950\n2\t10\t4\t881250949\n', 'test.tsv': '1\t2\t3\t881250999\n2\t99999\t4\t881251000\n' });
  const e = await loadError(loadTrainTest(mini(), f('train.tsv'), f('test.tsv')));
  assert.match(e.message, /test\.tsv:2: column 2 \(item\): item '99999' is not in the catalog \(u\.item or train\.tsv\): a test item no model can recommend$/);
  const { train, test: t, report } = await loadTrainTest(mini(), f('train.tsv'), f('test.tsv'), { skipBadRows: true });
  assert.equal(train.numItems, 5, 'the catalog stays u.item');
  assert.equal(t.interactions.length, 1);
  assert.equal(report.files[3].skipped, 1);
  assert.equal(report.files[3].unknownItems, 0);
  // a user of neither u.user nor the train file is a cold-start user: loaded, and counted
  const g = files({ 'train.tsv': '1\t1\t5\t881250950\n', 'test.tsv': '777\t2\t3\t881250999\n' });
  const cold = await loadTrainTest(mini(), g('train.tsv'), g('test.tsv'));
  assert.equal(cold.report.files[3].unknownUsers, 1);
  assert.match(formatLoadReport(cold.report), /test\.tsv: 1 rows loaded\n.*\n {2}1 user ids not in the users\/items files: added without features/);
});

test('the load report counts the ids an interactions file names outside the users and items files; an empty log is an error naming it', async () => {
  const { loadDataset } = await import('./index.ts');
  const dir = scratchDir('tandem-unknown-');
  for (const n of ['u.item', 'u.user']) writeFileSync(join(dir, n), (await import('node:fs')).readFileSync(join(fixtures, 'ml-100k-mini', n)));
  writeFileSync(join(dir, 'u.data'), '1\t1\t5\t881250950\n555\t2\t4\t881250951\n1\t4444\t4\t881250952\n1\t4445\t4\t881250953\n');
  const { dataset, report } = await loadDataset(resolvePreset('movielens-100k', dir));
  const data = report.files[2];
  assert.equal(data.unknownUsers, 1);
  assert.equal(data.unknownItems, 2);
  assert.equal(dataset.numItems, 7);
  assert.match(formatLoadReport(report), /u\.data: 4 rows loaded\n {2}1 user ids and 2 item ids not in the users\/items files: added without features/);
  writeFileSync(join(dir, 'u.data'), '');
  await assert.rejects(loadDataset(resolvePreset('movielens-100k', dir)), (err: Error) => err instanceof DataError && /u\.data: no interactions \(it holds no rows\); a dataset needs interactions to train on or score/.test(err.message));
});
