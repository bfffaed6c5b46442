/**
 * Read-only views of the serving Engine for the dashboard: a user's history with titles and
 * categories, the L1-only order beside the final one, an item's features and popularity over time.
 * Everything goes through the engine's public read API (and the live state for events since the
 * model); nothing here reads private state, and nothing is changed.
 */
import type { Engine, ModelManifest, RecommendedItem } from '../../pipeline/index.ts';
import type { FeatureRow } from '../../features/index.ts';
import type { LiveState, LiveUser } from '../../store/index.ts';

type Value = string | number | string[] | number[] | null;

/** One line of a user's history, newest first in `userView`. */
export interface HistoryEntry {
  item: string;
  title: string;
  category: string;
  /** Event type name. */
  type: string;
  weight: number;
  timestamp: number;
  live: boolean;
}

/** A recommendation with its explanation's data, and the item's title and category. */
export interface ShownItem {
  id: string;
  score: number;
  source: string;
  explanation: string;
  title: string;
  category: string;
  foundBy: { source: string; rank: number }[];
  /** The ranker features that raised the item most. */
  rankedUpBy: string[];
  /** Everything else the explanation says (boosts, fallbacks). */
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
  /** The same request ordered by the fused L1 score alone (no ranker; business rules still apply); null when no L1 source ran. */
  l1: ShownItem[] | null;
  hasRanker: boolean;
}

export interface ItemView {
  item: string;
  title: string;
  category: string;
  trained: boolean;
  features: Record<string, Value>;
  /** Weighted positive events (training plus live), from the popularity stage when there is one. */
  popularity: number;
  /** Training interactions per time bin: bin starts (seconds) and counts. */
  timeline: { start: number[]; count: number[] };
}

/** The item column the dashboard calls "category": the business category column, else the first categorical one. */
function categoryColumn(engine: Engine): number {
  if (engine.business.categoryCol >= 0) return engine.business.categoryCol;
  return engine.catalog.columns.findIndex((c) => c.kind === 'categorical' || c.kind === 'multi-categorical');
}

/** Title and category of item `id` (empty strings when the model has no such features). */
export function describeItem(engine: Engine, id: string): { title: string; category: string } {
  const it = engine.catalog.index(id);
  if (it < 0) return { title: '', category: '' };
  const ci = categoryColumn(engine);
  const v = ci >= 0 ? engine.catalog.value(it, ci) : null;
  return { title: engine.catalog.label(it), category: v === null ? '' : Array.isArray(v) ? v.join(', ') : String(v) };
}

function show(engine: Engine, items: readonly RecommendedItem[]): ShownItem[] {
  return items.map((r) => {
    const e = r.explanation;
    const notes = [...e.adjustments.map((a) => `${a.factor >= 1 ? 'boosted' : 'demoted'} for ${a.rule} (x${a.factor})`), ...(e.fallback ? [e.fallback] : [])];
    return { id: r.id, score: r.score, source: r.source, explanation: e.text, ...describeItem(engine, r.id), foundBy: e.foundBy, rankedUpBy: e.rankedUpBy.map((f) => f.feature), notes };
  });
}

/**
 * Everything the user page shows for user `id`: history (newest first, at most `historyLimit`),
 * the final recommendations and the L1-only order of the same request (the same request with the
 * ranker off: with one source and no ranker the two lists are equal).
 * @example (await userView(engine, state, '42', 10, 50)).recommendations[0].foundBy
 */
