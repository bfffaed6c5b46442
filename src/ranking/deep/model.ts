/**
 * A trained DCN behind the RankerModel interface: scoring (P(action) = sigmoid(logit)), margins for the
 * blend, gradient × input attributions for explanations, and the model files.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { firstNonFinite, getKernelBackend, type Rng } from '../../math/index.ts';
import { contributionsOfRow, sigmoidOfMargins, type RankerModel } from '../model/model.ts';
import { Encoder, shapeOf, type EncoderSpec } from './encoder.ts';
import { DcnNet, dcnLayout, initDcnParams, type DcnShape, type NetKernels } from './net.ts';
import { DcnScorer } from './scorer.ts';

export const DCN_MODEL_FILE = 'dcn-model.json';
export const DCN_PARAMS_FILE = 'dcn-params.f32';
export const DCN_FORMAT = 'tandem-dcn';
export const DCN_VERSION = 1;

/** Rows explained per pass (a response's k items: one pass for k ≤ 16). */
export const EXPLAIN_BATCH = 16;

/** Rows scored per pass (the serving path's 500 candidates are one pass). */
const CHUNK = 512;

/** The network's kernels on this thread: the fastest backend's gemm and memory. */
export function backendKernels(): NetKernels {
  const be = getKernelBackend();
  return { gemm: be.gemm, gemv: (r, c, m, x, y) => be.gemv(r, c, m, x, y), alloc: (n) => be.alloc(n), allocInt32: be.train ? (n) => be.train!.allocInt32(n) : undefined, free: (a) => be.free(a), fast: be.train ?? null, backend: be };
}

/** What the model file holds besides the weights. */
interface DcnFile {
  format: string;
  version: number;
  encoder: EncoderSpec;
  embedDim: number;
  cross: number;
  hidden: number[];
  parameters: number;
}

/**
 * The DCN ranker model: `params` in the layout of `dcnLayout(shape)`.
 * @example const p = new Float64Array(n); model.predict(rows, n, p);
 */
export class DcnModel implements RankerModel {
  readonly kind = 'dcn';
  readonly encoder: Encoder;
  readonly shape: DcnShape;
  readonly params: Float32Array;
  private net: DcnNet | null = null;
  private fast: DcnScorer | null = null;
  /** The attributions' net (EXPLAIN_BATCH rows). */
  private few: DcnNet | null = null;

  constructor(
    spec: EncoderSpec,
    readonly embedDim: number,
    readonly cross: number,
    readonly hidden: number[],
    params: Float32Array,
    private readonly info: Record<string, unknown> = {},
    private readonly kernels: NetKernels = backendKernels(),
  ) {
    this.encoder = new Encoder(spec);
    this.shape = shapeOf(spec, embedDim, cross, hidden);
    const total = dcnLayout(this.shape).total;
    if (params.length !== total) throw new Error(`dcn: ${params.length} parameters given, the network has ${total}`);
    // the weights in the backend's memory, where its gemm reads them in place
    this.params = kernels.alloc(total);
    this.params.set(params);
  }

  get nFeatures(): number {
    return this.encoder.spec.nFeatures;
  }

  private scorer(): DcnNet {
    return (this.net ??= new DcnNet(this.shape, this.kernels, CHUNK));
  }

  /** The fused scoring pass, when the backend has DCN kernels (null: the plain pass). */
  private fastScorer(): DcnScorer | null {
    if (this.fast) return this.fast;
    const be = this.kernels.backend;
    if (!be?.dcn || !be.train) return null;
    this.fast = new DcnScorer(be as ConstructorParameters<typeof DcnScorer>[0], this.encoder, this.shape, dcnLayout(this.shape), this.params, CHUNK);
    return this.fast;
  }

  /** Which pass `margins` runs: the fused kernels ('fused') or the plain encoder and net ('plain'). */
  get scoringPath(): 'fused' | 'plain' {
    return this.fastScorer() ? 'fused' : 'plain';
  }

  /** Sets the weights (same shape) in place, e.g. a training epoch's for its validation check. */
  setParams(params: Float32Array): void {
    this.params.set(params);
    this.fast?.repack();
  }

  /** Logits (log-odds) of rows 0..n-1 of x into out. */
  margins(x: Float32Array, n: number, out: Float64Array): void {
    const fast = this.fastScorer();
    if (fast) {
      for (let a = 0; a < n; a += CHUNK) fast.logitsOf(x, this.nFeatures, a, Math.min(CHUNK, n - a), out);
      return;
    }
    this.plainMargins(x, n, out);
  }

