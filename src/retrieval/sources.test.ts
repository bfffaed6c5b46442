import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetBuilder, generateSynthetic, parseSplit, splitDataset, type Dataset } from '../data/index.ts';
import { topKIndices } from '../math/index.ts';
import { ItemKnnSource, PopularitySource, userItemMatrix, type CandidateSource, type UserQuery } from './index.ts';

/** 4 users, 5 items, view (1) / buy (3) / dislike (negative), timestamps in days. */
function shop(): Dataset {
  const b = new DatasetBuilder({
    user: [],
    item: [],
    eventTypes: [
      { name: 'view', weight: 1, negative: false },
      { name: 'buy', weight: 3, negative: false },
      { name: 'dislike', weight: 1, negative: true },
    ],
  });
  const day = 86400;
  const rows: [string, string, number, number][] = [
    ['a', 'i0', 0, 0], ['a', 'i1', 1, 1], ['a', 'i0', 0, 2],
    ['b', 'i0', 0, 3], ['b', 'i2', 0, 4], ['b', 'i4', 2, 5],
    ['c', 'i1', 1, 10], ['c', 'i2', 0, 10], ['c', 'i3', 0, 9],
    ['d', 'i3', 0, 10],
  ];
  for (const [u, i, e, t] of rows) b.addInteraction(b.users.row(u), b.items.row(i), e, 1, t * day);
  return b.build();
}

