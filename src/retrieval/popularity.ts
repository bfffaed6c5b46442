import type { Dataset } from '../data/index.ts';
import { loadArrays, saveArrays } from './arrays-io.ts';
import type { CandidateSource, ScoredItems, UserQuery } from './source.ts';

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
 * @example const pop = new PopularitySource({ halfLifeDays: 30 }); pop.fit(train); pop.candidates(q, 10, seen)
 */
export class PopularitySource implements CandidateSource {
  readonly options: PopularityOptions;
  /** Score per item. */
  scores: Float32Array = new Float32Array(0);
  /** Items by descending score (ties by index). */
  order: Int32Array = new Int32Array(0);

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
  }

  /** The `n` most popular items not in `exclude`, best first. The query is ignored. */
  candidates(_query: UserQuery, n: number, exclude?: ReadonlySet<number>): ScoredItems {
    const m = Math.min(n, this.order.length);
    const items = new Int32Array(m);
    const scores = new Float32Array(m);
    let k = 0;
    for (let j = 0; j < this.order.length && k < m; j++) {
      const it = this.order[j];
      if (exclude?.has(it)) continue;
      items[k] = it;
      scores[k++] = this.scores[it];
    }
    return { items: items.subarray(0, k), scores: scores.subarray(0, k) };
  }

  /** Every item's popularity score (the query is ignored), for AUC. */
  scoreAll(_query: UserQuery, out = new Float32Array(this.scores.length)): Float32Array {
    out.set(this.scores);
    return out;
  }

  async save(dir: string): Promise<void> {
    await saveArrays(dir, 'popularity', FORMAT_VERSION, { options: this.options }, { scores: this.scores });
  }

  /** Reads a source written by `save`. */
  static async load(dir: string): Promise<PopularitySource> {
    const { meta, arrays } = await loadArrays(dir, 'popularity', FORMAT_VERSION);
    const p = new PopularitySource((meta as { options: PopularityOptions }).options);
    p.setScores(arrays.scores as Float32Array);
    return p;
  }
}
