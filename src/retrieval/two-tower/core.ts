/**
 * The training inner loop, shared by the single-thread trainer and the Hogwild workers: batches of
 * (user history before the positive, positive item, sampled negatives) -> loss and gradients ->
 * lazy optimiser updates on the shared parameters -> moving average.
 */
import { AliasTable, lrMultiplier, Optimizer, type KernelBackend, type Rng, type TrainKernels } from '../../math/index.ts';
import { TowerBatch, type FeatureSpace } from '../../features/index.ts';
import type { Dataset } from '../../data/index.ts';
import type { TwoTowerConfig } from './config.ts';
import { StepScratch, type DedupColumns, type StepLoss, type TwoTowerNet } from './model.ts';
import { SyncStep, type SyncShared } from './sync.ts';

/** Training examples: each user's events in time order, and one example per event. */
export interface Examples {
  /** Events of user u are seq[userStart[u] .. userStart[u+1]). */
  userStart: Int32Array;
  seqItems: Int32Array;
  /** Signed event weight (negative feedback < 0). */
  seqWeights: Float32Array;
  /** The user of example k (= event k of seq). */
  exUser: Int32Array;
  /** log of each item's share of the training events (for log-Q). */
  itemLogProb: Float32Array;
  /** Training events per item (for popularity-weighted negatives). */
  itemCounts: Float32Array;
}

/** Examples from a Dataset's interactions, grouped by user in (time, item) order. */
export function buildExamples(ds: Dataset): Examples {
  const { offsets, rows } = ds.byUser();
  const x = ds.interactions;
  const n = x.length;
  const f32 = (k: number) => new Float32Array(new SharedArrayBuffer(Math.max(1, k) * 4)).subarray(0, k);
  // shared memory, so worker threads read the examples without a copy
  const i32 = (k: number) => new Int32Array(new SharedArrayBuffer(Math.max(1, k) * 4)).subarray(0, k);
  const seqItems = i32(n);
  const seqWeights = f32(n);
  const exUser = i32(n);
  const ew = ds.eventTypes.map((e) => (e.negative ? -e.weight : e.weight));
  for (let u = 0; u < ds.numUsers; u++) {
    for (let k = offsets[u]; k < offsets[u + 1]; k++) {
      const r = rows[k];
      seqItems[k] = x.item[r];
      seqWeights[k] = ew[x.event[r]];
      exUser[k] = u;
    }
  }
  const counts = f32(ds.numItems);
  for (let k = 0; k < n; k++) counts[seqItems[k]]++;
  const logp = f32(ds.numItems);
  for (let i = 0; i < ds.numItems; i++) logp[i] = Math.log(Math.max(counts[i], 0.5) / Math.max(1, n));
  const userStart = i32(ds.numUsers + 1);
  userStart.set(offsets);
  return { userStart, seqItems, seqWeights, exUser, itemLogProb: logp, itemCounts: counts };
}

/** Training diverged: says where. */
export class TrainingError extends Error {
  override name = 'TrainingError';
}

/** Where a range of steps sits in the whole run (for the schedule and the error messages). */
export interface RangeContext {
  epoch: number;
  /** Global step index of this thread's first step, and the stride between its steps. */
  stepBase: number;
  stepStride: number;
  totalSteps: number;
  /** Called after each batch (progress). */
  onBatch?: () => void;
}

/**
 * One thread's trainer over shared parameters. Everything it allocates is allocated here, once.
 * @example const core = new TrainerCore(net, cfg, ex, params, state, ema, rng, backend); core.runRange(order, 0, n, ctx);
 */
export class TrainerCore {
  readonly opt: Optimizer;
  readonly loss: StepLoss;
  private readonly ub: TowerBatch;
  private readonly ib: TowerBatch;
  private readonly colItem: Int32Array;
  private readonly w: Float32Array;
  private readonly logQ: Float32Array;
  /** Softmax with deduplicated item rows: each row's column, each column's ln(copies), id dropout and count, and the (item, dropout) -> column map (-1: none; reset after each batch). */
  private readonly dedup: boolean;
  private readonly pos: Int32Array;
  private readonly lnCount: Float32Array;
  private readonly colDrop: Uint8Array;
  private readonly colCount: Int32Array;
  private readonly colOf: Int32Array;
  /** The last step's activations and gradients (gradients before the optimiser step; tests read them). */
  readonly scratch: StepScratch;
  private readonly alias: AliasTable | null;
  private readonly fs: FeatureSpace;
  /** The backend's training kernels, if it has them (else the plain reference loops run). */
  private readonly fast: TrainKernels | null;
  /** Steps this core has taken (for the moving-average warm-up). */
  steps = 0;
  /** This thread's part of synchronous data-parallel steps (null: it trains alone, or Hogwild). */
  readonly sync: SyncStep | null;