  /** `margins` through the plain pass (the encoder and DcnNet.forward): the fused pass's reference. */
  plainMargins(x: Float32Array, n: number, out: Float64Array): void {
    const net = this.scorer();
    const d0 = net.layout.d0;
    for (let a = 0; a < n; a += CHUNK) {
      const B = Math.min(CHUNK, n - a);
      this.encoder.encode(x, null, a, B, d0, net.x0, net.codes);
      net.gatherEmbeddings(this.params, B);
      const z = net.forward(this.params, B);
      for (let r = 0; r < B; r++) out[a + r] = z[r];
    }
  }

  /** P(action) = sigmoid(logit) of rows 0..n-1 of x. */
  predict(x: Float32Array, n: number, out: Float64Array): void {
    sigmoidOfMargins(this, x, n, out);
  }

  /**
   * Gradient × input attributions of row `row`'s logit, per feature column (in normalised input space:
   * z_f ∂logit/∂z_f, plus the missing indicator's own term; an embedded column sums e_j ∂logit/∂e_j over
   * its embedding), and out[nFeatures] = the logit minus their sum, so the entries add up to the logit.
   */
  contributions(x: Float32Array, row: number, out: Float64Array): void {
    contributionsOfRow(this, x, row, out);
  }

  /**
   * `contributions` of rows[0..n-1] of x, row k's into out[k (F + 1) .. (k + 1)(F + 1)): up to
   * EXPLAIN_BATCH rows per forward and backward pass, and the backward computes the input gradient only.
   */
  contributionsOf(x: Float32Array, rows: Int32Array, n: number, out: Float64Array): void {
    const F = this.nFeatures;
    const net = (this.few ??= new DcnNet(this.shape, this.kernels, EXPLAIN_BATCH));
    const d0 = net.layout.d0;
    const spec = this.encoder.spec;
    const N = spec.numeric.length;
    const e = this.embedDim;
    const col = net.layout.embedCol;
    for (let a = 0; a < n; a += EXPLAIN_BATCH) {
      const B = Math.min(EXPLAIN_BATCH, n - a);
      this.encoder.encode(x, rows.subarray(a, a + B), 0, B, d0, net.x0, net.codes);
      net.gatherEmbeddings(this.params, B);
      // the logits stay in the net's buffer: the backward reads dz and writes only gradients
      const z = net.forward(this.params, B);
      net.dz.fill(1, 0, B);
      net.backward(this.params, B, null, false);
      for (let r = 0; r < B; r++) {
        const o = (a + r) * (F + 1);
        out.fill(0, o, o + F + 1);
        const xr = r * d0;
        let sum = 0;
        for (let k = 0; k < N; k++) {
          let c = net.x0[xr + k] * net.dX0[xr + k];
          const m = spec.missing[k];
          if (m >= 0) c += net.x0[xr + N + m] * net.dX0[xr + N + m];
          out[o + spec.numeric[k]] = c;
          sum += c;
        }
        // a bag's attribution goes to its first column (explanations name the bag as one entry)
        this.encoder.inputs.forEach((input, t) => {
          let c = 0;
          for (let j = 0; j < e; j++) c += net.x0[xr + col + t * e + j] * net.dX0[xr + col + t * e + j];
          out[o + input.columns[0]] += c;
          sum += c;
        });
        out[o + F] = z[r] - sum;
      }
    }
  }

  /** Gives the weights and scratch back to the kernel memory (a server drops a swapped-out model). */
  dispose(): void {
    this.net?.dispose();
    this.few?.dispose();
    this.fast?.dispose();
    this.net = this.few = null;
    this.fast = null;
    this.kernels.free?.(this.params);
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const file: DcnFile = { format: DCN_FORMAT, version: DCN_VERSION, encoder: this.encoder.spec, embedDim: this.embedDim, cross: this.cross, hidden: this.hidden, parameters: this.params.length };
    await writeFile(join(dir, DCN_MODEL_FILE), JSON.stringify(file));
    const bytes = new Uint8Array(this.params.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < this.params.length; i++) view.setFloat32(i * 4, this.params[i], true);
    await writeFile(join(dir, DCN_PARAMS_FILE), bytes);
  }

