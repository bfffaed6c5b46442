import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tinyDataset } from '../src/retrieval/two-tower/test-fixture.ts';
import { coldStartBench, coldStartSplit } from './cold-start.ts';
import { captureConsole } from '../src/math/console.fixture.ts';
import { scratchDir } from '../src/math/tmpdir.fixture.ts';

const fixtures = fileURLToPath(new URL('../src/data/fixtures/', import.meta.url));

test('coldStartSplit hides every training event of the chosen users and keeps only their test events', () => {
  const train = tinyDataset(20, 30, 8, 1);
  const test = tinyDataset(20, 30, 3, 2);
  const { train: tr, test: te, users } = coldStartSplit(train, test, 0.25, 7);
  assert.equal(users.length, 5);
  const cold = new Set(users);
  for (let r = 0; r < tr.interactions.length; r++) assert.ok(!cold.has(tr.interactions.user[r]));
  for (let r = 0; r < te.interactions.length; r++) assert.ok(cold.has(te.interactions.user[r]));
  assert.equal(tr.interactions.length + 5 * 8, train.interactions.length);
  assert.equal(te.interactions.length, 5 * 3);
  assert.deepEqual(coldStartSplit(train, test, 0.25, 7).users, users, 'seeded');
  assert.throws(() => coldStartSplit(train, test, 1.5, 7), /fraction/);
});

/** Runs the bench command, returning its exit code or error and what it printed. */
async function runBench(argv: string[]): Promise<{ code?: number; error?: Error; out: string }> {
  const r = await captureConsole(() => coldStartBench.run(argv));
  return { code: r.value, error: r.error, out: r.out };
}

test('bench cold-start says there are no user features to start from instead of measuring nothing', async () => {
  // movielens-latest has no users file: no user features
  const r = await runBench(['--dataset', 'movielens-latest', '--data', join(fixtures, 'ml-latest'), '--split', 'leave-last-out']);
  assert.match(String(r.error?.message), /^no user features to start from: the dataset declares none/);
  assert.doesNotMatch(r.out, /recall@100/, 'nothing was measured');
  // declared, but no cold user has a value: the same, with the features named
  const dir = scratchDir('tandem-cold-');
  writeFileSync(join(dir, 'e.tsv'), Array.from({ length: 40 }, (_, k) => `u${k % 8}\ti${k % 11}\t${k}`).join('\n'));
  writeFileSync(join(dir, 'users.csv'), 'id,age\n' + Array.from({ length: 8 }, (_, k) => `u${k},`).join('\n'));
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ interactions: { path: 'e.tsv', columns: ['u', 'i', 't'], user: 'u', item: 'i', timestamp: 't' }, users: { path: 'users.csv', id: 'id', features: [{ name: 'age', kind: 'numeric' }] } }));
  const empty = await runBench(['--config', join(dir, 'c.json'), '--split', 'leave-last-out']);
  assert.match(String(empty.error?.message), /^no user features to start from: none of the \d+ cold users has a value for any user feature \(age\)/);
});

test('bench cold-start takes --config, --synthetic and split files like evaluate', async () => {
  const dir = scratchDir('tandem-cold-');
  const events = Array.from({ length: 400 }, (_, k) => `u${k % 20}\ti${(k * 7) % 30}\t${1700000000 + k}`);
  writeFileSync(join(dir, 'train.tsv'), events.slice(0, 320).join('\n'));
  writeFileSync(join(dir, 'test.tsv'), events.slice(320).join('\n'));
  writeFileSync(join(dir, 'users.csv'), 'id,plan\n' + Array.from({ length: 20 }, (_, k) => `u${k},${k % 2 ? 'pro' : 'free'}`).join('\n'));
  // no interactions path: the split files supply them
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ interactions: { user: 'user', item: 'item' }, users: { path: 'users.csv', id: 'id', features: [{ name: 'plan', kind: 'categorical' }] } }));
  const json = join(dir, 'out.json');
  const r = await runBench(['--config', join(dir, 'c.json'), '--train', join(dir, 'train.tsv'), '--test', join(dir, 'test.tsv'), '--split-format', 'tsv', '--epochs', '1', '--json', json]);
  assert.equal(r.error, undefined, String(r.error?.stack));
  assert.equal(r.code, 0);
  assert.match(r.out, /read as tab-separated user, item, value, no header \(--split-format tsv\)/);
  assert.match(r.out, /two-tower \(features only\): recall@100 \d\.\d{4}/);
  assert.equal(JSON.parse(readFileSync(json, 'utf8')).coldUsers, 4);
  const s = await runBench(['--synthetic', '--users', '60', '--items', '40', '--interactions', '1500', '--epochs', '1']);
  assert.equal(s.code, 0, String(s.error?.stack));
  assert.match(s.out, /cold users: 12 /);
  await assert.rejects(coldStartBench.run([]), /give exactly one of --dataset NAME --data DIR, --config FILE, or --synthetic/);
});
