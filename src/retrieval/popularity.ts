import type { Dataset } from '../data/index.ts';
import { loadArrays, saveArrays } from './arrays-io.ts';
import type { FileReader } from '../vectors/index.ts';
import { schema } from '../schema/index.ts';
import { defineSourceKind, type CandidateSource, type RequestContext, type ScoredItems, type UserQuery } from './source.ts';

/** Popularity options: how events count and how fast they age. */
export interface PopularityOptions {
  /** Events lose half their weight every `halfLifeDays` before the newest training event; 0 = no decay. */
  halfLifeDays: number;
  /** Source name, as candidates and features report it. */
  name: string;
}

export const POPULARITY_DEFAULTS: PopularityOptions = { halfLifeDays: 0, name: 'popularity' };

const FORMAT_VERSION = 1;

/**
 * The same ranked list for everyone: each item's positive events summed with their type's weight,
 * optionally decayed by age (weight * 0.5^(age / half-life)). Negative events (dislikes) do not count.
 * Items never seen rank last, by index. The baseline, and the fallback for users without history.
 * Live events move items up at once (`observe`), keeping the order exact without a catalog scan.
 * @example const pop = new PopularitySource({ halfLifeDays: 30 }); pop.fit(train); pop.candidates(q, 10, seen)
 */
export class PopularitySource implements CandidateSource {
  readonly options: PopularityOptions;
  /** Score per item. */
  scores: Float32Array = new Float32Array(0);
  /** Items by descending score (ties by index). */
  order: Int32Array = new Int32Array(0);
  /** Items in `order`/`scores` (the arrays grow ahead for live items). */
  private size = 0;

  constructor(options: Partial<PopularityOptions> = {}) {
    this.options = { ...POPULARITY_DEFAULTS, ...options };
    if (!(this.options.halfLifeDays >= 0) || !Number.isFinite(this.options.halfLifeDays)) {
      throw new Error(`PopularitySource: halfLifeDays must be a finite number >= 0, got ${this.options.halfLifeDays}`);
    }
  }

  get name(): string {
    return this.options.name;
  }

  fit(train: Dataset): void {
    if (this.options.halfLifeDays > 0 && train.timeKind === 'order') throw new Error(`popularity '${this.name}': halfLifeDays needs timestamps in seconds; this dataset's time is an order (positions within each user): use halfLifeDays 0`);
    const x = train.interactions;
    const w = new Float64Array(train.eventTypes.length);
    train.eventTypes.forEach((e, k) => (w[k] = e.negative ? 0 : e.weight));
    let tMax = -Infinity;
    for (let r = 0; r < x.length; r++) if (x.timestamp[r] > tMax) tMax = x.timestamp[r];
    const h = this.options.halfLifeDays * 86400;
    const s = new Float64Array(train.numItems);
    for (let r = 0; r < x.length; r++) {
      const wr = w[x.event[r]];
      if (wr === 0) continue;
      // weight * 0.5^(age / halfLife)
      s[x.item[r]] += h > 0 ? wr * Math.pow(0.5, (tMax - x.timestamp[r]) / h) : wr;
    }
    this.setScores(s);
  }

  private setScores(s: ArrayLike<number>): void {
    const n = s.length;
    this.scores = Float32Array.from(s);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const sc = this.scores;
    this.order = order.sort((a, b) => sc[b] - sc[a] || a - b);
    this.size = n;
  }

  /** The `n` most popular items not in `exclude` (and in `ctx.allow`), best first. The query is ignored. */
  candidates(_query: UserQuery, n: number, exclude?: ReadonlySet<number>, ctx?: RequestContext): ScoredItems {
    const m = Math.max(0, Math.min(n, this.size));
    const items = new Int32Array(m);
    const scores = new Float32Array(m);
    const allow = ctx?.allow;
    let k = 0;
    for (let j = 0; j < this.size && k < m; j++) {
      const it = this.order[j];
      if (exclude?.has(it) || (allow && allow[it] !== 1)) continue;
      items[k] = it;
      scores[k++] = this.scores[it];
    }
    return { items: items.subarray(0, k), scores: scores.subarray(0, k) };
  }

