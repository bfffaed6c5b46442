import { Rng } from '../../math/index.ts';
import type { GbdtData } from './data.ts';

/**
 * Quantile bin edges per feature. Feature f has cuts c_0 < c_1 < ... (at most maxBin-1 of them);
 * value v falls in value bin k = number of cuts <= v, so "bin <= k" is exactly "v < c_k", the test
 * the trees use. NaN falls in the missing bin, one past the last value bin.
 */
export class BinMapper {
  /** Cuts of all features, concatenated; feature f's are cuts[cutOffset[f] .. cutOffset[f+1]). */
  readonly cuts: Float64Array;
  readonly cutOffset: Int32Array;
  readonly nFeatures: number;

  constructor(cuts: Float64Array, cutOffset: Int32Array) {
    this.cuts = cuts;
    this.cutOffset = cutOffset;
    this.nFeatures = cutOffset.length - 1;
  }

  /** Value bins of feature f; its missing bin has this index. */
  valueBins(f: number): number {
    return this.cutOffset[f + 1] - this.cutOffset[f] + 1;
  }

  /** The split threshold that sends value bins 0..bin left: v < threshold. */
  threshold(f: number, bin: number): number {
    return bin < this.valueBins(f) - 1 ? this.cuts[this.cutOffset[f] + bin] : Infinity;
  }

  /** The bin of value v in feature f (binary search over the cuts). */
  bin(f: number, v: number): number {
    if (v !== v) return this.valueBins(f);
    let lo = this.cutOffset[f];
    let hi = this.cutOffset[f + 1];
    const base = lo;
    const c = this.cuts;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo - base;
  }

  /**
   * Finds the edges from (a seeded sample of) the rows of `data`: features with at most maxBin distinct
   * values get one bin each; others get bins of about equal count, a heavy value keeping its own bin.
   * @example const m = BinMapper.fit(data, 255, 200000, 1); const bins = m.binColumns(data);
   */
  static fit(data: GbdtData, maxBin: number, sampleRows: number, seed: number): BinMapper {
    if (!(maxBin >= 2 && maxBin <= 255)) throw new Error(`BinMapper.fit: maxBin must be in [2, 255], got ${maxBin}`);
    const n = data.nRows;
    let rows: Int32Array;
    if (n <= sampleRows) {
      rows = new Int32Array(n);
      for (let i = 0; i < n; i++) rows[i] = i;
    } else {
      // partial Fisher–Yates: the first sampleRows entries are a uniform sample without replacement
      const all = new Int32Array(n);
      for (let i = 0; i < n; i++) all[i] = i;
      const rng = new Rng(seed ^ 0x5bd1e995);
      for (let i = 0; i < sampleRows; i++) {
        const j = i + rng.int(n - i);
        const t = all[i];
        all[i] = all[j];
        all[j] = t;
      }
      rows = all.slice(0, sampleRows).sort();
    }
    const F = data.nFeatures;
    const parts: Float64Array[] = [];
    const cutOffset = new Int32Array(F + 1);
    const vals = new Float64Array(rows.length);
    for (let f = 0; f < F; f++) {
      let m = 0;
      const x = data.features;
      const stride = data.layout === 'col' ? 1 : F;
      const off = data.layout === 'col' ? f * n : f;
      for (let i = 0; i < rows.length; i++) {
        const v = x[off + rows[i] * stride];
        if (v === v) vals[m++] = v;
      }
      const c = quantileCuts(sortFloat64(vals.subarray(0, m)), maxBin);
      parts.push(c);
      cutOffset[f + 1] = cutOffset[f] + c.length;
    }
    const cuts = new Float64Array(cutOffset[F]);
    for (let f = 0; f < F; f++) cuts.set(parts[f], cutOffset[f]);
    return new BinMapper(cuts, cutOffset);
  }

