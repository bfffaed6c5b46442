import { join } from 'node:path';
import { TopK, getKernelBackend } from '../../math/index.ts';
import type { KernelBackend } from '../../math/index.ts';
import { FilterState, estimateEligible, isEmptyFilter } from '../filter.ts';
import { INDEX_FORMAT, INDEX_FORMAT_VERSION, readF32, readI32, writeF32, writeI32, writeManifest } from '../persist.ts';
import type { FileReader, IndexManifest } from '../persist.ts';
import type { BatchSearchResult, IndexCapabilities, Metric, SearchFilter, SearchResult, VectorIndex } from '../types.ts';
import { IndexArgumentError } from '../types.ts';
import { checkDim, checkItems, checkK, checkQueries, checkQuery } from '../validate.ts';
import { queriesPerPass, scorer } from './kernels.ts';

export interface ExactOptions {
  dim: number;
  /** Default 'ip'. */
  metric?: Metric;
  /** Initial room for items (grows by doubling). */
  capacity?: number;
  /**
   * 'auto' (default): the kernel backend's gemv/gemm when it is a native/SIMD one, else our unrolled JS;
   * 'js': always the unrolled JS kernels; 'backend': always getKernelBackend() (even the plain JS one).
   */
  kernel?: 'auto' | 'js' | 'backend';
  /** Rows scored per block (kept in cache between the dot products and the heap pass). Default 1024. */
  blockRows?: number;
}

const CAPS: IndexCapabilities = {
  exact: true,
  supportsFilter: true,
  supportsAdd: true,
  supportsRemove: true,
  supportsUpdate: true,
  supportsSave: true,
  tunable: false,
};

/** Below this eligible fraction an allow mask is walked directly instead of scoring every row. */
const SUBSET_FRACTION = 1 / 8;

/**
 * Exact top-k by blocked dot products and a bounded heap: the ground truth for tests and benchmarks,
 * and the default for small catalogs. Rows are dense (removal moves the last row into the hole);
 * the item matrix lives in the kernel backend's memory so a SIMD backend reads it without copying.
 * @example
 *   const ix = new ExactIndex({ dim: 64, metric: 'cosine' });
 *   ix.add(vectors, labels);
 *   ix.search(q, 10, { exclude: seen }).ids
 */
export class ExactIndex implements VectorIndex {
  readonly kind = 'exact' as const;
  readonly capabilities = CAPS;
  readonly dim: number;
  readonly metric: Metric;
  /** Which scoring path runs: 'js' (unrolled TypeScript kernels) or the backend's name. */
  kernelName: string;

  private readonly backend: KernelBackend;
  private useBackend: boolean;
  /** Backend memory for the backend's kernels; ordinary memory for ours (JIT code reads views on a
   * WebAssembly memory's growable buffer several times slower). */
  private alloc: (n: number) => Float32Array;
  private readonly blockRows: number;
  private perPass: number;
  private data: Float32Array;
  private rowLabel: Int32Array;
  private labelRow: Int32Array = new Int32Array(0).fill(-1);
  private count = 0;
  private qbuf: Float32Array;
  private scratch: Float32Array;
  private heap: TopK | undefined;
  private readonly filterState = new FilterState();
  private batchFilters: FilterState[] = [];

  constructor(opts: ExactOptions) {
    checkDim('ExactIndex', opts.dim);
    if (opts.metric !== undefined && opts.metric !== 'ip' && opts.metric !== 'cosine') {
      throw new IndexArgumentError('ExactIndex(metric)', `must be 'ip' or 'cosine', got ${JSON.stringify(opts.metric)}`);
    }
    this.dim = opts.dim;
    this.metric = opts.metric ?? 'ip';
    this.backend = getKernelBackend();
    const kernel = opts.kernel ?? 'auto';
    this.useBackend = kernel === 'backend' || (kernel === 'auto' && this.backend.name !== 'js');
    this.kernelName = this.useBackend ? this.backend.name : 'js';
    this.alloc = this.useBackend ? (n) => this.kernelAlloc(n) : (n) => new Float32Array(n);
    this.blockRows = Math.max(1, Math.floor(opts.blockRows ?? 1024));
    this.perPass = this.useBackend ? 32 : queriesPerPass(this.dim);
    const cap = Math.max(16, Math.floor(opts.capacity ?? 0));
    this.rowLabel = new Int32Array(0);
    this.data = this.alloc(0);
    this.reserve(cap);
    this.qbuf = this.alloc(this.perPass * this.dim);
    this.scratch = this.alloc(this.perPass * this.blockRows);
  }

