import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aucOfScores, MetricAccumulator } from './index.ts';

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-12, `${msg ?? ''} ${a} != ${b}`);

test('metrics of one user, worked by hand', () => {
  // catalog of 10; relevant {2, 5, 7}; ranked list 5, 1, 2, 9, 3 (hits at positions 0 and 2)
  const rel = new Uint8Array(10);
  rel[2] = rel[5] = rel[7] = 1;
  const acc = new MetricAccumulator(10, [1, 3, 5]);
  acc.add(Int32Array.from([5, 1, 2, 9, 3]), rel, 3);
  const m = acc.result();
  // K=1: hits 1. recall 1/3, precision 1, hr 1, mrr 1, ndcg = 1 / 1 = 1, map = (1/1) / min(1,3) = 1
  close(m['recall@1'], 1 / 3);
  close(m['precision@1'], 1);
  close(m['ndcg@1'], 1);
  close(m['map@1'], 1);
  // K=3: hits 2 (positions 0, 2). recall 2/3, precision 2/3, hr 1, mrr 1
  // dcg = 1/log2(2) + 1/log2(4) = 1 + 0.5 = 1.5; idcg over min(3,3)=3: 1 + 1/log2(3) + 0.5
  // map = (1/1 + 2/3) / 3
  close(m['recall@3'], 2 / 3);
  close(m['precision@3'], 2 / 3);
  close(m['hr@3'], 1);
  close(m['mrr@3'], 1);
  close(m['ndcg@3'], 1.5 / (1 + 1 / Math.log2(3) + 0.5));
  close(m['map@3'], (1 + 2 / 3) / 3);
  // K=5: no more hits. precision 2/5; idcg still over 3 positions (only 3 relevant)
  close(m['precision@5'], 2 / 5);
  close(m['ndcg@5'], 1.5 / (1 + 1 / Math.log2(3) + 0.5));
  close(m['map@5'], (1 + 2 / 3) / 3);
  // coverage@1: {5} -> 1/10; @3: {5,1,2} -> 3/10; @5: 5/10
  close(m['coverage@1'], 0.1);
  close(m['coverage@3'], 0.3);
  close(m['coverage@5'], 0.5);
});

test('metrics average over users; first hit late; short lists', () => {
  const acc = new MetricAccumulator(6, [2, 4]);
  const rel = new Uint8Array(6);
  // user A: relevant {4}; list 0, 1, 4 -> first hit at position 2
  rel[4] = 1;
  acc.add(Int32Array.from([0, 1, 4]), rel, 1);
  rel[4] = 0;
  // user B: relevant {0, 1}; list 1 (only one item returned)
  rel[0] = rel[1] = 1;
  acc.add(Int32Array.from([1]), rel, 2);
  const m = acc.result();
  // A@2: 0 hits -> all 0. B@2: hits 1: recall 1/2, precision 1/2, mrr 1, ndcg 1/(1 + 1/log2 3), map (1/1)/2
  close(m['recall@2'], (0 + 0.5) / 2);
  close(m['precision@2'], (0 + 0.5) / 2);
  close(m['mrr@2'], (0 + 1) / 2);
  close(m['ndcg@2'], (0 + 1 / (1 + 1 / Math.log2(3))) / 2);
  close(m['map@2'], (0 + 0.5) / 2);
  // A@4: hit at position 2: recall 1, precision 1/4, mrr 1/3, ndcg (1/log2 4) / 1 = 0.5, map (1/3)/1
  // B@4: as @2 except precision 1/4
  close(m['recall@4'], (1 + 0.5) / 2);
  close(m['precision@4'], (0.25 + 0.25) / 2);
  close(m['mrr@4'], (1 / 3 + 1) / 2);
  close(m['ndcg@4'], (0.5 + 1 / (1 + 1 / Math.log2(3))) / 2);
  close(m['map@4'], (1 / 3 + 0.5) / 2);
  close(m['hr@2'], 0.5);
  close(m['hr@4'], 1);
  // coverage@2: A's {0,1}, B's {1} -> 2/6; @4: {0,1,4} -> 3/6
  close(m['coverage@2'], 2 / 6);
  close(m['coverage@4'], 3 / 6);
  assert.equal(acc.users, 2);
  assert.throws(() => acc.add(Int32Array.from([1]), rel, 0), /at least one relevant/);
  assert.throws(() => new MetricAccumulator(3, [0]), /positive integer/);
});

test('AUC by hand, with ties and exclusions', () => {
  // items 0..4; relevant {0, 3}; excluded {4}; negatives {1, 2}
  // scores: 0 -> 0.9, 1 -> 0.5, 2 -> 0.2, 3 -> 0.5, 4 -> 1.0 (excluded)
  // pairs: (0,1) win, (0,2) win, (3,1) tie 0.5, (3,2) win -> 3.5 / 4
  const rel = Uint8Array.from([1, 0, 0, 1, 0]);
  const ex = Uint8Array.from([0, 0, 0, 0, 1]);
  close(aucOfScores(Float32Array.from([0.9, 0.5, 0.2, 0.5, 1.0]), rel, ex), 3.5 / 4);
  // a reference double loop on random scores
  const n = 50;
  const s = Float32Array.from({ length: n }, (_, i) => ((i * 37) % 11) / 11);
  const r = Uint8Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 1 : 0));
  const e = Uint8Array.from({ length: n }, (_, i) => (i % 13 === 5 ? 1 : 0));
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (e[i] || e[j] || !r[i] || r[j]) continue;
      den++;
      num += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
  }
  close(aucOfScores(s, r, e), num / den);
  assert.ok(Number.isNaN(aucOfScores(s, new Uint8Array(n), e)));
});