  constructor(
    readonly net: TwoTowerNet,
    readonly cfg: TwoTowerConfig,
    readonly ex: Examples,
    readonly params: Float32Array,
    optState: Float32Array,
    readonly ema: Float32Array | null,
    readonly rng: Rng,
    readonly backend: KernelBackend,
    initOptState: boolean,
    /** Moving-average updates: every `emaEvery` steps of this core, accounting for `emaThreads` threads stepping. */
    readonly emaEvery = 1,
    readonly emaThreads = 1,
    /** Synchronous data-parallel: the shared buffers and this thread's index (every thread then keeps the moving average of its range). */
    sync: { shared: SyncShared; index: number } | null = null,
    /**
     * Softmax: run the item tower once per distinct (item, id dropped) of a batch's positives, and the
     * softmax over those columns with each one's multiplicity (same loss and gradients as one row per
     * positive, fewer flops). false: one item row per positive (the plain form, for tests).
     */
    dedup = true,
  ) {
    this.fs = net.features;
    // the kernels read params, moments, batches and scratch in place: all of them in kernel memory
    const owns = (a: Float32Array | null) => a === null || ((backend as { owns?: (a: Float32Array) => boolean }).owns?.(a) ?? false);
    const fast = backend.train && owns(params) && owns(optState) && owns(ema) ? backend.train : null;
    this.fast = fast;
    this.opt = new Optimizer({ kind: cfg.optimizer, lr: cfg.lr, l2: cfg.l2 }, params, optState, initOptState, fast);
    this.loss = { kind: cfg.loss, temperature: cfg.temperature, negatives: cfg.negatives };
    const B = cfg.batchSize;
    const C = cfg.loss === 'softmax' ? B + cfg.negatives : B * (1 + cfg.negatives);
    const bagAlloc = fast ? { f32: backend.alloc, i32: (n: number) => fast.allocInt32(n) } : null;
    this.ub = new TowerBatch(this.fs.user, B, bagAlloc);
    this.ib = new TowerBatch(this.fs.item, C, bagAlloc);
    this.colItem = fast ? fast.allocInt32(C) : new Int32Array(C);
    this.w = fast ? backend.alloc(B) : new Float32Array(B);
    this.logQ = fast ? backend.alloc(C) : new Float32Array(C);
    this.dedup = dedup && cfg.loss === 'softmax';
    this.pos = fast ? fast.allocInt32(B) : new Int32Array(B);
    this.lnCount = fast ? backend.alloc(C) : new Float32Array(C);
    this.colDrop = new Uint8Array(C);
    this.colCount = new Int32Array(C);
    this.colOf = new Int32Array(this.dedup ? 2 * this.fs.numItems : 0).fill(-1);
    this.scratch = new StepScratch(net, B, this.loss, backend.alloc, fast);
    this.alias = cfg.negatives > 0 && cfg.negativeSampling === 'popularity' ? new AliasTable(ex.itemCounts) : null;
    if (sync && !fast) throw new Error('two-tower: synchronous parallel training needs the wasm kernels with the weights in their memory');
    this.sync = sync && fast ? new SyncStep(net, cfg, sync.shared, sync.index, backend, fast) : null;
  }

  /** Releases the other threads of a synchronous run that wait for this one (after this one failed). */
  abort(): void {
    this.sync?.barrier.abort();
  }

  /** Trains on examples order[from .. to) in batches; returns the summed loss (x rows) and the step count. */
  runRange(order: Int32Array, from: number, to: number, ctx: RangeContext): { loss: number; steps: number; examples: number } {
    const B = this.cfg.batchSize;
    let total = 0;
    let steps = 0;
    let seen = 0;
    for (let a = from; a < to; a += B) {
      const b = Math.min(to, a + B);
      if (b - a < 2) break; // a lone example has no in-batch negatives
      const loss = this.step(order, a, b, ctx, steps);
      // synchronous threads: each returns its users' share of the batch mean, and counts its users
      total += loss * (b - a);
      const [u0, u1] = this.sync ? this.sync.users(b - a) : [0, b - a];
      seen += u1 - u0;
      steps++;
      ctx.onBatch?.();
    }
    return { loss: total, steps, examples: seen };
  }