  get size(): number {
    return this.count;
  }

  // ---- search -------------------------------------------------------------------------------------

  search(query: Float32Array, k: number, filter?: SearchFilter): SearchResult {
    checkK('search', k);
    checkQuery('search', query, this.dim);
    this.loadQuery(query, 0, 0);
    const heap = this.heapFor(k);
    if (isEmptyFilter(filter)) {
      this.scanOne(heap, undefined);
    } else {
      const fs = this.filterState;
      fs.begin(filter!, this.labelRow.length - 1);
      try {
        if (filter!.allow !== undefined && estimateEligible(filter!, this.count, (r) => this.rowLabel[r]) < this.count * SUBSET_FRACTION) {
          this.scanMask(heap, filter!.allow, fs);
        } else {
          this.scanOne(heap, fs);
        }
      } finally {
        fs.end();
      }
    }
    const ids = new Int32Array(heap.size);
    const scores = new Float32Array(heap.size);
    heap.drainSorted(ids, scores);
    return { ids, scores };
  }

  searchBatch(queries: Float32Array, k: number, filter?: SearchFilter | readonly (SearchFilter | undefined)[]): BatchSearchResult {
    checkK('searchBatch', k);
    const nq = checkQueries('searchBatch', queries, this.dim);
    if (Array.isArray(filter) && filter.length !== nq) {
      throw new IndexArgumentError('searchBatch(filter)', `has ${filter.length} filters for ${nq} queries`);
    }
    const filterOf = (q: number): SearchFilter | undefined => (Array.isArray(filter) ? filter[q] : (filter as SearchFilter | undefined));
    const ids = new Int32Array(nq * k).fill(-1);
    const scores = new Float32Array(nq * k).fill(-Infinity);
    const counts = new Int32Array(nq);
    const G = this.perPass;
    const heaps: TopK[] = Array.from({ length: Math.min(G, nq) }, () => new TopK(k));
    while (this.batchFilters.length < heaps.length) this.batchFilters.push(new FilterState());
    const states: (FilterState | undefined)[] = new Array(heaps.length);
    for (let g0 = 0; g0 < nq; g0 += G) {
      const g = Math.min(G, nq - g0);
      for (let j = 0; j < g; j++) {
        this.loadQuery(queries, (g0 + j) * this.dim, j);
        heaps[j].reset();
        const f = filterOf(g0 + j);
        if (isEmptyFilter(f)) states[j] = undefined;
        else {
          states[j] = this.batchFilters[j];
          states[j]!.begin(f!, this.labelRow.length - 1);
        }
      }
      try {
        this.scanMany(g, heaps, states);
      } finally {
        for (let j = 0; j < g; j++) states[j]?.end();
      }
      for (let j = 0; j < g; j++) {
        const off = (g0 + j) * k;
        counts[g0 + j] = heaps[j].drainSorted(ids.subarray(off, off + k), scores.subarray(off, off + k));
      }
    }
    return { k, ids, scores, counts };
  }

  /** Copies (and for cosine normalises) query row `src[off..off+dim)` into query slot `slot`. */
  private loadQuery(src: Float32Array, off: number, slot: number): void {
    const d = this.dim;
    const q = this.qbuf;
    const base = slot * d;
    let scale = 1;
    if (this.metric === 'cosine') {
      let s = 0;
      for (let c = 0; c < d; c++) s += src[off + c] * src[off + c];
      scale = s > 0 ? 1 / Math.sqrt(s) : 0;
    }
    for (let c = 0; c < d; c++) q[base + c] = src[off + c] * scale;
  }

