import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../math/index.ts';
import { DatasetBuilder, idOrder, loadDataset, parseSplit, resolvePreset, splitDataset, splitReferenceTestRows, Vocabulary, type Dataset, type SplitSpec } from './index.ts';

const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const BENCH = join(SHARED, 'benchmarks/ml-100k-temporal');
const noShared = existsSync(join(SHARED, 'datasets/ml-100k/u.data')) && existsSync(join(BENCH, 'train.tsv')) ? false : `MovieLens 100K or its benchmark split not found under ${SHARED} (../shared is absent)`;

function build(rows: [string, string, number][]): Dataset {
  const b = new DatasetBuilder({ user: [], item: [], eventTypes: [] });
  for (const [u, i, t] of rows) b.addInteraction(b.users.row(u), b.items.row(i), 0, 1, t);
  return b.build();
}

function testRows(ds: Dataset, spec: SplitSpec): string[] {
  const { test: t } = splitDataset(ds, spec);
  const x = t.interactions;
  return Array.from({ length: x.length }, (_, r) => `${ds.users.ids.values[x.user[r]]}:${ds.items.ids.values[x.item[r]]}`);
}

test('parseSplit: every form, and clear errors', () => {
  assert.deepEqual(parseSplit('user-temporal:0.2'), { kind: 'user-temporal', fraction: 0.2 });
  assert.deepEqual(parseSplit('global-temporal:0.1'), { kind: 'global-temporal', fraction: 0.1 });
  assert.deepEqual(parseSplit('global-temporal:@1700000000'), { kind: 'global-temporal', cut: 1700000000 });
  assert.deepEqual(parseSplit('global-temporal:@2023-11-14T22:13:20Z'), { kind: 'global-temporal', cut: 1700000000 });
  assert.deepEqual(parseSplit('leave-last-out'), { kind: 'leave-last-out', n: 1 });
  assert.deepEqual(parseSplit('leave-last-out:2'), { kind: 'leave-last-out', n: 2 });
  assert.throws(() => parseSplit('random:0.2'), /unknown split 'random:0.2'; expected one of user-temporal:FRACTION/);
  assert.throws(() => parseSplit('user-temporal'), /needs a fraction/);
  assert.throws(() => parseSplit('user-temporal:1.5'), /between 0 and 1/);
  assert.throws(() => parseSplit('user-temporal:'), /between 0 and 1/);
  assert.throws(() => parseSplit('global-temporal:@soon'), /'soon' is not a time/);
  assert.throws(() => parseSplit('leave-last-out:0'), /positive integer/);
  assert.throws(() => parseSplit('leave-last-out:1.5'), /positive integer/);
});

test('idOrder: numeric when every id is a number, else string order', () => {
  const v = new Vocabulary();
  for (const s of ['10', '9', '100', '09']) v.add(s);
  assert.deepEqual(Array.from(idOrder(v)), [2, 1, 3, 0]); // 09 < 9 < 10 < 100
  v.add('x');
  assert.deepEqual(Array.from(idOrder(v)), [1, 3, 2, 0, 4]); // '09' < '10' < '100' < '9' < 'x'
});

test('user-temporal breaks time ties by the original item id (numeric), not the dense index', () => {
  // items arrive as 10, 9, 2: dense order differs from id order
  const ds = build([
    ['a', '10', 5],
    ['a', '9', 5],
    ['a', '2', 5],
    ['a', '7', 1],
    ['a', '8', 2],
  ]);
  assert.deepEqual(testRows(ds, { kind: 'user-temporal', fraction: 0.2 }), ['a:10']);
  assert.deepEqual(testRows(ds, { kind: 'user-temporal', fraction: 0.5 }), ['a:10', 'a:9']);
  assert.deepEqual(testRows(ds, { kind: 'leave-last-out', n: 3 }), ['a:10', 'a:9', 'a:2']);
  // a single-interaction user: user-temporal holds it out, leave-last-out keeps it for training
  const one = build([['b', '1', 1]]);
  assert.deepEqual(testRows(one, { kind: 'user-temporal', fraction: 0.2 }), ['b:1']);
  assert.deepEqual(testRows(one, { kind: 'leave-last-out', n: 1 }), []);
  // global: cut is inclusive on the test side; fraction takes the latest, ties by user then item id
  assert.deepEqual(testRows(ds, { kind: 'global-temporal', cut: 2 }), ['a:10', 'a:9', 'a:2', 'a:8']);
  assert.deepEqual(testRows(ds, { kind: 'global-temporal', fraction: 0.4 }), ['a:10', 'a:9']);
  const { train, test: t } = splitDataset(ds, { kind: 'user-temporal', fraction: 0.2 });
  assert.equal(train.items, ds.items);
  assert.equal(t.users, ds.users);
  assert.equal(train.interactions.length + t.interactions.length, 5);
});