export async function userView(engine: Engine, state: LiveState, id: string, k: number, historyLimit: number): Promise<UserView> {
  const lu: LiveUser | null = await state.user(id);
  const known = engine.userIndexOf(id) >= 0;
  const catCol = categoryColumn(engine);
  const history: HistoryEntry[] = [];
  const push = (item: string, type: string, weight: number, timestamp: number, live: boolean): void => {
    const it = engine.catalog.index(item);
    const v = it >= 0 && catCol >= 0 ? engine.catalog.value(it, catCol) : null;
    history.push({ item, title: it >= 0 ? engine.catalog.label(it) : '', category: v === null ? '' : Array.isArray(v) ? v.join(', ') : String(v), type, weight, timestamp, live });
  };
  // newest first: live events (in log order) come after the training history
  if (lu) for (let j = lu.events.length - 1; j >= 0 && history.length < historyLimit; j--) {
    const e = lu.events[j];
    push(e.item, e.type, engine.eventWeightOf(e.type), e.timestamp, true);
  }
  for (const e of engine.trainingHistory(id, Math.max(0, historyLimit - history.length))) push(e.item, e.type, e.weight, e.timestamp, false);
  const final = engine.recommend({ user: id, live: lu, k });
  const l1 = final.strategy === 'personal' ? engine.recommend({ user: id, live: lu, k, ranker: false }) : null;
  return {
    user: id,
    known: known || lu !== null,
    features: (lu?.features as FeatureRow | null | undefined) ?? engine.userFeatures(id),
    historyLength: engine.trainingHistoryLength(id) + (lu ? lu.events.length : 0),
    history,
    strategy: final.strategy,
    recommendations: show(engine, final.items),
    l1: l1 ? show(engine, l1.items) : null,
    hasRanker: engine.hasRanker,
  };
}

/**
 * The item page: features, popularity and its training interactions over time. Null when the item does not exist.
 * @example itemView(engine, '50')?.timeline.count
 */
export function itemView(engine: Engine, id: string): ItemView | null {
  const it = engine.catalog.index(id);
  if (!engine.catalog.isLive(it)) return null;
  const features: Record<string, Value> = {};
  engine.catalog.columns.forEach((c, ci) => (features[c.name] = engine.catalog.value(it, ci)));
  const pop = engine.source(engine.config.fallbacks.find((f) => f.kind === 'popularity')?.name ?? engine.config.sources.find((f) => f.kind === 'popularity')?.name ?? '');
  let popularity = 0;
  if (pop?.scoreItems) {
    const out = new Float32Array(1);
    pop.scoreItems({ user: -1, history: new Int32Array(0) }, [it], out);
    popularity = out[0];
  }
  return {
    item: id,
    ...describeItem(engine, id),
    trained: it < engine.catalog.trained,
    features,
    popularity,
    timeline: engine.itemTimeline(id),
  };
}

/** Up to `limit` user ids containing `q` (case-insensitive): the model's users, then `live` ones (users known only from the log). */
export function searchUsers(engine: Engine, q: string, limit: number, live: Iterable<string> = []): string[] {
  const needle = q.toLowerCase();
  const out: string[] = [];
  const ids = engine.dataset.users.ids.values;
  for (let u = 0; u < ids.length && out.length < limit; u++) if (ids[u].toLowerCase().includes(needle)) out.push(ids[u]);
  for (const id of live) if (out.length < limit && !out.includes(id) && id.toLowerCase().includes(needle)) out.push(id);
  return out;
}

/**
 * Up to `limit` live items whose id contains `q` or whose title holds every word of `q` (each as part
 * of a title word), with title and category; an exact id first. Titles are matched on their token
 * codes, not rebuilt as strings: a miss scans a million items in milliseconds, not seconds.
 */