  /** Each item's popularity (0 for items it never saw). */
  scoreItems(_query: UserQuery, items: ArrayLike<number>, out: Float32Array): void {
    for (let k = 0; k < items.length; k++) out[k] = items[k] >= 0 && items[k] < this.size ? this.scores[items[k]] : 0;
  }

  /** Every item's popularity score (the query is ignored), for AUC. */
  scoreAll(_query: UserQuery, out = new Float32Array(this.size)): Float32Array {
    out.set(this.scores.subarray(0, this.size));
    return out;
  }

  /**
   * A live event: the item's count grows by `weight` and it moves up the order (ties: lower index first).
   * The order is sorted by (score desc, index asc), so both the item's place and its new place are found
   * by binary search and the items between move by one memmove: O(log n) compares and one block copy,
   * not a compare and a write per item passed (a tail item of a million-item catalog passes hundreds of
   * thousands of equal counts: 2.19 ms per event before, 0.059 now, docs/scale.md). `setScores` (a full sort) is the
   * reference a test holds it to.
   */
  observe(item: number, weight: number): void {
    if (!(weight > 0) || item < 0) return;
    if (item >= this.size) this.upsertItem(item);
    const sc = this.scores;
    const order = this.order;
    const p = this.lowerBound(sc[item], item, this.size);
    if (order[p] !== item) throw new Error(`PopularitySource: item ${item} is not where its score puts it (the order is corrupt)`);
    sc[item] += weight;
    const q = this.lowerBound(sc[item], item, p);
    if (q < p) {
      order.copyWithin(q + 1, q, p);
      order[q] = item;
    }
  }

  /**
   * The first place in `order[0, hi)` whose item does not rank before the key (score, item): items rank
   * by score descending, then index ascending. Keys are unique, so for an item's own key it is its place.
   */
  private lowerBound(score: number, item: number, hi: number): number {
    const sc = this.scores;
    const order = this.order;
    let lo = 0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const x = order[mid];
      if (sc[x] > score || (sc[x] === score && x < item)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** A live item beyond the trained catalog enters last (no events yet). */
  upsertItem(item: number): void {
    if (item < this.size) return;
    if (item >= this.scores.length) {
      const cap = Math.max(item + 1, Math.ceil(this.scores.length * 1.25) + 16);
      const grow = <T extends Float32Array | Int32Array>(a: T, make: (n: number) => T): T => {
        const b = make(cap);
        b.set(a);
        return b;
      };
      this.scores = grow(this.scores, (n) => new Float32Array(n));
      this.order = grow(this.order, (n) => new Int32Array(n));
    }
    for (let it = this.size; it <= item; it++) {
      this.scores[it] = 0;
      // score 0 and the largest index so far: the order's end keeps it sorted (scores are never negative)
      this.order[it] = it;
    }
    this.size = item + 1;
  }

  async save(dir: string): Promise<void> {
    await saveArrays(dir, 'popularity', FORMAT_VERSION, { options: this.options }, { scores: this.scores.slice(0, this.size) });
  }

  /** Reads a source written by `save` (`name` renames it: the engine's stage name). */
  static async load(dir: string, name?: string, files?: FileReader): Promise<PopularitySource> {
    const { meta, arrays } = await loadArrays(dir, 'popularity', FORMAT_VERSION, files);
    const p = new PopularitySource({ ...(meta as { options: PopularityOptions }).options, ...(name ? { name } : {}) });
    p.setScores(arrays.scores as Float32Array);
    return p;
  }
}

/** The `popularity` stage's parameters. */
export const POPULARITY_PARAMS = schema({
  halfLifeDays: { type: 'number', min: 0, default: 0, description: 'events lose half their weight every this many days before the newest one (0: no decay)' },
});

/** Popularity as an engine stage: the baseline, and the last fallback of every request. */
export const popularityKind = defineSourceKind({
  kind: 'popularity',
  description: 'the most popular items (event-weighted counts, optional time decay), the same for everyone; live events count at once',
  params: POPULARITY_PARAMS,
  personalized: false,
  create: (p, ctx) => new PopularitySource({ halfLifeDays: p.halfLifeDays, name: ctx.name }),
  load: (dir, _p, ctx) => PopularitySource.load(dir, ctx.name, ctx.files),
});
