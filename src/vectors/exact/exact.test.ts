import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../math/index.ts';
import { runIndexSuite } from '../suite.ts';
import { ExactIndex } from './exact-index.ts';
import { queriesPerPass, scoreRef, scorer, scorerKind } from './kernels.ts';
import { plainSearch } from './reference.ts';
import { randomVectors } from '../synthetic.ts';

runIndexSuite('exact (unrolled JS kernels)', (o) => new ExactIndex({ ...o, kernel: 'js' }), { kernel: 'js' });
runIndexSuite('exact (kernel backend)', (o) => new ExactIndex({ ...o, kernel: 'backend' }), { kernel: 'backend' });

test('every generated scorer matches the plain loop (dims, query counts, odd block bounds)', () => {
  const rng = new Rng(11);
  for (const dim of [1, 3, 8, 17, 64, 65, 600]) {
    const rows = 37;
    const M = randomVectors(rows, dim, rng);
    for (const nq of [1, 2, 5, queriesPerPass(dim)]) {
      const Q = randomVectors(nq + 1, dim, rng);
      const ldo = 40;
      const fast = new Float32Array(nq * ldo);
      const ref = new Float32Array(nq * ldo);
      // rows [3, 34) from query offset dim: offsets and a partial block both exercised
      scorer(dim, nq)(M, 3, 34, Q, dim, fast, ldo);
      scoreRef(dim, nq, M, 3, 34, Q, dim, ref, ldo);
      for (let i = 0; i < ref.length; i++) {
        assert.ok(Math.abs(fast[i] - ref[i]) <= 1e-5 * Math.max(1, Math.abs(ref[i])), `dim ${dim} nq ${nq} at ${i}: ${fast[i]} vs ${ref[i]}`);
      }
      // The fast path really ran: unrolled code below the size limit, the loop kernel above it.
      assert.equal(scorerKind(dim, nq), dim <= 512 ? 'unrolled' : 'loop');
    }
  }
});

test('exact search and searchBatch equal the plain nested loop, ties included', () => {
  const rng = new Rng(12);
  const dim = 24;
  const n = 5000;
  const v = randomVectors(n, dim, rng);
  // Duplicate rows force exact ties: the smaller label must win in every path.
  v.copyWithin(10 * dim, 4000 * dim, 4001 * dim);
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7919) % n); // labels unrelated to rows
  const ix = new ExactIndex({ dim, kernel: 'js', blockRows: 333 });
  ix.add(v, labels);
  const queries = randomVectors(30, dim, rng);
  queries.set(v.subarray(4000 * dim, 4001 * dim), 0);
  const batch = ix.searchBatch(queries, 15);
  for (let q = 0; q < 30; q++) {
    const qv = queries.subarray(q * dim, (q + 1) * dim);
    const want = plainSearch(v, labels, dim, qv, 15);
    const got = ix.search(qv, 15);
    assert.deepEqual(Array.from(got.ids), Array.from(want.ids), `query ${q}`);
    assert.deepEqual(Array.from(batch.ids.subarray(q * 15, q * 15 + 15)), Array.from(want.ids), `batch query ${q}`);
    for (let i = 0; i < 15; i++) assert.ok(Math.abs(got.scores[i] - want.scores[i]) < 1e-5);
  }
  const l10 = labels[10];
  const l4000 = labels[4000];
  assert.deepEqual(Array.from(ix.search(queries.subarray(0, dim), 2).ids), [Math.min(l10, l4000), Math.max(l10, l4000)]);
});

test('a selective allow mask walks only eligible rows and gives the same answer as a full scan', () => {
  const rng = new Rng(13);
  const dim = 16;
  const n = 4000;
  const v = randomVectors(n, dim, rng);
  const labels = Int32Array.from({ length: n }, (_, i) => i);
  const ix = new ExactIndex({ dim });
  ix.add(v, labels);
  const allow = new Uint8Array(n);
  for (let i = 0; i < n; i += 50) allow[i] = 1; // 2%: the mask walk
  const q = randomVectors(1, dim, rng);
  const viaMask = ix.search(q, 10, { allow });
  const viaPredicate = ix.search(q, 10, { predicate: (id) => allow[id] === 1 }); // full scan
  assert.deepEqual(Array.from(viaMask.ids), Array.from(viaPredicate.ids));
  assert.ok(viaMask.ids.every((id) => id % 50 === 0));
});
