/**
 * The online Recommender: one loaded model plus the live state a service accumulates (events, new and
 * deleted items, user features). Requests merge the candidate sources, rank, apply the business rules
 * and fall back to feature segments, then popularity, when a user has no usable history.
 *
 * Single-threaded by design (Node's event loop): each call runs to completion synchronously, so the
 * shared scratch buffers below are never used by two requests at once. A Recommender owns its Model:
 * upserts grow the model's item vocabulary, so never give one Model to two Recommenders.
 */
import type { Dataset, FeatureColumn, FeatureSpec, Vocabulary } from '../../data/index.ts';
import { TopK } from '../../math/index.ts';
import type { UserQuery } from '../../retrieval/index.ts';
import { EngineInputError, UnknownEntityError } from './errors.ts';
import type { Model, ModelManifest } from './model-dir.ts';
import { matchSegments, type Segments } from './segments.ts';
import type { Candidates, EngineSource, FeatureRow, Ranker } from './stages.ts';

export interface RecommendOptions {
  /** How many items (1..maxK). */
  k?: number;
  /** External item ids never to return. */
  exclude?: readonly string[];
  /** Only items whose category feature has this value. */
  category?: string | null;
}

export interface RecommendedItem {
  id: string;
  score: number;
  /** The candidate source that ranked the item best, or the fallback that supplied it. */
  source: string;
  explanation: string;
}

export type Strategy = 'personal' | 'features' | 'popularity' | 'similar' | 'content';

export interface RecommendResult {
  strategy: Strategy;
  items: RecommendedItem[];
}

/** An event as a client sends it; type, timestamp (seconds) and value are optional. */
export interface EventInput {
  user: string;
  item: string;
  type?: string;
  timestamp?: number;
  value?: number;
}

/** An event checked against the model: item and type resolved to indices. */
export interface CheckedEvent {
  user: string;
  item: string;
  itemIndex: number;
  type: string;
  typeIndex: number;
  value: number;
  timestamp: number;
}

export interface RecommenderOptions {
  /** Candidates asked of each source per request. */
  candidatesPerSource?: number;
  /** Largest k a request may ask for. */
  maxK?: number;
  /** Clock in seconds, for default event timestamps. */
  now?: () => number;
  /** The sources see at most this many of the user's latest events (all of them still count as seen). */
  maxHistory?: number;
  /** Length of the kept most-popular list (fallbacks read it; a selective filter scans the catalog). */
  popularListSize?: number;
}

/** A user's history in the Recommender's scratch arrays: the first `n` entries, oldest first. */
interface History {
  n: number;
  items: Int32Array;
  weights: Float32Array;
  timestamps: Float64Array;
}

interface LiveUser {
  /** Dense index in the model, or -1 for a user the model never saw. */
  index: number;
  items: number[];
  weights: number[];
  timestamps: number[];
  features: FeatureRow | null;
}

/** An upserted item's features, encoded per item column like the trained ones. */
interface EncodedRow {
  raw: FeatureRow;
  /** Per column: codes (categorical: one, bags: many), a number, a vector, or null when missing. */
  cols: (Int32Array | number | Float32Array | null)[];
}

const RRF_K = 60;

/**
 * Online recommendations over a loaded model.
 * @example const rec = new Recommender(await readModelDir(dir, registry)); rec.recommendForUser('42', { k: 10 })
 */
export class Recommender {
  readonly manifest: ModelManifest;
  readonly modelVersion: string;
  readonly maxK: number;
  private readonly ds: Dataset;
  private readonly segments: Segments;
  private readonly sources: EngineSource[];
  private readonly weights: Float32Array;
  private readonly personalized: Uint8Array;
  private readonly ranker: Ranker | null;
  private readonly cps: number;
  private readonly popSize: number;
  private readonly maxHistory: number;
  private readonly now: () => number;
  /** Items the trained stages know: dense indices below this. */
  readonly trainedItems: number;
  private readonly itemIds: Vocabulary;
  private readonly userIds: Vocabulary;
  private readonly userHist: { offsets: Int32Array; rows: Int32Array };
  private readonly eventWeight: Float32Array;
  private readonly categoryCol: number;
  private readonly valueCol: number;
  private readonly boosts: { col: number; code: number; factor: number; label: string }[];

  // live state, grown as items are added
  private cap: number;
  private deleted: Uint8Array;
  private deletedCount = 0;
  private counts: Float64Array;
  private readonly overlay = new Map<number, EncodedRow>();
  private readonly live = new Map<string, LiveUser>();
  private eventsApplied = 0;
  private popTop: Int32Array = new Int32Array(0);
  /** Catalog changes (add, delete) rescan on the next read; events move items within the list instead. */
  private popDirty = true;
  /** Per category code: a mask by item of the live items in it (for sources that filter inside); rebuilt after catalog changes. */
  private readonly catMasks = new Map<number, Uint8Array>();

  // per-request scratch (generation-stamped, never cleared)
  private gen = 0;
  private exStamp: Int32Array;
  private candStamp: Int32Array;
  private candSlot: Int32Array;
  private cand: Candidates;
  private bestRank: Int32Array;
  private final: Float32Array;
  private hist: History = { n: 0, items: new Int32Array(256), weights: new Float32Array(256), timestamps: new Float64Array(256) };

