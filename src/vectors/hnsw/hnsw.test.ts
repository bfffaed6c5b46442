import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../math/index.ts';
import { runIndexSuite } from '../suite.ts';
import { ExactIndex } from '../exact/exact-index.ts';
import { HnswIndex } from './hnsw-index.ts';
import { clusteredVectors } from '../synthetic.ts';
import { maskFromIds } from '../filter.ts';
import { buildIndex, chooseKind, createIndex } from '../create.ts';

runIndexSuite('hnsw', (o) => new HnswIndex({ ...o, M: 12, efConstruction: 100, efSearch: 64 }));
runIndexSuite('hnsw (MIPS-augmented graph)', (o) => new HnswIndex({ ...o, M: 12, efConstruction: 100, efSearch: 64, mipsAugment: 1 }));

test('hnsw recall@10 >= 0.95 against exact on clustered data', () => {
  const dim = 32;
  const n = 20_000;
  const v = clusteredVectors(n, dim, new Rng(21), { clusters: 100 });
  const labels = Int32Array.from({ length: n }, (_, i) => i);
  const hn = new HnswIndex({ dim, M: 16, efConstruction: 100, efSearch: 64 });
  hn.add(v, labels);
  const ex = new ExactIndex({ dim });
  ex.add(v, labels);
  const nq = 200;
  const qs = clusteredVectors(nq, dim, new Rng(22), { clusters: 100 });
  const got = hn.searchBatch(qs, 10);
  const want = ex.searchBatch(qs, 10);
  let hits = 0;
  for (let q = 0; q < nq; q++) {
    const w = new Set(want.ids.subarray(q * 10, q * 10 + 10));
    for (let i = 0; i < 10; i++) if (w.has(got.ids[q * 10 + i])) hits++;
  }
  const recall = hits / (nq * 10);
  assert.ok(recall >= 0.95, `recall@10 = ${recall}`);
});

test('hnsw picks its path by filter: graph, post-filter, callback, exact when selective', () => {
  const dim = 8;
  const n = 3000;
  const v = clusteredVectors(n, dim, new Rng(23), { clusters: 10 });
  const hn = new HnswIndex({ dim, efSearch: 32 });
  hn.add(v, Int32Array.from({ length: n }, (_, i) => i));
  const q = v.slice(0, dim);
  hn.search(q, 10);
  assert.equal(hn.lastPath, 'graph');
  hn.search(q, 10, { exclude: [0, 1, 2] });
  assert.equal(hn.lastPath, 'graph-postfilter');
  const longSeen = Array.from({ length: 500 }, (_, i) => i * 2);
  const ls = hn.search(q, 10, { exclude: longSeen });
  assert.equal(hn.lastPath, 'graph-callback', 'a long exclude list is not turned into a huge ef');
  assert.equal(ls.ids.length, 10);
  assert.ok(ls.ids.every((id) => id % 2 === 1 || id >= 1000));
  // A third of the items eligible: the graph is asked for ~3k/third results and filtered afterwards.
  const third = hn.search(q, 10, { allow: maskFromIds(n, Array.from({ length: 1000 }, (_, i) => i * 3)) });
  assert.equal(hn.lastPath, 'graph-postfilter');
  assert.ok(third.ids.length === 10 && third.ids.every((id) => id % 3 === 0));
  // 5% eligible: widening that far would cost more than hnswlib's filter callback.
  const five = hn.search(q, 10, { predicate: (id) => id % 20 === 0 });
  assert.equal(hn.lastPath, 'graph-callback');
  assert.ok(five.ids.length === 10 && five.ids.every((id) => id % 20 === 0));
  const r = hn.search(q, 10, { allow: maskFromIds(n, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]) });
  assert.equal(hn.lastPath, 'exact-selective');
  assert.equal(r.ids.length, 10);
  // A filter the graph cannot satisfy with its ef (items spread thinly, 3% eligible) falls back to exact.
  const thin = maskFromIds(n, Array.from({ length: 90 }, (_, i) => i * 33 + 1));
  const t = hn.search(q, 60, { allow: thin });
  assert.equal(t.ids.length, 60);
  assert.ok(['graph-callback', 'exact-fallback'].includes(hn.lastPath));
  assert.ok(t.ids.every((id) => thin[id] === 1));
});

test('hnsw removed slots survive save/load as tombstones and searchEffort is tunable', () => {
  const hn = new HnswIndex({ dim: 4 });
  hn.add(Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]), [0, 1, 2]);
  hn.remove([1]);
  assert.equal(hn.deletedSlots, 1);
  hn.add(Float32Array.from([0, 1, 0, 0]), [1]);
  assert.equal(hn.deletedSlots, 0);
  hn.setSearchEffort(7);
  assert.equal(hn.params.efSearch, 7);
  assert.throws(() => hn.setSearchEffort(0), /setSearchEffort\(efSearch\)/);
  assert.throws(() => new HnswIndex({ dim: 4, M: 1 }), /HnswIndex\(M\): must be an integer in \[2, 256\]/);
});

test('createIndex auto picks exact below the threshold and hnsw above it', () => {
  assert.equal(chooseKind({ expectedSize: 100 }), 'exact');
  assert.equal(chooseKind({ expectedSize: 100, exactBelow: 50 }), 'hnsw');
  assert.equal(chooseKind({ kind: 'hnsw', expectedSize: 1 }), 'hnsw');
  assert.throws(() => chooseKind({ kind: 'annoy' as 'auto' }), /createIndex\(kind\)/);
  assert.equal(createIndex({ dim: 4, expectedSize: 10 }).kind, 'exact');
  const big = buildIndex(new Float32Array(8 * 4).fill(0.5), Int32Array.from({ length: 8 }, (_, i) => i), { dim: 4, exactBelow: 5 });
  assert.equal(big.kind, 'hnsw');
  assert.equal(big.size, 8);
});

test('hnsw without the MIPS augmentation (raw inner-product graph) searches and round-trips', async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { loadIndex } = await import('../create.ts');
  const dim = 16;
  const n = 1000;
  const v = clusteredVectors(n, dim, new Rng(31), { clusters: 30 });
  const raw = new HnswIndex({ dim, mipsAugment: 0, efSearch: 200 });
  raw.add(v, Int32Array.from({ length: n }, (_, i) => i));
  const ex = new ExactIndex({ dim });
  ex.add(v, Int32Array.from({ length: n }, (_, i) => i));
  const q = v.slice(5 * dim, 6 * dim);
  const got = raw.search(q, 10);
  const want = ex.search(q, 10);
  assert.ok(Array.from(got.ids).filter((id) => want.ids.includes(id)).length >= 9);
  const dir = await mkdtemp(join(tmpdir(), 'tandem-hnsw-raw-'));
  try {
    await raw.save(dir);
    const back = (await loadIndex(dir)) as HnswIndex;
    assert.equal(back.params.mipsAugment, 0);
    assert.deepEqual(Array.from(back.search(q, 10).ids), Array.from(got.ids));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
