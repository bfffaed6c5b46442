import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataset, DatasetBuilder } from '../../data/index.ts';
import { Rng } from '../../math/index.ts';
import type { UserQuery } from '../../data/index.ts';
import type { CandidateBlock } from '../../features/index.ts';
import { CONTENT_VECTOR_COLUMN, cosineNeighbours, inverseDocumentFrequency, RankerFeatures, RECENT_VECTOR_COLUMN, transitionNeighbours } from './features.ts';
import { assembleRankerData, concatSets, labelWindowStarts, splitGroups, splitGroupsByTime, splitUserTime } from './training.ts';
import { explainedColumns, Ranker } from './ranker.ts';
import type { RankerModel } from '../model/model.ts';

const DAY = 86400;

/** A seeded random dataset: 30 users, 40 items with a genre bag and a year, events over 60 days. */
function randomDataset(seed = 1): Dataset {
  const rng = new Rng(seed);
  const b = new DatasetBuilder({
    user: [{ name: 'age', kind: 'numeric' }],
    item: [
      { name: 'genres', kind: 'multi-categorical' },
      { name: 'year', kind: 'numeric' },
    ],
    eventTypes: [],
  });
  const G = ['a', 'b', 'c', 'd', 'e'];
  for (let i = 0; i < 40; i++) {
    const r = b.items.row(`i${i}`);
    b.items.set(r, 'genres', [G[i % 5], G[((i % 5) + 1 + ((i >> 2) % 4)) % 5]].join('|')); // two distinct genres
    b.items.set(r, 'year', 1990 + (i % 10));
  }
  for (let u = 0; u < 30; u++) {
    const r = b.users.row(`u${u}`);
    b.users.set(r, 'age', 20 + u);
    const n = 5 + rng.int(20);
    const taste = rng.int(5);
    const seen = new Set<number>();
    for (let k = 0; k < n; k++) {
      const it = rng.next() < 0.6 ? taste + 5 * rng.int(8) : rng.int(40);
      if (seen.has(it)) continue;
      seen.add(it);
      b.addInteraction(r, it, 0, 1 + rng.int(5), 1e9 + rng.int(60 * DAY));
    }
  }
  return b.build();
}

function sequences(ds: Dataset): number[][] {
  const { offsets, rows } = ds.byUser();
  const out: number[][] = [];
  for (let u = 0; u < ds.numUsers; u++) out.push(Array.from(rows.subarray(offsets[u], offsets[u + 1]), (r) => ds.interactions.item[r]));
  return out;
}

function csr(seqs: number[][]): { offsets: Int32Array; items: Int32Array } {
  const offsets = new Int32Array(seqs.length + 1);
  seqs.forEach((s, u) => (offsets[u + 1] = offsets[u] + s.length));
  return { offsets, items: Int32Array.from(seqs.flat()) };
}

/** The slow, obvious cosine: set intersections. */
function cosineRef(seqs: number[][], i: number, j: number): number {
  if (i === j) return 0; // an item is not its own neighbour
  const ui = seqs.filter((s) => s.includes(i)).length;
  const uj = seqs.filter((s) => s.includes(j)).length;
  const both = seqs.filter((s) => s.includes(i) && s.includes(j)).length;
  return both === 0 ? 0 : both / Math.sqrt(ui * uj);
}

/** The slow, obvious transition weight P(j | i) with window w. */
function transitionRef(seqs: number[][], i: number, j: number, w: number): number {
  let num = 0;
  let den = 0;
  for (const s of seqs) {
    for (let q = 0; q < s.length; q++) {
      if (s[q] !== i) continue;
      if (q + 1 < s.length) den++;
      for (let p = q + 1; p < Math.min(s.length, q + 1 + w); p++) if (s[p] === j && j !== i) num += 1 / (p - q);
    }
  }
  return den === 0 ? 0 : num / den;
}

test('cosine and transition neighbour lists agree with the set-intersection and sequence-scan references', () => {
  const ds = randomDataset(2);
  const seqs = sequences(ds);
  const cos = cosineNeighbours(csr(seqs), 40, 40);
  const tr = transitionNeighbours(csr(seqs), 40, 40, 3);
  for (let i = 0; i < 40; i++) {
    const got = new Map<number, number>();
    for (let q = cos.offsets[i]; q < cos.offsets[i + 1]; q++) got.set(cos.ids[q], cos.weights[q]);
    const gotT = new Map<number, number>();
    for (let q = tr.offsets[i]; q < tr.offsets[i + 1]; q++) gotT.set(tr.ids[q], tr.weights[q]);
    for (let j = 0; j < 40; j++) {
      if (j === i) continue;
      assert.ok(Math.abs((got.get(j) ?? 0) - cosineRef(seqs, i, j)) < 1e-6, `cos(${i},${j})`);
      assert.ok(Math.abs((gotT.get(j) ?? 0) - transitionRef(seqs, i, j, 3)) < 1e-6, `trans(${i},${j})`);
    }
    for (let q = cos.offsets[i] + 1; q < cos.offsets[i + 1]; q++) assert.ok(cos.weights[q - 1] >= cos.weights[q]);
  }
  // top-k truncation keeps the best
  const top2 = cosineNeighbours(csr(seqs), 40, 2);
  for (let i = 0; i < 40; i++) {
    assert.ok(top2.offsets[i + 1] - top2.offsets[i] <= 2);
    if (top2.offsets[i + 1] > top2.offsets[i]) assert.equal(top2.weights[top2.offsets[i]], cos.weights[cos.offsets[i]]);
  }
});

function queryOf(ds: Dataset, u: number): UserQuery {
  const { offsets, rows } = ds.byUser();
  const r = rows.subarray(offsets[u], offsets[u + 1]);
  return { user: u, history: Int32Array.from(r, (k) => ds.interactions.item[k]), timestamps: Float64Array.from(r, (k) => ds.interactions.timestamp[k]) };
}