  constructor(model: Model, opts: RecommenderOptions = {}) {
    this.manifest = model.manifest;
    this.modelVersion = model.manifest.modelVersion;
    this.ds = model.dataset;
    this.segments = model.segments;
    this.sources = model.sources;
    this.ranker = model.ranker;
    this.cps = opts.candidatesPerSource ?? 200;
    this.popSize = opts.popularListSize ?? 2000;
    this.maxHistory = opts.maxHistory ?? 500;
    this.maxK = opts.maxK ?? 100;
    this.now = opts.now ?? (() => Date.now() / 1000);
    const stages = model.manifest.stages;
    this.weights = Float32Array.from(stages, (s) => s.weight);
    this.personalized = Uint8Array.from(stages, (s) => (s.personalized ? 1 : 0));
    this.trainedItems = this.ds.numItems;
    this.itemIds = this.ds.items.ids;
    this.userIds = this.ds.users.ids;
    this.userHist = this.ds.byUser();
    this.eventWeight = Float32Array.from(this.ds.eventTypes, (e) => (e.negative ? -e.weight : e.weight));
    const b = model.manifest.business;
    this.categoryCol = b.categoryFeature ? this.itemColumn(b.categoryFeature, ['categorical', 'multi-categorical', 'id']) : -1;
    this.valueCol = b.valueFeature ? this.itemColumn(b.valueFeature, ['numeric']) : -1;
    this.boosts = b.boosts.map((r) => {
      const col = this.itemColumn(r.feature, ['categorical', 'multi-categorical', 'id']);
      const c = this.ds.items.columns[col] as Extract<FeatureColumn, { vocab: Vocabulary }>;
      return { col, code: c.vocab.encode(r.value), factor: r.factor, label: `${r.feature}=${r.value}` };
    });

    this.cap = this.trainedItems;
    this.deleted = new Uint8Array(this.cap);
    this.counts = new Float64Array(this.cap);
    const x = this.ds.interactions;
    for (let r = 0; r < x.length; r++) {
      const w = this.eventWeight[x.event[r]];
      if (w > 0) this.counts[x.item[r]] += w;
    }
    this.exStamp = new Int32Array(this.cap);
    this.candStamp = new Int32Array(this.cap);
    this.candSlot = new Int32Array(this.cap);
    const S = Math.max(1, this.sources.length);
    const n = S * (this.cps + 64);
    this.cand = {
      count: 0,
      items: new Int32Array(n),
      scores: new Float32Array(n),
      source: new Uint8Array(n),
      // the manifest's stage names: unique even when two stages share a kind
      sourceNames: stages.map((s) => s.name),
      sourceScores: new Float32Array(n * S),
      sourceRanks: new Int32Array(n * S),
    };
    this.bestRank = new Int32Array(n);
    this.final = new Float32Array(n);
  }

  private itemColumn(name: string, kinds: FeatureColumn['kind'][]): number {
    const i = this.ds.items.columns.findIndex((c) => c.name === name);
    if (i < 0) throw new Error(`business rules: item feature '${name}' does not exist`);
    if (!kinds.includes(this.ds.items.columns[i].kind)) throw new Error(`business rules: item feature '${name}' is ${this.ds.items.columns[i].kind}, expected ${kinds.join(' or ')}`);
    return i;
  }

  /** Live counts for metrics and health checks. */
  stats(): { items: number; trainedItems: number; deletedItems: number; users: number; liveUsers: number; eventsApplied: number } {
    return {
      items: this.itemIds.size - this.deletedCount,
      trainedItems: this.trainedItems,
      deletedItems: this.deletedCount,
      users: this.userIds.size,
      liveUsers: this.live.size,
      eventsApplied: this.eventsApplied,
    };
  }

  // ---------------------------------------------------------------- requests

  /**
   * Recommendations for the user with external id `userId`, known to the model or not.
   * @example rec.recommendForUser('42', { k: 10, exclude: ['50'], category: 'Comedy' })
   */
  recommendForUser(userId: string, opts: RecommendOptions = {}): RecommendResult {
    const k = this.checkK(opts.k);
    const lu = this.live.get(userId);
    const index = lu ? lu.index : this.userIds.get(userId);
    const features = lu?.features ?? (index >= 0 ? this.userFeatures(index) : null);
    return this.recommendFrom(this.buildHistory(index, lu), index, features, k, opts);
  }

  /**
   * Recommendations for an anonymous or new user from features and recent items (external ids, oldest first).
   * @example rec.recommendAnonymous({ features: { country: 'DE' }, recent: ['7', '50'] }, { k: 5 })
   */
  recommendAnonymous(input: { features?: FeatureRow; recent?: readonly string[] }, opts: RecommendOptions = {}): RecommendResult {
    const k = this.checkK(opts.k);
    const recent = input.recent ?? [];
    const items: number[] = [];
    recent.forEach((id, i) => {
      const it = this.itemIds.get(id);
      if (it < 0) throw new EngineInputError(`recent[${i}]`, `unknown item '${id}'`);
      items.push(it);
    });
    const now = this.now();
    const hist = this.historyScratch(items.length);
    for (let i = 0; i < items.length; i++) {
      hist.items[i] = items[i];
      hist.weights[i] = 1;
      hist.timestamps[i] = now;
    }
    const features = input.features ? this.checkFeatures(input.features, this.ds.users.specs(), 'features') : null;
    return this.recommendFrom(hist, -1, features, k, opts);
  }

