import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CandidateMerger } from './merge.ts';
import type { CandidateSource, ScoredItems, UserQuery } from './source.ts';

/** A source with a fixed ranked list (the test fixture): honours n and exclude like a real one. */
class ListSource implements CandidateSource {
  constructor(
    readonly name: string,
    private readonly list: number[],
    private readonly scoreAll = false,
  ) {}
  fit(): void {}
  candidates(_q: UserQuery, n: number, exclude?: ReadonlySet<number>): ScoredItems {
    const items = this.list.filter((i) => !exclude?.has(i)).slice(0, n);
    return { items: Int32Array.from(items), scores: Float32Array.from(items.map((_, r) => 100 - r)) };
  }
  async save(): Promise<void> {}
  scoreItems?(_q: UserQuery, items: ArrayLike<number>, out: Float32Array): void;
}

class ScoringListSource extends ListSource {
  override scoreItems(_q: UserQuery, items: ArrayLike<number>, out: Float32Array): void {
    for (let k = 0; k < items.length; k++) out[k] = -items[k];
  }
}

const q: UserQuery = { user: 0, history: new Int32Array(0) };

test('merge interleaves rank by rank, deduplicates, and keeps every source score and rank', () => {
  const a = new ListSource('a', [5, 3, 9, 1]);
  const b = new ListSource('b', [3, 7, 5]);
  const m = new CandidateMerger([a, b], [3, 3]).merge(q);
  assert.deepEqual(m.sources, ['a', 'b']);
  assert.deepEqual(Array.from(m.items), [5, 3, 7, 9]);
  assert.equal(m.count, 4);
  assert.deepEqual(Array.from(m.foundBy), [0, 1, 1, 0]);
  assert.deepEqual(Array.from(m.l1Rank), [0, 1, 2, 3]);
  // candidate 5: a rank 0 score 100, b rank 2 score 98
  assert.deepEqual(Array.from(m.ranks.subarray(0, 2)), [0, 2]);
  assert.deepEqual(Array.from(m.scores.subarray(0, 2)), [100, 98]);
  // candidate 7: only b
  assert.ok(Number.isNaN(m.ranks[2 * 2]) && Number.isNaN(m.scores[2 * 2]));
  assert.equal(m.ranks[2 * 2 + 1], 1);
  // a second merge on the same merger starts clean
  const again = new CandidateMerger([a, b], 1).merge(q, new Set([5]));
  assert.deepEqual(Array.from(again.items), [3]);
});

test('an ItemScorer source fills the scores of candidates it did not retrieve; ranks stay missing', () => {
  const a = new ListSource('a', [1, 2]);
  const b = new ScoringListSource('b', [2, 4]);
  const m = new CandidateMerger([a, b], 2).merge(q);
  assert.deepEqual(Array.from(m.items), [1, 2, 4]);
  assert.equal(m.scores[0 * 2 + 1], -1); // filled by scoreItems
  assert.ok(Number.isNaN(m.ranks[0 * 2 + 1]));
  assert.equal(m.scores[1 * 2 + 1], 100); // its own retrieval score is kept
  assert.ok(Number.isNaN(m.scores[2 * 2 + 0])); // a cannot score item 4
});

test('merger rejects duplicate names and bad per-source counts', () => {
  assert.throws(() => new CandidateMerger([new ListSource('x', []), new ListSource('x', [])], 5), /named 'x'/);
  assert.throws(() => new CandidateMerger([new ListSource('x', [])], [1, 2]), /perSource/);
  assert.throws(() => new CandidateMerger([], 5), /at least one/);
});
