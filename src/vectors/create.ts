import { ExactIndex } from './exact/exact-index.ts';
import type { ExactOptions } from './exact/exact-index.ts';
import { HnswIndex } from './hnsw/hnsw-index.ts';
import type { HnswParams } from './hnsw/hnsw-index.ts';
import { readManifest, type FileReader } from './persist.ts';
import type { IndexKind, Metric, VectorIndex } from './types.ts';
import { IndexArgumentError } from './types.ts';

/** Catalog size from which 'auto' picks HNSW: below it an exact scan takes well under a millisecond or two. */
export const DEFAULT_EXACT_BELOW = 20_000;

export interface IndexOptions extends Partial<HnswParams> {
  /** 'auto' (default): exact when expectedSize < exactBelow, else HNSW. */
  kind?: IndexKind | 'auto';
  dim: number;
  metric?: Metric;
  /** Items the index will hold; 'auto' decides on it and both kinds preallocate for it. */
  expectedSize?: number;
  /** The 'auto' threshold (default 20,000). */
  exactBelow?: number;
  /** Exact-kernel choice, see ExactOptions.kernel. */
  kernel?: ExactOptions['kernel'];
}

/** Which kind 'auto' resolves to for these options. */
export function chooseKind(opts: Pick<IndexOptions, 'kind' | 'expectedSize' | 'exactBelow'>): IndexKind {
  const kind = opts.kind ?? 'auto';
  if (kind === 'exact' || kind === 'hnsw') return kind;
  if (kind !== 'auto') throw new IndexArgumentError('createIndex(kind)', `must be 'auto', 'exact' or 'hnsw', got ${JSON.stringify(kind)}`);
  return (opts.expectedSize ?? 0) < (opts.exactBelow ?? DEFAULT_EXACT_BELOW) ? 'exact' : 'hnsw';
}

/**
 * An empty index of the requested (or size-appropriate) kind.
 * @example const ix = createIndex({ kind: 'auto', dim: 64, metric: 'ip', expectedSize: items }); ix.add(v, ids);
 */
export function createIndex(opts: IndexOptions): VectorIndex {
  const kind = chooseKind(opts);
  const capacity = opts.expectedSize;
  if (kind === 'exact') return new ExactIndex({ dim: opts.dim, metric: opts.metric, capacity, kernel: opts.kernel });
  // HnswOptions takes the same fields (params, kernel) and ignores the rest.
  return new HnswIndex({ ...opts, capacity });
}

/**
 * Builds an index over n items in one call: vectors n x dim, labels n (item ids).
 * @example const ix = buildIndex(itemEmbeddings, itemIds, { dim: 64, metric: 'ip' });
 */
export function buildIndex(vectors: Float32Array, labels: Int32Array | readonly number[], opts: Omit<IndexOptions, 'expectedSize'>): VectorIndex {
  const ix = createIndex({ ...opts, expectedSize: labels.length });
  ix.add(vectors, labels);
  return ix;
}

/**
 * Reads an index saved with `index.save(dir)`, whatever its kind, without rebuilding it.
 * @example const ix = await loadIndex(join(modelDir, 'index'));
 */
export async function loadIndex(dir: string, opts: { kernel?: ExactOptions['kernel']; files?: FileReader } = {}): Promise<VectorIndex> {
  const m = await readManifest(dir, opts.files);
  return m.kind === 'exact' ? ExactIndex.loadData(dir, m, opts) : HnswIndex.loadData(dir, m, opts);
}