  /**
   * Items similar to item `itemId`: the personalised sources queried with that one item, else items
   * sharing its feature values.
   * @example rec.similarItems('7', { k: 10 })
   */
  similarItems(itemId: string, opts: RecommendOptions = {}): RecommendResult {
    const k = this.checkK(opts.k);
    const item = this.itemIds.get(itemId);
    if (item < 0 || this.deleted[item]) throw new UnknownEntityError('item', itemId);
    const exclude = this.excludeSet(opts.exclude, 'exclude');
    exclude.add(item);
    if (item < this.trainedItems) {
      const q: UserQuery = { user: -1, history: Int32Array.of(item), weights: Float32Array.of(1), timestamps: Float64Array.of(this.now()) };
      const res = this.mergedTopK(q, exclude, k, this.categoryCode(opts.category), true, false);
      if (res.length > 0) return { strategy: 'similar', items: res };
    }
    return { strategy: 'content', items: this.contentSimilar(item, exclude, k, this.categoryCode(opts.category)) };
  }

  private recommendFrom(hist: History, userIndex: number, features: FeatureRow | null, k: number, opts: RecommendOptions): RecommendResult {
    const exclude = this.excludeSet(opts.exclude, 'exclude');
    if (this.manifest.business.excludeSeen) for (let i = 0; i < hist.n; i++) exclude.add(hist.items[i]);
    const category = this.categoryCode(opts.category);
    // the stages only know trained items; newer ones stay in the history for exclusion alone
    // the latest maxHistory of them, oldest first
    let n = 0;
    let from = hist.n;
    while (from > 0 && n < this.maxHistory) if (hist.items[--from] < this.trainedItems) n++;
    if (n > 0 && this.sources.length > 0) {
      const q: UserQuery = { user: userIndex, history: new Int32Array(n), weights: new Float32Array(n), timestamps: new Float64Array(n) };
      let j = 0;
      for (let i = from; i < hist.n; i++) {
        if (hist.items[i] >= this.trainedItems) continue;
        q.history[j] = hist.items[i];
        q.weights![j] = hist.weights[i];
        q.timestamps![j++] = hist.timestamps[i];
      }
      const items = this.mergedTopK(q, exclude, k, category, false, true, features);
      if (items.length < k) this.fillPopular(items, exclude, k, category, `filled from popularity: too few candidates${category !== null ? ' in this category' : ''}`);
      return { strategy: 'personal', items };
    }
    const seg = features ? matchSegments(this.segments, features) : [];
    if (seg.length > 0) {
      const items = this.segmentTopK(seg, exclude, k, category);
      if (items.length < k) this.fillPopular(items, exclude, k, category, 'filled from popularity');
      return { strategy: 'features', items };
    }
    const why = hist.n > 0 ? 'popular overall; this user\u2019s history has no items the model can use yet' : 'popular overall; no history or known features for this user';
    const items: RecommendedItem[] = [];
    this.fillPopular(items, exclude, k, category, why);
    return { strategy: 'popularity', items };
  }

