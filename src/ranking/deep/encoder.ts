/**
 * The DCN's input encoding, fitted on the training rows: each numeric ranker column is (optionally)
 * log-compressed, standardised and clipped, a missing value (NaN, ±Infinity) becomes 0 with its
 * missing indicator set; each coded categorical column (RankerFeatures.cardinalities) becomes a table
 * row (its code, or the extra last row for a missing or unknown code).
 */
import type { DcnShape } from './net.ts';
import { ID_COLUMN, type EmbedGroups } from '../ranker/features.ts';

/** The fitted encoding, as stored in the model file. */
export interface EncoderSpec {
  nFeatures: number;
  /** Feature column of each numeric slot. */
  numeric: number[];
  /** Per numeric slot: 1 when the value goes through sign(x) log1p(|x|) first. */
  log: number[];
  mean: number[];
  std: number[];
  /** Per numeric slot: its missing-indicator slot, or -1 (no missing value in training). */
  missing: number[];
  /** Feature column and vocabulary size of each embedded categorical column (with `inputs`: each table's first column and size). */
  categorical: number[];
  vocab: number[];
  /**
   * The embedded inputs, when some are bags: each averages the table rows its columns' codes name, from
   * table `table` (an index into `categorical`/`vocab`); absent: one input per categorical column.
   */
  inputs?: { columns: number[]; table: number }[];
  /** Standardised values are clipped to [-clip, clip]. */
  clip: number;
}

/** Columns whose values are all >= 0 and reach this are log-compressed (counts, ranks, days). */
const LOG_FROM = 50;

/**
 * Fits the encoding on rows 0..n-1 of `x` (n x F). `cardinalities[f] > 0` marks coded categorical
 * columns; `embed` false treats them as numeric instead, and leaves out the `embedOnly` ones (id codes,
 * bag slots). `groups` averages the columns of a bag into one input and lets bags share a table.
 * @example const spec = fitEncoder(set.features, set.nRows, set.nFeatures, set.cardinalities, true, 5, set.embedOnly);
 */
