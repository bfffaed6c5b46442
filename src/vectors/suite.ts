/**
 * The shared VectorIndex test suite: every implementation runs the same cases (hono's runTest habit).
 * Each implementation's test file calls `runIndexSuite(name, make)`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../math/index.ts';
import { ExactIndex } from './exact/exact-index.ts';
import { loadIndex } from './create.ts';
import { maskFromIds } from './filter.ts';
import { clusteredVectors } from './synthetic.ts';
import type { Metric, SearchResult, VectorIndex } from './types.ts';
import { IndexArgumentError } from './types.ts';

export type MakeIndex = (opts: { dim: number; metric?: Metric; capacity?: number }) => VectorIndex;

const f32 = (...xs: number[]) => Float32Array.from(xs);
const range = (n: number, from = 0) => Int32Array.from({ length: n }, (_, i) => from + i);

/** Exact ground truth for the same items, built beside the index under test. */
function truth(ix: VectorIndex): ExactIndex {
  const ex = new ExactIndex({ dim: ix.dim, metric: ix.metric });
  const labels = ix.labels();
  const v = new Float32Array(labels.length * ix.dim);
  for (let i = 0; i < labels.length; i++) ix.vector(labels[i], v.subarray(i * ix.dim, (i + 1) * ix.dim));
  ex.add(v, labels);
  return ex;
}

function assertResult(r: SearchResult, ids: number[], msg?: string): void {
  assert.deepEqual(Array.from(r.ids), ids, msg);
  for (let i = 1; i < r.scores.length; i++) assert.ok(r.scores[i - 1] >= r.scores[i], 'scores are best first');
}

/**
 * A clustered catalog big enough that HNSW really walks a graph (and small enough to build fast),
 * with about sqrt(n) clusters like the benchmark's data.
 */
const CLUSTERS = 50;
function catalog(n: number, dim: number, seed: number): { v: Float32Array; labels: Int32Array } {
  return { v: clusteredVectors(n, dim, new Rng(seed), { clusters: CLUSTERS }), labels: range(n) };
}