  /** Merge sources, rank, apply business rules, top k. Items are never in `exclude`, deleted, or outside `category`. */
  private mergedTopK(q: UserQuery, exclude: Set<number>, k: number, category: number | null, similar: boolean, useRanker: boolean, features: FeatureRow | null = null): RecommendedItem[] {
    const gen = this.nextGen();
    for (const it of exclude) this.exStamp[it] = gen;
    const c = this.cand;
    const S = Math.max(1, this.sources.length);
    const n = Math.max(this.cps, 3 * k) + Math.min(this.deletedCount, 64);
    this.ensureCandidates(S * n);
    let count = 0;
    let wsum = 0;
    for (let s = 0; s < this.sources.length; s++) {
      if (similar && !this.personalized[s]) continue;
      const w = this.weights[s];
      if (w <= 0) continue;
      wsum += w;
      const src = this.sources[s];
      const res = src.candidatesWith ? src.candidatesWith(q, n, exclude, { allow: category !== null ? this.categoryMask(category) : undefined, features }) : src.candidates(q, n, exclude);
      const m = Math.min(res.items.length, n);
      for (let r = 0; r < m; r++) {
        const it = res.items[r];
        if (it < 0 || it >= this.cap || this.exStamp[it] === gen || this.deleted[it]) continue;
        let slot: number;
        if (this.candStamp[it] !== gen) {
          slot = count++;
          this.candStamp[it] = gen;
          this.candSlot[it] = slot;
          c.items[slot] = it;
          c.scores[slot] = 0;
          c.source[slot] = s;
          this.bestRank[slot] = 0x7fffffff;
          c.sourceScores.fill(NaN, slot * S, slot * S + S);
          c.sourceRanks.fill(-1, slot * S, slot * S + S);
        } else slot = this.candSlot[it];
        // reciprocal-rank fusion: scale-free across sources whose scores are not comparable
        c.scores[slot] += w / (RRF_K + 1 + r);
        c.sourceScores[slot * S + s] = res.scores[r];
        c.sourceRanks[slot * S + s] = r;
        if (r < this.bestRank[slot]) {
          this.bestRank[slot] = r;
          c.source[slot] = s;
        }
      }
    }
    c.count = count;
    if (count === 0) return [];
    const norm = (RRF_K + 1) / wsum; // the item ranked first by every source scores 1
    for (let i = 0; i < count; i++) c.scores[i] *= norm;
    const ranked = useRanker && this.ranker ? this.ranker.rank(q, c) : null;
    const base = ranked ? ranked.scores : c.scores;
    const heap = new TopK(k);
    for (let i = 0; i < count; i++) {
      const it = c.items[i];
      if (category !== null && !this.hasCode(it, this.categoryCol, category)) continue;
      let f = base[i];
      for (const b of this.boosts) if (this.hasCode(it, b.col, b.code)) f *= b.factor;
      if (this.valueCol >= 0) {
        const v = this.numberOf(it, this.valueCol);
        if (Number.isFinite(v) && v > 0) f *= Math.pow(v, this.manifest.business.valueExponent);
      }
      this.final[i] = f;
      heap.push(i, f);
    }
    const slots = new Int32Array(heap.size);
    heap.drainSorted(slots);
    const out: RecommendedItem[] = [];
    for (const slot of slots) {
      const it = c.items[slot];
      out.push({ id: this.itemIds.values[it], score: round(this.final[slot]), source: c.sourceNames[c.source[slot]], explanation: this.explain(slot, S, ranked, similar) });
    }
    return out;
  }

  private explain(slot: number, S: number, ranked: ReturnType<Ranker['rank']> | null, similar: boolean): string {
    const c = this.cand;
    const parts: string[] = [];
    const found: string[] = [];
    for (let s = 0; s < this.sources.length; s++) {
      const r = c.sourceRanks[slot * S + s];
      if (r >= 0) found.push(`${c.sourceNames[s]} #${r + 1}`);
    }
    parts.push(`${similar ? 'similar by' : 'found by'} ${found.join(', ')}`);
    if (ranked?.featureNames) {
      const names: string[] = [];
      if (ranked.explain) {
        for (const f of Array.from(ranked.explain(slot))) if (f >= 0) names.push(ranked.featureNames[f]);
      } else if (ranked.topFeatures && ranked.topN) {
        for (let j = 0; j < ranked.topN; j++) {
          const f = ranked.topFeatures[slot * ranked.topN + j];
          if (f >= 0) names.push(ranked.featureNames[f]);
        }
      }
      if (names.length) parts.push(`ranked up by ${names.join(', ')}`);
    }
    const it = c.items[slot];
    for (const b of this.boosts) if (this.hasCode(it, b.col, b.code)) parts.push(`${b.factor >= 1 ? 'boosted' : 'demoted'} for ${b.label}`);
    return parts.join('; ');
  }

  private segmentTopK(seg: { segment: number; label: string }[], exclude: Set<number>, k: number, category: number | null): RecommendedItem[] {
    const S = this.segments;
    const gen = this.nextGen();
    const c = this.cand;
    let count = 0;
    const total = S.offsets[S.offsets.length - 1];
    this.ensureCandidates(Math.min(total, seg.length * 256));
    for (const { segment } of seg) {
      for (let j = S.offsets[segment]; j < S.offsets[segment + 1]; j++) {
        const it = S.items[j];
        if (this.deleted[it] || exclude.has(it)) continue;
        if (category !== null && !this.hasCode(it, this.categoryCol, category)) continue;
        if (this.candStamp[it] !== gen) {
          this.ensureCandidates(count + 1);
          this.candStamp[it] = gen;
          this.candSlot[it] = count;
          c.items[count] = it;
          c.scores[count++] = 0;
        }
        c.scores[this.candSlot[it]] += S.scores[j] / seg.length;
      }
    }
    const heap = new TopK(k);
    for (let i = 0; i < count; i++) heap.push(i, c.scores[i]);
    const slots = new Int32Array(heap.size);
    heap.drainSorted(slots);
    const why = `popular with users sharing ${seg.map((s) => s.label).join(', ')}; no usable history for this user`;
    return Array.from(slots, (slot) => ({ id: this.itemIds.values[c.items[slot]], score: round(c.scores[slot]), source: 'segment-popularity', explanation: why }));
  }

  /** The live items of category `code` as a mask by item index, built once per catalog state. */
  private categoryMask(code: number): Uint8Array {
    let m = this.catMasks.get(code);
    if (!m) {
      if (this.catMasks.size >= 64) this.catMasks.clear(); // bounded: one byte per item per mask
      m = new Uint8Array(this.itemIds.size);
      for (let it = 0; it < m.length; it++) if (!this.deleted[it] && this.hasCode(it, this.categoryCol, code)) m[it] = 1;
      this.catMasks.set(code, m);
    }
    return m;
  }

