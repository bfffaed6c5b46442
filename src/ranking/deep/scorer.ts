/**
 * The DCN's scoring pass on a backend's DCN kernels (`KernelBackend.dcn`): the encoder in one kernel
 * pass (gather, log, standardise, clip, missing indicators, embedding rows), each cross layer and MLP
 * layer one fused kernel over weights packed once, the head as two gemv. Nothing is allocated per
 * call. Its reference is the plain pass (`Encoder.encode` + `DcnNet.forward`), which it is tested against.
 */
import type { DcnEncodePlan, DcnKernels, KernelBackend } from '../../math/index.ts';
import type { Encoder } from './encoder.ts';
import { embeddedInputs, type DcnLayout, type DcnShape, type EmbeddedInput, type Span } from './net.ts';

/** gatherPooled's sums (float64, as poolForward's), grown to the embedding width. */
let acc = new Float64Array(16);

/**
 * The scoring pass's gather of the embedded inputs into x0 (the plain pass's is `DcnNet.gatherEmbeddings`
 * through the shared `poolForward`, which this is held to): input t's block is the mean of the rows of
 * table `inputs[t].table` that its slots' codes name (codes is B x slots, the inputs' slots in order); a
 * code outside 0..vocab-1 is skipped, and an input with no valid code reads the table's extra row. A row
 * whose codes repeat the previous row's (the user's bags, on every candidate of a request) copies its mean.
 */
export function gatherPooled(params: Float32Array, tables: readonly Span[], vocab: readonly number[], inputs: readonly EmbeddedInput[], e: number, codes: Int32Array, B: number, x0: Float32Array, d0: number, embedCol: number): void {
  let S = 0;
  for (const i of inputs) S += i.slots;
  for (let r = 0; r < B; r++) {
    let slot = r * S;
    for (let t = 0; t < inputs.length; t++) {
      const { table, slots } = inputs[t];
      const V = vocab[table];
      const base = tables[table].offset;
      const dst = r * d0 + embedCol + t * e;
      if (slots === 1) {
        const c = codes[slot++];
        const src = base + (c >= 0 && c < V ? c : V) * e;
        for (let j = 0; j < e; j++) x0[dst + j] = params[src + j];
        continue;
      }
      // the user's bags repeat on every candidate of a request: the previous row's mean, when its codes are these
      if (r > 0) {
        let same = true;
        for (let q = 0; q < slots && same; q++) same = codes[slot + q] === codes[slot - S + q];
        if (same) {
          const prev = dst - d0;
          for (let j = 0; j < e; j++) x0[dst + j] = x0[prev + j];
          slot += slots;
          continue;
        }
      }
      // summed in float64 and scaled by 1 / n, as poolForward does: the same bits as the plain pass
      if (acc.length < e) acc = new Float64Array(e);
      let n = 0;
      for (let j = 0; j < e; j++) acc[j] = 0;
      for (let q = 0; q < slots; q++) {
        const c = codes[slot + q];
        if (!(c >= 0 && c < V)) continue;
        n++;
        const src = base + c * e;
        for (let j = 0; j < e; j++) acc[j] += params[src + j];
      }
      slot += slots;
      if (n === 0) for (let j = 0; j < e; j++) x0[dst + j] = params[base + V * e + j];
      else {
        const inv = 1 / n;
        for (let j = 0; j < e; j++) x0[dst + j] = acc[j] * inv;
      }
    }
  }
}

/** Scores chunks of up to `capacity` rows of raw ranker features. */
export class DcnScorer {
  private readonly plan: DcnEncodePlan;
  private readonly xin: Float32Array;
  private readonly x0: Float32Array;
  private readonly codes: Int32Array;
  /** Cross outputs, ping-pong (x_1, x_2, ... alternate between the two). */
  private readonly xa: Float32Array;
  private readonly xb: Float32Array;
  private readonly acts: Float32Array[];
  private readonly logits: Float32Array;
  private readonly headT: Float32Array;
  private readonly cross: Float32Array[];
  private readonly mlp: Float32Array[];
  private readonly held: (Float32Array | Int32Array)[] = [];
  /** With bags among the embedded inputs (`EncoderSpec.inputs`): the kernel encodes the numbers only and the pooled rows are gathered here. */
  private readonly pooled: EmbeddedInput[] | null;
  private readonly poolCodes: Int32Array;

