import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/index.ts';
import { firstNonFinite, NO_PROGRESS, TopK, type ProgressTask } from '../math/index.ts';
import { fsReader, type FileReader } from '../vectors/index.ts';
import { schema } from '../schema/index.ts';
import { defineSourceKind, noCandidates, type CandidateSource, type FitContext, type RequestContext, type ScoredItems, type UserQuery } from './source.ts';

/** EASE options: the ridge strength, and which items take part. */
export interface EaseOptions {
  /** L2 penalty added to the Gram matrix's diagonal (Steck 2019 finds 100-1000 on MovieLens-size data). */
  lambda: number;
  /** Only the most popular `maxItems` items get a row and a column: the weights are dense (items^2 floats). */
  maxItems: number;
  /**
   * Per-event recency decay of the user's history when scoring: event k positions from the newest weighs
   * 0.5^(k / halfLife). 0 turns it off (every event counts fully, the classic EASE score).
   */
  halfLife: number;
  /** Source name, as candidates and features report it. */
  name: string;
}

export const EASE_DEFAULTS: EaseOptions = { lambda: 250, maxItems: 12000, halfLife: 0, name: 'ease' };

/**
 * EASE (Steck, "Embarrassingly Shallow Autoencoders", 2019): item-to-item weights B that minimise
 * ||X - XB||^2 + lambda ||B||^2 with diag(B) = 0, in closed form B = -P / diag(P), P = (X^T X + lambda I)^-1.
 * A strong L1 source on catalogs of up to some ten thousand items.
 * @example const ease = new EaseSource({ lambda: 300 }); ease.fit(train); ease.candidates(train.query(0), 200);
 */
export class EaseSource implements CandidateSource {
  readonly options: EaseOptions;
  /** The source whose weights this view scores with (`view`), or null for a fitted source. */
  private base: EaseSource | null = null;
  /** Dense weights over the kept items, row-major m x m (row = history item). */
  private weights = new Float32Array(0);
  /** Catalog item -> row in `weights`, or -1 when the item was left out. */
  private slot = new Int32Array(0);
  /** Row in `weights` -> catalog item. */
  private kept = new Int32Array(0);
  private numItems = 0;
  // Per-query scratch, reused across requests.
  private acc = new Float32Array(0);
  private banned = new Uint8Array(0);
  private heap = new TopK(1);
  /** The query `acc` holds the scores of (candidates then scoreItems on one request accumulate once). */
  private accQuery: UserQuery | null = null;
  /** History items of the last accumulated query that have a row: 0 means EASE has nothing to say. */
  private accUsed = 0;

  constructor(options: Partial<EaseOptions> = {}) {
    this.options = { ...EASE_DEFAULTS, ...options };
    const o = this.options;
    if (!(o.lambda > 0)) throw new Error(`EaseSource: lambda must be > 0, got ${o.lambda}`);
    if (!(o.maxItems >= 1)) throw new Error(`EaseSource: maxItems must be >= 1, got ${o.maxItems}`);
    if (!(o.halfLife >= 0)) throw new Error(`EaseSource: halfLife must be >= 0, got ${o.halfLife}`);
  }

  get name(): string {
    return this.options.name;
  }