function block(items: number[], sources = ['a', 'b']): CandidateBlock {
  const S = sources.length;
  const scores = new Float32Array(items.length * S).fill(NaN);
  const ranks = new Float32Array(items.length * S).fill(NaN);
  items.forEach((_, c) => {
    scores[c * S] = 10 - c;
    ranks[c * S] = c;
  });
  return { sources, count: items.length, items: Int32Array.from(items), scores, ranks, position: Int32Array.from(items, (_, c) => c), foundBy: new Int32Array(items.length), fused: Float32Array.from(items, (_, c) => items.length - c) };
}

test('extracted rows match per-feature references computed the slow way', () => {
  const ds = randomDataset(3);
  const seqs = sequences(ds);
  const rf = RankerFeatures.fit(ds, ['a', 'b'], { neighbours: 40, recentItems: 3, halfLife: 2, transitionWindow: 2 });
  assert.equal(rf.names.length, rf.width);
  assert.equal(new Set(rf.names).size, rf.width, 'column names are unique');
  const col = (name: string): number => {
    const k = rf.names.indexOf(name);
    assert.ok(k >= 0, `column ${name}`);
    return k;
  };
  const items = Array.from({ length: 40 }, (_, i) => i);
  const out = new Float32Array((items.length + 2) * rf.width).fill(-7);
  for (const u of [0, 5, 17]) {
    const q = queryOf(ds, u);
    const h = Array.from(q.history);
    const now = q.timestamps![h.length - 1];
    rf.extract(q, block(items), out, 2);
    assert.ok(out.subarray(0, 2 * rf.width).every((v) => v === -7), 'rows before rowOffset untouched');
    const W = rf.width;
    const rev = [...h].reverse();
    for (const it of items) {
      const row = out.subarray((2 + it) * W, (3 + it) * W);
      const sims = rev.map((j) => cosineRef(seqs, j, it));
      const near = (name: string, want: number) => assert.ok(Math.abs(row[col(name)] - want) < 1e-5 || (Number.isNaN(want) && Number.isNaN(row[col(name)])), `user ${u} item ${it} ${name}: ${row[col(name)]} vs ${want}`);
      near('sim_last', sims[0]);
      near('sim_max_recent', Math.max(...sims.slice(0, 3)));
      near('sim_mean_recent', sims.slice(0, 3).reduce((s, v) => s + v, 0) / Math.min(3, h.length));
      near('sim_decay', sims.reduce((s, v, k) => s + v * 0.5 ** (k / 2), 0));
      near('sim_mean_all', sims.reduce((s, v) => s + v, 0) / h.length);
      near('trans_last', transitionRef(seqs, rev[0], it, 2));
      near('trans_recent', transitionRef(seqs, rev[0], it, 2) + (rev.length > 1 ? transitionRef(seqs, rev[1], it, 2) / 2 : 0));
      near('u_events', h.length);
      near('u_age', 20 + u);
      // item time statistics against a scan of the log
      const x = ds.interactions;
      let total = 0;
      let before = 0;
      let in7 = 0;
      let in30 = 0;
      for (let r = 0; r < x.length; r++) {
        if (x.item[r] !== it) continue;
        total++;
        if (x.timestamp[r] <= now) {
          before++;
          if (x.timestamp[r] > now - 7 * DAY) in7++;
          if (x.timestamp[r] > now - 30 * DAY) in30++;
        }
      }
      near('i_pop_total', total);
      near('i_pop_before', before);
      near('i_pop_7d', in7);
      near('i_pop_30d', in30);
      // genre overlap: user's count of history items sharing each of the item's genres
      const genres = ds.items.column('genres')!;
      if (genres.kind !== 'multi-categorical') throw new Error('fixture');
      const codes = (i: number) => Array.from(genres.codes.subarray(genres.offsets[i], genres.offsets[i + 1]));
      const mine = codes(it);
      const counts = mine.map((g) => h.filter((j) => codes(j).includes(g)).length);
      near('x_genres_count', counts.reduce((s, v) => s + v, 0));
      near('x_genres_share', Math.max(...counts) / h.length);
      near('l1_a_rank', it);
      near('l1_a_rel', (10 - it) / 10);
      assert.ok(Number.isNaN(row[col('l1_b_score')]));
      near('l1_found', 1);
      near('i_year', 1990 + (it % 10));
    }
  }
  assert.throws(() => rf.extract(queryOf(ds, 0), block([1], ['b', 'a']), out), /L1 sources/);
});

test('extraction is request-independent: scratch is cleared between requests', () => {
  const ds = randomDataset(4);
  const rf = RankerFeatures.fit(ds, ['a']);
  const items = [1, 2, 3, 30];
  const a = new Float32Array(items.length * rf.width);
  const b = new Float32Array(items.length * rf.width);
  rf.extract(queryOf(ds, 3), block(items, ['a']), a);
  rf.extract(queryOf(ds, 9), block(items, ['a']), b);
  rf.extract(queryOf(ds, 3), block(items, ['a']), b);
  assert.deepEqual(Array.from(b), Array.from(a));
});

test('splitUserTime puts each user\'s last events in the later part, in time order', () => {
  const ds = randomDataset(5);
  const { earlier, later } = splitUserTime(ds, 0.25);
  assert.equal(earlier.interactions.length + later.interactions.length, ds.interactions.length);
  const e = earlier.byUser();
  const l = later.byUser();
  for (let u = 0; u < ds.numUsers; u++) {
    const ne = e.offsets[u + 1] - e.offsets[u];
    const nl = l.offsets[u + 1] - l.offsets[u];
    assert.equal(nl, ne + nl < 2 ? 0 : Math.min(ne + nl - 1, Math.max(1, Math.round((ne + nl) * 0.25))));
    if (nl > 0 && ne > 0) {
      const lastEarly = earlier.interactions.timestamp[e.rows[e.offsets[u + 1] - 1]];
      const firstLate = later.interactions.timestamp[l.rows[l.offsets[u]]];
      assert.ok(lastEarly <= firstLate);
    }
  }
  assert.throws(() => splitUserTime(ds, 1), /fraction/);
});