  summary(): Record<string, unknown> {
    return { parameters: this.params.length, inputs: this.shape.numeric + this.shape.missing + this.encoder.inputs.length * this.embedDim, embedded: this.encoder.inputs.length, ...this.info };
  }

  /** A model with fresh (untrained) weights: for benchmarks of the scoring cost, which does not depend on the weights. */
  static random(spec: EncoderSpec, embedDim: number, cross: number, hidden: number[], rng: Rng, kernels: NetKernels = backendKernels()): DcnModel {
    const layout = dcnLayout(shapeOf(spec, embedDim, cross, hidden));
    const params = new Float32Array(layout.total);
    initDcnParams(layout, embedDim, params, rng);
    return new DcnModel(spec, embedDim, cross, hidden, params, {}, kernels);
  }

  /** The model `save(dir)` wrote; every file through `read` (default: plain fs). Errors name the file and field. */
  static async load(dir: string, read: (path: string) => Promise<Uint8Array> = (p) => readFile(p)): Promise<DcnModel> {
    const jsonPath = join(dir, DCN_MODEL_FILE);
    let f: DcnFile;
    try {
      f = JSON.parse(Buffer.from(await read(jsonPath)).toString('utf8')) as DcnFile;
    } catch (e) {
      throw new Error(`${jsonPath}: ${(e as Error).message}`);
    }
    const bad = (field: string, why: string): never => {
      throw new Error(`${jsonPath}: ${field}: ${why}`);
    };
    if (f.format !== DCN_FORMAT) bad('format', `expected '${DCN_FORMAT}', got ${JSON.stringify(f.format)}`);
    if (f.version !== DCN_VERSION) bad('version', `expected ${DCN_VERSION}, got ${JSON.stringify(f.version)}`);
    const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
    if (!int(f.embedDim) || f.embedDim < 1) bad('embedDim', 'a positive integer');
    if (!int(f.cross)) bad('cross', 'a non-negative integer');
    if (!Array.isArray(f.hidden) || !f.hidden.every((h) => int(h) && h > 0)) bad('hidden', 'positive integers');
    const e = f.encoder;
    if (!e || typeof e !== 'object') bad('encoder', 'missing');
    if (!int(e.nFeatures)) bad('encoder.nFeatures', 'a non-negative integer');
    for (const k of ['numeric', 'log', 'mean', 'std', 'missing', 'categorical', 'vocab'] as const) {
      if (!Array.isArray(e[k]) || !e[k].every((v) => typeof v === 'number' && Number.isFinite(v))) bad(`encoder.${k}`, 'an array of finite numbers');
    }
    const N = e.numeric.length;
    for (const k of ['log', 'mean', 'std', 'missing'] as const) if (e[k].length !== N) bad(`encoder.${k}`, `${e[k].length} values, numeric has ${N}`);
    if (e.vocab.length !== e.categorical.length) bad('encoder.vocab', `${e.vocab.length} values, categorical has ${e.categorical.length}`);
    if ([...e.numeric, ...e.categorical].some((c) => !int(c) || c >= e.nFeatures)) bad('encoder', `a column outside 0..${e.nFeatures - 1}`);
    if (e.inputs !== undefined) {
      if (!Array.isArray(e.inputs)) bad('encoder.inputs', 'an array');
      e.inputs.forEach((i, t) => {
        if (!i || !int(i.table) || i.table >= e.vocab.length) bad(`encoder.inputs[${t}].table`, `an index of encoder.vocab (0..${e.vocab.length - 1})`);
        if (!Array.isArray(i.columns) || i.columns.length === 0 || i.columns.some((c) => !int(c) || c >= e.nFeatures)) bad(`encoder.inputs[${t}].columns`, `columns in 0..${e.nFeatures - 1}`);
      });
    }
    const pPath = join(dir, DCN_PARAMS_FILE);
    const bytes = await read(pPath);
    const total = dcnLayout(shapeOf(e, f.embedDim, f.cross, f.hidden)).total;
    if (bytes.length !== total * 4) throw new Error(`${pPath}: ${bytes.length} bytes, the network in ${jsonPath} needs ${total * 4}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const params = new Float32Array(total);
    for (let i = 0; i < total; i++) params[i] = view.getFloat32(i * 4, true);
    const nf = firstNonFinite(params);
    if (nf >= 0) throw new Error(`${pPath}: parameter ${nf} is not finite`);
    return new DcnModel(e, f.embedDim, f.cross, f.hidden, params);
  }
}