test('differential: splitDataset agrees with the slow reference on random datasets', () => {
  const rng = new Rng(3);
  const specs: SplitSpec[] = [
    { kind: 'user-temporal', fraction: 0.2 },
    { kind: 'user-temporal', fraction: 0.5 },
    { kind: 'leave-last-out', n: 1 },
    { kind: 'leave-last-out', n: 3 },
    { kind: 'global-temporal', fraction: 0.3 },
    { kind: 'global-temporal', cut: 5 },
  ];
  for (let trial = 0; trial < 60; trial++) {
    const numeric = trial % 2 === 0;
    const rows: [string, string, number][] = [];
    const n = 1 + rng.int(200);
    for (let r = 0; r < n; r++) {
      const u = String(rng.int(12));
      const i = numeric ? String(rng.int(40)) : `i${rng.int(40)}`;
      rows.push([u, i, rng.int(10)]); // few distinct times: many ties
    }
    const ds = build(rows);
    for (const spec of specs) {
      const mask = new Uint8Array(n);
      for (const r of splitReferenceTestRows(ds, spec)) mask[r] = 1;
      const want = rows.filter((_, r) => mask[r]).map(([u, i]) => `${u}:${i}`);
      assert.deepEqual(testRows(ds, spec), want, `trial ${trial} ${JSON.stringify(spec)}`);
    }
  }
});

function lines(ds: Dataset): string[] {
  const x = ds.interactions;
  const out: string[] = new Array(x.length);
  for (let r = 0; r < x.length; r++) out[r] = `${ds.users.ids.values[x.user[r]]}\t${ds.items.ids.values[x.item[r]]}\t${x.value[r]}\t${x.timestamp[r]}`;
  return out.sort();
}

const fileLines = (name: string): string[] => readFileSync(join(BENCH, name), 'utf8').split('\n').filter((l) => l !== '').sort();

test('user-temporal:0.2 on u.data reproduces the ml-100k-temporal benchmark exactly, and again on train', { skip: noShared }, async () => {
  const { dataset } = await loadDataset(resolvePreset('movielens-100k', join(SHARED, 'datasets/ml-100k')));
  const spec = parseSplit('user-temporal:0.2');
  const { train, test: t } = splitDataset(dataset, spec);
  assert.equal(train.interactions.length, 80367);
  assert.equal(t.interactions.length, 19633);
  assert.deepEqual(lines(train), fileLines('train.tsv'));
  assert.deepEqual(lines(t), fileLines('test.tsv'));
  const inner = splitDataset(train, spec);
  assert.deepEqual(lines(inner.train), fileLines('train-inner.tsv'));
  assert.deepEqual(lines(inner.test), fileLines('valid.tsv'));
  // u.data alone: dense indices follow first appearance, not id order, and the split must not care
  const alone = await loadDataset({
    interactions: { path: join(SHARED, 'datasets/ml-100k/u.data'), separator: '\t', columns: ['u', 'i', 'r', 't'], user: 'u', item: 'i', value: 'r', timestamp: 't' },
  });
  assert.notEqual(alone.dataset.items.ids.values[0], '1');
  assert.deepEqual(lines(splitDataset(alone.dataset, spec).test), fileLines('test.tsv'));
});