  private step(order: Int32Array, a: number, b: number, ctx: RangeContext, local: number): number {
    const cfg = this.cfg;
    const ex = this.ex;
    const fs = this.fs;
    const rng = this.rng;
    const ub = this.ub;
    const ib = this.ib;
    const n = b - a;
    const numItems = fs.numItems;
    ub.reset();
    ib.reset();
    const q = cfg.logQ;
    const K = cfg.negatives;
    const extra = cfg.loss === 'softmax' ? K : n * K;
    // a synchronous thread builds only its own users and item rows, but draws every random number
    // of the whole batch, so its batch is the one-thread batch's slice
    const [u0, u1] = this.sync ? this.sync.users(n) : [0, n];
    for (let r = 0; r < n; r++) {
      const e = order[a + r];
      const u = ex.exUser[e];
      const own = r >= u0 && r < u1;
      // the history is what the user did before this event, so the positive is never in its own bag
      if (cfg.coldDropout > 0 && rng.next() < cfg.coldDropout) {
        // a features-only user, as a new user arrives
        if (own) fs.appendUser(ub, u, ex.seqItems, ex.seqWeights, e, e, true);
      } else {
        const drop = cfg.idDropout > 0 && rng.next() < cfg.idDropout;
        if (own) fs.appendUser(ub, u, ex.seqItems, ex.seqWeights, ex.userStart[u], e, drop);
      }
      this.w[r] = ex.seqWeights[e];
    }
    // the positives' item columns: one per positive (bce, or plain), or one per distinct (item, id
    // dropped) with its count; positives first, so that without dedup row r's positive is column r
    const colItem = this.colItem;
    const colOf = this.colOf;
    const lnN = Math.log(n);
    let nPos = 0;
    for (let r = 0; r < n; r++) {
      const item = ex.seqItems[order[a + r]];
      const drop = cfg.idDropout > 0 && rng.next() < cfg.idDropout;
      let c = -1;
      if (this.dedup) {
        const key = 2 * item + (drop ? 1 : 0);
        c = colOf[key];
        if (c < 0) colOf[key] = c = nPos++;
        else {
          this.colCount[c]++;
          this.pos[r] = c;
          continue;
        }
      } else c = nPos++;
      colItem[c] = item;
      this.colDrop[c] = drop ? 1 : 0;
      this.colCount[c] = 1;
      this.logQ[c] = q * (ex.itemLogProb[item] + lnN);
      this.pos[r] = c;
    }
    if (this.dedup) for (let c = 0; c < nPos; c++) colOf[2 * colItem[c] + this.colDrop[c]] = -1;
    for (let k = 0; k < extra; k++) {
      const item = this.alias ? this.alias.sample(rng) : rng.int(numItems);
      colItem[nPos + k] = item;
      this.colDrop[nPos + k] = 0;
      this.colCount[nPos + k] = 1;
      // uniform negatives: chance K / N of being drawn; popularity ones: K * p(item)
      this.logQ[nPos + k] = this.alias ? q * (ex.itemLogProb[item] + Math.log(K)) : q * Math.log(K / numItems);
    }
    const C = nPos + extra;
    const [i0, i1] = this.sync ? this.sync.items(C) : [0, C];
    for (let c = i0; c < i1; c++) fs.appendItem(ib, colItem[c], this.colDrop[c] === 1);
    let cols: DedupColumns | null = null;
    if (this.dedup) {
      for (let c = 0; c < C; c++) this.lnCount[c] = Math.log(this.colCount[c]);
      cols = { pos: this.pos, lnCount: this.lnCount };
    }
    const gemm = this.backend.gemm;
    const s = this.scratch;
    const batchNo = local;
    const checkGrad = (g: Float32Array, lo: number, hi: number, loss: number) => {
      // the kernel scans for a non-finite entry; the loop names it
      if (this.fast && hi > lo && this.fast.allFinite(g.subarray(lo, hi), hi - lo)) return;
      for (let i = lo; i < hi; i++) {
        if (!Number.isFinite(g[i])) throw new TrainingError(`training diverged at epoch ${ctx.epoch + 1}, batch ${batchNo + 1}: dense gradient of ${this.tensorAt(this.net.layout.denseStart + i)} is ${g[i]} (loss ${loss}); lower the learning rate`);
      }
    };
    const globalStep = ctx.stepBase + local * ctx.stepStride;
    const lr = cfg.lr * lrMultiplier(cfg.schedule, globalStep, ctx.totalSteps, cfg.warmupSteps, 0.05);
    const L = this.net.layout;
    if (this.sync) {
      const batch = { ub, ib, n, C, colItem, w: this.w, logQ: q > 0 ? this.logQ : null, pos: this.pos, lnCount: cols ? this.lnCount : null };
      const loss = this.sync.gradients(gemm, this.params, batch, s, (v) => {
        if (!Number.isFinite(v)) this.diagnose(ctx, batchNo, v);
      });
      this.opt.beginStep(lr);
      this.sync.update(this.opt, s, (g, lo, hi) => checkGrad(g, lo, hi, loss));
      this.steps++;
      if (this.ema && this.steps % this.emaEvery === 0) this.updateEma(...this.sync.paramRange());
      return loss;
    }
    const loss = this.net.step(gemm, this.params, ub, ib, colItem, this.w, q > 0 ? this.logQ : null, this.loss, s, cols);
    if (!Number.isFinite(loss)) this.diagnose(ctx, batchNo, loss);
    checkGrad(s.grad, 0, s.grad.length, loss);
    this.opt.beginStep(lr);
    this.opt.updateDense(L.denseStart, L.total - L.denseStart, s.grad, 0);
    for (let t = 0; t < L.tables.length; t++) {
      const rg = s.rowGrads[t];
      this.opt.updateRows(L.tables[t].offset, this.net.tableSpecs[t].dim, rg.rows, rg.n, rg.grads);
    }
    this.steps++;
    if (this.ema && this.steps % this.emaEvery === 0) this.updateEma(0, this.params.length);
    return loss;
  }