test('splitGroupsByTime: the groups whose label window starts latest are the validation part (ties: the later group), each part in order; label window starts are each user\'s first later event', () => {
  const ds = randomDataset(8);
  const { earlier, later } = splitUserTime(ds, 0.3);
  const rf = RankerFeatures.fit(earlier, ['a']);
  const { set } = assembleRankerData({ features: rf, labels: later, requestOf: (u) => ({ query: queryOf(earlier, u), block: block([u % 40, (u + 3) % 40, (u + 11) % 40], ['a']) }), negativesPerPositive: 0, keepGroupsWithoutPositive: true, seed: 1 });
  const G = set.groups.length - 1;
  const starts = labelWindowStarts(later, set.groupUsers);
  // the slow way: each group user's later events scanned for the earliest
  for (let g = 0; g < G; g++) {
    let first = Infinity;
    for (let r = 0; r < later.interactions.length; r++) if (later.interactions.user[r] === set.groupUsers[g]) first = Math.min(first, later.interactions.timestamp[r]);
    assert.equal(starts[g], first === Infinity ? NaN : first);
  }
  const times = Float64Array.from(starts, (t, g) => (g % 4 === 0 ? 5000 : t)); // ties on purpose
  const { train, valid } = splitGroupsByTime(set, times, 0.25);
  const nValid = Math.round(G * 0.25);
  assert.equal(valid.groups.length - 1, nValid);
  assert.equal(train.nRows + valid.nRows, set.nRows);
  // the slow way: sort every group by (time, index) descending and take the first nValid
  const expected = Array.from({ length: G }, (_, g) => g).sort((a, b) => times[b] - times[a] || b - a).slice(0, nValid).sort((a, b) => a - b);
  assert.deepEqual(Array.from(valid.groupUsers), expected.map((g) => set.groupUsers[g]));
  const trainGroups = Array.from({ length: G }, (_, g) => g).filter((g) => !expected.includes(g));
  assert.deepEqual(Array.from(train.groupUsers), trainGroups.map((g) => set.groupUsers[g]));
  const latestTrain = Math.max(...trainGroups.map((g) => times[g]));
  assert.ok(expected.every((g) => times[g] >= latestTrain), 'every validation group starts no earlier than any train group');
  // rows travel with their group
  const g0 = expected[0];
  assert.deepEqual(Array.from(valid.labels.subarray(0, valid.groups[1])), Array.from(set.labels.subarray(set.groups[g0], set.groups[g0 + 1])));
  // a group without a time counts as the earliest: never validation while timed groups are left
  const withNaN = Float64Array.from(times);
  withNaN[expected[0]] = NaN;
  assert.equal(new Set(set.groupUsers).size, G, 'one group per user (one label window)');
  assert.ok(!Array.from(splitGroupsByTime(set, withNaN, 0.25).valid.groupUsers).includes(set.groupUsers[expected[0]]), 'the NaN group goes to train');
  assert.throws(() => splitGroupsByTime(set, times.subarray(1), 0.2), /group times for/);
});

test('assembled training data: labels from the later part only, recall reported, negatives sampled per user', () => {
  const ds = randomDataset(6);
  const { earlier, later } = splitUserTime(ds, 0.3);
  const rf = RankerFeatures.fit(earlier, ['a']);
  // candidates: every item the user has not seen in the earlier part
  const requestOf = (u: number) => {
    const query = queryOf(earlier, u);
    return { query, block: block(Array.from({ length: 40 }, (_, i) => i).filter((i) => !query.history.includes(i)), ['a']) };
  };
  const base = { features: rf, labels: later, requestOf, keepGroupsWithoutPositive: false, seed: 1 };
  const { set, report } = assembleRankerData({ ...base, negativesPerPositive: 0 });
  assert.equal(report.recall, 1, 'every unseen item is a candidate');
  assert.equal(report.positives, report.labelItems);
  assert.equal(set.features.length, set.nRows * set.nFeatures);
  const popCol = set.featureNames.indexOf('i_pop_total');
  const earlyCounts = earlier.itemCounts();
  const lb = later.byUser();
  for (let g = 0; g < set.groupUsers.length; g++) {
    const u = set.groupUsers[g];
    const labelItems = new Set(Array.from(lb.rows.subarray(lb.offsets[u], lb.offsets[u + 1]), (r) => later.interactions.item[r]));
    for (let r = set.groups[g]; r < set.groups[g + 1]; r++) {
      assert.equal(set.labels[r], labelItems.has(set.items[r]) ? 1 : 0);
      // features see only the earlier part: the label interactions are not in the item's popularity
      assert.equal(set.features[r * set.nFeatures + popCol], earlyCounts[set.items[r]]);
    }
  }
  const sampled = assembleRankerData({ ...base, negativesPerPositive: 2 }).set;
  for (let g = 0; g < sampled.groups.length - 1; g++) {
    let pos = 0;
    let neg = 0;
    for (let r = sampled.groups[g]; r < sampled.groups[g + 1]; r++) (sampled.labels[r] ? pos++ : neg++);
    assert.ok(pos >= 1 && neg <= 2 * pos);
  }
  const { train, valid } = splitGroups(set, 0.25, 3);
  assert.equal(train.nRows + valid.nRows, set.nRows);
  assert.equal(valid.groups.length - 1, Math.round((set.groups.length - 1) * 0.25));
  assert.equal(new Set([...train.groupUsers, ...valid.groupUsers]).size, set.groupUsers.length);
  // two windows of the same users: concatenated, and a user's groups never straddle train and valid
  const both = concatSets([set, sampled]);
  assert.equal(both.nRows, set.nRows + sampled.nRows);
  assert.equal(both.groups.length - 1, set.groups.length - 1 + sampled.groups.length - 1);
  assert.deepEqual(Array.from(both.labels.subarray(set.nRows)), Array.from(sampled.labels));
  const split = splitGroups(both, 0.3, 5);
  const vu = new Set(split.valid.groupUsers);
  assert.ok(split.train.groupUsers.every((u) => !vu.has(u)));
  assert.equal(split.train.nRows + split.valid.nRows, both.nRows);
});

