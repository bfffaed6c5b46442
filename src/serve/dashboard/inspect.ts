/**
 * Read-only views of a live Recommender for the dashboard: a user's history with titles and
 * categories, the L1-only order beside the final one, an item's features and popularity over time.
 *
 * The Recommender exposes no introspection API yet, so this module is the one place that reads its
 * private state (by element access, which TypeScript still type-checks: a rename there breaks the
 * build here, not the page at run time). Everything here only reads; nothing is changed.
 */
import type { Dataset, FeatureColumn } from '../../data/index.ts';
import type { FeatureRow, ModelManifest, Recommender, RecommendedItem } from '../../pipeline/index.ts';

type Value = string | number | string[] | number[] | null;

/** One line of a user's history, newest first in `userView`. */
export interface HistoryEntry {
  item: string;
  title: string;
  category: string;
  /** Event type name (`live` events carry the type of their signed weight). */
  type: string;
  weight: number;
  timestamp: number;
  live: boolean;
}

/** A recommendation with its explanation taken apart for display. */
export interface ShownItem extends RecommendedItem {
  title: string;
  category: string;
  /** `found by two-tower #3, ease #7` as data. */
  foundBy: { source: string; rank: number }[];
  /** `ranked up by f1, f2`: the ranker features that raised the item most. */
  rankedUpBy: string[];
  /** Everything else the explanation said (boosts, fallbacks). */
  notes: string[];
}

export interface UserView {
  user: string;
  known: boolean;
  features: FeatureRow | null;
  historyLength: number;
  history: HistoryEntry[];
  strategy: string;
  recommendations: ShownItem[];
  /** The same request ordered by the fused L1 score alone (no ranker); null when no L1 source ran. */
  l1: ShownItem[] | null;
  hasRanker: boolean;
}

export interface ItemView {
  item: string;
  title: string;
  category: string;
  trained: boolean;
  features: Record<string, Value>;
  /** Weighted positive events (training plus live). */
  popularity: number;
  /** Training interactions per time bin: bin starts (seconds) and counts. */
  timeline: { start: number[]; count: number[] };
}

/** Typed handles on the Recommender's private state; see the module comment. */
function internals(rec: Recommender) {
  return {
    ds: rec['ds'],
    userHist: rec['userHist'],
    live: rec['live'],
    overlay: rec['overlay'],
    counts: rec['counts'],
    deleted: rec['deleted'],
    eventWeight: rec['eventWeight'],
    ranker: rec['ranker'],
    sources: rec['sources'],
    maxHistory: rec['maxHistory'],
    categoryCol: rec['categoryCol'],
  };
}

/** Value of column `c` for row `r` as plain JSON. */
export function columnValue(c: FeatureColumn, r: number): Value {
  switch (c.kind) {
    case 'categorical':
    case 'id':
      return c.codes[r] >= 0 && c.codes[r] < c.vocab.size ? c.vocab.values[c.codes[r]] : null;
    case 'multi-categorical':
    case 'text': {
      if (r + 1 >= c.offsets.length) return null;
      const parts = Array.from(c.codes.subarray(c.offsets[r], c.offsets[r + 1]), (x) => c.vocab.values[x] ?? '?');
      return c.kind === 'text' ? parts.join(' ') : parts;
    }
    case 'numeric':
      return Number.isFinite(c.values[r]) ? c.values[r] : null;
    case 'vector':
      return Array.from(c.values.subarray(r * c.dim, (r + 1) * c.dim), (x) => Math.round(x * 1e4) / 1e4);
  }
}

/** The item column the dashboard calls "category": the business category feature, else the first categorical one. */
function categoryColumn(rec: Recommender): number {
  const { ds, categoryCol } = internals(rec);
  if (categoryCol >= 0) return categoryCol;
  return ds.items.columns.findIndex((c) => c.kind === 'categorical' || c.kind === 'multi-categorical');
}

function categoryOf(rec: Recommender, ds: Dataset, ci: number, it: number, raw: FeatureRow | undefined): string {
  if (ci < 0) return '';
  const col = ds.items.columns[ci];
  const v = raw ? raw[col.name] : it < rec.trainedItems ? columnValue(col, it) : null;
  if (v === null || v === undefined) return '';
  return Array.isArray(v) ? v.join(', ') : String(v);
}

/** Title and category of item `id` (empty strings when the model has no such features). */
export function describeItem(rec: Recommender, id: string): { title: string; category: string } {
  const { ds, overlay } = internals(rec);
  const it = ds.items.ids.get(id);
  if (it < 0) return { title: '', category: '' };
  return { title: rec.itemLabel(id), category: categoryOf(rec, ds, categoryColumn(rec), it, overlay.get(it)?.raw) };
}