export function searchItems(engine: Engine, q: string, limit: number): { id: string; title: string; category: string }[] {
  const cat = engine.catalog;
  const needle = q.toLowerCase().trim();
  const ids = cat.ids.values;
  const out: { id: string; title: string; category: string }[] = [];
  const taken = new Set<number>();
  const take = (it: number): void => {
    taken.add(it);
    out.push({ id: ids[it], ...describeItem(engine, ids[it]) });
  };
  const exact = cat.index(q);
  if (cat.isLive(exact)) take(exact);
  // the title column as the catalog's label picks it; per query word, which vocabulary words contain it
  const ci = cat.titleColumn();
  const col = ci >= 0 ? cat.columns[ci] : null;
  const words = needle.split(/\s+/).filter(Boolean);
  const hits = col && col.kind === 'text' && words.length ? words.map((w) => Uint8Array.from(col.vocab.values, (v) => (v.toLowerCase().includes(w) ? 1 : 0))) : [];
  // a word no vocabulary word contains rules out every trained title at once
  const possible = hits.length > 0 && hits.every((h) => h.includes(1));
  const titleMatches = (it: number): boolean => {
    if (!col || col.kind !== 'text' || hits.length === 0) return false;
    const raw = cat.raw(it);
    if (raw) return words.every((w) => String(raw[col.name] ?? '').toLowerCase().includes(w));
    if (it >= cat.trained || !possible) return false;
    for (const h of hits) {
      let any = false;
      for (let j = col.offsets[it]; j < col.offsets[it + 1] && !any; j++) any = h[col.codes[j]] === 1;
      if (!any) return false;
    }
    return true;
  };
  const lower = idsAreLowerCase(engine);
  for (let it = 0; it < ids.length && out.length < limit; it++) {
    if (taken.has(it) || !cat.isLive(it)) continue;
    if ((lower ? ids[it] : ids[it].toLowerCase()).includes(needle) || titleMatches(it)) take(it);
  }
  return out;
}

/** True when no trained item id has an upper-case letter (then search skips lower-casing each id). */
const lowerIds = new WeakMap<Engine, boolean>();
function idsAreLowerCase(engine: Engine): boolean {
  const ids = engine.catalog.ids.values;
  const trained = engine.catalog.trained;
  let v = lowerIds.get(engine);
  if (v === undefined) {
    v = ids.slice(0, trained).every((id) => id === id.toLowerCase());
    lowerIds.set(engine, v);
  }
  // ids added live after the check may not be: check those few each time
  if (v) for (let it = trained; it < ids.length; it++) if (ids[it] !== ids[it].toLowerCase()) return false;
  return v;
}

/** The most popular live items with title and category (for the try-a-new-user form). */
export function popularItems(engine: Engine, limit: number): { id: string; title: string; category: string; popularity: number }[] {
  return engine.popularItems(limit).map((p) => ({ id: p.id, ...describeItem(engine, p.id), popularity: p.popularity }));
}

/** The user features a form can offer: categorical ones with their most frequent values, numeric ones with their range. */
export function userFeatureChoices(engine: Engine, maxValues = 30): { name: string; kind: string; values?: string[]; min?: number; max?: number }[] {
  const out: { name: string; kind: string; values?: string[]; min?: number; max?: number }[] = [];
  for (const c of engine.dataset.users.columns) {
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
export function trainingHistories(manifest: ModelManifest): { path: string; title: string; epochs: Record<string, number>[] }[] {
  const out: { path: string; title: string; epochs: Record<string, number>[] }[] = [];
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > 6 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      if (v.length > 0 && v.every((e) => e !== null && typeof e === 'object' && typeof (e as Record<string, unknown>).epoch === 'number')) {
        out.push({ path, title: historyTitle(path), epochs: v.map((e) => Object.fromEntries(Object.entries(e as Record<string, unknown>).filter(([, x]) => typeof x === 'number' && Number.isFinite(x))) as Record<string, number>) });
      }
      return;
    }
    for (const [key, x] of Object.entries(v)) if (key !== 'files' && key !== 'schema') walk(x, path ? `${path}.${key}` : key, depth + 1);
  };
  walk(manifest, '', 0);
  return out;
}

const RUNS: Record<string, string> = { valid: 'validation run', fit: 'final fit' };

/**
 * A chart title for a history's place in the manifest: `parameters.training.two-tower.valid` ->
 * `two-tower (validation run)`; the manifest's own nesting (parameters, training) is left out.
 */
export function historyTitle(path: string): string {
  const parts = path.split('.').filter((p, i) => !(i === 0 && p === 'parameters') && p !== 'training');
  if (parts.length === 0) return 'training';
  const run = parts[parts.length - 1];
  if (parts.length >= 2 && RUNS[run]) return `${parts.slice(0, -1).join(' / ')} (${RUNS[run]})`;
  return parts.join(' / ');
}
