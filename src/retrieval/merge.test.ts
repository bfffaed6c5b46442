import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../math/index.ts';
import { CandidateMerger, RRF_K, type MergeSource } from './merge.ts';
import type { CandidateSource, RequestContext, ScoredItems, UserQuery } from './source.ts';

/** A source with a fixed ranked list (the test fixture): honours n, exclude and allow like a real one. */
class ListSource implements CandidateSource {
  constructor(
    readonly name: string,
    private readonly list: number[],
  ) {}
  fit(): void {}
  candidates(_q: UserQuery, n: number, exclude?: ReadonlySet<number>, ctx?: RequestContext): ScoredItems {
    const items = this.list.filter((i) => !exclude?.has(i) && (!ctx?.allow || ctx.allow[i] === 1)).slice(0, n);
    return { items: Int32Array.from(items), scores: Float32Array.from(items.map((_, r) => 100 - r)) };
  }
  async save(): Promise<void> {}
}

class ScoringListSource extends ListSource {
  scoreItems(_q: UserQuery, items: ArrayLike<number>, out: Float32Array): void {
    for (let k = 0; k < items.length; k++) out[k] = -items[k];
  }
}

const q: UserQuery = { user: 0, history: new Int32Array(0) };
const ms = (source: CandidateSource, n = 3, weight = 1, personalized = true): MergeSource => ({ source, name: source.name, n, weight, personalized });

/** The slow, obvious merge: maps and sorts, no scratch, no stamps. */
function referenceMerge(lists: { items: number[]; weight: number }[]) {
  const found: number[] = [];
  const info = new Map<number, { ranks: number[]; fused: number; best: number }>();
  const longest = Math.max(0, ...lists.map((l) => l.items.length));
  for (let r = 0; r < longest; r++) {
    lists.forEach((l, s) => {
      if (r >= l.items.length) return;
      const it = l.items[r];
      let e = info.get(it);
      if (!e) {
        e = { ranks: lists.map(() => NaN), fused: 0, best: r };
        info.set(it, e);
        found.push(it);
      }
      e.ranks[s] = r;
      e.fused += l.weight / (RRF_K + 1 + r);
    });
  }
  const wsum = lists.reduce((a, l) => a + l.weight, 0);
  for (const e of info.values()) e.fused *= (RRF_K + 1) / wsum;
  const order = [...found].sort((a, b) => info.get(b)!.fused - info.get(a)!.fused || info.get(a)!.best - info.get(b)!.best || found.indexOf(a) - found.indexOf(b));
  return { found, info, order };
}

test('merge: rows in the order found, every source score and rank kept, positions by reciprocal-rank fusion', () => {
  const a = new ListSource('a', [5, 3, 9, 1]);
  const b = new ListSource('b', [3, 7, 5]);
  const m = new CandidateMerger([ms(a), ms(b)]).merge(q);
  assert.deepEqual(m.sources, ['a', 'b']);
  assert.equal(m.count, 4);
  assert.deepEqual(Array.from(m.items.subarray(0, 4)), [5, 3, 7, 9]);
  assert.deepEqual(Array.from(m.foundBy.subarray(0, 4)), [0, 1, 1, 0]);
  // 3 is in both lists at ranks 1 and 0: first by fusion; 5 (ranks 0 and 2) second
  assert.deepEqual(Array.from(m.position.subarray(0, 4)), [1, 0, 2, 3]);
  // candidate 5: a rank 0 score 100, b rank 2 score 98
  assert.deepEqual(Array.from(m.ranks.subarray(0, 2)), [0, 2]);
  assert.deepEqual(Array.from(m.scores.subarray(0, 2)), [100, 98]);
  // candidate 7: only b
  assert.ok(Number.isNaN(m.ranks[2 * 2]) && Number.isNaN(m.scores[2 * 2]));
  assert.equal(m.ranks[2 * 2 + 1], 1);
});

test('merge equals the slow reference on random lists (fused scores, positions, ranks), scratch reused across requests', () => {
  const rng = new Rng(3);
  const merger = new CandidateMerger([ms(new ListSource('a', []), 40, 1), ms(new ListSource('b', []), 40, 0.5), ms(new ListSource('c', []), 40, 2)]);
  for (let trial = 0; trial < 30; trial++) {
    const lists = [1, 0.5, 2].map((weight) => {
      const items = new Set<number>();
      const len = rng.int(40);
      while (items.size < len) items.add(rng.int(120));
      return { items: [...items], weight };
    });
    const sources = lists.map((l, s) => ms(new ListSource('abc'[s], l.items), 40, l.weight));
    const m = new CandidateMerger(sources).merge(q);
    // the same lists through a long-lived merger (stamps and scratch from earlier requests)
    (merger as unknown as { sources: MergeSource[] }).sources.forEach((x, s) => (x.source = sources[s].source));
    const again = merger.merge(q);
    const ref = referenceMerge(lists);
    for (const got of [m, again]) {
      assert.equal(got.count, ref.found.length);
      assert.deepEqual(Array.from(got.items.subarray(0, got.count)), ref.found);
      for (let c = 0; c < got.count; c++) {
        const e = ref.info.get(got.items[c])!;
        assert.ok(Math.abs(got.fused[c] - e.fused) < 1e-6, `fused ${got.fused[c]} vs ${e.fused}`);
        assert.equal(got.position[c], ref.order.indexOf(got.items[c]));
        for (let s = 0; s < 3; s++) assert.ok(Object.is(got.ranks[c * 3 + s], e.ranks[s]) || (Number.isNaN(got.ranks[c * 3 + s]) && Number.isNaN(e.ranks[s])));
      }
    }
  }
});