/**
 * Splits an engine explanation (`found by a #1, b #4; ranked up by f1, f2; boosted for x=y`) into parts.
 * @example parseExplanation('found by ease #2; ranked up by age').foundBy // [{ source: 'ease', rank: 2 }]
 */
export function parseExplanation(text: string): { foundBy: { source: string; rank: number }[]; rankedUpBy: string[]; notes: string[] } {
  const foundBy: { source: string; rank: number }[] = [];
  const rankedUpBy: string[] = [];
  const notes: string[] = [];
  for (const part of text.split('; ')) {
    const f = /^(?:found|similar) by (.*)$/.exec(part);
    const r = /^ranked up by (.*)$/.exec(part);
    if (f) {
      for (const s of f[1].split(', ')) {
        const m = /^(.*) #(\d+)$/.exec(s);
        if (m) foundBy.push({ source: m[1], rank: Number(m[2]) });
        else notes.push(s);
      }
    } else if (r) rankedUpBy.push(...r[1].split(', '));
    else if (part) notes.push(part);
  }
  return { foundBy, rankedUpBy, notes };
}

function show(rec: Recommender, items: readonly RecommendedItem[]): ShownItem[] {
  return items.map((r) => ({ ...r, ...describeItem(rec, r.id), ...parseExplanation(r.explanation) }));
}

function typeOfWeight(ds: Dataset, w: number): string {
  const t = ds.eventTypes.find((e) => (e.negative ? -e.weight : e.weight) === w);
  return t ? t.name : 'event';
}

/**
 * Everything the user page shows for user `id`: history (newest first, at most `historyLimit`),
 * the final recommendations and the L1-only order of the same request.
 * @example userView(rec, '42', 10, 50).recommendations[0].foundBy
 */
export function userView(rec: Recommender, id: string, k: number, historyLimit: number): UserView {
  const I = internals(rec);
  const { ds } = I;
  const index = ds.users.ids.get(id);
  const lu = I.live.get(id);
  const catCol = categoryColumn(rec);
  const x = ds.interactions;
  // newest first: live events (appended in arrival order) come after the training history
  const history: HistoryEntry[] = [];
  const push = (it: number, type: string, weight: number, timestamp: number, live: boolean): void => {
    const itemId = ds.items.ids.values[it];
    history.push({ item: itemId, title: rec.itemLabel(itemId), category: categoryOf(rec, ds, catCol, it, I.overlay.get(it)?.raw), type, weight, timestamp, live });
  };
  if (lu) for (let j = lu.items.length - 1; j >= 0 && history.length < historyLimit; j--) push(lu.items[j], typeOfWeight(ds, lu.weights[j]), lu.weights[j], lu.timestamps[j], true);
  let trainedLen = 0;
  if (index >= 0) {
    const { offsets, rows } = I.userHist;
    trainedLen = offsets[index + 1] - offsets[index];
    for (let j = offsets[index + 1] - 1; j >= offsets[index] && history.length < historyLimit; j--) {
      const r = rows[j];
      push(x.item[r], ds.eventTypes[x.event[r]].name, I.eventWeight[x.event[r]], x.timestamp[r], false);
    }
  }
  const final = rec.recommendForUser(id, { k });
  const features = lu?.features ?? (index >= 0 ? rec['userFeatures'](index) : null);
  return {
    user: id,
    known: index >= 0 || lu !== undefined,
    features,
    historyLength: trainedLen + (lu ? lu.items.length : 0),
    history,
    strategy: final.strategy,
    recommendations: show(rec, final.items),
    l1: final.strategy === 'personal' ? show(rec, l1Order(rec, index, lu, k)) : null,
    hasRanker: I.ranker !== null,
  };
}

/** The personalised request of recommendForUser, ranked by the fused L1 score only (business rules still apply). */
function l1Order(rec: Recommender, index: number, lu: ReturnType<Recommender['live']['get']>, k: number): RecommendedItem[] {
  const I = internals(rec);
  const hist = rec['buildHistory'](index, lu);
  const exclude = new Set<number>();
  if (rec.manifest.business.excludeSeen) for (const it of hist.items) exclude.add(it);
  // the latest maxHistory trained items, oldest first, as recommendFrom builds them
  let n = 0;
  let from = hist.items.length;
  while (from > 0 && n < I.maxHistory) if (hist.items[--from] < rec.trainedItems) n++;
  if (n === 0 || I.sources.length === 0) return [];
  const q = { user: index, history: new Int32Array(n), weights: new Float32Array(n), timestamps: new Float64Array(n) };
  let j = 0;
  for (let i = from; i < hist.items.length; i++) {
    if (hist.items[i] >= rec.trainedItems) continue;
    q.history[j] = hist.items[i];
    q.weights[j] = hist.weights[i];
    q.timestamps[j++] = hist.timestamps[i];
  }
  return rec['mergedTopK'](q, exclude, k, null, false, false);
}