  /** Appends popular items (not excluded, deleted, already in `out`, or outside `category`) until `out` has k. */
  private fillPopular(out: RecommendedItem[], exclude: Set<number>, k: number, category: number | null, why: string): void {
    if (out.length >= k) return;
    const taken = new Set(out.map((r) => this.itemIds.get(r.id)));
    const floor = out.length ? Math.min(...out.map((r) => r.score)) : Infinity;
    const ok = (it: number): boolean => !this.deleted[it] && !exclude.has(it) && !taken.has(it) && (category === null || this.hasCode(it, this.categoryCol, category));
    const top = this.popularOrder();
    const maxCount = this.counts[top[0]] || 1;
    const push = (it: number): void => {
      taken.add(it);
      // below every ranked item, ordered by popularity
      const s = this.counts[it] / maxCount;
      out.push({ id: this.itemIds.values[it], score: round(Number.isFinite(floor) ? floor * 0.5 * s : s), source: 'popularity', explanation: why });
    };
    for (let i = 0; i < top.length && out.length < k; i++) if (ok(top[i])) push(top[i]);
    if (out.length >= k) return;
    // a selective filter: scan the whole catalog
    const heap = new TopK(k - out.length);
    for (let it = 0; it < this.itemIds.size; it++) if (ok(it)) heap.push(it, this.counts[it]);
    const rest = new Int32Array(heap.size);
    heap.drainSorted(rest);
    for (const it of rest) push(it);
  }

  /** The `popSize` most popular live items, recomputed lazily after events changed the counts. */
  private popularOrder(): Int32Array {
    if (!this.popDirty) return this.popTop;
    const heap = new TopK(Math.min(this.popSize, Math.max(1, this.itemIds.size)));
    for (let it = 0; it < this.itemIds.size; it++) if (!this.deleted[it]) heap.push(it, this.counts[it]);
    const top = new Int32Array(heap.size);
    heap.drainSorted(top);
    this.popTop = top;
    this.popDirty = false;
    return top;
  }

  /**
   * Keeps the popular list exact after item `it`'s count grew, without a catalog scan (a scan costs
   * milliseconds on a million items): enter the list if it now beats the last, then move up.
   */
  private bumpPopular(it: number): void {
    if (this.popDirty) return;
    const top = this.popTop;
    const c = this.counts;
    let pos = top.indexOf(it);
    if (pos < 0) {
      const last = top.length - 1;
      if (last >= 0 && top.length >= this.popSize && !(c[it] > c[top[last]] || (c[it] === c[top[last]] && it < top[last]))) return;
      if (top.length < this.popSize) {
        // the list holds every live item: it was scanned when smaller, rescan rather than guess
        this.popDirty = true;
        return;
      }
      pos = last;
      top[pos] = it;
    }
    while (pos > 0 && (c[top[pos - 1]] < c[it] || (c[top[pos - 1]] === c[it] && top[pos - 1] > it))) {
      top[pos] = top[pos - 1];
      pos--;
    }
    top[pos] = it;
  }

  /** Items sharing the most categorical / tag values with `item`, popularity breaking ties. */
  private contentSimilar(item: number, exclude: Set<number>, k: number, category: number | null): RecommendedItem[] {
    const cols: number[] = [];
    const mine: Int32Array[] = [];
    this.ds.items.columns.forEach((col, ci) => {
      if (col.kind !== 'categorical' && col.kind !== 'multi-categorical' && col.kind !== 'id') return;
      const codes = this.codesOf(item, ci);
      if (codes.length) {
        cols.push(ci);
        mine.push(codes);
      }
    });
    const heap = new TopK(k);
    const maxCount = this.counts[this.popularOrder()[0]] || 1;
    for (let it = 0; it < this.itemIds.size; it++) {
      if (it === item || this.deleted[it] || exclude.has(it)) continue;
      if (category !== null && !this.hasCode(it, this.categoryCol, category)) continue;
      let shared = 0;
      for (let j = 0; j < cols.length; j++) for (const code of mine[j]) if (this.hasCode(it, cols[j], code)) shared++;
      if (shared === 0) continue;
      heap.push(it, shared + 0.5 * (this.counts[it] / maxCount));
    }
    const ids = new Int32Array(heap.size);
    const scores = new Float32Array(heap.size);
    heap.drainSorted(ids, scores);
    const labels = cols.map((ci, j) => {
      const col = this.ds.items.columns[ci] as Extract<FeatureColumn, { vocab: Vocabulary }>;
      return Array.from(mine[j], (code) => `${col.name}=${code < col.vocab.size ? col.vocab.values[code] : '(new value)'}`).join(', ');
    });
    return Array.from(ids, (it, i) => ({ id: this.itemIds.values[it], score: round(scores[i]), source: 'content', explanation: `shares feature values with the item (${labels.join('; ')})` }));
  }

  // ---------------------------------------------------------------- live updates