test('on order-only time (positions within each user) the day-based columns are left out, the rest extracted unchanged', () => {
  const ds = randomDataset(5);
  const ordered = new Dataset(ds.users, ds.items, ds.interactions, ds.eventTypes, 'ordered', 'order');
  const timed = RankerFeatures.fit(ds, ['a', 'b']);
  const untimed = RankerFeatures.fit(ordered, ['a', 'b']);
  assert.equal(timed.timed, true);
  assert.equal(untimed.timed, false);
  const dropped = timed.names.filter((n) => !untimed.names.includes(n));
  assert.deepEqual(dropped.sort(), ['i_age_days', 'i_days_since_last', 'i_pop_30d', 'i_pop_7d', 'i_pop_before', 'i_trend', 'u_events_7d', 'u_span_days', ...timed.names.filter((n) => /^x_.*_days_since$/.test(n))].sort());
  const items = Array.from({ length: 12 }, (_, i) => i * 3);
  const a = new Float32Array(items.length * timed.width);
  const b = new Float32Array(items.length * untimed.width);
  for (const u of [1, 4, 9]) {
    const q = queryOf(ds, u);
    timed.extract(q, block(items), a, 0);
    untimed.extract(q, block(items), b, 0);
    for (let c = 0; c < items.length; c++) {
      untimed.names.forEach((name, k) => {
        const want = a[c * timed.width + timed.names.indexOf(name)];
        const got = b[c * untimed.width + k];
        assert.ok(Object.is(want, got), `user ${u} item ${items[c]} ${name}: ${got} vs ${want}`);
      });
    }
  }
});

test('id columns: id_user and id_item carry the codes (NaN outside the tables), marked embed-only, the other columns unchanged', () => {
  const ds = randomDataset(5);
  const plain = RankerFeatures.fit(ds, ['a']);
  const both = RankerFeatures.fit(ds, ['a'], { ids: 'both' });
  const item = RankerFeatures.fit(ds, ['a'], { ids: 'item' });
  assert.deepEqual(both.names, [...plain.names, 'id_user', 'id_item']);
  assert.deepEqual(item.names, [...plain.names, 'id_item']);
  assert.deepEqual(Array.from(both.cardinalities.slice(-2)), [ds.numUsers, ds.numItems]);
  assert.deepEqual(Array.from(both.embedOnly), [...plain.names.map(() => 0), 1, 1]);
  assert.ok(plain.embedOnly.every((v) => v === 0));
  const items = [1, 2, ds.numItems + 3];
  const a = new Float32Array(items.length * plain.width);
  const b = new Float32Array(items.length * both.width);
  plain.extract(queryOf(ds, 3), block(items, ['a']), a);
  both.extract(queryOf(ds, 3), block(items, ['a']), b);
  const W = plain.width;
  for (let c = 0; c < items.length; c++) {
    assert.deepEqual(Array.from(b.subarray(c * (W + 2), c * (W + 2) + W)), Array.from(a.subarray(c * W, (c + 1) * W)));
    assert.equal(b[c * (W + 2) + W], 3);
    assert.ok(c < 2 ? b[c * (W + 2) + W + 1] === items[c] : Number.isNaN(b[c * (W + 2) + W + 1]), 'an item outside the fitted catalog is missing');
  }
  const unknown = new Float32Array(items.length * both.width);
  both.extract({ ...queryOf(ds, 3), user: -1 }, block(items, ['a']), unknown);
  assert.ok(Number.isNaN(unknown[W]), 'an unknown user is missing');
});

/** A toy embedding space: a random vector per item, the user's vector the sum of their history's (NaN-free). */
function toySpace(ds: Dataset, dim: number, seed: number, rotate?: Float64Array) {
  const rng = new Rng(seed);
  const raw = Float32Array.from({ length: ds.numItems * dim }, () => rng.normal() * (1 + rng.next()));
  const turn = (v: Float32Array, n: number): Float32Array => {
    if (!rotate) return v;
    const out = new Float32Array(v.length);
    for (let i = 0; i < n; i++) for (let a = 0; a < dim; a++) {
      let z = 0;
      for (let b = 0; b < dim; b++) z += rotate[a * dim + b] * v[i * dim + b];
      out[i * dim + a] = z;
    }
    return out;
  };
  const items = turn(raw, ds.numItems);
  return {
    itemVectors: () => items,
    userVector(q: UserQuery, out: Float32Array): boolean {
      if (q.history.length === 0) return false;
      const u = new Float32Array(dim);
      for (const it of q.history) for (let d = 0; d < dim; d++) u[d] += raw[it * dim + d] * 0.25;
      out.set(turn(u, 1));
      return true;
    },
  };
}