/** Time bins shared by every item of one model: [min, max] of the training timestamps cut in `bins`. */
const binCache = new WeakMap<Dataset, { t0: number; width: number; bins: number }>();
function timeBins(ds: Dataset, bins = 24): { t0: number; width: number; bins: number } {
  let b = binCache.get(ds);
  if (b) return b;
  const ts = ds.interactions.timestamp;
  let lo = Infinity;
  let hi = -Infinity;
  for (let r = 0; r < ts.length; r++) {
    if (ts[r] < lo) lo = ts[r];
    if (ts[r] > hi) hi = ts[r];
  }
  if (!(hi >= lo)) (lo = 0), (hi = 1);
  b = { t0: lo, width: Math.max(1, (hi - lo) / bins), bins };
  binCache.set(ds, b);
  return b;
}

/**
 * The item page: features, popularity and its training interactions over time (one scan of the
 * interaction log, a few milliseconds per million rows). Null when the item does not exist.
 * @example itemView(rec, '50')?.timeline.count
 */
export function itemView(rec: Recommender, id: string): ItemView | null {
  const I = internals(rec);
  const { ds } = I;
  const it = ds.items.ids.get(id);
  if (it < 0 || (it < I.deleted.length && I.deleted[it])) return null;
  const raw = I.overlay.get(it)?.raw;
  const features: Record<string, Value> = {};
  for (const c of ds.items.columns) {
    if (raw) {
      const v = raw[c.name];
      features[c.name] = v === undefined ? null : (v as Value);
    } else features[c.name] = it < rec.trainedItems ? columnValue(c, it) : null;
  }
  const { t0, width, bins } = timeBins(ds);
  const count = new Array<number>(bins).fill(0);
  const x = ds.interactions;
  for (let r = 0; r < x.length; r++) {
    if (x.item[r] !== it) continue;
    count[Math.min(bins - 1, Math.floor((x.timestamp[r] - t0) / width))]++;
  }
  return {
    item: id,
    ...describeItem(rec, id),
    trained: it < rec.trainedItems,
    features,
    popularity: it < I.counts.length ? I.counts[it] : 0,
    timeline: { start: Array.from({ length: bins }, (_, i) => t0 + i * width), count },
  };
}

/** Up to `limit` user ids containing `q` (case-insensitive), users with history first; live users too. */
export function searchUsers(rec: Recommender, q: string, limit: number): string[] {
  const I = internals(rec);
  const needle = q.toLowerCase();
  const out: string[] = [];
  const ids = I.ds.users.ids.values;
  for (let u = 0; u < ids.length && out.length < limit; u++) if (ids[u].toLowerCase().includes(needle)) out.push(ids[u]);
  for (const id of I.live.keys()) if (out.length < limit && !out.includes(id) && id.toLowerCase().includes(needle)) out.push(id);
  return out;
}

/**
 * Up to `limit` live items whose id contains `q` or whose title holds every word of `q` (each as part
 * of a title word), with title and category; an exact id first. Titles are matched on their token
 * codes, not rebuilt as strings: a miss scans a million items in milliseconds, not seconds.
 */