test('merge drops excluded, disallowed and deleted items, and honours personalizedOnly', () => {
  const a = new ListSource('a', [1, 2, 3, 4]);
  const pop = new ListSource('pop', [9, 8, 1]);
  const m = new CandidateMerger([ms(a, 4), ms(pop, 3, 1, false)]);
  const allow = new Uint8Array(10).fill(1);
  allow[4] = 0;
  const r = m.merge(q, { exclude: new Set([2]), allow, isLive: (it) => it !== 3 });
  assert.deepEqual(Array.from(r.items.subarray(0, r.count)).sort(), [1, 8, 9]);
  const p = m.merge(q, { personalizedOnly: true });
  assert.deepEqual(Array.from(p.items.subarray(0, p.count)), [1, 2, 3, 4]);
});

test('a source that scores any item fills the scores of candidates it did not retrieve; ranks stay missing', () => {
  const a = new ListSource('a', [1, 2]);
  const b = new ScoringListSource('b', [2, 4]);
  const m = new CandidateMerger([ms(a, 2), ms(b, 2)]).merge(q);
  assert.deepEqual(Array.from(m.items.subarray(0, 3)), [1, 2, 4]);
  assert.equal(m.scores[0 * 2 + 1], -1); // filled by scoreItems
  assert.ok(Number.isNaN(m.ranks[0 * 2 + 1]));
  assert.equal(m.scores[1 * 2 + 1], 100); // its own retrieval score is kept
  assert.ok(Number.isNaN(m.scores[2 * 2 + 0])); // a cannot score item 4
  // n = 0: asked for no candidates, still scores the others'
  const s = new CandidateMerger([ms(a, 2), ms(b, 0)]).merge(q);
  assert.deepEqual(Array.from(s.items.subarray(0, s.count)), [1, 2]);
  assert.deepEqual(Array.from(s.scores.subarray(0, 4)), [100, -1, 99, -2]);
});

test('merger rejects duplicate names and bad counts', () => {
  assert.throws(() => new CandidateMerger([ms(new ListSource('x', [])), ms(new ListSource('x', []))]), /named 'x'/);
  assert.throws(() => new CandidateMerger([ms(new ListSource('x', []), 1.5)]), /n must be an integer/);
  assert.throws(() => new CandidateMerger([ms(new ListSource('x', []), 1, -1)]), /weight must be >= 0/);
});

test('serving: a source that throws or answers a non-finite score is left out of the request and reported; without a handler it throws', () => {
  let mode: 'ok' | 'throw' | 'nan' | 'inf' = 'ok';
  class Failing extends ScoringListSource {
    override candidates(q2: UserQuery, n: number, exclude?: ReadonlySet<number>, ctx?: RequestContext): ScoredItems {
      if (mode === 'throw') throw new Error('broken stage');
      const r = super.candidates(q2, n, exclude, ctx);
      if (mode === 'nan' || mode === 'inf') r.scores[1] = mode === 'nan' ? NaN : Infinity;
      return r;
    }
    override scoreItems(q2: UserQuery, items: ArrayLike<number>, out: Float32Array): void {
      if (mode === 'throw') throw new Error('broken stage');
      super.scoreItems(q2, items, out);
    }
  }
  const good = new ListSource('good', [1, 2, 3]);
  const bad = new Failing('bad', [4, 5, 6]);
  const reports: string[] = [];
  const serving = new CandidateMerger([ms(good), ms(bad)], (s, e) => reports.push(`${s}: ${(e as Error).message}`));
  assert.equal(serving.merge(q).count, 6);
  for (const m of ['throw', 'nan', 'inf'] as const) {
    mode = m;
    const b = serving.merge(q);
    assert.deepEqual(Array.from(b.items.subarray(0, b.count)).sort(), [1, 2, 3], m);
    // the answering source alone: its first item scores 1 as if it were the only source
    assert.ok(Math.abs(b.fused[0] - 1) < 1e-6, m);
  }
  assert.deepEqual(reports, ['bad: broken stage', 'bad: candidate score 1 is NaN; scores must be finite', 'bad: candidate score 1 is Infinity; scores must be finite']);
  mode = 'throw';
  assert.throws(() => new CandidateMerger([ms(good), ms(bad)]).merge(q), /broken stage/, 'training and evaluation see the error');
});