test('vector columns: vec_j = user · item on the j-th main axis of the item vectors; over every axis they sum to u·v; deep-only; NaN without a vector; unchanged by a rotation of the space', () => {
  const ds = randomDataset(6);
  const dim = 6;
  const space = toySpace(ds, dim, 3);
  const plain = RankerFeatures.fit(ds, ['a']);
  assert.throws(() => RankerFeatures.fit(ds, ['a'], { vectors: 'tt' }), /vectors: source 'tt' has no embedding space/);
  const all = RankerFeatures.fit(ds, ['a'], { vectors: 'tt', vectorDims: 64 }, space);
  const three = RankerFeatures.fit(ds, ['a'], { vectors: 'tt', vectorDims: 3 }, space);
  assert.deepEqual(all.names, [...plain.names, ...Array.from({ length: dim }, (_, j) => `vec_${j}`)]);
  assert.deepEqual(three.names, [...plain.names, 'vec_0', 'vec_1', 'vec_2']);
  assert.deepEqual(Array.from(three.embedOnly), [...plain.names.map(() => 0), 2, 2, 2]);
  assert.ok(Array.from(three.cardinalities.slice(-3)).every((c) => c === 0), 'numbers, not codes');
  const q = queryOf(ds, 4);
  const items = [0, 7, 19, ds.numItems + 2];
  const W = plain.width;
  const a = new Float32Array(items.length * plain.width);
  const x = new Float32Array(items.length * all.width);
  const y = new Float32Array(items.length * three.width);
  plain.extract(q, block(items, ['a']), a);
  all.extract(q, block(items, ['a']), x);
  three.extract(q, block(items, ['a']), y);
  const u = new Float32Array(dim);
  space.userVector(q, u);
  const v = space.itemVectors();
  for (let c = 0; c < items.length; c++) {
    assert.deepEqual(Array.from(x.subarray(c * all.width, c * all.width + W)), Array.from(a.subarray(c * W, (c + 1) * W)), 'the other columns unchanged');
    const vec = Array.from(x.subarray(c * all.width + W, (c + 1) * all.width));
    assert.deepEqual(Array.from(y.subarray(c * three.width + W, (c + 1) * three.width)), vec.slice(0, 3), 'the first k axes are the same');
    if (c === 3) {
      assert.ok(vec.every((z) => Number.isNaN(z)), 'an item outside the fitted catalog is missing');
      continue;
    }
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += u[d] * v[items[c] * dim + d];
    const sum = vec.reduce((s, z) => s + z, 0);
    assert.ok(Math.abs(sum - dot) < 1e-4 * (1 + Math.abs(dot)), `item ${items[c]}: the axis products sum to ${sum}, u·v = ${dot}`);
  }
  // a user with nothing to embed: missing
  const none = new Float32Array(items.length * three.width);
  three.extract({ ...q, history: new Int32Array(0), weights: undefined, timestamps: undefined }, block(items, ['a']), none);
  assert.ok(Number.isNaN(none[W]) && Number.isNaN(none[W + 2]));
  // the same space rotated (a random orthogonal matrix, by Gram-Schmidt): the same columns up to float rounding
  const rng = new Rng(9);
  const Q = Float64Array.from({ length: dim * dim }, () => rng.normal());
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j < i; j++) {
      let p = 0;
      for (let d = 0; d < dim; d++) p += Q[i * dim + d] * Q[j * dim + d];
      for (let d = 0; d < dim; d++) Q[i * dim + d] -= p * Q[j * dim + d];
    }
    let n = 0;
    for (let d = 0; d < dim; d++) n += Q[i * dim + d] ** 2;
    for (let d = 0; d < dim; d++) Q[i * dim + d] /= Math.sqrt(n);
  }
  const turned = RankerFeatures.fit(ds, ['a'], { vectors: 'tt', vectorDims: 3 }, toySpace(ds, dim, 3, Q));
  const z = new Float32Array(items.length * three.width);
  turned.extract(q, block(items, ['a']), z);
  for (let c = 0; c < 3; c++) for (let j = 0; j < 3; j++) {
    const want = y[c * three.width + W + j];
    const got = z[c * three.width + W + j];
    assert.ok(Math.abs(want - got) < 1e-3 * (1 + Math.abs(want)), `item ${items[c]}, vec_${j}: ${want} unrotated, ${got} rotated`);
  }
});

test('explanations report the vec_* axis products as one entry, vec_<source> (their sum), where the first of them stands', () => {
  assert.deepEqual(explainedColumns(['a', 'vec_0', 'b', 'vec_1'], Uint8Array.of(0, 2, 0, 2), 'tt'), { names: ['a', 'vec_tt', 'b'], columns: [[0], [1, 3], [2]] });
  assert.deepEqual(explainedColumns(['a', 'vec_0'], Uint8Array.of(0, 0), null), { names: ['a', 'vec_0'], columns: [[0], [1]] }, 'no vector columns: names as they are');
  const ds = randomDataset(6);
  const features = RankerFeatures.fit(ds, ['a'], { vectors: 'tt', vectorDims: 3 }, toySpace(ds, 6, 3));
  const W = features.width;
  // each feature contributes 1 / (its column + 1), except the three vec_* columns, 0.3 each: alone each is
  // below the first columns, together (0.9) above every other but the first (1)
  const model: RankerModel = {
    kind: 'stub',
    nFeatures: W,
    predict: (_x, n, out) => out.fill(0.5, 0, n),
    contributions: (_x, _row, out) => {
      for (let f = 0; f < W; f++) out[f] = features.names[f].startsWith('vec_') ? 0.3 : 1 / (f + 1);
      out[W] = 0;
    },
    save: async () => {},
    summary: () => ({}),
  };
  const r = new Ranker(features, model, 3);
  r.rank(queryOf(ds, 4), block([0, 7], ['a']));
  assert.deepEqual(r.explain(1), [
    { feature: features.names[0], contribution: 1 },
    { feature: 'vec_tt', contribution: 0.9 },
    { feature: features.names[1], contribution: 0.5 },
  ]);
});

test('rank scores a request through the model\'s predictRequest where it has one (the cascade\'s path), predict otherwise', () => {
  const ds = randomDataset(6);
  const features = RankerFeatures.fit(ds, ['a']);
  const calls: string[] = [];
  const model: RankerModel = {
    kind: 'stub',
    nFeatures: features.width,
    predict: (_x, n, out) => {
      calls.push(`predict ${n}`);
      out.fill(0.25, 0, n);
    },
    save: async () => {},
    summary: () => ({}),
  };
  assert.deepEqual(Array.from(new Ranker(features, model).rank(queryOf(ds, 4), block([0, 7], ['a']))), [0.25, 0.25]);
  model.predictRequest = (_x, n, out) => {
    calls.push(`request ${n}`);
    out.fill(0.75, 0, n);
  };
  assert.deepEqual(Array.from(new Ranker(features, model).rank(queryOf(ds, 4), block([0, 7, 3], ['a']))), [0.75, 0.75, 0.75]);
  assert.deepEqual(calls, ['predict 2', 'request 3']);
});