  fit(train: Dataset, ctx?: FitContext): void {
    if (this.base) return; // a view: its base stage was fitted before it
    const progress = ctx?.progress ?? NO_PROGRESS;
    const n = train.numItems;
    const counts = train.itemCounts();
    // keep the most popular items that occur at all
    const order = Array.from({ length: n }, (_, i) => i).filter((i) => counts[i] > 0);
    order.sort((a, b) => counts[b] - counts[a] || a - b);
    if (order.length > this.options.maxItems) order.length = this.options.maxItems;
    order.sort((a, b) => a - b);
    const m = order.length;
    this.numItems = n;
    this.kept = Int32Array.from(order);
    this.slot = new Int32Array(n).fill(-1);
    for (let k = 0; k < m; k++) this.slot[this.kept[k]] = k;

    // Gram matrix of the binary user x item matrix (negative feedback and repeats count once, positives only)
    const g = new Float64Array(m * m);
    const { offsets, rows } = train.byUser();
    const x = train.interactions;
    const mark = new Int32Array(m).fill(-1);
    const list = new Int32Array(m);
    const gram = progress.start('gram matrix', train.numUsers, 'users');
    for (let u = 0; u < train.numUsers; u++) {
      if ((u & 255) === 255) gram.set(u + 1);
      let len = 0;
      for (let k = offsets[u]; k < offsets[u + 1]; k++) {
        const r = rows[k];
        if (train.eventTypes[x.event[r]].negative) continue;
        const s = this.slot[x.item[r]];
        if (s < 0 || mark[s] === u) continue;
        mark[s] = u;
        list[len++] = s;
      }
      for (let a = 0; a < len; a++) {
        const base = list[a] * m;
        for (let b = 0; b < len; b++) g[base + list[b]] += 1;
      }
    }
    gram.set(train.numUsers);
    gram.finish();
    for (let i = 0; i < m; i++) g[i * m + i] += this.options.lambda;
    // the O(m^3) part: minutes from some ten thousand items
    const inversion = progress.start(`inverse (${m} items)`, invertWork(m, 3), '%');
    const p = invertSpd(g, m, inversion);
    inversion.finish();
    // B = -P / diag(P) column-wise, zero diagonal
    const w = new Float32Array(m * m);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) w[i * m + j] = i === j ? 0 : -p[i * m + j] / p[j * m + j];
    }
    this.weights = w;
    this.allocScratch();
    this.accQuery = null;
  }

  private allocScratch(): void {
    this.acc = new Float32Array(this.kept.length);
    this.banned = new Uint8Array(this.numItems);
  }

  /** The recency-and-event weight of each history position (oldest first). */
  private historyWeight(query: UserQuery, k: number): number {
    const len = query.history.length;
    let w = query.weights ? query.weights[k] : 1;
    if (w > 0) w = 1; // the model was fitted on binary data: a purchase and a view both count once
    if (this.options.halfLife > 0) w *= Math.pow(0.5, (len - 1 - k) / this.options.halfLife);
    return w;
  }

  /** Fills `this.acc` with the query's score of every kept item (skipped when `acc` already holds this query's). */
  private accumulate(query: UserQuery): void {
    if (this.accQuery === query) return;
    const m = this.kept.length;
    const acc = this.acc;
    const wts = this.weights;
    acc.fill(0);
    const h = query.history;
    let used = 0;
    for (let k = 0; k < h.length; k++) {
      const s = h[k] >= 0 && h[k] < this.numItems ? this.slot[h[k]] : -1;
      if (s < 0) continue;
      const w = this.historyWeight(query, k);
      if (w === 0) continue;
      used++;
      const base = s * m;
      for (let j = 0; j < m; j++) acc[j] += w * wts[base + j];
    }
    this.accUsed = used;
    this.accQuery = query;
  }

  candidates(query: UserQuery, n: number, exclude?: ReadonlySet<number>, ctx?: RequestContext): ScoredItems {
    this.assertFitted();
    if (n <= 0) return noCandidates();
    this.accumulate(query);
    if (this.accUsed === 0) return noCandidates();
    const banned = this.banned;
    const h = query.history;
    for (let k = 0; k < h.length; k++) if (h[k] >= 0 && h[k] < this.numItems) banned[h[k]] = 1;
    if (exclude) for (const i of exclude) if (i >= 0 && i < this.numItems) banned[i] = 1;
    const k = Math.max(1, Math.min(n, this.kept.length));
    if (this.heap.capacity !== k) this.heap = new TopK(k);
    const heap = this.heap;
    heap.reset();
    const acc = this.acc;
    const kept = this.kept;
    const allow = ctx?.allow;
    for (let j = 0; j < kept.length; j++) if (banned[kept[j]] === 0 && (!allow || allow[kept[j]] === 1)) heap.push(kept[j], acc[j]);
    for (let q = 0; q < h.length; q++) if (h[q] >= 0 && h[q] < this.numItems) banned[h[q]] = 0;
    if (exclude) for (const i of exclude) if (i >= 0 && i < this.numItems) banned[i] = 0;
    const items = new Int32Array(heap.size);
    const scores = new Float32Array(heap.size);
    heap.drainSorted(items, scores);
    return { items, scores };
  }

  /** Writes the query's score of each of `items` into `out` (NaN for items EASE left out). */
  scoreItems(query: UserQuery, items: ArrayLike<number>, out: Float32Array): void {
    this.assertFitted();
    this.accumulate(query);
    for (let k = 0; k < items.length; k++) {
      const i = items[k];
      const s = i >= 0 && i < this.numItems ? this.slot[i] : -1;
      out[k] = s < 0 ? NaN : this.acc[s];
    }
  }

  /**
   * Another source over the same fitted weights with other scoring options (a recency-weighted view),
   * so one fit serves several L1 signals.
   * @example const recent = ease.view({ name: 'ease-recent', halfLife: 10 });
   */
  view(options: { name: string; halfLife: number }): EaseSource {
    const v = new EaseSource({ ...this.options, ...options });
    v.weights = this.weights;
    v.slot = this.slot;
    v.kept = this.kept;
    v.numItems = this.numItems;
    v.base = this;
    if (this.numItems > 0) v.allocScratch();
    return v;
  }

  private assertFitted(): void {
    if (this.numItems === 0) throw new Error(`EaseSource '${this.name}': call fit() before asking for candidates`);
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    // a view stores only its options: its weights are its base's, loaded with the base stage
    if (this.base) return writeFile(join(dir, 'ease-view.json'), JSON.stringify({ kind: 'ease-view', version: 1, halfLife: this.options.halfLife }));
    const meta = { kind: 'ease', version: 1, options: this.options, numItems: this.numItems, kept: Array.from(this.kept) };
    await writeFile(join(dir, 'ease.json'), JSON.stringify(meta));
    await writeFile(join(dir, 'ease-weights.f32'), new Uint8Array(this.weights.buffer, this.weights.byteOffset, this.weights.byteLength));
  }

  /** Reads a source written by `save` (`name` renames it: the engine's stage name). */
  static async load(dir: string, name?: string, files: FileReader = fsReader): Promise<EaseSource> {
    const meta = JSON.parse(Buffer.from(await files.read(join(dir, 'ease.json'))).toString('utf8')) as { kind: string; version: number; options: EaseOptions; numItems: number; kept: number[] };
    if (meta.kind !== 'ease' || meta.version !== 1) throw new Error(`${join(dir, 'ease.json')}: not an EASE model (version 1)`);
    const s = new EaseSource({ ...meta.options, ...(name ? { name } : {}) });
    const buf = await files.read(join(dir, 'ease-weights.f32'));
    const m = meta.kept.length;
    if (buf.byteLength !== m * m * 4) throw new Error(`${join(dir, 'ease-weights.f32')}: expected ${m * m * 4} bytes, found ${buf.byteLength}`);
    s.weights = new Float32Array(new Uint8Array(buf).buffer);
    const bad = firstNonFinite(s.weights);
    if (bad >= 0) throw new Error(`${join(dir, 'ease-weights.f32')}: weight ${bad} is ${s.weights[bad]}; weights must be finite (corrupted file?)`);
    s.kept = Int32Array.from(meta.kept);
    s.numItems = meta.numItems;
    s.slot = new Int32Array(meta.numItems).fill(-1);
    for (let k = 0; k < m; k++) s.slot[s.kept[k]] = k;
    s.allocScratch();
    return s;
  }
}