export function fitEncoder(x: Float32Array, n: number, F: number, cardinalities: Int32Array | undefined, embed: boolean, clip: number, embedOnly?: Uint8Array, groups?: EmbedGroups): EncoderSpec {
  const spec: EncoderSpec = { nFeatures: F, numeric: [], log: [], mean: [], std: [], missing: [], categorical: [], vocab: [], clip };
  let nMissing = 0;
  // coded columns by bag (pool) and the bags' tables, in column order of their first columns
  const inputs: { columns: number[]; table: number }[] = [];
  const inputOf = new Map<number, number>();
  const tableOf = new Map<number, number>();
  for (let f = 0; f < F; f++) {
    const card = cardinalities ? cardinalities[f] : 0;
    // an id's number means nothing: embedded, or not read at all
    if (!embed && embedOnly && embedOnly[f] === ID_COLUMN) continue;
    if (embed && card > 0) {
      const pool = groups && groups.pool[f] >= 0 ? groups.pool[f] : f;
      const tkey = groups && groups.table[f] >= 0 ? groups.table[f] : pool;
      let table = tableOf.get(tkey);
      if (table === undefined) {
        table = spec.categorical.length;
        tableOf.set(tkey, table);
        spec.categorical.push(f);
        spec.vocab.push(card);
      } else if (spec.vocab[table] !== card) throw new Error(`dcn encoder: column ${f} shares the table of column ${spec.categorical[table]} with ${card} codes against ${spec.vocab[table]}`);
      let i = inputOf.get(pool);
      if (i === undefined) {
        i = inputs.length;
        inputOf.set(pool, i);
        inputs.push({ columns: [], table });
      } else if (inputs[i].table !== table) throw new Error(`dcn encoder: column ${f} of a bag reads another table`);
      inputs[i].columns.push(f);
      continue;
    }
    let min = Infinity;
    let max = -Infinity;
    let miss = 0;
    for (let r = 0; r < n; r++) {
      const v = x[r * F + f];
      if (v - v !== 0) miss++;
      else {
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    const log = min >= 0 && max >= LOG_FROM ? 1 : 0;
    const { mean, sd } = finiteMoments(x, F, n, f, log ? Math.log1p : (v) => v);
    spec.numeric.push(f);
    spec.log.push(log);
    spec.mean.push(mean);
    // a constant column stays 0 after standardising (std 1 avoids 0/0)
    spec.std.push(sd > 1e-12 ? sd : 1);
    spec.missing.push(miss > 0 ? nMissing++ : -1);
  }
  // the plain form (one input per table, one column each) unless some input is a bag or shares a table
  if (inputs.length !== spec.categorical.length || inputs.some((i, t) => i.table !== t || i.columns.length !== 1)) spec.inputs = inputs;
  return spec;
}

/** The spec's embedded inputs (one per categorical column when it has no `inputs`). */
export function specInputs(spec: EncoderSpec): { columns: number[]; table: number }[] {
  return spec.inputs ?? spec.categorical.map((f, table) => ({ columns: [f], table }));
}

/** The network's input shape of an encoding. */
export function shapeOf(spec: EncoderSpec, embedDim: number, cross: number, hidden: number[]): DcnShape {
  const missing = spec.missing.reduce((a, m) => a + (m >= 0 ? 1 : 0), 0);
  const inputs = spec.inputs ? { inputs: spec.inputs.map((i) => ({ table: i.table, slots: i.columns.length })) } : {};
  return { numeric: spec.numeric.length, missing, vocab: [...spec.vocab], ...inputs, embedDim, cross, hidden: [...hidden] };
}

/** Encodes rows of raw ranker features into the network's x0 and table rows, with flat arrays read once. */
export class Encoder {
  private readonly numeric: Int32Array;
  private readonly log: Uint8Array;
  private readonly mean: Float64Array;
  private readonly invStd: Float64Array;
  private readonly missing: Int32Array;
  /** The embedded inputs (`specInputs`): each one's columns and table. */
  readonly inputs: { columns: number[]; table: number }[];
  /** Per embedded slot (each input's columns in turn): its feature column and its table's vocabulary size. */
  private readonly slotCols: Int32Array;
  private readonly slotVocab: Int32Array;
  readonly nMissing: number;

  constructor(readonly spec: EncoderSpec) {
    this.numeric = Int32Array.from(spec.numeric);
    this.log = Uint8Array.from(spec.log);
    this.mean = Float64Array.from(spec.mean);
    this.invStd = Float64Array.from(spec.std, (s) => 1 / s);
    this.missing = Int32Array.from(spec.missing);
    const inputs = (this.inputs = specInputs(spec));
    this.slotCols = Int32Array.from(inputs.flatMap((i) => i.columns));
    this.slotVocab = Int32Array.from(inputs.flatMap((i) => i.columns.map(() => spec.vocab[i.table])));
    this.nMissing = spec.missing.reduce((a, m) => a + (m >= 0 ? 1 : 0), 0);
  }

  /**
   * Rows `rows[0..B)` of x (or rows first..first+B when `rows` is null) into x0 (B x d0: numeric slots,
   * then missing indicators; the embedding columns are left to the net) and `codes` (B x slots).
   */
  encode(x: Float32Array, rows: Int32Array | null, first: number, B: number, d0: number, x0: Float32Array, codes: Int32Array): void {
    const F = this.spec.nFeatures;
    const N = this.numeric.length;
    const clip = this.spec.clip;
    for (let r = 0; r < B; r++) {
      const src = (rows ? rows[r] : first + r) * F;
      const o = r * d0;
      for (let m = 0; m < this.nMissing; m++) x0[o + N + m] = 0;
      for (let k = 0; k < N; k++) {
        const v = x[src + this.numeric[k]];
        if (v - v !== 0) {
          x0[o + k] = 0;
          const m = this.missing[k];
          if (m >= 0) x0[o + N + m] = 1;
          continue;
        }
        const t = this.log[k] ? (v >= 0 ? Math.log1p(v) : -Math.log1p(-v)) : v;
        let z = (t - this.mean[k]) * this.invStd[k];
        if (z > clip) z = clip;
        else if (z < -clip) z = -clip;
        x0[o + k] = z;
      }
    }
    this.encodeCodes(x, rows, first, B, codes);
  }

  /** The embedded slots' codes of rows `rows[0..B)` (or first..first+B) into `codes` (B x slots). */
  encodeCodes(x: Float32Array, rows: Int32Array | null, first: number, B: number, codes: Int32Array): void {
    const F = this.spec.nFeatures;
    const S = this.slotCols.length;
    for (let r = 0; r < B; r++) {
      const src = (rows ? rows[r] : first + r) * F;
      for (let t = 0; t < S; t++) {
        const c = x[src + this.slotCols[t]];
        const V = this.slotVocab[t];
        // a code outside the fitted vocabulary (a new value, NaN) is no code: the net skips it, or reads
        // the table's extra row when an input has none
        codes[r * S + t] = c >= 0 && c < V && c === Math.floor(c) ? c : V;
      }
    }
  }
}

/**
 * Mean and (population) standard deviation of t(v) over the finite values v of column `col` of rows
 * 0..n-1 (x is n x F); 0 and 0 when the column has none. Standardising inputs: the encoder, the stacker.
 * @example finiteMoments(Float32Array.of(1, NaN, 3), 1, 3, 0, (v) => v) // { mean: 2, sd: 1 }
 */
export function finiteMoments(x: Float32Array, F: number, n: number, col: number, t: (v: number) => number): { mean: number; sd: number } {
  let s = 0;
  let s2 = 0;
  let c = 0;
  for (let r = 0; r < n; r++) {
    const v = x[r * F + col];
    if (v - v !== 0) continue;
    const u = t(v);
    s += u;
    s2 += u * u;
    c++;
  }
  const mean = c > 0 ? s / c : 0;
  return { mean, sd: c > 0 ? Math.sqrt(Math.max(0, s2 / c - mean * mean)) : 0 };
}