test('bag columns: the candidate\'s first k codes, the user\'s k heaviest codes (recency-weighted), the last m items; embed-only, grouped into bags sharing tables, explained as one entry each', () => {
  const ds = randomDataset(7);
  const plain = RankerFeatures.fit(ds, ['a'], { ids: 'item' });
  const f = RankerFeatures.fit(ds, ['a'], { ids: 'item', bagSlots: 2, history: 3, halfLife: 2 });
  const W0 = plain.width;
  assert.deepEqual(f.names.slice(W0), ['bag_genres_0', 'bag_genres_1', 'ubag_genres_0', 'ubag_genres_1', 'hist_0', 'hist_1', 'hist_2']);
  assert.deepEqual(f.names.slice(0, W0), plain.names, 'the other columns unchanged');
  const genres = ds.items.column('genres');
  assert.ok(genres?.kind === 'multi-categorical');
  const at = (n: string) => f.names.indexOf(n);
  assert.deepEqual(Array.from(f.cardinalities.slice(W0)), [...Array(4).fill(genres.vocab.size), ...Array(3).fill(ds.numItems)]);
  assert.ok(Array.from(f.embedOnly.slice(W0)).every((v) => v === 1));
  const { pool, table } = f.embedGroups;
  assert.deepEqual(Array.from(pool.slice(W0)), [W0, W0, W0 + 2, W0 + 2, W0 + 4, W0 + 4, W0 + 4]);
  assert.deepEqual(Array.from(table.slice(W0)), [W0, W0, W0, W0, at('id_item'), at('id_item'), at('id_item')], "the user's bag reads the item bag's table, the history id_item's");
  assert.equal(pool[at('id_item')], at('id_item'));
  assert.equal(pool[0], -1, 'a numeric column is in no bag');

  const u = 5;
  const q = queryOf(ds, u);
  const items = [3, 8, ds.numItems + 1];
  const out = new Float32Array(items.length * f.width);
  f.extract(q, block(items, ['a']), out);
  // the slow way: weights 0.5^(position among positives, newest first / halfLife) per genre code
  const weight = new Map<number, number>();
  const h = Array.from(q.history);
  h.reverse().forEach((it, pos) => {
    for (let k = genres.offsets[it]; k < genres.offsets[it + 1]; k++) weight.set(genres.codes[k], (weight.get(genres.codes[k]) ?? 0) + Math.pow(0.5, pos / 2));
  });
  const top = [...weight.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 2).map((e) => e[0]);
  items.forEach((it, c) => {
    const row = Array.from(out.subarray(c * f.width + W0, (c + 1) * f.width));
    const own = it < ds.numItems ? Array.from(genres.codes.subarray(genres.offsets[it], genres.offsets[it] + 2)) : [NaN, NaN];
    assert.deepEqual(row.slice(0, 2), own, `item ${it}: its first codes (missing outside the catalog)`);
    assert.deepEqual(row.slice(2, 4), top, "the user's heaviest codes");
    assert.deepEqual(row.slice(4), h.slice(0, 3), 'the last items, newest first');
  });
  // an empty history: every user slot missing; and nothing leaks into the next request
  const none = new Float32Array(f.width);
  f.extract({ user: u, history: new Int32Array(0), timestamps: new Float64Array(0) }, block([3], ['a']), none);
  assert.ok(Array.from(none.subarray(W0 + 2)).every(Number.isNaN));
  const again = new Float32Array(items.length * f.width);
  f.extract(q, block(items, ['a']), again);
  assert.deepEqual(Array.from(again), Array.from(out));

  // weights that underflow (a long history against a short half-life) still count each code once
  const steep = RankerFeatures.fit(ds, ['a'], { bagSlots: 4, halfLife: 0.001 });
  const sw = new Float32Array(steep.width);
  steep.extract(q, block([3], ['a']), sw);
  const ub = Array.from(sw.subarray(steep.names.indexOf('ubag_genres_0'), steep.names.indexOf('ubag_genres_0') + 4)).filter((v) => !Number.isNaN(v));
  assert.equal(new Set(ub).size, ub.length, `no code twice: ${ub}`);
  const newest = h[0];
  assert.deepEqual(ub.slice(0, 2).sort(), Array.from(genres.codes.subarray(genres.offsets[newest], genres.offsets[newest + 1])).sort(), "the newest item's codes first");

  // bagColumns names the columns read; a column that is no bag is refused, naming the ones that are
  assert.deepEqual(RankerFeatures.fit(ds, ['a'], { bagSlots: 1, bagColumns: ['genres'] }).names.filter((n) => n.includes('bag_')), ['bag_genres_0', 'ubag_genres_0']);
  assert.throws(() => RankerFeatures.fit(ds, ['a'], { bagSlots: 1, bagColumns: ['year'] }), /bagColumns: 'year' is not a multi-categorical or text item column \(they are: genres\)/);

  const ex = explainedColumns(f.names, f.embedOnly, null, pool);
  assert.deepEqual(ex.names.slice(-3), ['bag_genres', 'ubag_genres', 'hist']);
  assert.deepEqual(ex.columns.slice(-3), [[W0, W0 + 1], [W0 + 2, W0 + 3], [W0 + 4, W0 + 5, W0 + 6]]);
  assert.deepEqual(ex.names.slice(0, -3), plain.names);
});