/** The `ease` stage's parameters. */
export const EASE_PARAMS = schema({
  lambda: { type: 'number', min: 0, exclusiveMin: true, default: 500, description: 'L2 penalty on the Gram diagonal (Steck 2019: 100-1000 on MovieLens-size data)' },
  maxItems: { type: 'number', integer: true, min: 1, default: 3000, description: 'only the most popular items get a row and a column: the weights are dense (items^2 floats) and the fit O(items^3), so the default bounds the cost (about 20 s on 2 cores); other sources reach the rest' },
  halfLife: { type: 'number', min: 0, default: 0, description: 'history recency when scoring: the event k steps back weighs 0.5^(k / halfLife); 0 = off' },
  base: { type: 'string', nullable: true, default: null, description: 'an earlier ease stage whose fitted weights this one scores with (a recency view: one fit, no second copy; its lambda and maxItems are the base\'s)' },
});

/**
 * EASE as an engine stage. `{ kind: 'ease', params: { base: 'ease', halfLife: 10 } }` is a recency view
 * of the stage named 'ease': no second fit, no second copy of the weights on disk.
 */
export const easeKind = defineSourceKind({
  kind: 'ease',
  description: 'EASE item-to-item weights (dense; catalogs up to some ten thousand items)',
  params: EASE_PARAMS,
  personalized: true,
  dependsOn: (p) => (p.base ? [p.base] : []),
  create: (p, ctx) => (p.base ? baseOf(ctx.stage(p.base), p.base).view({ name: ctx.name, halfLife: p.halfLife }) : new EaseSource({ lambda: p.lambda, maxItems: p.maxItems, halfLife: p.halfLife, name: ctx.name })),
  load: async (dir, p, ctx) => {
    if (!p.base) return EaseSource.load(dir, ctx.name, ctx.files);
    // a view's folder holds only its options: read them (the model loader checks every file is read)
    const file = join(dir, 'ease-view.json');
    const v = JSON.parse(Buffer.from(await (ctx.files ?? fsReader).read(file)).toString('utf8')) as { kind?: unknown; halfLife?: unknown };
    if (v?.kind !== 'ease-view' || v.halfLife !== p.halfLife) throw new Error(`${file}: not the ease view this stage configures (halfLife ${p.halfLife})`);
    return baseOf(ctx.stage(p.base), p.base).view({ name: ctx.name, halfLife: p.halfLife });
  },
});