  constructor(
    private readonly be: KernelBackend & { dcn: DcnKernels; train: { allocInt32(n: number): Int32Array } },
    private readonly encoder: Encoder,
    private readonly shape: DcnShape,
    private readonly layout: DcnLayout,
    private readonly params: Float32Array,
    readonly capacity: number,
  ) {
    const s = encoder.spec;
    const L = layout;
    const N = s.numeric.length;
    this.pooled = s.inputs ? embeddedInputs(shape) : null;
    const T = this.pooled ? 0 : s.categorical.length;
    const i32 = (xs: ArrayLike<number>) => {
      const a = this.int(Math.max(1, xs.length));
      for (let i = 0; i < xs.length; i++) a[i] = xs[i];
      return a;
    };
    const f64 = (xs: ArrayLike<number>) => {
      const a = this.mem(2 * Math.max(1, xs.length));
      new Float64Array(a.buffer, a.byteOffset, xs.length).set(xs as ArrayLike<number>);
      return a;
    };
    this.plan = {
      N,
      cols: i32(s.numeric),
      logs: i32(s.log),
      miss: i32(s.missing),
      mean: f64(s.mean),
      invStd: f64(s.std.map((v) => 1 / v)),
      nMissing: encoder.nMissing,
      clip: s.clip,
      T,
      tcols: i32(s.categorical),
      vocab: i32(s.vocab),
      tables: i32(L.tables.map((t) => params.byteOffset + t.offset * 4)),
      e: shape.embedDim,
    };
    const B = capacity;
    this.xin = this.mem(B * s.nFeatures);
    this.x0 = this.mem(B * L.d0);
    this.codes = this.int(Math.max(1, B * T));
    this.poolCodes = new Int32Array(this.pooled ? B * this.pooled.reduce((a, i) => a + i.slots, 0) : 0);
    this.xa = this.mem(B * L.d0);
    this.xb = this.mem(B * L.d0);
    this.acts = shape.hidden.map((h) => this.mem(B * h));
    this.logits = this.mem(B);
    this.headT = this.mem(B);
    this.cross = L.crossW.map(() => this.mem(be.dcn.packedSize(L.d0, L.d0)));
    this.mlp = L.mlpW.map((_, l) => this.mem(be.dcn.packedSize(L.sizes[l + 1], L.sizes[l])));
    this.repack();
  }

  private mem(n: number): Float32Array {
    const a = this.be.alloc(n);
    this.held.push(a);
    return a;
  }

  private int(n: number): Int32Array {
    const a = this.be.train.allocInt32(n);
    this.held.push(a);
    return a;
  }

  /** Packs the weights again (after `params` changed in place). */
  repack(): void {
    const L = this.layout;
    const p = this.params;
    const view = (s: Span) => p.subarray(s.offset, s.offset + s.length);
    L.crossW.forEach((w, l) => this.be.dcn.pack(view(w), view(L.crossB[l]), L.d0, L.d0, this.cross[l]));
    L.mlpW.forEach((w, l) => this.be.dcn.pack(view(w), view(L.mlpB[l]), L.sizes[l + 1], L.sizes[l], this.mlp[l]));
  }

  /** Logits of rows first..first+B of x (nFeatures wide; B <= capacity) into out[first..]. */
  logitsOf(x: Float32Array, F: number, first: number, B: number, out: Float64Array): void {
    const L = this.layout;
    const d0 = L.d0;
    const k = this.be.dcn;
    this.xin.set(x.subarray(first * F, (first + B) * F));
    k.encode(this.xin, F, B, this.plan, this.x0, d0, this.codes);
    if (this.pooled) {
      this.encoder.encodeCodes(this.xin, null, 0, B, this.poolCodes);
      gatherPooled(this.params, L.tables, this.shape.vocab, this.pooled, this.shape.embedDim, this.poolCodes, B, this.x0, d0, L.embedCol);
    }
    let xl = this.x0;
    for (let l = 0; l < this.shape.cross; l++) {
      const next = l % 2 === 0 ? this.xa : this.xb;
      k.dense(2, B, d0, d0, xl, d0, this.cross[l], next, d0, this.x0);
      xl = next;
    }
    let h = this.x0;
    for (let l = 0; l < this.mlp.length; l++) {
      k.dense(1, B, L.sizes[l], L.sizes[l + 1], h, L.sizes[l], this.mlp[l], this.acts[l], L.sizes[l + 1], null);
      h = this.acts[l];
    }
    // the head: z = x_C wc + h wd + bias
    const p = this.params;
    const z = this.logits;
    this.be.gemv(B, d0, xl, p.subarray(L.headCross.offset, L.headCross.offset + d0), z);
    const dh = L.headDeep.length;
    if (dh > 0) this.be.gemv(B, dh, h, p.subarray(L.headDeep.offset, L.headDeep.offset + dh), this.headT);
    const bias = p[L.headBias.offset];
    for (let r = 0; r < B; r++) out[first + r] = z[r] + (dh > 0 ? this.headT[r] : 0) + bias;
  }

  /** Gives the scratch and packed weights back to the kernel memory. */
  dispose(): void {
    for (const a of this.held) this.be.free(a);
    this.held.length = 0;
  }
}