test("bagUserWeight tfidf: the user's bag ranks codes by recency-weighted count times the catalog's smoothed idf (the slow way agrees); count is the default", () => {
  const ds = randomDataset(7);
  const genres = ds.items.column('genres');
  assert.ok(genres?.kind === 'multi-categorical');
  // the idf against a count over the catalog, a code twice on one item counted once
  const n = ds.numItems;
  const idf = inverseDocumentFrequency(genres.offsets, genres.codes, genres.vocab.size, n);
  for (let c = 0; c < genres.vocab.size; c++) {
    let df = 0;
    for (let i = 0; i < n; i++) if (Array.from(genres.codes.subarray(genres.offsets[i], genres.offsets[i + 1])).includes(c)) df++;
    assert.ok(Math.abs(idf[c] - (Math.log((1 + n) / (1 + df)) + 1)) < 1e-6, `code ${c}`);
  }
  assert.deepEqual(Array.from(inverseDocumentFrequency(Int32Array.of(0, 2, 3), Int32Array.of(1, 1, 0), 3, 2)), [Math.fround(Math.log(3 / 2) + 1), Math.fround(Math.log(3 / 2) + 1), Math.fround(Math.log(3) + 1)]);

  const f = RankerFeatures.fit(ds, ['a'], { bagSlots: 3, halfLife: 2, bagUserWeight: 'tfidf' });
  const counted = RankerFeatures.fit(ds, ['a'], { bagSlots: 3, halfLife: 2 });
  let differs = 0;
  for (let u = 0; u < ds.numUsers; u++) {
    const q = queryOf(ds, u);
    const weight = new Map<number, number>();
    Array.from(q.history).reverse().forEach((it, pos) => {
      for (let k = genres.offsets[it]; k < genres.offsets[it + 1]; k++) weight.set(genres.codes[k], (weight.get(genres.codes[k]) ?? 0) + Math.pow(0.5, pos / 2));
    });
    const scored = [...weight.entries()].map(([c, w]) => [c, Math.fround(Math.fround(w) * idf[c])] as const);
    const top = scored.sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 3).map((e) => e[0]);
    const row = new Float32Array(f.width);
    f.extract(q, block([3], ['a']), row);
    const at = f.names.indexOf('ubag_genres_0');
    assert.deepEqual(Array.from(row.subarray(at, at + 3)).filter((v) => !Number.isNaN(v)), top, `user ${u}`);
    const plain = new Float32Array(counted.width);
    counted.extract(q, block([3], ['a']), plain);
    if (Array.from(plain).some((v, j) => !Object.is(v, row[j]))) differs++;
  }
  assert.ok(differs > 0, 'some user picks other codes than by count alone');
  assert.deepEqual(counted.names, f.names, 'same columns');
});

test("recent vector columns: vrec_j = (mean of the last m positives' vectors) · candidate on the j-th main axis; over every axis they sum to that dot product; deep-only, explained as one entry; NaN without recent items; need vectors", () => {
  const ds = randomDataset(6);
  const dim = 5;
  const space = toySpace(ds, dim, 4);
  const m = 3;
  assert.throws(() => RankerFeatures.fit(ds, ['a'], { vectorRecent: 2 }), /vectorRecent: needs `vectors`/);
  const vec = RankerFeatures.fit(ds, ['a'], { vectors: 'tt', vectorDims: 64 }, space);
  const f = RankerFeatures.fit(ds, ['a'], { vectors: 'tt', vectorDims: 64, vectorRecent: m }, space);
  const W = vec.width - dim;
  const names = Array.from({ length: dim }, (_, j) => `vrec_${j}`);
  assert.deepEqual(f.names, [...vec.names.slice(0, W), ...names, ...vec.names.slice(W)], 'before the vec_* columns');
  assert.deepEqual(Array.from(f.embedOnly.slice(W, W + dim)), names.map(() => RECENT_VECTOR_COLUMN));
  const q = queryOf(ds, 5);
  const items = [1, 9, ds.numItems + 3];
  const x = new Float32Array(items.length * f.width);
  f.extract(q, block(items, ['a']), x);
  const y = new Float32Array(items.length * vec.width);
  vec.extract(q, block(items, ['a']), y);
  // the slow way: the last m positive items (newest first), their vectors averaged, dotted with the candidate's
  const v = space.itemVectors();
  const last: number[] = [];
  for (let k = q.history.length - 1; k >= 0 && last.length < m; k--) if (!q.weights || q.weights[k] >= 0) last.push(q.history[k]);
  assert.ok(last.length > 0);
  const mean = new Float64Array(dim);
  for (const it of last) for (let d = 0; d < dim; d++) mean[d] += v[it * dim + d] / last.length;
  items.forEach((it, c) => {
    const row = Array.from(x.subarray(c * f.width, (c + 1) * f.width));
    const other = Array.from(y.subarray(c * vec.width, (c + 1) * vec.width));
    assert.deepEqual([...row.slice(0, W), ...row.slice(W + dim)], other, 'the other columns unchanged');
    const rec = row.slice(W, W + dim);
    if (it >= ds.numItems) {
      assert.ok(rec.every(Number.isNaN), 'a candidate outside the fitted catalog: missing');
      return;
    }
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += mean[d] * v[it * dim + d];
    const sum = rec.reduce((s, z) => s + z, 0);
    assert.ok(Math.abs(sum - dot) < 1e-4 * (1 + Math.abs(dot)), `item ${it}: ${sum} vs ${dot}`);
  });
  const none = new Float32Array(f.width);
  f.extract({ ...q, history: new Int32Array(0), weights: undefined, timestamps: undefined }, block([1], ['a']), none);
  assert.ok(none.subarray(W, W + dim).every(Number.isNaN), 'no recent item: missing');
  const ex = explainedColumns(f.names, f.embedOnly, 'tt', f.embedGroups.pool);
  assert.deepEqual(ex.names.slice(-2), ['vrec_tt', 'vec_tt']);
  assert.deepEqual(ex.columns.slice(-2), [Array.from({ length: dim }, (_, j) => W + j), Array.from({ length: dim }, (_, j) => W + dim + j)]);
});