  /**
   * Checks a batch of events against the model without changing anything: every item must exist and
   * every type be declared. Throws EngineInputError naming the first bad field (`events[3].item`).
   */
  checkEvents(events: readonly EventInput[]): CheckedEvent[] {
    const types = this.ds.eventTypes;
    const now = this.now();
    return events.map((e, i) => {
      if (typeof e.user !== 'string' || e.user === '') throw new EngineInputError(`events[${i}].user`, 'must be a non-empty string');
      if (typeof e.item !== 'string' || e.item === '') throw new EngineInputError(`events[${i}].item`, 'must be a non-empty string');
      const itemIndex = this.itemIds.get(e.item);
      if (itemIndex < 0) throw new EngineInputError(`events[${i}].item`, `unknown item '${e.item}'`);
      const type = e.type ?? types[0].name;
      const typeIndex = types.findIndex((t) => t.name === type);
      if (typeIndex < 0) throw new EngineInputError(`events[${i}].type`, `unknown event type '${type}' (known: ${types.map((t) => t.name).join(', ')})`);
      const timestamp = e.timestamp ?? now;
      if (!Number.isFinite(timestamp) || timestamp < 0) throw new EngineInputError(`events[${i}].timestamp`, 'must be seconds since the epoch');
      const value = e.value ?? 1;
      if (!Number.isFinite(value)) throw new EngineInputError(`events[${i}].value`, 'must be a finite number');
      return { user: e.user, item: e.item, itemIndex, type, typeIndex, value, timestamp };
    });
  }

  /** Applies checked events: each user's history grows at once and popularity counts move. */
  applyEvents(events: readonly CheckedEvent[]): void {
    for (const e of events) {
      const u = this.liveUser(e.user);
      const w = this.eventWeight[e.typeIndex];
      u.items.push(e.itemIndex);
      u.weights.push(w);
      u.timestamps.push(e.timestamp);
      if (w > 0) {
        this.counts[e.itemIndex] += w;
        this.bumpPopular(e.itemIndex);
      }
    }
    this.eventsApplied += events.length;
  }

  /** Checks an item's features against the schema; returns them normalised. Throws EngineInputError. */
  checkItemFeatures(features: FeatureRow): FeatureRow {
    return this.checkFeatures(features, this.ds.items.specs(), 'features');
  }

  checkUserFeatures(features: FeatureRow): FeatureRow {
    return this.checkFeatures(features, this.ds.users.specs(), 'features');
  }

  /**
   * Adds item `id` or replaces its features (checked by checkItemFeatures first); a deleted item
   * comes back. Returns true when the item is new.
   */
  upsertItem(id: string, features: FeatureRow): boolean {
    const isNew = !this.itemIds.has(id);
    const it = this.itemIds.add(id);
    this.ensureItems(this.itemIds.size);
    this.overlay.set(it, this.encodeRow(features));
    if (this.deleted[it]) {
      this.deleted[it] = 0;
      this.deletedCount--;
    }
    this.popDirty = true;
    this.catMasks.clear();
    for (const s of this.sources) s.upsertItem?.(it, features);
    return isNew;
  }

  /** Removes item `id` from every answer from now on. Throws UnknownEntityError when it does not exist. */
  deleteItem(id: string): void {
    const it = this.itemIds.get(id);
    if (it < 0 || this.deleted[it]) throw new UnknownEntityError('item', id);
    this.deleted[it] = 1;
    this.deletedCount++;
    this.popDirty = true;
    this.catMasks.clear();
    for (const s of this.sources) s.removeItem?.(it);
  }

  /** Sets user `id`'s features (checked by checkUserFeatures first). Returns true when the user is new. */
  upsertUser(id: string, features: FeatureRow): boolean {
    const isNew = !this.live.has(id) && !this.userIds.has(id);
    this.liveUser(id).features = features;
    return isNew;
  }

  /**
   * A short human label for an item: its title-like text feature (as tokens: the model keeps text
   * tokenised), or '' when it has none.
   */
  itemLabel(id: string): string {
    const it = this.itemIds.get(id);
    if (it < 0) return '';
    const cols = this.ds.items.columns;
    const ci = Math.max(cols.findIndex((c) => c.kind === 'text' && /title|name/i.test(c.name)), cols.findIndex((c) => c.kind === 'text'));
    if (ci < 0) return '';
    const o = this.overlay.get(it);
    if (o) return typeof o.raw[cols[ci].name] === 'string' ? (o.raw[cols[ci].name] as string) : '';
    const c = cols[ci];
    if (it >= this.trainedItems || c.kind !== 'text') return '';
    return Array.from(c.codes.subarray(c.offsets[it], c.offsets[it + 1]), (x) => c.vocab.values[x] ?? '').join(' ');
  }

  /** Up to `limit` ids of users with training history (for load tests and examples). */
  activeUsers(limit: number): string[] {
    const { offsets } = this.userHist;
    const out: string[] = [];
    for (let u = 0; u < this.userIds.size && out.length < limit; u++) if (offsets[u + 1] > offsets[u]) out.push(this.userIds.values[u]);
    return out;
  }

