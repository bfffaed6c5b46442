import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLibsvmData } from '../gbdt/index.ts';
import { csvLines, formatFloat32, libsvmLines, writeLines } from './export.ts';
import type { RankerTrainingSet } from './training.ts';

const set: RankerTrainingSet = {
  features: Float32Array.from([0.1, NaN, 0, 3, 1 / 3, NaN, -2.5, 1e-8, 7]),
  nRows: 3,
  nFeatures: 3,
  labels: Float32Array.from([1, 0, 0]),
  groups: Int32Array.from([0, 2, 3]),
  featureNames: ['sim_last', 'l1_ease_score', 'odd,name'],
  groupUsers: Int32Array.from([4, 9]),
  items: Int32Array.from([11, 12, 13]),
};

test('formatFloat32 reads back to the same float32', () => {
  for (const v of [0.1, 1 / 3, -2.5, 1e-8, 123456.789, 3]) {
    const f = Math.fround(v);
    assert.equal(Math.fround(Number(formatFloat32(f))), f);
  }
  assert.equal(formatFloat32(3), '3');
});

test('LibSVM lines carry qid groups, 0-based indices, explicit zeros, no missing values, and parse back with the GBDT reader', async () => {
  const lines = [...libsvmLines(set)];
  assert.equal(lines[0], '1 qid:0 0:0.100000001 2:0\n');
  assert.equal(lines[2], '0 qid:1 0:-2.5 1:9.99999994e-9 2:7\n');
  const back = parseLibsvmData(lines.join(''), { file: 'x.libsvm', nFeatures: 3, absent: 'nan' });
  assert.deepEqual(Array.from(back.groups!), [0, 2, 3]);
  assert.deepEqual(Array.from(back.labels), [1, 0, 0]);
  for (let i = 0; i < set.features.length; i++) {
    const a = set.features[i];
    const b = back.features[i];
    assert.ok((Number.isNaN(a) && Number.isNaN(b)) || a === b, `value ${i}: ${a} vs ${b}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'libsvm-'));
  try {
    await writeLines(join(dir, 'a.csv'), csvLines(set));
    const csv = (await readFile(join(dir, 'a.csv'), 'utf8')).split('\n');
    assert.equal(csv[0], 'qid,user,item,label,sim_last,l1_ease_score,"odd,name"');
    assert.equal(csv[1], '0,4,11,1,0.100000001,,0');
    assert.equal(csv[3], '1,9,13,0,-2.5,9.99999994e-9,7');
    assert.equal(csv.length, 5);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