/** randomDataset's events with an item vector column `emb` (dim 4; items 7 and 8 have none, item 9 all zeros). */
function contentDataset(seed: number): Dataset {
  const base = randomDataset(seed);
  const rng = new Rng(seed + 100);
  const b = new DatasetBuilder({
    user: [{ name: 'age', kind: 'numeric' }],
    item: [
      { name: 'year', kind: 'numeric' },
      { name: 'emb', kind: 'vector', dim: 4 },
    ],
    eventTypes: [],
  });
  for (let i = 0; i < base.numItems; i++) {
    const r = b.items.row(`i${i}`);
    b.items.set(r, 'year', 1990 + (i % 10));
    if (i === 7 || i === 8) continue;
    b.items.set(r, 'emb', i === 9 ? [0, 0, 0, 0] : Array.from({ length: 4 }, () => rng.normal() * (1 + (i % 3))));
  }
  for (let u = 0; u < base.numUsers; u++) b.users.row(`u${u}`);
  const x = base.interactions;
  for (let r = 0; r < x.length; r++) b.addInteraction(x.user[r], x.item[r], 0, x.value[r], x.timestamp[r]);
  return b.build();
}

test('content columns: x_<col>_cos and x_<col>_max against the last m positives\' unit vectors (the slow way agrees); cvec_<col>_j deep-only, summing to the recent mean · candidate; NaN where a side has no vector', () => {
  const ds = contentDataset(8);
  const m = 4;
  const plain = RankerFeatures.fit(ds, ['a'], { contentRecent: m });
  const f = RankerFeatures.fit(ds, ['a'], { contentRecent: m, contentDims: 64 });
  const cos = plain.names.indexOf('x_emb_cos');
  assert.ok(cos > 0 && plain.names[cos + 1] === 'x_emb_max');
  assert.equal(plain.embedOnly[cos], 0, 'the GBDT reads the cosines');
  assert.ok(!plain.names.some((n) => n.startsWith('cvec_')), 'no axis products without contentDims');
  const off = RankerFeatures.fit(ds, ['a'], { contentRecent: 0, contentDims: 4 });
  assert.deepEqual(off.names, plain.names.filter((n) => !n.startsWith('x_emb_')), 'contentRecent 0: no content column');
  const K = 4;
  const first = f.names.indexOf('cvec_emb_0');
  assert.deepEqual(f.names.slice(first), Array.from({ length: K }, (_, j) => `cvec_emb_${j}`), 'k capped at the column width, at the end');
  assert.deepEqual(Array.from(f.embedOnly.slice(first)), Array(K).fill(CONTENT_VECTOR_COLUMN));
  assert.deepEqual(f.names.slice(0, first), plain.names);
  const col = ds.items.column('emb');
  assert.ok(col?.kind === 'vector');
  const unit = (i: number): number[] | null => {
    const v = Array.from(col.values.subarray(i * 4, i * 4 + 4));
    const n = Math.hypot(...v);
    return n > 0 && Number.isFinite(n) ? v.map((z) => z / n) : null;
  };
  const dot = (a: number[], b: number[]) => a.reduce((s, z, k) => s + z * b[k], 0);
  let checked = 0;
  for (let u = 0; u < ds.numUsers; u++) {
    const q = queryOf(ds, u);
    const items = [7, 9, 1, 2, 3, 10, 11, ds.numItems + 2];
    const x = new Float32Array(items.length * f.width);
    f.extract(q, block(items, ['a']), x);
    const y = new Float32Array(items.length * plain.width);
    plain.extract(q, block(items, ['a']), y);
    // the slow way: the last m positive items, newest first, those with a vector
    const last: number[][] = [];
    for (let k = q.history.length - 1, seen = 0; k >= 0 && seen < m; k--, seen++) {
      const v = unit(q.history[k]);
      if (v) last.push(v);
    }
    const sum = [0, 1, 2, 3].map((d) => last.reduce((s, v) => s + v[d], 0));
    items.forEach((it, c) => {
      const row = x.subarray(c * f.width, (c + 1) * f.width);
      assert.deepEqual(Array.from(row.subarray(0, first)), Array.from(y.subarray(c * plain.width, (c + 1) * plain.width)), 'the other columns unchanged');
      const v = it < ds.numItems ? unit(it) : null;
      if (!v || last.length === 0) {
        assert.ok(Number.isNaN(row[cos]) && Number.isNaN(row[cos + 1]), `user ${u} item ${it}: missing`);
        assert.ok(row.subarray(first).every(Number.isNaN));
        return;
      }
      const wantCos = dot(sum, v) / Math.hypot(...sum);
      const wantMax = Math.max(...last.map((w) => dot(w, v)));
      assert.ok(Math.abs(row[cos] - wantCos) < 1e-5, `user ${u} item ${it} cos ${row[cos]} vs ${wantCos}`);
      assert.ok(Math.abs(row[cos + 1] - wantMax) < 1e-5, `user ${u} item ${it} max ${row[cos + 1]} vs ${wantMax}`);
      // all axes kept: the products sum to the recent mean · candidate (the axes are orthonormal)
      const total = Array.from(row.subarray(first)).reduce((s, z) => s + z, 0);
      assert.ok(Math.abs(total - dot(sum, v) / last.length) < 1e-4, `user ${u} item ${it} axis sum ${total}`);
      checked++;
    });
  }
  assert.ok(checked > 50, `${checked} rows checked`);
  const ex = explainedColumns(f.names, f.embedOnly, null, f.embedGroups.pool);
  assert.equal(ex.names.at(-1), 'cvec_emb');
  assert.deepEqual(ex.columns.at(-1), Array.from({ length: K }, (_, j) => first + j));
});
