import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ML100K_GENRES, PRESETS, loadDataset, resolvePreset, type Dataset, type FeatureColumn } from './index.ts';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
/** ../shared from the repository root (src/data/ is two levels down). */
const ML100K = fileURLToPath(new URL('../../../shared/datasets/ml-100k/', import.meta.url));
const noShared = existsSync(join(ML100K, 'u.data')) ? false : `MovieLens 100K not found at ${ML100K} (../shared is absent)`;

function bagOf(c: FeatureColumn | undefined, row: number): string[] {
  assert.ok(c && (c.kind === 'multi-categorical' || c.kind === 'text'));
  return Array.from(c.codes.subarray(c.offsets[row], c.offsets[row + 1]), (k) => c.vocab.values[k]);
}

function numOf(c: FeatureColumn | undefined, row: number): number {
  assert.ok(c && c.kind === 'numeric');
  return c.values[row];
}

function catOf(c: FeatureColumn | undefined, row: number): string | null {
  assert.ok(c && c.kind === 'categorical');
  return c.codes[row] < 0 ? null : c.vocab.values[c.codes[row]];
}

const item = (ds: Dataset, id: string): number => ds.items.ids.get(id);

test('PRESETS and resolvePreset; an unknown name lists the presets', () => {
  assert.deepEqual([...PRESETS], ['movielens-100k', 'movielens-latest']);
  assert.throws(() => resolvePreset('movielens-1m', '/x'), /unknown dataset preset 'movielens-1m'; expected one of movielens-100k, movielens-latest/);
  assert.equal(resolvePreset('movielens-100k', '/data/ml').interactions.path, '/data/ml/u.data');
});

test('movielens-100k preset on a small fixture: genres from flags, year from title or date, latin1 titles', async () => {
  const { dataset: ds, report } = await loadDataset(resolvePreset('movielens-100k', join(fixtures, 'ml-100k-mini')));
  assert.deepEqual(report.files.map((f) => f.rows), [5, 3, 5]);
  assert.equal(ds.numItems, 5);
  assert.equal(ds.numUsers, 3);
  const genres = ds.items.column('genres');
  assert.deepEqual(bagOf(genres, item(ds, '1')), ['Animation', "Children's", 'Comedy']);
  assert.deepEqual(bagOf(genres, item(ds, '4')), ['unknown']);
  assert.equal(numOf(ds.items.column('year'), item(ds, '1')), 1995);
  assert.equal(numOf(ds.items.column('year'), item(ds, '10')), 1963); // title year, not the 1997 re-release
  assert.ok(Number.isNaN(numOf(ds.items.column('year'), item(ds, '4'))));
  assert.deepEqual(bagOf(ds.items.column('title'), item(ds, '3')), ['misérables', 'les', '1995']);
  assert.equal(catOf(ds.users.column('zip'), 0), '8');
  assert.equal(catOf(ds.users.column('zip'), 2), 'T');
  assert.equal(catOf(ds.users.column('gender'), 1), 'F');
  assert.equal(catOf(ds.users.column('occupation'), 2), 'writer');
  assert.equal(numOf(ds.users.column('age'), 1), 53);
  assert.deepEqual(ds.eventTypes, [{ name: 'rating', weight: 1, negative: false }]);
  assert.deepEqual(Array.from(ds.interactions.value), [3, 4, 5, 2, 1]);
  assert.equal(ds.interactions.timestamp[0], 881250949);
});

test('movielens-latest preset on a small fixture: quoted titles, |-genres, year from the title', async () => {
  const { dataset: ds } = await loadDataset(resolvePreset('movielens-latest', join(fixtures, 'ml-latest')));
  assert.deepEqual(ds.items.ids.values, ['1', '11', '2', '171749', '149352', '99999']); // 99999: rated, not in movies.csv
  assert.equal(ds.numUsers, 2);
  const genres = ds.items.column('genres');
  assert.deepEqual(bagOf(genres, 0), ['Adventure', 'Animation', 'Children', 'Comedy', 'Fantasy']);
  assert.deepEqual(bagOf(genres, 3), []); // (no genres listed)
  assert.deepEqual(bagOf(ds.items.column('title'), 1), ['american', 'president', 'the', '1995']);
  assert.equal(numOf(ds.items.column('year'), 2), 1995);
  assert.equal(numOf(ds.items.column('year'), 3), 2006);
  assert.ok(Number.isNaN(numOf(ds.items.column('year'), 4)));
  assert.deepEqual(Array.from(ds.interactions.value), [4, 4, 3.5, 5, 1]);
  assert.equal(ds.interactions.timestamp[2], 1445714835);
});

test('movielens-100k preset on the real data: 943 users, 1682 items, 100000 ratings', { skip: noShared }, async () => {
  const { dataset: ds, report } = await loadDataset(resolvePreset('movielens-100k', ML100K));
  assert.deepEqual(ds.summary(), { users: 943, items: 1682, interactions: 100000, activeUsers: 943, activeItems: 1682, timeKind: 'seconds' });
  assert.ok(report.files.every((f) => f.skipped === 0));
  const genres = ds.items.column('genres');
  assert.ok(genres?.kind === 'multi-categorical');
  assert.deepEqual([...genres.vocab.values].sort(), [...ML100K_GENRES].sort());
  assert.deepEqual(bagOf(genres, item(ds, '2')), ['Action', 'Adventure', 'Thriller']); // GoldenEye
  assert.equal(numOf(ds.items.column('year'), item(ds, '1')), 1995);
  assert.equal(numOf(ds.items.column('year'), item(ds, '1252')), 1963);
  assert.ok(Number.isNaN(numOf(ds.items.column('year'), item(ds, '267')))); // 'unknown', no date
  let years = 0;
  const year = ds.items.column('year');
  assert.ok(year?.kind === 'numeric');
  for (const y of year.values) if (y >= 1920 && y <= 1998) years++;
  assert.equal(years, 1681);
  assert.deepEqual(bagOf(ds.items.column('title'), item(ds, '543')), ['misérables', 'les', '1995']);
  assert.deepEqual(bagOf(ds.items.column('title'), item(ds, '1633')), ['á', 'köldum', 'klaka', 'cold', 'fever', '1994']);
  assert.equal(catOf(ds.users.column('occupation'), ds.users.ids.get('1')), 'technician');
  let sum = 0;
  for (const v of ds.interactions.value) sum += v;
  assert.equal(sum, 352986); // sum of u.data's ratings
});
