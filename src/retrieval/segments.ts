/**
 * Feature segments: the most popular items among users who share a feature value (country=DE, age in
 * 25–34), for users without a usable history. A candidate source like any other: it answers from the
 * request's feature row and says nothing without one.
 */
import type { Dataset } from '../data/index.ts';
import type { FeatureRow } from '../features/index.ts';
import { TopK } from '../math/index.ts';
import { schema } from '../schema/index.ts';
import { loadArrays, saveArrays } from './arrays-io.ts';
import type { FileReader } from '../vectors/index.ts';
import { defineSourceKind, noCandidates, type CandidateSource, type RequestContext, type ScoredItems, type UserQuery } from './source.ts';

/** One user feature's segments: categorical values, or numeric quantile edges (bucket b = [edges[b-1], edges[b])). */
export interface SegmentColumn {
  name: string;
  kind: 'categorical' | 'numeric';
  values?: string[];
  edges?: number[];
}

/**
 * Top items per segment as CSR: segment s = (column, value or bucket) lists `items[offsets[s]..offsets[s+1])`
 * with `scores` (share of the segment's top count, 1 for its best item). `first[c]` is column c's first segment.
 */
export interface Segments {
  columns: SegmentColumn[];
  first: Int32Array;
  offsets: Int32Array;
  items: Int32Array;
  scores: Float32Array;
}

const BUCKETS = 5;

/**
 * Computes the top `perSegment` items of every segment of the user features of `ds` (positive events,
 * weighted by event type). Multi-categorical users count in each of their values.
 * @example const seg = buildSegments(train, 200); segmentScores(seg, { country: 'DE' })
 */
export function buildSegments(ds: Dataset, perSegment = 200): Segments {
  const x = ds.interactions;
  const columns: SegmentColumn[] = [];
  const lists: { items: Int32Array; scores: Float32Array }[] = [];
  const first: number[] = [];
  const weightOf = ds.eventTypes.map((e) => (e.negative ? 0 : e.weight));
  for (const c of ds.users.columns) {
    // per user: the segment ids it belongs to in this column (offsets into a flat list)
    const nu = ds.numUsers;
    const uOff = new Int32Array(nu + 1);
    let uSeg: Int32Array;
    let nSeg: number;
    let col: SegmentColumn;
    if (c.kind === 'categorical' || c.kind === 'multi-categorical') {
      nSeg = c.vocab.size;
      col = { name: c.name, kind: 'categorical', values: c.vocab.values.slice() };
      if (c.kind === 'categorical') {
        for (let u = 0; u < nu; u++) uOff[u + 1] = uOff[u] + (c.codes[u] >= 0 && c.codes[u] < nSeg ? 1 : 0);
        uSeg = new Int32Array(uOff[nu]);
        for (let u = 0; u < nu; u++) if (c.codes[u] >= 0 && c.codes[u] < nSeg) uSeg[uOff[u]] = c.codes[u];
      } else if (c.kind === 'multi-categorical') {
        uOff.set(c.offsets);
        uSeg = c.codes;
      } else continue;
    } else if (c.kind === 'numeric') {
      const vals = Array.from(c.values).filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
      if (vals.length === 0) continue;
      const edges: number[] = [];
      for (let b = 1; b < BUCKETS; b++) {
        const e = vals[Math.floor((b * vals.length) / BUCKETS)];
        if (edges.length === 0 || e > edges[edges.length - 1]) edges.push(e);
      }
      nSeg = edges.length + 1;
      col = { name: c.name, kind: 'numeric', edges };
      for (let u = 0; u < nu; u++) uOff[u + 1] = uOff[u] + (Number.isFinite(c.values[u]) ? 1 : 0);
      uSeg = new Int32Array(uOff[nu]);
      for (let u = 0; u < nu; u++) if (Number.isFinite(c.values[u])) uSeg[uOff[u]] = bucketOf(edges, c.values[u]);
    } else continue;
    const counts: Map<number, number>[] = Array.from({ length: nSeg }, () => new Map());
    for (let r = 0; r < x.length; r++) {
      const w = weightOf[x.event[r]];
      if (w <= 0) continue;
      const u = x.user[r];
      for (let k = uOff[u]; k < uOff[u + 1]; k++) {
        const m = counts[uSeg[k]];
        m.set(x.item[r], (m.get(x.item[r]) ?? 0) + w);
      }
    }
    first.push(lists.length);
    columns.push(col);
    const heap = new TopK(perSegment);
    for (const m of counts) {
      heap.reset();
      for (const [item, n] of m) heap.push(item, n);
      const { ids, scores } = heap.sorted();
      const top = scores.length ? scores[0] : 1;
      for (let i = 0; i < scores.length; i++) scores[i] /= top;
      lists.push({ items: ids, scores });
    }
  }
  first.push(lists.length);
  const offsets = new Int32Array(lists.length + 1);
  lists.forEach((l, s) => (offsets[s + 1] = offsets[s] + l.items.length));
  const items = new Int32Array(offsets[lists.length]);
  const scores = new Float32Array(offsets[lists.length]);
  lists.forEach((l, s) => {
    items.set(l.items, offsets[s]);
    scores.set(l.scores, offsets[s]);
  });
  return { columns, first: Int32Array.from(first), offsets, items, scores };
}