  /** ema = d ema + (1 - d) w, with d warmed up as in TF's moving averages: min(decay, (1+t)/(10+t)). */
  private updateEma(lo: number, hi: number): void {
    const t = this.steps * this.emaThreads;
    const d1 = Math.min(this.cfg.emaDecay, (1 + t) / (10 + t));
    const d = Math.pow(d1, this.emaEvery * this.emaThreads);
    const e = this.ema!;
    const p = this.params;
    if (this.fast) {
      if (hi > lo) this.fast.emaUpdate(e.subarray(lo, hi), p.subarray(lo, hi), hi - lo, d);
      return;
    }
    const c = 1 - d;
    for (let i = lo; i < hi; i++) e[i] = d * e[i] + c * p[i];
  }

  private diagnose(ctx: RangeContext, batch: number, loss: number): never {
    const s = this.scratch;
    const where = `epoch ${ctx.epoch + 1}, batch ${batch + 1}`;
    const bad = (a: Float32Array, n: number) => {
      for (let i = 0; i < n; i++) if (!Number.isFinite(a[i])) return true;
      return false;
    };
    for (const [name, ref] of this.net.layout.tables.map((t) => [t.name, t] as const)) {
      if (bad(this.params.subarray(ref.offset, ref.offset + ref.length), ref.length)) throw new TrainingError(`training diverged at ${where}: embedding table '${name}' holds a non-finite value (loss ${loss})`);
    }
    if (bad(s.user.out, this.ub.rows * this.net.dim)) throw new TrainingError(`training diverged at ${where}: the user tower's output is not finite (loss ${loss})`);
    if (bad(s.item.out, this.ib.rows * this.net.dim)) throw new TrainingError(`training diverged at ${where}: the item tower's output is not finite (loss ${loss})`);
    throw new TrainingError(`training diverged at ${where}: the loss is ${loss} (scores overflow: raise the temperature or lower the learning rate)`);
  }

  private tensorAt(offset: number): string {
    const L = this.net.layout;
    for (const tw of [L.user, L.item]) {
      for (const r of [...tw.weights, ...tw.biases]) if (offset >= r.offset && offset < r.offset + r.length) return `${r.name}[${offset - r.offset}]`;
    }
    return `parameter ${offset}`;
  }
}