export function searchItems(rec: Recommender, q: string, limit: number): { id: string; title: string; category: string }[] {
  const I = internals(rec);
  const { ds } = I;
  const needle = q.toLowerCase().trim();
  const ids = ds.items.ids.values;
  const out: { id: string; title: string; category: string }[] = [];
  const taken = new Set<number>();
  const take = (it: number): void => {
    taken.add(it);
    out.push({ id: ids[it], ...describeItem(rec, ids[it]) });
  };
  const live = (it: number): boolean => !(it < I.deleted.length && I.deleted[it]);
  const exact = ds.items.ids.get(q);
  if (exact >= 0 && live(exact)) take(exact);
  // the title column as itemLabel picks it; per query word, which vocabulary words contain it
  const cols = ds.items.columns;
  const ci = Math.max(cols.findIndex((c) => c.kind === 'text' && /title|name/i.test(c.name)), cols.findIndex((c) => c.kind === 'text'));
  const col = ci >= 0 ? cols[ci] : null;
  const words = needle.split(/\s+/).filter(Boolean);
  const hits = col && col.kind === 'text' && words.length ? words.map((w) => Uint8Array.from(col.vocab.values, (v) => (v.toLowerCase().includes(w) ? 1 : 0))) : [];
  // a word no vocabulary word contains rules out every trained title at once
  const possible = hits.length > 0 && hits.every((h) => h.includes(1));
  const titleMatches = (it: number): boolean => {
    if (!col || col.kind !== 'text' || hits.length === 0) return false;
    const o = I.overlay.get(it);
    if (o) return words.every((w) => String(o.raw[col.name] ?? '').toLowerCase().includes(w));
    if (it >= rec.trainedItems || !possible) return false;
    for (const h of hits) {
      let any = false;
      for (let j = col.offsets[it]; j < col.offsets[it + 1] && !any; j++) any = h[col.codes[j]] === 1;
      if (!any) return false;
    }
    return true;
  };
  const lower = idsAreLowerCase(ds, rec.trainedItems);
  for (let it = 0; it < ids.length && out.length < limit; it++) {
    if (taken.has(it) || !live(it)) continue;
    if ((lower ? ids[it] : ids[it].toLowerCase()).includes(needle) || titleMatches(it)) take(it);
  }
  return out;
}

/** True when no trained item id has an upper-case letter (then search skips lower-casing each id). */
const lowerIds = new WeakMap<Dataset, boolean>();
function idsAreLowerCase(ds: Dataset, trained: number): boolean {
  let v = lowerIds.get(ds);
  if (v === undefined) {
    v = ds.items.ids.values.slice(0, trained).every((id) => id === id.toLowerCase());
    lowerIds.set(ds, v);
  }
  // ids added live after the check may not be: check those few each time
  if (v) for (let it = trained; it < ds.items.ids.size; it++) if (ds.items.ids.values[it] !== ds.items.ids.values[it].toLowerCase()) return false;
  return v;
}

/** The most popular live items with title and category (for the try-a-new-user form). */
export function popularItems(rec: Recommender, limit: number): { id: string; title: string; category: string; popularity: number }[] {
  const I = internals(rec);
  const order = rec['popularOrder']();
  const out: { id: string; title: string; category: string; popularity: number }[] = [];
  for (let i = 0; i < order.length && out.length < limit; i++) {
    const id = I.ds.items.ids.values[order[i]];
    out.push({ id, ...describeItem(rec, id), popularity: I.counts[order[i]] });
  }
  return out;
}

/** The user features a form can offer: categorical ones with their most frequent values, numeric ones with their range. */
export function userFeatureChoices(rec: Recommender, maxValues = 30): { name: string; kind: string; values?: string[]; min?: number; max?: number }[] {
  const { ds } = internals(rec);
  const out: { name: string; kind: string; values?: string[]; min?: number; max?: number }[] = [];
  for (const c of ds.users.columns) {
    if (c.kind === 'categorical') {
      const n = new Float64Array(c.vocab.size);
      for (let u = 0; u < c.codes.length; u++) if (c.codes[u] >= 0 && c.codes[u] < n.length) n[c.codes[u]]++;
      const order = Array.from(n.keys()).sort((a, b) => n[b] - n[a]).slice(0, maxValues);
      out.push({ name: c.name, kind: c.kind, values: order.map((i) => c.vocab.values[i]) });
    } else if (c.kind === 'numeric') {
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of c.values) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
      if (hi >= lo) out.push({ name: c.name, kind: c.kind, min: lo, max: hi });
    }
  }
  return out;
}

/** Any per-epoch training history recorded in the manifest (an array of objects with an `epoch` field), by where it was found. */
export function trainingHistories(manifest: ModelManifest): { path: string; epochs: Record<string, number>[] }[] {
  const out: { path: string; epochs: Record<string, number>[] }[] = [];
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > 6 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      if (v.length > 0 && v.every((e) => e !== null && typeof e === 'object' && typeof (e as Record<string, unknown>).epoch === 'number')) {
        out.push({ path, epochs: v.map((e) => Object.fromEntries(Object.entries(e as Record<string, unknown>).filter(([, x]) => typeof x === 'number' && Number.isFinite(x))) as Record<string, number>) });
      }
      return;
    }
    for (const [key, x] of Object.entries(v)) if (key !== 'files' && key !== 'schema') walk(x, path ? `${path}.${key}` : key, depth + 1);
  };
  walk(manifest, '', 0);
  return out;
}