function bucketOf(edges: readonly number[], v: number): number {
  let b = 0;
  while (b < edges.length && v >= edges[b]) b++;
  return b;
}

/**
 * The segments a feature row belongs to, as (segment index, label) pairs; values the model never saw
 * match nothing.
 */
export function matchSegments(seg: Segments, features: FeatureRow): { segment: number; label: string }[] {
  const out: { segment: number; label: string }[] = [];
  seg.columns.forEach((c, ci) => {
    const v = features[c.name];
    if (v === null || v === undefined) return;
    if (c.kind === 'numeric') {
      const n = typeof v === 'number' ? v : Number(v);
      if (!Number.isFinite(n)) return;
      const b = bucketOf(c.edges!, n);
      const lo = b > 0 ? c.edges![b - 1] : undefined;
      const hi = b < c.edges!.length ? c.edges![b] : undefined;
      const label = lo === undefined ? `${c.name}<${hi}` : hi === undefined ? `${c.name}>=${lo}` : `${c.name} in [${lo},${hi})`;
      out.push({ segment: seg.first[ci] + b, label });
      return;
    }
    const values = typeof v === 'string' || typeof v === 'number' ? [String(v)] : Array.from(v as ArrayLike<unknown>, String);
    for (const s of values) {
      const i = c.values!.indexOf(s);
      if (i >= 0) out.push({ segment: seg.first[ci] + i, label: `${c.name}=${s}` });
    }
  });
  return out;
}

export function segmentsToArrays(s: Segments): { arrays: Record<string, Int32Array | Float32Array>; meta: { columns: SegmentColumn[] } } {
  return { arrays: { first: s.first, offsets: s.offsets, items: s.items, scores: s.scores }, meta: { columns: s.columns } };
}

export function segmentsFromArrays(arrays: Record<string, unknown>, meta: { columns: SegmentColumn[] }, numItems: number, what: string): Segments {
  const { first, offsets, items, scores } = arrays as Record<string, unknown>;
  if (!(first instanceof Int32Array) || !(offsets instanceof Int32Array) || !(items instanceof Int32Array) || !(scores instanceof Float32Array)) {
    throw new Error(`${what}: segment arrays missing or of the wrong type`);
  }
  if (!meta || !Array.isArray(meta.columns) || first.length !== meta.columns.length + 1) throw new Error(`${what}: segment columns do not match 'first'`);
  if (offsets[offsets.length - 1] !== items.length || items.length !== scores.length) throw new Error(`${what}: segment offsets do not match the item list`);
  for (let i = 0; i < items.length; i++) if (items[i] < 0 || items[i] >= numItems) throw new Error(`${what}: segment item ${items[i]} out of range`);
  return { columns: meta.columns, first, offsets, items, scores };
}

