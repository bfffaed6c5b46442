/**
 * Content similarity: items sharing categorical feature values (category, tags, brand) with the items
 * of the query's recent history, popular ones first among equals. It needs no interactions on the
 * candidate side, so it answers for items added live (the trained sources cannot know them) and for
 * "similar items" of a new item.
 */
import type { Dataset } from '../data/index.ts';
import type { FeatureRow, ItemCatalog } from '../features/index.ts';
import { TopK } from '../math/index.ts';
import { schema, type Infer } from '../schema/index.ts';
import { loadArrays, saveArrays } from './arrays-io.ts';
import type { FileReader } from '../vectors/index.ts';
import { defineSourceKind, noCandidates, type CandidateSource, type RequestContext, type ScoredItems, type UserQuery } from './source.ts';

/** The `content` stage's parameters. */
export const CONTENT_PARAMS = schema({
  recent: { type: 'number', integer: true, min: 1, default: 5, description: "the query's latest positive items whose feature values count (the newest weighs most)" },
  maxPosting: { type: 'number', integer: true, min: 1, default: 100000, description: 'feature values held by more items than this are ignored (they say little and cost a catalog scan)' },
  popularity: { type: 'number', min: 0, max: 1, default: 0.5, description: 'weight of (item popularity / the most popular) added to break ties' },
});

type ContentParams = Infer<typeof CONTENT_PARAMS>;

/**
 * @example const c = new ContentSource(catalog); c.fit(train); c.candidates({ user: -1, history: Int32Array.of(7) }, 10)
 */
export class ContentSource implements CandidateSource {
  /** Categorical, multi-categorical and id columns of the catalog that take part. */
  private readonly cols: number[];
  /** Per column: code -> items holding it (grown by live upserts). */
  private postings: Map<number, number[]>[] = [];
  private counts = new Float32Array(0);
  private maxCount = 1;
  private acc = new Float32Array(0);
  private touched: number[] = [];

  constructor(
    private readonly catalog: ItemCatalog,
    readonly name = 'content',
    readonly params: ContentParams = { recent: 5, maxPosting: 100000, popularity: 0.5 },
  ) {
    this.cols = [];
    catalog.columns.forEach((c, ci) => {
      if (c.kind === 'categorical' || c.kind === 'multi-categorical' || c.kind === 'id') this.cols.push(ci);
    });
    this.buildPostings();
  }

  private buildPostings(): void {
    this.postings = this.cols.map(() => new Map<number, number[]>());
    for (let it = 0; it < this.catalog.size; it++) this.index(it);
  }

  private index(it: number): void {
    this.cols.forEach((ci, k) => {
      const codes = this.catalog.codes(it, ci);
      for (let j = 0; j < codes.length; j++) {
        let l = this.postings[k].get(codes[j]);
        if (!l) this.postings[k].set(codes[j], (l = []));
        l.push(it);
      }
    });
  }

  /** Learns item popularity (positive events, weighted by type) for tie-breaks. */
  fit(train: Dataset): void {
    const x = train.interactions;
    const w = train.eventTypes.map((e) => (e.negative ? 0 : e.weight));
    const c = new Float32Array(train.numItems);
    for (let r = 0; r < x.length; r++) c[x.item[r]] += w[x.event[r]];
    this.setCounts(c);
  }

  private setCounts(c: Float32Array): void {
    this.counts = Float32Array.from(c);
    let m = 0;
    for (let i = 0; i < c.length; i++) if (c[i] > m) m = c[i];
    this.maxCount = m || 1;
  }

  candidates(query: UserQuery, n: number, exclude?: ReadonlySet<number>, ctx?: RequestContext): ScoredItems {
    if (n <= 0 || this.cols.length === 0) return noCandidates();
    const h = query.history;
    const size = this.catalog.size;
    if (this.acc.length < size) this.acc = new Float32Array(Math.max(size, Math.ceil(this.acc.length * 1.25)));
    const acc = this.acc;
    const touched = this.touched;
    touched.length = 0;
    const allow = ctx?.allow;
    const own = new Set<number>();
    // the latest `recent` positive items, newest weighing most
    let used = 0;
    for (let e = h.length - 1; e >= 0 && used < this.params.recent; e--) {
      const it = h[e];
      if (query.weights && !(query.weights[e] > 0)) continue;
      if (!(it >= 0 && it < size) || own.has(it)) continue;
      own.add(it);
      const w = 1 / (1 + used);
      used++;
      this.cols.forEach((ci, k) => {
        const codes = this.catalog.codes(it, ci);
        for (let j = 0; j < codes.length; j++) {
          const l = this.postings[k].get(codes[j]);
          if (!l || l.length > this.params.maxPosting) continue;
          for (const other of l) {
            if (acc[other] === 0) touched.push(other);
            acc[other] += w;
          }
        }
      });
    }
    if (used === 0) return noCandidates();
    const heap = new TopK(Math.min(n, Math.max(1, touched.length)));
    const pop = this.params.popularity / this.maxCount;
    for (const it of touched) {
      if (!own.has(it) && !exclude?.has(it) && (!allow || allow[it] === 1)) heap.push(it, acc[it] + pop * (it < this.counts.length ? this.counts[it] : 0));
      acc[it] = 0;
    }
    const { ids, scores } = heap.sorted();
    return { items: ids, scores };
  }

  /** A live item joins the postings of its feature values. */
  upsertItem(item: number, _features: FeatureRow): void {
    // a changed item keeps its old postings too: stale entries only add a candidate the business rules still check
    this.index(item);
  }

  async save(dir: string): Promise<void> {
    await saveArrays(dir, 'content', 1, {}, { counts: this.counts });
  }

  static async load(dir: string, catalog: ItemCatalog, name: string, params: ContentParams, files?: FileReader): Promise<ContentSource> {
    const { arrays } = await loadArrays(dir, 'content', 1, files);
    const s = new ContentSource(catalog, name, params);
    s.setCounts(arrays.counts as Float32Array);
    return s;
  }
}

/** Content similarity as an engine stage (a fallback, and similar items for new items). */
export const contentKind = defineSourceKind({
  kind: 'content',
  description: 'items sharing categorical feature values with the recent history, popular first among equals',
  params: CONTENT_PARAMS,
  personalized: true,
  create: (p, ctx) => new ContentSource(ctx.catalog, ctx.name, p),
  load: (dir, p, ctx) => ContentSource.load(dir, ctx.catalog, ctx.name, p, ctx.files),
});