  private heapFor(k: number): TopK {
    if (this.heap === undefined || this.heap.capacity !== k) this.heap = new TopK(k);
    this.heap.reset();
    return this.heap;
  }

  /** Scores rows [r0, r1) against the first g query slots into scratch (row stride blockRows). */
  private scoreBlock(r0: number, r1: number, g: number): void {
    if (this.useBackend) {
      const m = this.data.subarray(r0 * this.dim, r1 * this.dim);
      if (g === 1) this.backend.gemv(r1 - r0, this.dim, m, this.qbuf.subarray(0, this.dim), this.scratch);
      // scores(g x rows) = Q(g x dim) * M_block(rows x dim)^T
      else this.backend.gemm(false, true, g, r1 - r0, this.dim, 1, this.qbuf, this.dim, m, this.dim, 0, this.scratch, this.blockRows);
    } else {
      scorer(this.dim, g)(this.data, r0, r1, this.qbuf, 0, this.scratch, this.blockRows);
    }
  }

  /** Full scan for one query; the filter is consulted only for rows that would enter the heap. */
  private scanOne(heap: TopK, fs: FilterState | undefined): void {
    const B = this.blockRows;
    const sc = this.scratch;
    const rl = this.rowLabel;
    let thr = heap.threshold();
    for (let r0 = 0; r0 < this.count; r0 += B) {
      const r1 = Math.min(this.count, r0 + B);
      this.scoreBlock(r0, r1, 1);
      for (let i = 0, n = r1 - r0; i < n; i++) {
        const s = sc[i];
        if (s < thr) continue;
        const label = rl[r0 + i];
        if (fs !== undefined && !fs.accepts(label)) continue;
        heap.push(label, s);
        thr = heap.threshold();
      }
    }
  }

  /** Selective allow mask: score only the rows of allowed labels. */
  private scanMask(heap: TopK, allow: Uint8Array, fs: FilterState): void {
    const n = Math.min(allow.length, this.labelRow.length);
    const lr = this.labelRow;
    const sc = this.scratch;
    for (let label = 0; label < n; label++) {
      if (allow[label] === 0) continue;
      const row = lr[label];
      if (row < 0 || !fs.accepts(label)) continue;
      this.scoreBlock(row, row + 1, 1);
      heap.push(label, sc[0]);
    }
  }

  /** Full scan for g queries at once: each block of rows is scored against all of them. */
  private scanMany(g: number, heaps: TopK[], states: (FilterState | undefined)[]): void {
    const B = this.blockRows;
    const sc = this.scratch;
    const rl = this.rowLabel;
    for (let r0 = 0; r0 < this.count; r0 += B) {
      const r1 = Math.min(this.count, r0 + B);
      this.scoreBlock(r0, r1, g);
      const n = r1 - r0;
      for (let j = 0; j < g; j++) {
        const heap = heaps[j];
        const fs = states[j];
        const off = j * B;
        let thr = heap.threshold();
        for (let i = 0; i < n; i++) {
          const s = sc[off + i];
          if (s < thr) continue;
          const label = rl[r0 + i];
          if (fs !== undefined && !fs.accepts(label)) continue;
          heap.push(label, s);
          thr = heap.threshold();
        }
      }
    }
  }