  /**
   * Bins every value into a column-major Uint8Array (bin of (r, f) at f*nRows+r); `out` may be given
   * (for instance over a SharedArrayBuffer for worker threads).
   */
  binColumns(data: GbdtData, out = new Uint8Array(data.nRows * data.nFeatures)): Uint8Array {
    const n = data.nRows;
    const F = data.nFeatures;
    if (F !== this.nFeatures) throw new Error(`BinMapper.binColumns: data has ${F} features, the mapper ${this.nFeatures}`);
    if (out.length !== n * F) throw new Error(`BinMapper.binColumns: out has length ${out.length}, need ${n * F}`);
    const x = data.features;
    const rowMajor = data.layout !== 'col';
    const c = this.cuts;
    for (let f = 0; f < F; f++) {
      const base = this.cutOffset[f];
      const end = this.cutOffset[f + 1];
      const missing = end - base + 1;
      const o = f * n;
      for (let r = 0; r < n; r++) {
        const v = rowMajor ? x[r * F + f] : x[o + r];
        if (v !== v) {
          out[o + r] = missing;
          continue;
        }
        let lo = base;
        let hi = end;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (c[mid] <= v) lo = mid + 1;
          else hi = mid;
        }
        out[o + r] = lo - base;
      }
    }
    return out;
  }
}

/** Cuts for one feature from its sorted non-missing sample values. */
export function quantileCuts(sorted: Float64Array, maxBin: number): Float64Array {
  const m = sorted.length;
  if (m === 0) return new Float64Array(0);
  // distinct values and the number of sample values <= each
  const distinct = new Float64Array(m);
  const cum = new Int32Array(m);
  let d = 0;
  for (let i = 0; i < m; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) distinct[d++] = sorted[i];
    cum[d - 1] = i + 1;
  }
  const cuts: number[] = [];
  const between = (j: number): number => {
    const a = distinct[j];
    const b = distinct[j + 1];
    const mid = a + (b - a) / 2;
    // adjacent doubles: the midpoint may round onto a; b itself still separates them under v < cut
    return mid > a && mid < b ? mid : b;
  };
  if (d <= maxBin) {
    for (let j = 0; j + 1 < d; j++) cuts.push(between(j));
  } else {
    let j = 0;
    for (let k = 1; k < maxBin; k++) {
      const rank = (k * m) / maxBin;
      while (j + 1 < d && cum[j] < rank) j++;
      if (j + 1 >= d) break;
      const c = between(j);
      if (cuts.length === 0 || c > cuts[cuts.length - 1]) cuts.push(c);
    }
  }
  return Float64Array.from(cuts);
}

/**
 * Sorts finite float64s ascending in place: LSD radix sort on the bit patterns (16-bit digits, so four
 * passes), made order-preserving by flipping the sign bit of positives and every bit of negatives.
 * V8's TypedArray sort takes about 200 ms for 200k values; this takes a few.
 * @example sortFloat64(Float64Array.of(3, -1, 2)); // [-1, 2, 3]
 */
export function sortFloat64(a: Float64Array): Float64Array {
  const n = a.length;
  if (n < 256) {
    for (let i = 1; i < n; i++) {
      const v = a[i];
      let j = i - 1;
      while (j >= 0 && a[j] > v) {
        a[j + 1] = a[j];
        j--;
      }
      a[j + 1] = v;
    }
    return a;
  }
  let u: Uint32Array = new Uint32Array(a.buffer, a.byteOffset, 2 * n);
  const orig = u;
  for (let i = 0; i < n; i++) {
    const hi = u[2 * i + 1];
    if (hi & 0x80000000) {
      u[2 * i + 1] = ~hi;
      u[2 * i] = ~u[2 * i];
    } else {
      u[2 * i + 1] = hi | 0x80000000;
    }
  }
  let tmp: Uint32Array = new Uint32Array(2 * n);
  const count = new Int32Array(65536);
  for (let pass = 0; pass < 4; pass++) {
    const word = pass >> 1; // 0: low word, 1: high word
    const shift = (pass & 1) * 16;
    count.fill(0);
    for (let i = 0; i < n; i++) count[(u[2 * i + word] >>> shift) & 0xffff]++;
    if (count[(u[word] >>> shift) & 0xffff] === n) continue; // every key has this digit: nothing to do
    let sum = 0;
    for (let k = 0; k < 65536; k++) {
      const c = count[k];
      count[k] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const lo = u[2 * i];
      const hi = u[2 * i + 1];
      const p = count[((word ? hi : lo) >>> shift) & 0xffff]++;
      tmp[2 * p] = lo;
      tmp[2 * p + 1] = hi;
    }
    const t = u;
    u = tmp;
    tmp = t;
  }
  if (u !== orig) orig.set(u);
  for (let i = 0; i < n; i++) {
    const hi = orig[2 * i + 1];
    if (hi & 0x80000000) {
      orig[2 * i + 1] = hi & 0x7fffffff;
    } else {
      orig[2 * i + 1] = ~hi;
      orig[2 * i] = ~orig[2 * i];
    }
  }
  return a;
}