/** `kernel` is passed to loadIndex so a reloaded index scores with the same kernel as the one saved. */
export function runIndexSuite(name: string, make: MakeIndex, opts: { kernel?: 'js' | 'backend' } = {}): void {
  test(`${name}: declares its capabilities and shape`, () => {
    const ix = make({ dim: 3 });
    assert.equal(ix.dim, 3);
    assert.equal(ix.metric, 'ip');
    assert.equal(ix.size, 0);
    for (const cap of ['supportsFilter', 'supportsAdd', 'supportsRemove', 'supportsUpdate', 'supportsSave'] as const) assert.equal(ix.capabilities[cap], true, cap);
    assert.equal(typeof ix.capabilities.exact, 'boolean');
    assert.equal(ix.search(f32(1, 0, 0), 5).ids.length, 0, 'an empty index finds nothing');
  });

  test(`${name}: known answers for inner product and cosine`, () => {
    // Item 3 is long and slightly off-axis: first by inner product, behind the unit axis by cosine.
    const v = f32(1, 0, 0, 0, 1, 0, 0, 0, 1, 3, 0.5, 0, 0.5, 0.5, 0);
    const labels = [10, 11, 12, 13, 14];
    const ip = make({ dim: 3, metric: 'ip' });
    ip.add(v, labels);
    assert.equal(ip.size, 5);
    const r = ip.search(f32(1, 0, 0), 3);
    assertResult(r, [13, 10, 14]);
    assert.ok(Math.abs(r.scores[0] - 3) < 1e-6 && Math.abs(r.scores[1] - 1) < 1e-6 && Math.abs(r.scores[2] - 0.5) < 1e-6);
    const cos = make({ dim: 3, metric: 'cosine' });
    cos.add(v, labels);
    const c = cos.search(f32(2, 0, 0), 3); // query length must not matter
    assertResult(c, [10, 13, 14]);
    assert.ok(Math.abs(c.scores[0] - 1) < 1e-6);
    assert.ok(Math.abs(c.scores[1] - 3 / Math.hypot(3, 0.5)) < 1e-6);
    assert.ok(Math.abs(c.scores[2] - Math.SQRT1_2) < 1e-6);
    // k above the size: everything, still ordered.
    assertResult(ip.search(f32(0, 0, 1), 50), [12, 10, 11, 13, 14]); // ties at 0 break towards the smaller id
  });

  test(`${name}: agrees with exact search on a clustered catalog (search and searchBatch)`, () => {
    const dim = 16;
    const { v, labels } = catalog(3000, dim, 1);
    const ix = make({ dim });
    ix.add(v, labels);
    const ex = truth(ix);
    const queries = clusteredVectors(40, dim, new Rng(2), { clusters: CLUSTERS });
    const batch = ix.searchBatch(queries, 10);
    let hits = 0;
    for (let q = 0; q < 40; q++) {
      const qv = queries.subarray(q * dim, (q + 1) * dim);
      const got = ix.search(qv, 10);
      const want = ex.search(qv, 10);
      assert.equal(got.ids.length, 10);
      assert.deepEqual(Array.from(batch.ids.subarray(q * 10, q * 10 + 10)), Array.from(got.ids), `batch = single for query ${q}`);
      assert.equal(batch.counts[q], 10);
      const w = new Set(want.ids);
      for (const id of got.ids) if (w.has(id)) hits++;
      // Scores are exact for whatever is returned.
      for (let i = 0; i < got.ids.length; i++) {
        const s = new Float32Array(1);
        ex.scoreLabels(qv, [got.ids[i]], s);
        assert.ok(Math.abs(s[0] - got.scores[i]) <= 1e-5 * Math.max(1, Math.abs(s[0])), 'score is the exact score');
      }
    }
    const recall = hits / 400;
    assert.ok(ix.capabilities.exact ? recall === 1 : recall >= 0.95, `recall@10 ${recall}`);
  });

  test(`${name}: filters exclude seen items, restrict by mask or predicate, and still return k`, () => {
    const dim = 8;
    const { v, labels } = catalog(2000, dim, 3);
    const ix = make({ dim });
    ix.add(v, labels);
    const ex = truth(ix);
    const q = clusteredVectors(1, dim, new Rng(4), { clusters: CLUSTERS });
    const top = ix.search(q, 30);
    // Exclude the 15 best (array form and Set form give the same answer).
    const seen = Array.from(top.ids.subarray(0, 15));
    const wantEx = Array.from(ex.search(q, 10, { exclude: seen }).ids);
    for (const exclude of [seen, new Set(seen), Int32Array.from(seen)]) {
      const r = ix.search(q, 10, { exclude });
      assert.equal(r.ids.length, 10);
      for (const id of r.ids) assert.ok(!seen.includes(id), `excluded ${id} returned`);
      // Ranks 16-25 are the hard part for a graph index: an approximate one must find most of them.
      const overlap = Array.from(r.ids).filter((id) => wantEx.includes(id)).length;
      if (ix.capabilities.exact) assert.deepEqual(Array.from(r.ids), wantEx);
      else assert.ok(overlap >= 7, `recall after exclusion ${overlap}/10`);
    }
    // A category mask (every third item) and the equivalent predicate.
    const cat = labels.filter((l) => l % 3 === 0);
    const allow = maskFromIds(2000, cat);
    for (const f of [{ allow }, { predicate: (id: number) => id % 3 === 0 }, { allow, predicate: (id: number) => id % 2 === 0 }]) {
      const r = ix.search(q, 10, f);
      assert.equal(r.ids.length, 10);
      const w = ex.search(q, 10, f);
      for (const id of r.ids) assert.ok(id % 3 === 0 && (f.predicate === undefined || f.predicate(id)), `${id} is not eligible`);
      const overlap = Array.from(r.ids).filter((id) => w.ids.includes(id)).length;
      assert.ok(overlap >= 9, `filtered recall ${overlap}/10`);
    }
    // The selective case: 7 eligible items, k = 10 -> exactly those 7; 12 eligible -> the best 10 of them.
    for (const nEligible of [7, 12]) {
      const few = Array.from({ length: nEligible }, (_, i) => 1999 - i * 97);
      const fewMask = maskFromIds(2000, few);
      for (const f of [{ allow: fewMask }, { predicate: (id: number) => fewMask[id] === 1 }, { allow: fewMask, exclude: [few[0]] }]) {
        const r = ix.search(q, 10, f);
        const want = ex.search(q, 10, f);
        assert.equal(want.ids.length, Math.min(10, nEligible - (f.exclude ? 1 : 0)));
        assert.deepEqual(Array.from(r.ids), Array.from(want.ids), `selective filter with ${nEligible} eligible`);
      }
    }
    // Exclude nearly everything: the 10 survivors come back.
    const keep = new Set([5, 50, 500, 1500, 1999, 7, 70, 700, 1700, 17]);
    const r = ix.search(q, 10, { exclude: labels.filter((l) => !keep.has(l)) });
    assert.deepEqual(new Set(r.ids), keep);
    // Per-query filters in a batch.
    const qs = new Float32Array(2 * dim);
    qs.set(q, 0);
    qs.set(q, dim);
    const b = ix.searchBatch(qs, 5, [undefined, { exclude: Array.from(top.ids.subarray(0, 5)) }]);
    assert.deepEqual(Array.from(b.ids.subarray(0, 5)), Array.from(top.ids.subarray(0, 5)));
    assert.deepEqual(Array.from(b.ids.subarray(5, 10)), Array.from(ex.search(q, 5, { exclude: Array.from(top.ids.subarray(0, 5)) }).ids));
    assert.throws(() => ix.searchBatch(qs, 5, [undefined]), /searchBatch\(filter\).*1 filters for 2 queries/);
  });

  test(`${name}: add, remove, update and re-add while serving`, () => {
    const dim = 8;
    const { v, labels } = catalog(500, dim, 5);
    // Cosine, so that every item is its own best match.
    const ix = make({ dim, metric: 'cosine', capacity: 16 }); // forces growth
    ix.add(v.subarray(0, 300 * dim), labels.subarray(0, 300));
    ix.add(v.subarray(300 * dim), labels.subarray(300));
    assert.equal(ix.size, 500);
    const q = v.slice(42 * dim, 43 * dim);
    const before = ix.search(q, 5);
    assert.equal(before.ids[0], 42);
    assert.equal(ix.remove([42, 42, 9999]), 1, 'unknown and repeated labels are skipped');
    assert.equal(ix.size, 499);
    assert.equal(ix.has(42), false);
    const after = ix.search(q, 5);
    assert.ok(!after.ids.includes(42));
    assert.deepEqual(Array.from(after.ids.subarray(0, 4)), Array.from(before.ids.subarray(1, 5)));
    // Update item 7 to point exactly along q: it must now win, and its stored vector is q normalised.
    ix.update(q.map((x) => x * 10), [7]);
    const up = ix.search(q, 1);
    assert.equal(up.ids[0], 7);
    assert.ok(Math.abs(up.scores[0] - 1) < 1e-6);
    const norm = Math.hypot(...q);
    ix.vector(7).forEach((x, c) => assert.ok(Math.abs(x - q[c] / norm) < 1e-6));
    // Re-add the removed item with a new vector.
    ix.add(q.map((x) => -x), [42]);
    assert.equal(ix.size, 500);
    assert.ok(!ix.search(q, 10).ids.includes(42), 're-added 42 points away from q');
    assert.equal(ix.search(q.map((x) => -x), 1).ids[0], 42);
    // A new label far beyond the old range ties with 7 (same direction); ties go to the smaller id.
    ix.add(q.map((x) => x * 20), [100_000]);
    assert.deepEqual(Array.from(ix.search(q, 2).ids), [7, 100_000]);
    assert.equal(ix.labels().length, 501);
    assert.throws(() => ix.add(q, [7]), (e: unknown) => e instanceof IndexArgumentError && /add\(labels\).*7 is already in the index/.test(e.message));
    assert.throws(() => ix.update(q, [123_456]), /update\(labels\).*123456 is not in the index/);
  });

  test(`${name}: save and load round trip without rebuilding`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-vectors-'));
    try {
      const dim = 8;
      const { v, labels } = catalog(800, dim, 6);
      const ix = make({ dim, metric: 'cosine' });
      ix.add(v, labels);
      ix.remove([3, 4, 5]);
      await ix.save(dir);
      const back = await loadIndex(dir, { kernel: opts.kernel });
      assert.equal(back.kind, ix.kind);
      assert.equal(back.metric, 'cosine');
      assert.equal(back.dim, dim);
      assert.equal(back.size, 797);
      assert.equal(back.has(4), false);
      const qs = clusteredVectors(10, dim, new Rng(7), { clusters: CLUSTERS });
      const a = ix.searchBatch(qs, 10);
      const b = back.searchBatch(qs, 10);
      assert.deepEqual(Array.from(b.ids), Array.from(a.ids));
      assert.deepEqual(Array.from(b.scores), Array.from(a.scores));
      // Still mutable after loading.
      back.add(qs.subarray(0, dim), [5]);
      assert.equal(back.search(qs.subarray(0, dim), 1).ids[0], 5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test(`${name}: rejects bad input with errors naming the argument`, () => {
    const ix = make({ dim: 4 });
    ix.add(f32(1, 0, 0, 0, 0, 1, 0, 0), [0, 1]);
    const named = (arg: string, re: RegExp) => (e: unknown) => e instanceof IndexArgumentError && e.argument === arg && re.test(e.message);
    assert.throws(() => ix.search(f32(1, 0, 0), 1), named('search(query)', /length 3 does not match the index dimension 4/));
    assert.throws(() => ix.search(f32(1, 0, NaN, 0), 1), named('search(query)', /query\[2\] is NaN/));
    assert.throws(() => ix.search(f32(1, 0, Infinity, 0), 1), named('search(query)', /query\[2\] is Infinity/));
    assert.throws(() => ix.search([1, 0, 0, 0] as unknown as Float32Array, 1), named('search(query)', /must be a Float32Array, got Array/));
    assert.throws(() => ix.search(f32(1, 0, 0, 0), 0), named('search(k)', /positive integer, got 0/));
    assert.throws(() => ix.search(f32(1, 0, 0, 0), 2.5), named('search(k)', /positive integer/));
    assert.throws(() => ix.searchBatch(f32(1, 0, 0, 0, 1), 1), named('searchBatch(queries)', /length 5 is not a multiple of the index dimension 4/));
    assert.throws(() => ix.searchBatch(f32(1, 0, 0, 0, 1, NaN, 0, 0), 1), named('searchBatch(queries)', /row 1, column 1 is NaN/));
    assert.throws(() => ix.add(f32(1, 0, 0), [2]), named('add(vectors)', /length 3 is not labels.length \(1\) x dim \(4\)/));
    assert.throws(() => ix.add(f32(1, 0, NaN, 0), [2]), named('add(vectors)', /row 0, column 2 is NaN/));
    assert.throws(() => ix.add(f32(1, 0, 0, 0), [-1]), named('add(labels)', /labels\[0\] = -1 is not a non-negative int32/));
    assert.throws(() => ix.add(f32(1, 0, 0, 0, 1, 0, 0, 0), [3, 3]), named('add(labels)', /labels\[1\] = 3 appears twice/));
    assert.throws(() => ix.update(f32(1, 0), [0]), named('update(vectors)', /length 2/));
    assert.throws(() => ix.search(f32(1, 0, 0, 0), 1, { allow: [1, 1] as unknown as Uint8Array }), named('filter.allow', /Uint8Array/));
    assert.equal(ix.size, 2, 'failed calls change nothing');
    assert.deepEqual(Array.from(ix.search(f32(1, 0, 0, 0), 1).ids), [0], 'and the index still works');
  });
}