  /** Up to `limit` ids of live items. */
  liveItems(limit: number): string[] {
    const out: string[] = [];
    for (let it = 0; it < this.itemIds.size && out.length < limit; it++) if (!this.deleted[it]) out.push(this.itemIds.values[it]);
    return out;
  }

  hasItem(id: string): boolean {
    const it = this.itemIds.get(id);
    return it >= 0 && !this.deleted[it];
  }

  // ---------------------------------------------------------------- helpers

  private liveUser(id: string): LiveUser {
    let u = this.live.get(id);
    if (!u) {
      u = { index: this.userIds.get(id), items: [], weights: [], timestamps: [], features: null };
      this.live.set(id, u);
    }
    return u;
  }

  /** The scratch history, grown to hold `n` entries. */
  private historyScratch(n: number): History {
    const h = this.hist;
    if (h.items.length < n) {
      const m = Math.max(n, h.items.length * 2);
      this.hist = { n: 0, items: new Int32Array(m), weights: new Float32Array(m), timestamps: new Float64Array(m) };
    }
    this.hist.n = n;
    return this.hist;
  }

  /** The user's training history followed by their live events, in the scratch arrays. */
  private buildHistory(index: number, lu: LiveUser | undefined): History {
    const { offsets, rows } = this.userHist;
    const a = index >= 0 ? offsets[index] : 0;
    const b = index >= 0 ? offsets[index + 1] : 0;
    const live = lu ? lu.items.length : 0;
    const h = this.historyScratch(b - a + live);
    const x = this.ds.interactions;
    let j = 0;
    for (let k = a; k < b; k++, j++) {
      const r = rows[k];
      h.items[j] = x.item[r];
      h.weights[j] = this.eventWeight[x.event[r]];
      h.timestamps[j] = x.timestamp[r];
    }
    for (let k = 0; k < live; k++, j++) {
      h.items[j] = lu!.items[k];
      h.weights[j] = lu!.weights[k];
      h.timestamps[j] = lu!.timestamps[k];
    }
    return h;
  }

  /** A known user's features from the model, as a feature row. */
  private userFeatures(u: number): FeatureRow | null {
    const row: FeatureRow = {};
    let any = false;
    for (const c of this.ds.users.columns) {
      if (c.kind === 'categorical' || c.kind === 'id') {
        if (c.codes[u] >= 0 && c.codes[u] < c.vocab.size) (row[c.name] = c.vocab.values[c.codes[u]]), (any = true);
      } else if (c.kind === 'multi-categorical') {
        if (c.offsets[u + 1] > c.offsets[u]) (row[c.name] = Array.from(c.codes.subarray(c.offsets[u], c.offsets[u + 1]), (x) => c.vocab.values[x] ?? '')), (any = true);
      } else if (c.kind === 'numeric') {
        if (Number.isFinite(c.values[u])) (row[c.name] = c.values[u]), (any = true);
      }
    }
    return any ? row : null;
  }

  private checkK(k: number | undefined): number {
    const v = k ?? 10;
    if (!Number.isInteger(v) || v < 1 || v > this.maxK) throw new EngineInputError('k', `must be an integer from 1 to ${this.maxK}, got ${k}`);
    return v;
  }

  private excludeSet(ids: readonly string[] | undefined, field: string): Set<number> {
    const out = new Set<number>();
    // unknown ids are simply never recommended: nothing to exclude
    if (ids) for (const id of ids) {
      if (typeof id !== 'string') throw new EngineInputError(field, 'must be a list of item ids');
      const it = this.itemIds.get(id);
      if (it >= 0) out.add(it);
    }
    return out;
  }

  private categoryCode(category: string | null | undefined): number | null {
    if (category === null || category === undefined || category === '') return null;
    if (this.categoryCol < 0) throw new EngineInputError('category', 'this model has no category feature (business.categoryFeature)');
    const col = this.ds.items.columns[this.categoryCol] as Extract<FeatureColumn, { vocab: Vocabulary }>;
    return col.vocab.encode(category);
  }

  /** True when item `it`'s column `ci` holds code `code` (upserted features first). */
  private hasCode(it: number, ci: number, code: number): boolean {
    if (code < 0) return false;
    const o = this.overlay.size ? this.overlay.get(it) : undefined;
    if (o) {
      const v = o.cols[ci];
      if (v instanceof Int32Array) for (let j = 0; j < v.length; j++) if (v[j] === code) return true;
      return false;
    }
    if (it >= this.trainedItems) return false;
    const col = this.ds.items.columns[ci];
    if (col.kind === 'categorical' || col.kind === 'id') return col.codes[it] === code;
    if (col.kind === 'multi-categorical' || col.kind === 'text') {
      for (let j = col.offsets[it]; j < col.offsets[it + 1]; j++) if (col.codes[j] === code) return true;
    }
    return false;
  }

  private codesOf(it: number, ci: number): Int32Array {
    const o = this.overlay.get(it);
    if (o) return o.cols[ci] instanceof Int32Array ? (o.cols[ci] as Int32Array) : new Int32Array(0);
    if (it >= this.trainedItems) return new Int32Array(0);
    const col = this.ds.items.columns[ci];
    if (col.kind === 'categorical' || col.kind === 'id') return col.codes[it] >= 0 ? Int32Array.of(col.codes[it]) : new Int32Array(0);
    if (col.kind === 'multi-categorical' || col.kind === 'text') return col.codes.slice(col.offsets[it], col.offsets[it + 1]);
    return new Int32Array(0);
  }