function baseOf(s: unknown, name: string): EaseSource {
  if (!(s instanceof EaseSource)) throw new Error(`ease parameter 'base': stage '${name}' is not an ease stage`);
  return s;
}

/**
 * Inverse of a symmetric positive definite n x n row-major matrix, through its Cholesky factor:
 * A = L L^T, M = L^-1, A^-1 = M^T M. Every inner loop runs along a row (contiguous memory), and each
 * pass works on four rows at once, so a row streamed from memory serves four (the passes are
 * memory-bound from a few thousand rows); each element is still summed in the same order as one row
 * at a time (`invertSpdRowByRow`, the reference), so the result is the same to the bit.
 * `a` is overwritten. Throws when `a` is not positive definite.
 * @example invertSpd(new Float64Array([4, 2, 2, 3]), 2) // [0.375, -0.25, -0.25, 0.5]
 */
export function invertSpd(a: Float64Array, n: number, progress?: ProgressTask): Float64Array {
  if (a.length !== n * n) throw new Error(`invertSpd: expected ${n * n} entries, got ${a.length}`);
  // each of the three passes costs about r^3/6 multiply-adds over its first r rows
  const done = (pass: number, rows: number): void => progress?.set(invertWork(n, pass) + invertWork(rows, 1));
  const n4 = n & ~3;
  // Cholesky in place into the lower triangle: L[i][j] = (A[i][j] - sum_k<j L[i][k] L[j][k]) / L[j][j]
  for (let i0 = 0; i0 < n; i0 += 4) {
    if (i0 < n4) {
      // rows i0..i0+3 against every finished row j < i0: one pass over row j for four dot products
      const r0 = i0 * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      for (let j = 0; j < i0; j++) {
        const rj = j * n;
        let s0 = a[r0 + j];
        let s1 = a[r1 + j];
        let s2 = a[r2 + j];
        let s3 = a[r3 + j];
        for (let k = 0; k < j; k++) {
          const l = a[rj + k];
          s0 -= a[r0 + k] * l;
          s1 -= a[r1 + k] * l;
          s2 -= a[r2 + k] * l;
          s3 -= a[r3 + k] * l;
        }
        const d = a[rj + j];
        a[r0 + j] = s0 / d;
        a[r1 + j] = s1 / d;
        a[r2 + j] = s2 / d;
        a[r3 + j] = s3 / d;
      }
    }
    // the rest of each row (all of it past the last whole block of four), one row at a time
    const jFrom = i0 < n4 ? i0 : 0;
    for (let i = i0; i < Math.min(n, i0 + 4); i++) {
      const ri = i * n;
      for (let j = i < n4 ? jFrom : 0; j <= i; j++) {
        const rj = j * n;
        let s = a[ri + j];
        for (let k = 0; k < j; k++) s -= a[ri + k] * a[rj + k];
        if (i === j) {
          if (!(s > 0)) throw new Error(`invertSpd: matrix is not positive definite (pivot ${i} is ${s})`);
          a[ri + i] = Math.sqrt(s);
        } else {
          a[ri + j] = s / a[rj + j];
        }
      }
      done(0, i + 1);
    }
  }
  // M = L^-1 row by row: M[i] = (e_i - sum_{k<i} L[i][k] M[k]) / L[i][i]
  const m = new Float64Array(n * n);
  for (let i0 = 0; i0 < n; i0 += 4) {
    const kFrom = i0 < n4 ? i0 : 0;
    if (i0 < n4) {
      // four rows take the same finished row M[k], k < i0, in one pass over it
      const r0 = i0 * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      for (let k = 0; k < i0; k++) {
        const l0 = a[r0 + k];
        const l1 = a[r1 + k];
        const l2 = a[r2 + k];
        const l3 = a[r3 + k];
        if (l0 === 0 && l1 === 0 && l2 === 0 && l3 === 0) continue;
        const rk = k * n;
        for (let j = 0; j <= k; j++) {
          const v = m[rk + j];
          m[r0 + j] -= l0 * v;
          m[r1 + j] -= l1 * v;
          m[r2 + j] -= l2 * v;
          m[r3 + j] -= l3 * v;
        }
      }
    }
    for (let i = i0; i < Math.min(n, i0 + 4); i++) {
      const ri = i * n;
      for (let k = i < n4 ? kFrom : 0; k < i; k++) {
        const l = a[ri + k];
        if (l === 0) continue;
        const rk = k * n;
        for (let j = 0; j <= k; j++) m[ri + j] -= l * m[rk + j];
      }
      m[ri + i] += 1;
      const inv = 1 / a[ri + i];
      for (let j = 0; j <= i; j++) m[ri + j] *= inv;
      done(1, i + 1);
    }
  }
  // A^-1 = M^T M as a sum of rank-one updates from each row of M (lower triangle, then mirrored);
  // four rows of M at a time, each element still adding them in the order k, k+1, k+2, k+3
  const out = new Float64Array(n * n);
  for (let k0 = 0; k0 < n; k0 += 4) {
    if (k0 < n4) {
      const m0 = k0 * n;
      const m1 = m0 + n;
      const m2 = m1 + n;
      const m3 = m2 + n;
      // rows i <= k0: every one of the four rows of M has entries up to column i
      for (let i = 0; i <= k0; i++) {
        const v0 = m[m0 + i];
        const v1 = m[m1 + i];
        const v2 = m[m2 + i];
        const v3 = m[m3 + i];
        const ri = i * n;
        for (let j = 0; j <= i; j++) {
          let o = out[ri + j];
          if (v0 !== 0) o += v0 * m[m0 + j];
          if (v1 !== 0) o += v1 * m[m1 + j];
          if (v2 !== 0) o += v2 * m[m2 + j];
          if (v3 !== 0) o += v3 * m[m3 + j];
          out[ri + j] = o;
        }
      }
      // rows k0 < i < k0+4, where only the later rows of M reach: one row of M at a time
      for (let k = k0 + 1; k < k0 + 4; k++) {
        const rk = k * n;
        for (let i = k0 + 1; i <= k; i++) {
          const v = m[rk + i];
          if (v === 0) continue;
          const ri = i * n;
          for (let j = 0; j <= i; j++) out[ri + j] += v * m[rk + j];
        }
      }
      for (let k = k0 + 1; k <= k0 + 4; k++) done(2, k);
      continue;
    }
    for (let k = k0; k < n; k++) {
      const rk = k * n;
      for (let i = 0; i <= k; i++) {
        const v = m[rk + i];
        if (v === 0) continue;
        const ri = i * n;
        for (let j = 0; j <= i; j++) out[ri + j] += v * m[rk + j];
      }
      done(2, k + 1);
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) out[j * n + i] = out[i * n + j];
  return out;
}

/** `invertSpd` one row at a time (its form before the four-row blocking): the reference it must equal to the bit. */
export function invertSpdRowByRow(a: Float64Array, n: number): Float64Array {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = a[ri + j];
      for (let k = 0; k < j; k++) s -= a[ri + k] * a[rj + k];
      if (i === j) {
        if (!(s > 0)) throw new Error(`invertSpd: matrix is not positive definite (pivot ${i} is ${s})`);
        a[ri + i] = Math.sqrt(s);
      } else a[ri + j] = s / a[rj + j];
    }
  }
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let k = 0; k < i; k++) {
      const l = a[ri + k];
      if (l === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) m[ri + j] -= l * m[rk + j];
    }
    m[ri + i] += 1;
    const inv = 1 / a[ri + i];
    for (let j = 0; j <= i; j++) m[ri + j] *= inv;
  }
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const v = m[rk + i];
      if (v === 0) continue;
      const ri = i * n;
      for (let j = 0; j <= i; j++) out[ri + j] += v * m[rk + j];
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) out[j * n + i] = out[i * n + j];
  return out;
}

/** The work of `passes` passes of `invertSpd` over `rows` rows, in units of multiply-adds (the progress total). */
function invertWork(rows: number, passes: number): number {
  return (passes * rows * rows * rows) / 6;
}

/** Plain Gauss-Jordan inverse with partial pivoting: the slow, obvious reference for `invertSpd`. */
export function invertGaussJordan(a: Float64Array, n: number): Float64Array {
  const w = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(w[r * n + c]) > Math.abs(w[p * n + c])) p = r;
    if (w[p * n + c] === 0) throw new Error('invertGaussJordan: singular matrix');
    for (let j = 0; j < n; j++) {
      [w[c * n + j], w[p * n + j]] = [w[p * n + j], w[c * n + j]];
      [inv[c * n + j], inv[p * n + j]] = [inv[p * n + j], inv[c * n + j]];
    }
    const d = w[c * n + c];
    for (let j = 0; j < n; j++) {
      w[c * n + j] /= d;
      inv[c * n + j] /= d;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = w[r * n + c];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        w[r * n + j] -= f * w[c * n + j];
        inv[r * n + j] -= f * inv[c * n + j];
      }
    }
  }
  return inv;
}