/** The contract every CandidateSource keeps: n items at most, none excluded, best first, save/load identical. */
async function sourceContract(make: () => CandidateSource, load: (dir: string) => Promise<CandidateSource>, ds: Dataset): Promise<void> {
  const s = make();
  await s.fit(ds);
  const dir = await mkdtemp(join(tmpdir(), 'tandem-src-'));
  try {
    await s.save(dir);
    const t = await load(dir);
    for (let u = 0; u < Math.min(ds.numUsers, 40); u++) {
      const q = ds.query(u);
      const ex = new Set(q.history);
      for (const n of [1, 3, ds.numItems]) {
        const c = s.candidates(q, n, ex);
        assert.ok(c.items.length <= n && c.items.length === c.scores.length);
        assert.equal(new Set(c.items).size, c.items.length, 'no duplicates');
        for (const it of c.items) assert.ok(!ex.has(it) && it >= 0 && it < ds.numItems);
        for (let k = 1; k < c.scores.length; k++) assert.ok(c.scores[k] <= c.scores[k - 1], 'best first');
        const d = t.candidates(q, n, ex);
        assert.deepEqual(Array.from(d.items), Array.from(c.items), 'loaded source gives the same candidates');
      }
      // the whole catalog minus the exclusions is reachable (when the source has anything to go on:
      // a history-based source says nothing for a user without history)
      const all = s.candidates(q, ds.numItems, ex).items.length;
      assert.ok(all === ds.numItems - ex.size || (all === 0 && q.history.length === 0), `user ${u}: ${all} of ${ds.numItems - ex.size}`);
      // full-catalog scores (for AUC) rank exactly as candidates do
      const scorer = s as CandidateSource & { scoreAll?(q: UserQuery): Float32Array };
      if (scorer.scoreAll && all > 0) {
        const mask = new Uint8Array(ds.numItems);
        for (const it of ex) mask[it] = 1;
        const byScore = topKIndices(scorer.scoreAll(q), ds.numItems, mask);
        assert.deepEqual(Array.from(byScore), Array.from(s.candidates(q, ds.numItems, ex).items), `user ${u}: scoreAll order`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('popularity: weighted counts by hand, dislikes ignored, decay by half-life', () => {
  const ds = shop();
  const p = new PopularitySource();
  p.fit(ds);
  // indices by first appearance: i0 0, i1 1, i2 2, i4 3, i3 4
  // i0: 3 views = 3; i1: 2 buys = 6; i2: 2 views = 2; i4: dislike only = 0; i3: 2 views = 2
  assert.deepEqual(Array.from(p.scores), [3, 6, 2, 0, 2]);
  // ties (i2, i3 at 2) by index
  assert.deepEqual(Array.from(p.candidates(ds.query(0), 3, new Set([1])).items), [0, 2, 4]);
  const h = new PopularitySource({ halfLifeDays: 5 });
  h.fit(ds);
  // newest event at day 10; weight * 0.5^(age/5): i0 at days 0, 2, 3 -> 0.25 + 0.5^1.6 + 0.5^1.4
  const i0 = 0.25 + Math.pow(0.5, 1.6) + Math.pow(0.5, 1.4);
  // i1: buys at days 1, 10 -> 3 * 0.5^1.8 + 3; i3: views at days 9, 10 -> 0.5^0.2 + 1
  assert.ok(Math.abs(h.scores[0] - i0) < 1e-6);
  assert.ok(Math.abs(h.scores[1] - (3 * Math.pow(0.5, 1.8) + 3)) < 1e-6);
  assert.ok(Math.abs(h.scores[4] - (Math.pow(0.5, 0.2) + 1)) < 1e-6);
  assert.throws(() => new PopularitySource({ halfLifeDays: -1 }), /halfLifeDays/);
});

test('popularity: live events and new items keep the order a full sort of the scores gives (the binary-search observe against its reference)', () => {
  const ds = shop();
  const p = new PopularitySource();
  p.fit(ds);
  let seed = 7;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  let n = ds.numItems;
  const q = ds.query(0);
  for (let step = 0; step < 3000; step++) {
    const r = rand();
    if (r < 0.05) p.upsertItem(n++); // a new item enters last, with no events
    else {
      // integer and fractional weights: many ties, and moves past whole tie groups
      const item = Math.floor(rand() * (n + 2)); // sometimes an item beyond the catalog: it enters first
      if (item >= n) n = item + 1;
      p.observe(item, r < 0.6 ? 1 : r < 0.9 ? 3 : 0.5);
    }
    if (step % 97 === 0 || step === 2999) {
      const want = Array.from({ length: n }, (_, i) => i).sort((a, b) => p.scores[b] - p.scores[a] || a - b);
      assert.deepEqual(Array.from(p.candidates(q, n).items), want, `after step ${step}`);
    }
  }
  p.observe(0, 0); // no weight: no change
  p.observe(-1, 5);
});

test('CandidateSource contract: popularity and item-kNN', async () => {
  const ds = generateSynthetic({ users: 120, items: 80, interactions: 3000, seed: 3 });
  await sourceContract(() => new PopularitySource({ halfLifeDays: 10 }), (d) => PopularitySource.load(d), ds);
  await sourceContract(() => new ItemKnnSource({ neighbours: 10 }), (d) => ItemKnnSource.load(d), ds);
  await sourceContract(() => new ItemKnnSource({ neighbours: 500, value: 'log', shrink: 2, historyHalfLife: 5 }), (d) => ItemKnnSource.load(d), ds);
});

/** Dense reference: full cosine matrix, top-k per item, then score = sum over history of w * S'[h, j]. */
function referenceKnn(ds: Dataset, k: number, shrink: number): { sim: Float64Array; keep: Uint8Array } {
  const ni = ds.numItems;
  const { userOff, userItems, userVals } = userItemMatrix(ds, 'sum');
  const dense = new Float64Array(ds.numUsers * ni);
  for (let u = 0; u < ds.numUsers; u++) for (let q = userOff[u]; q < userOff[u + 1]; q++) dense[u * ni + userItems[q]] = userVals[q];
  const sim = new Float64Array(ni * ni);
  const norm = new Float64Array(ni);
  for (let i = 0; i < ni; i++) for (let u = 0; u < ds.numUsers; u++) norm[i] += dense[u * ni + i] ** 2;
  for (let i = 0; i < ni; i++) norm[i] = Math.sqrt(norm[i]);
  for (let i = 0; i < ni; i++) {
    for (let j = 0; j < ni; j++) {
      if (i === j) continue;
      let s = 0;
      for (let u = 0; u < ds.numUsers; u++) s += dense[u * ni + i] * dense[u * ni + j];
      sim[i * ni + j] = s === 0 ? 0 : s / (norm[i] * norm[j] + shrink);
    }
  }
  // keep[j * ni + i] = 1 when i is among j's k most similar (co-occurring) items, ties to the smaller index
  const keep = new Uint8Array(ni * ni);
  for (let j = 0; j < ni; j++) {
    const cands = Array.from({ length: ni }, (_, i) => i).filter((i) => i !== j && sim[j * ni + i] !== 0);
    cands.sort((a, b) => sim[j * ni + b] - sim[j * ni + a] || a - b);
    for (const i of cands.slice(0, k)) keep[j * ni + i] = 1;
  }
  return { sim, keep };
}

test('item-kNN agrees with a dense reference (cosine, top-k per candidate, signed history weights)', () => {
  const ds = generateSynthetic({ users: 60, items: 40, interactions: 900, seed: 11, negativeRate: 0.1 });
  for (const [k, shrink] of [[5, 0], [15, 3]]) {
    const knn = new ItemKnnSource({ neighbours: k, shrink });
    knn.fit(ds);
    const { sim, keep } = referenceKnn(ds, k, shrink);
    const ni = ds.numItems;
    for (let j = 0; j < ni; j++) {
      const s = knn.similarItems(j, k);
      for (let q = 0; q < s.items.length; q++) {
        assert.equal(keep[j * ni + s.items[q]], 1, `item ${s.items[q]} is among ${j}'s ${k} neighbours`);
        assert.ok(Math.abs(s.scores[q] - sim[j * ni + s.items[q]]) < 1e-5);
      }
    }
    for (let u = 0; u < ds.numUsers; u++) {
      const q = ds.query(u);
      const ex = new Set(q.history);
      const ref = new Float64Array(ni);
      for (let e = 0; e < q.history.length; e++) {
        for (let j = 0; j < ni; j++) if (keep[j * ni + q.history[e]]) ref[j] += q.weights![e] * sim[j * ni + q.history[e]];
      }
      const c = knn.candidates(q, ni, ex);
      const positives = Array.from({ length: ni }, (_, j) => j).filter((j) => !ex.has(j) && ref[j] > 1e-6);
      // the positively scored items come first, with the reference's scores
      for (let r = 0; r < positives.length; r++) assert.ok(Math.abs(c.scores[r] - ref[c.items[r]]) < 1e-4, `user ${u} rank ${r}`);
      assert.deepEqual(new Set(Array.from(c.items.subarray(0, positives.length))), new Set(positives));
    }
  }
});

test('item-kNN: a dislike subtracts, unknown history items are ignored', () => {
  const ds = shop();
  const knn = new ItemKnnSource({ neighbours: 4 });
  knn.fit(ds);
  const like = knn.candidates({ user: -1, history: Int32Array.from([2]), weights: Float32Array.from([1]) }, 5);
  const both = knn.candidates({ user: -1, history: Int32Array.from([2, 1]), weights: Float32Array.from([1, -1]) }, 5);
  const score = (c: { items: Int32Array; scores: Float32Array }, it: number) => c.scores[Array.from(c.items).indexOf(it)] ?? 0;
  // i0 co-occurs with i1 (user a) and i2 (user b): disliking i1 lowers i0
  assert.ok(score(both, 0) < score(like, 0));
  // no history item it knows: nothing to say (the engine's fallbacks answer such requests)
  const unknown = knn.candidates({ user: -1, history: Int32Array.from([99, -1]) }, 3);
  assert.equal(unknown.items.length, 0);
  assert.throws(() => new ItemKnnSource({ neighbours: 0 }), /neighbours/);
  assert.throws(() => new ItemKnnSource({ value: 'max' as never }), /value/);
});

test('item-kNN with worker threads gives exactly the single-thread neighbour lists', async () => {
  const ds = generateSynthetic({ users: 300, items: 150, interactions: 8000, seed: 13 });
  const one = new ItemKnnSource({ neighbours: 20, shrink: 1 });
  await one.fit(ds);
  const two = new ItemKnnSource({ neighbours: 20, shrink: 1, threads: 3 });
  const pending = two.fit(ds);
  assert.ok(pending instanceof Promise, 'threads > 1 runs in workers');
  await pending;
  assert.deepEqual(two.nbrOffsets, one.nbrOffsets);
  assert.deepEqual(two.nbrItems, one.nbrItems);
  assert.deepEqual(two.nbrSims, one.nbrSims);
  assert.deepEqual(two.contribItems, one.contribItems);
  assert.throws(() => new ItemKnnSource({ threads: 0 }), /threads/);
});
