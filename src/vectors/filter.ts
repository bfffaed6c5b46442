import type { SearchFilter } from './types.ts';
import { IndexArgumentError } from './types.ts';

/**
 * A mask over item ids with 1 at each id in `ids`, for `SearchFilter.allow`.
 * @example index.search(q, 10, { allow: maskFromIds(nItems, newReleases) })
 */
export function maskFromIds(n: number, ids: ArrayLike<number>): Uint8Array {
  const m = new Uint8Array(n);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id >= 0 && id < n) m[id] = 1;
  }
  return m;
}

/**
 * A mask with 1 at each item whose code (e.g. a categorical column's dense values) is one of `wanted`.
 * @example index.search(q, 10, { allow: maskFromCodes(genreCodes, [genreVocab.get('Comedy')]) })
 */
export function maskFromCodes(codes: ArrayLike<number>, wanted: Iterable<number>): Uint8Array {
  const want = new Set(wanted);
  const m = new Uint8Array(codes.length);
  for (let i = 0; i < codes.length; i++) if (want.has(codes[i])) m[i] = 1;
  return m;
}

/** Popcounts of allow masks, computed once per mask (callers build a mask once per category and reuse it). */
const maskCounts = new WeakMap<Uint8Array, number>();

function maskCount(mask: Uint8Array): number {
  let c = maskCounts.get(mask);
  if (c === undefined) {
    c = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) c++;
    maskCounts.set(mask, c);
  }
  return c;
}

function excludeCount(ex: ReadonlySet<number> | ArrayLike<number>): number {
  return isSet(ex) ? ex.size : ex.length;
}

function isSet(ex: ReadonlySet<number> | ArrayLike<number>): ex is ReadonlySet<number> {
  return typeof (ex as ReadonlySet<number>).has === 'function';
}

/** True when the filter restricts nothing. */
export function isEmptyFilter(f: SearchFilter | undefined): boolean {
  return f === undefined || (f.allow === undefined && f.predicate === undefined && (f.exclude === undefined || excludeCount(f.exclude) === 0));
}

/** True when the filter only excludes a list of ids (no mask, no predicate). */
export function isExcludeOnly(f: SearchFilter): boolean {
  return f.allow === undefined && f.predicate === undefined;
}

/** Number of ids in the filter's exclude part. */
export function excludeSize(f: SearchFilter): number {
  return f.exclude === undefined ? 0 : excludeCount(f.exclude);
}

/**
 * Estimated number of eligible items among `size` live ones: the mask's popcount (capped by size),
 * the predicate's pass rate on up to 64 live labels spread over storage, minus the excluded ids.
 * An estimate steers strategy only; correctness never depends on it.
 */
export function estimateEligible(f: SearchFilter, size: number, liveLabel: (row: number) => number): number {
  let frac = 1;
  if (f.allow !== undefined) frac *= Math.min(1, maskCount(f.allow) / Math.max(1, size));
  if (f.predicate !== undefined && size > 0) {
    const samples = Math.min(64, size);
    let pass = 0;
    for (let s = 0; s < samples; s++) if (f.predicate(liveLabel(Math.floor((s * size) / samples)))) pass++;
    frac *= pass / samples;
  }
  return Math.max(0, frac * size - excludeSize(f));
}

/**
 * Turns a SearchFilter into a fast `accepts(label)` test. Excluded ids are marked in a label-indexed
 * byte array that the owner reuses across queries: `begin` sets the marks, `end` clears exactly those,
 * so a query costs O(|exclude|), never O(catalog). Not re-entrant (one filter at a time per index).
 */
export class FilterState {
  private marks = new Uint8Array(0);
  private allow: Uint8Array | undefined = undefined;
  private predicate: ((id: number) => boolean) | undefined = undefined;
  private exclude: ReadonlySet<number> | ArrayLike<number> | undefined = undefined;
  private active = false;
  /** Bound `accepts`, for callbacks (hnswlib's filter function). */
  readonly acceptsFn = (label: number): boolean => this.accepts(label);

  /** Arms the filter; labels above `maxLabel` are never excluded by marks (they are not in the index). */
  begin(f: SearchFilter, maxLabel: number): void {
    if (this.active) throw new Error('FilterState: begin called twice without end (a predicate searched the same index?)');
    if (f.allow !== undefined && !(f.allow instanceof Uint8Array)) throw new IndexArgumentError('filter.allow', 'must be a Uint8Array mask indexed by item id');
    if (f.predicate !== undefined && typeof f.predicate !== 'function') throw new IndexArgumentError('filter.predicate', 'must be a function (id) => boolean');
    this.active = true;
    this.allow = f.allow;
    this.predicate = f.predicate;
    this.exclude = f.exclude;
    if (f.exclude !== undefined) {
      if (this.marks.length <= maxLabel) this.marks = new Uint8Array(Math.max(maxLabel + 1, this.marks.length * 2));
      const m = this.marks;
      if (isSet(f.exclude)) {
        for (const id of f.exclude) if (id >= 0 && id <= maxLabel) m[id] = 1;
      } else {
        const ex = f.exclude;
        for (let i = 0; i < ex.length; i++) {
          const id = ex[i];
          if (id >= 0 && id <= maxLabel) m[id] = 1;
        }
      }
    }
  }

  accepts(label: number): boolean {
    if (this.exclude !== undefined && label < this.marks.length && this.marks[label] !== 0) return false;
    const a = this.allow;
    if (a !== undefined && (label >= a.length || a[label] === 0)) return false;
    const p = this.predicate;
    return p === undefined || !!p(label);
  }

  end(): void {
    const ex = this.exclude;
    if (ex !== undefined) {
      const m = this.marks;
      if (isSet(ex)) {
        for (const id of ex) if (id >= 0 && id < m.length) m[id] = 0;
      } else {
        for (let i = 0; i < ex.length; i++) {
          const id = ex[i];
          if (id >= 0 && id < m.length) m[id] = 0;
        }
      }
    }
    this.exclude = undefined;
    this.allow = undefined;
    this.predicate = undefined;
    this.active = false;
  }
}