/**
 * The segments as a candidate source: a request's feature row selects its segments; each item scores
 * the mean of its segment scores (1 for a segment's best item), best first.
 * @example const seg = new SegmentsSource(); seg.fit(train); seg.candidates(q, 10, seen, { features: { country: 'DE' } })
 */
export class SegmentsSource implements CandidateSource {
  private seg: Segments | null = null;
  private numItems = 0;
  private acc = new Float32Array(0);
  private touched = new Int32Array(0);
  /** The labels (`country=DE`) of the segments the last request matched, for its explanation. */
  lastMatch: string[] = [];

  constructor(
    readonly name = 'segments',
    readonly perSegment = 200,
  ) {}

  fit(train: Dataset): void {
    this.use(buildSegments(train, this.perSegment), train.numItems);
  }

  private use(seg: Segments, numItems: number): void {
    this.seg = seg;
    this.numItems = numItems;
    this.acc = new Float32Array(numItems);
    this.touched = new Int32Array(Math.min(numItems, seg.items.length));
  }

  /** The segments `features` belong to (labels like `country=DE`). */
  match(features: FeatureRow | null | undefined): { segment: number; label: string }[] {
    return this.seg && features ? matchSegments(this.seg, features) : [];
  }

  candidates(_query: UserQuery, n: number, exclude?: ReadonlySet<number>, ctx?: RequestContext): ScoredItems {
    const seg = this.seg;
    const m = this.match(ctx?.features);
    this.lastMatch = m.map((x) => x.label);
    if (!seg || m.length === 0 || n <= 0) return noCandidates();
    const allow = ctx?.allow;
    let nt = 0;
    for (const { segment } of m) {
      for (let j = seg.offsets[segment]; j < seg.offsets[segment + 1]; j++) {
        const it = seg.items[j];
        if (exclude?.has(it) || (allow && allow[it] !== 1)) continue;
        if (this.acc[it] === 0) this.touched[nt++] = it;
        this.acc[it] += seg.scores[j] / m.length;
      }
    }
    const heap = new TopK(Math.max(1, Math.min(n, nt)));
    for (let t = 0; t < nt; t++) heap.push(this.touched[t], this.acc[this.touched[t]]);
    for (let t = 0; t < nt; t++) this.acc[this.touched[t]] = 0;
    const { ids, scores } = heap.sorted();
    return { items: ids, scores };
  }

  async save(dir: string): Promise<void> {
    if (!this.seg) throw new Error('segments: nothing to save before fit');
    const { arrays, meta } = segmentsToArrays(this.seg);
    await saveArrays(dir, 'segments', 1, { ...meta, numItems: this.numItems, perSegment: this.perSegment }, arrays);
  }

  /** Reads a source `save` wrote; `numItems` is the model's catalog size (items are checked against it). */
  static async load(dir: string, name: string, numItems: number, files?: FileReader): Promise<SegmentsSource> {
    const { meta, arrays } = await loadArrays(dir, 'segments', 1, files);
    const m = meta as { columns: SegmentColumn[]; perSegment: number };
    const s = new SegmentsSource(name, m.perSegment);
    s.use(segmentsFromArrays(arrays, m, numItems, `${dir}/segments.json`), numItems);
    return s;
  }
}

/** The `segments` stage's parameters. */
export const SEGMENTS_PARAMS = schema({
  perSegment: { type: 'number', integer: true, min: 1, default: 200, description: 'top items kept per segment' },
});

/** Feature segments as an engine stage (a fallback for users known only by their features). */
export const segmentsKind = defineSourceKind({
  kind: 'segments',
  description: "the most popular items among users sharing a feature value with the request's user (no history needed)",
  params: SEGMENTS_PARAMS,
  personalized: false,
  create: (p, ctx) => new SegmentsSource(ctx.name, p.perSegment),
  load: (dir, _p, ctx) => SegmentsSource.load(dir, ctx.name, ctx.dataset.numItems, ctx.files),
});
