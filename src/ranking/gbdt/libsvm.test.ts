import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLibsvmData } from './index.ts';

test('LibSVM: labels, sparse features (absent = 0 or NaN), qid groups, comments and CRLF', () => {
  const text = '# header comment\n1 qid:7 0:1.5 3:-2\r\n0 qid:7 1:4 # trailing\n\n2 qid:9 2:nan 3:1e-3\n';
  const d = parseLibsvmData(text, { file: 'a.svm' });
  assert.equal(d.nRows, 3);
  assert.equal(d.nFeatures, 4);
  assert.deepEqual(Array.from(d.labels), [1, 0, 2]);
  assert.deepEqual(Array.from(d.features.subarray(0, 4)), [1.5, 0, 0, -2]);
  assert.deepEqual(Array.from(d.features.subarray(4, 8)), [0, 4, 0, 0]);
  assert.ok(Number.isNaN(d.features[10]));
  assert.deepEqual(Array.from(d.groups!), [0, 2, 3]);
  const n = parseLibsvmData('1 1:2\n0 0:1\n', { absent: 'nan', nFeatures: 3 });
  assert.equal(n.nFeatures, 3);
  assert.ok(Number.isNaN(n.features[0]) && n.features[1] === 2 && Number.isNaN(n.features[2]));
  assert.equal(n.groups, undefined);
  const one = parseLibsvmData('1 1:2 3:4\n', { indexBase: 1 });
  assert.deepEqual(Array.from(one.features), [2, 0, 4]);
  assert.throws(() => parseLibsvmData('1 0:2\n', { indexBase: 1, file: 'g' }), /g:1:3: feature index 0 is below the first index 1/);
});

test('LibSVM: errors name file, line and column', () => {
  assert.throws(() => parseLibsvmData('1 0:1\nx 0:1\n', { file: 'f.svm' }), /^LibsvmError: f\.svm:2:1: label 'x' is not a number/);
  assert.throws(() => parseLibsvmData('1 0:1 2:abc\n', { file: 'f.svm' }), /f\.svm:1:9: value 'abc' is not a finite number/);
  assert.throws(() => parseLibsvmData('1 3:1 2:1\n', { file: 'f.svm' }), /f\.svm:1:7: feature index 2 after 3/);
  assert.throws(() => parseLibsvmData('1 0:1 qid:3\n', { file: 'f.svm' }), /f\.svm:1:7: qid must come once/);
  assert.throws(() => parseLibsvmData('1 qid:1 0:1\n0 qid:2 0:1\n1 qid:1 0:2\n', { file: 'f.svm' }), /f\.svm:3:1: qid 1 appears again/);
  assert.throws(() => parseLibsvmData('1 qid:1 0:1\n\n0 0:1\n', { file: 'f.svm' }), /f\.svm:3:1: this row has no qid/);
  assert.throws(() => parseLibsvmData('1 5:1\n', { file: 'f.svm', nFeatures: 4 }), /f\.svm:1:3: feature index 5 is past the last of 4 columns/);
  assert.throws(() => parseLibsvmData('# only a comment\n', { file: 'f.svm' }), /no data rows/);
});