  private numberOf(it: number, ci: number): number {
    const o = this.overlay.size ? this.overlay.get(it) : undefined;
    if (o) return typeof o.cols[ci] === 'number' ? (o.cols[ci] as number) : NaN;
    if (it >= this.trainedItems) return NaN;
    const col = this.ds.items.columns[ci];
    return col.kind === 'numeric' ? col.values[it] : NaN;
  }

  private encodeRow(raw: FeatureRow): EncodedRow {
    const cols = this.ds.items.columns.map((c): Int32Array | number | Float32Array | null => {
      const v = raw[c.name];
      if (v === null || v === undefined) return null;
      switch (c.kind) {
        case 'categorical':
        case 'id':
          return Int32Array.of(c.vocab.encode(String(v)));
        case 'multi-categorical':
        case 'text': {
          const parts = typeof v === 'string' ? (c.kind === 'text' ? v.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [] : v.split(/[|,]/).map((s) => s.trim()).filter(Boolean)) : Array.from(v as ArrayLike<unknown>, String);
          return Int32Array.from(parts, (p) => c.vocab.encode(p));
        }
        case 'numeric':
          return Number(v);
        case 'vector':
          return Float32Array.from(v as ArrayLike<number>);
      }
    });
    return { raw, cols };
  }

  /** Checks a feature row against `specs`: known names, values of the right kind. */
  private checkFeatures(features: FeatureRow, specs: FeatureSpec[], field: string): FeatureRow {
    if (features === null || typeof features !== 'object' || Array.isArray(features)) throw new EngineInputError(field, 'must be an object of feature values');
    const out: FeatureRow = {};
    for (const [name, v] of Object.entries(features)) {
      const spec = specs.find((s) => s.name === name);
      const f = `${field}.${name}`;
      if (!spec) throw new EngineInputError(f, `unknown feature (known: ${specs.map((s) => s.name).join(', ') || 'none'})`);
      if (v === null || v === undefined) continue;
      switch (spec.kind) {
        case 'categorical':
        case 'id':
          if (typeof v !== 'string' && typeof v !== 'number') throw new EngineInputError(f, 'must be a string');
          out[name] = String(v);
          break;
        case 'multi-categorical':
          if (typeof v === 'string') out[name] = v.split(/[|,]/).map((s) => s.trim()).filter(Boolean);
          else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[name] = v as string[];
          else throw new EngineInputError(f, 'must be a list of strings');
          break;
        case 'text':
          if (typeof v !== 'string') throw new EngineInputError(f, 'must be a string');
          out[name] = v;
          break;
        case 'numeric':
          if (typeof v !== 'number' || !Number.isFinite(v)) throw new EngineInputError(f, 'must be a finite number');
          out[name] = v;
          break;
        case 'vector':
          if (!Array.isArray(v) || v.length !== spec.dim || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new EngineInputError(f, `must be a list of ${spec.dim} finite numbers`);
          out[name] = v as number[];
          break;
      }
    }
    return out;
  }

  private nextGen(): number {
    if (this.gen === 0x7fffffff) {
      this.gen = 0;
      this.exStamp.fill(0);
      this.candStamp.fill(0);
    }
    return ++this.gen;
  }

  private ensureItems(n: number): void {
    if (n <= this.cap) return;
    const cap = Math.max(n, Math.ceil(this.cap * 1.25) + 16);
    const grow = <T extends Int32Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.deleted = grow(this.deleted, (m) => new Uint8Array(m));
    this.counts = grow(this.counts, (m) => new Float64Array(m));
    this.exStamp = grow(this.exStamp, (m) => new Int32Array(m));
    this.candStamp = grow(this.candStamp, (m) => new Int32Array(m));
    this.candSlot = grow(this.candSlot, (m) => new Int32Array(m));
    this.cap = cap;
  }

  private ensureCandidates(n: number): void {
    const c = this.cand;
    if (n <= c.items.length) return;
    const S = Math.max(1, this.sources.length);
    const m = Math.max(n, c.items.length * 2);
    const grow = <T extends Int32Array | Uint8Array | Float32Array>(a: T, len: number, make: (n: number) => T): T => {
      const b = make(len);
      b.set(a);
      return b;
    };
    c.items = grow(c.items, m, (x) => new Int32Array(x));
    c.scores = grow(c.scores, m, (x) => new Float32Array(x));
    c.source = grow(c.source, m, (x) => new Uint8Array(x));
    c.sourceScores = grow(c.sourceScores, m * S, (x) => new Float32Array(x));
    c.sourceRanks = grow(c.sourceRanks, m * S, (x) => new Int32Array(x));
    this.bestRank = grow(this.bestRank, m, (x) => new Int32Array(x));
    this.final = grow(this.final, m, (x) => new Float32Array(x));
  }
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