  /**
   * Exact scores of stored items `labels` against `query` (normalised here for cosine) into `out`;
   * NaN for a label not in the index.
   */
  scoreLabels(query: Float32Array, labels: ArrayLike<number>, out: Float32Array): void {
    this.loadQuery(query, 0, 0);
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      const row = l >= 0 && l < this.labelRow.length ? this.labelRow[l] : -1;
      if (row < 0) {
        out[i] = NaN;
        continue;
      }
      this.scoreBlock(row, row + 1, 1);
      out[i] = this.scratch[0];
    }
  }

  // ---- mutation -----------------------------------------------------------------------------------

  add(vectors: Float32Array, labels: Int32Array | readonly number[]): void {
    const ls = checkItems('add', vectors, labels, this.dim);
    for (let i = 0; i < ls.length; i++) {
      if (this.has(ls[i])) throw new IndexArgumentError('add(labels)', `labels[${i}] = ${ls[i]} is already in the index; use update`);
    }
    this.insert(vectors, ls, true);
  }

  /** Appends rows without checks; `normalise` false when they are already stored-form (load). */
  private insert(vectors: Float32Array, ls: Int32Array, normalise: boolean): void {
    const n = ls.length;
    this.reserve(this.count + n);
    let maxLabel = -1;
    for (let i = 0; i < n; i++) if (ls[i] > maxLabel) maxLabel = ls[i];
    this.growLabels(maxLabel);
    for (let i = 0; i < n; i++) {
      const row = this.count++;
      this.writeRow(row, vectors, i * this.dim, normalise);
      this.rowLabel[row] = ls[i];
      this.labelRow[ls[i]] = row;
    }
  }

  update(vectors: Float32Array, labels: Int32Array | readonly number[]): void {
    const ls = checkItems('update', vectors, labels, this.dim);
    for (let i = 0; i < ls.length; i++) {
      if (!this.has(ls[i])) throw new IndexArgumentError('update(labels)', `labels[${i}] = ${ls[i]} is not in the index; use add`);
    }
    for (let i = 0; i < ls.length; i++) this.writeRow(this.labelRow[ls[i]], vectors, i * this.dim, true);
  }

  remove(labels: ArrayLike<number>): number {
    let removed = 0;
    const d = this.dim;
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      if (!this.has(l)) continue;
      const row = this.labelRow[l];
      const last = this.count - 1;
      if (row !== last) {
        this.data.copyWithin(row * d, last * d, last * d + d);
        const moved = this.rowLabel[last];
        this.rowLabel[row] = moved;
        this.labelRow[moved] = row;
      }
      this.labelRow[l] = -1;
      this.count--;
      removed++;
    }
    return removed;
  }

  has(label: number): boolean {
    return Number.isInteger(label) && label >= 0 && label < this.labelRow.length && this.labelRow[label] >= 0;
  }

  vector(label: number, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    if (!this.has(label)) throw new IndexArgumentError('vector(label)', `${label} is not in the index`);
    const row = this.labelRow[label];
    out.set(this.data.subarray(row * this.dim, row * this.dim + this.dim));
    return out;
  }

  labels(): Int32Array {
    return this.rowLabel.slice(0, this.count);
  }

  /** The stored rows (size x dim, normalised for cosine), a view valid until the next mutation. */
  rows(): Float32Array {
    return this.data.subarray(0, this.count * this.dim);
  }

  /** Label of the item stored at `row` (0 <= row < size). */
  labelAt(row: number): number {
    return this.rowLabel[row];
  }

  /** Largest label the index has room for in its label map (ids above it are certainly absent). */
  get maxLabel(): number {
    return this.labelRow.length - 1;
  }

  /**
   * Gives the vectors and scratch held in the kernel memory back to it (a WebAssembly memory never
   * shrinks: a server that reloads models reuses these bytes for the next index). The index must not
   * be used afterwards; calling it twice is harmless.
   */
  dispose(): void {
    for (const a of this.inKernel) this.backend.free(a);
    this.inKernel.clear();
    this.data = new Float32Array(0);
    this.qbuf = new Float32Array(0);
    this.scratch = new Float32Array(0);
    this.rowLabel = new Int32Array(0);
    this.labelRow = new Int32Array(0);
    this.count = 0;
  }

  /** Arrays of the kernel memory this index holds (freed when replaced, and by dispose). */
  private readonly inKernel = new Set<Float32Array>();

  private kernelAlloc(n: number): Float32Array {
    const a = this.backend.alloc(n);
    this.inKernel.add(a);
    return a;
  }

  private release(a: Float32Array): void {
    if (this.inKernel.delete(a)) this.backend.free(a);
  }

  memoryBytes(): number {
    return this.data.byteLength + this.rowLabel.byteLength + this.labelRow.byteLength + this.scratch.byteLength + this.qbuf.byteLength;
  }

  private writeRow(row: number, src: Float32Array, off: number, normalise: boolean): void {
    const d = this.dim;
    let scale = 1;
    if (normalise && this.metric === 'cosine') {
      let s = 0;
      for (let c = 0; c < d; c++) s += src[off + c] * src[off + c];
      scale = s > 0 ? 1 / Math.sqrt(s) : 0; // a zero vector stays zero (cosine 0 with everything)
    }
    const base = row * d;
    for (let c = 0; c < d; c++) this.data[base + c] = src[off + c] * scale;
  }

  private reserve(n: number): void {
    const cap = this.rowLabel.length;
    if (n <= cap) return;
    const next = Math.max(n, cap * 2);
    let data: Float32Array;
    try {
      data = this.alloc(next * this.dim);
    } catch (e) {
      if (!this.useBackend) throw e;
      // The backend's memory is full (WebAssembly's 4 GiB): carry on in ordinary memory with JS kernels.
      this.useJsKernels();
      data = this.alloc(next * this.dim);
    }
    data.set(this.data.subarray(0, this.count * this.dim));
    this.release(this.data);
    this.data = data;
    const rl = new Int32Array(next);
    rl.set(this.rowLabel.subarray(0, this.count));
    this.rowLabel = rl;
  }

  private useJsKernels(): void {
    this.useBackend = false;
    this.kernelName = 'js';
    this.alloc = (n) => new Float32Array(n);
    this.perPass = queriesPerPass(this.dim);
    this.release(this.qbuf);
    this.release(this.scratch);
    this.qbuf = this.alloc(this.perPass * this.dim);
    this.scratch = this.alloc(this.perPass * this.blockRows);
  }

  private growLabels(maxLabel: number): void {
    if (maxLabel < this.labelRow.length) return;
    const next = new Int32Array(Math.max(maxLabel + 1, Math.min(this.labelRow.length * 2, 0x7fffffff))).fill(-1);
    next.set(this.labelRow);
    this.labelRow = next;
  }

  // ---- persistence --------------------------------------------------------------------------------

  async save(dir: string): Promise<void> {
    await writeManifest(dir, this.manifest());
    await this.saveData(dir);
  }

  /** The manifest describing this index (HNSW extends its params). */
  manifest(): IndexManifest {
    return { format: INDEX_FORMAT, version: INDEX_FORMAT_VERSION, kind: 'exact', metric: this.metric, dim: this.dim, size: this.count, params: {} };
  }

  /** Writes vectors.f32 and labels.i32 into `dir` (which exists). */
  async saveData(dir: string): Promise<void> {
    await writeF32(join(dir, 'vectors.f32'), this.rows());
    await writeI32(join(dir, 'labels.i32'), this.labels());
  }

  /** Reads an exact index from a directory written by `save` (its manifest already read). */
  static async loadData(dir: string, m: IndexManifest, opts: Omit<ExactOptions, 'dim' | 'metric'> & { files?: FileReader } = {}): Promise<ExactIndex> {
    const { files, ...rest } = opts;
    const vectors = await readF32(join(dir, 'vectors.f32'), m.size * m.dim, files);
    const labels = await readI32(join(dir, 'labels.i32'), m.size, files);
    const ix = new ExactIndex({ ...rest, dim: m.dim, metric: m.metric, capacity: m.size });
    // Stored vectors are already normalised: insert as is, after the same checks as add.
    const ls = checkItems(`load ${join(dir, 'vectors.f32')}`, vectors, labels, m.dim);
    ix.insert(vectors, ls, false);
    return ix;
  }
}
