/**
 * Synchronous data-parallel training steps: T threads share ONE batch. Each thread runs the user
 * tower on its slice of the users and the item tower on its slice of the item rows; the in-batch
 * softmax couples them, so the towers' outputs meet in shared buffers and the item side's gradient
 * is summed over the threads; then one optimiser step, split by parameter ranges. Every sum runs in
 * thread order, so a seeded run is reproducible bit for bit; it equals the one-thread step up to
 * float summation order.
 *
 *   phase 1  forward: own users -> U[u0..u1), own item rows -> V[i0..i1)        barrier
 *   phase 2  scores, softmax and dU of own users against all item columns; this thread's dV; user backward   barrier
 *   phase 3  own item rows' dV = sum over threads; item backward; publish sparse gradients   barrier
 *   phase 4  sum dense gradients of an owned range, rows owned by row % T; update; barrier; EMA of an owned range
 */
import { Barrier, RowGrad, type Gemm, type KernelBackend, type Optimizer, type TrainKernels } from '../../math/index.ts';
import type { TowerBatch } from '../../features/index.ts';
import type { TwoTowerConfig } from './config.ts';
import { softmaxLossFast } from './loss.ts';
import type { StepScratch, TwoTowerNet } from './model.ts';

/** Buffers every thread of a synchronous run shares (made once by `createSyncShared`, posted to the workers). */
export interface SyncShared {
  threads: number;
  /** Barrier.create() */
  barrier: Int32Array;
  /** Tower outputs of the whole batch: users B x k, item rows C x k (kernel memory). */
  U: Float32Array;
  V: Float32Array;
  /** Per thread, its users' gradient on every item row (C x k each). */
  dV: Float32Array;
  /** Per thread, its dense gradient (denseLength each). */
  grad: Float32Array;
  /** Per thread and table: byte offsets of the sparse gradient's rows and grads, and its row count. */
  rowDir: Int32Array;
}

/** Whether a backend can run synchronous steps: the threads read each other's sparse gradients in its memory. */
export function supportsSync(backend: KernelBackend): boolean {
  return backend.train !== undefined && typeof (backend as { view?: unknown }).view === 'function';
}

/** The shared buffers of a `threads`-thread synchronous run of `net` under `cfg` (softmax loss). */
export function createSyncShared(backend: KernelBackend, net: TwoTowerNet, cfg: TwoTowerConfig, threads: number): SyncShared {
  const k = net.dim;
  const B = cfg.batchSize;
  const C = B + cfg.negatives;
  const dense = net.layout.total - net.layout.denseStart;
  return {
    threads,
    barrier: Barrier.create(),
    U: backend.alloc(B * k),
    V: backend.alloc(C * k),
    dV: backend.alloc(threads * C * k),
    grad: backend.alloc(threads * dense),
    rowDir: new Int32Array(new SharedArrayBuffer(Math.max(1, threads * net.layout.tables.length * 3) * 4)),
  };
}

/** [lo, hi) of part `t` of `n` split in `parts` nearly equal contiguous parts. */
export function split(n: number, parts: number, t: number): [number, number] {
  return [Math.floor((n * t) / parts), Math.floor((n * (t + 1)) / parts)];
}

/** What one synchronous step reads: the batch this thread built (its own user and item rows). */
export interface SyncBatch {
  ub: TowerBatch;
  ib: TowerBatch;
  /** Rows in the whole batch: n users, C item rows. */
  n: number;
  C: number;
  colItem: Int32Array;
  w: Float32Array;
  logQ: Float32Array | null;
  /** Row i's positive column (kernel memory), and each column's ln(copies) when the columns are deduplicated (else null: one column per positive). */
  pos: Int32Array;
  lnCount: Float32Array | null;
}

/** One thread's part of synchronous steps. Everything it needs per step is allocated here, once. */
export class SyncStep {
  readonly barrier: Barrier;
  private readonly threads: number;
  private readonly gsum: Float32Array;
  private readonly merged: RowGrad[];
  private readonly myGrad: Float32Array;
  private readonly myDV: Float32Array;
  private readonly dense: number;
  private readonly cMax: number;
  private readonly view: (byteOffset: number, length: number) => Float32Array;

  constructor(
    readonly net: TwoTowerNet,
    readonly cfg: TwoTowerConfig,
    readonly shared: SyncShared,
    readonly index: number,
    readonly backend: KernelBackend,
    readonly fast: TrainKernels,
  ) {
    if (cfg.loss !== 'softmax') throw new Error("two-tower: synchronous parallel training needs loss 'softmax'");
    this.threads = shared.threads;
    const k = net.dim;
    const C = cfg.batchSize + cfg.negatives;
    this.cMax = C;
    this.dense = net.layout.total - net.layout.denseStart;
    this.barrier = new Barrier(shared.barrier, shared.threads);
    this.gsum = backend.alloc(this.dense);
    this.merged = net.tableSpecs.map((t) => new RowGrad(t.rows, t.dim, 1024, backend.alloc, (n) => fast.allocInt32(n)));
    this.myGrad = shared.grad.subarray(index * this.dense, (index + 1) * this.dense);
    this.myDV = shared.dV.subarray(index * C * k, (index + 1) * C * k);
    const be = backend as unknown as { view(byteOffset: number, length: number): Float32Array };
    this.view = (o, n) => be.view(o, n);
  }

  /** This thread's users [lo, hi) of an n-row batch. */
  users(n: number): [number, number] {
    return split(n, this.threads, this.index);
  }

  /** This thread's item rows [lo, hi) of a C-row batch. */
  items(C: number): [number, number] {
    return split(C, this.threads, this.index);
  }

  /**
   * Phases 1-3: this thread's share of the loss (the batch mean's part) and gradients; every thread's
   * gradients are complete and published when it returns. `checkLoss` throws on a bad loss.
   */
  gradients(gemm: Gemm, params: Float32Array, b: SyncBatch, s: StepScratch, checkLoss: (loss: number) => void): number {
    const net = this.net;
    const fast = this.fast;
    const k = net.dim;
    const { n, C } = b;
    const T = this.threads;
    const [u0, u1] = this.users(n);
    const [i0, i1] = this.items(C);
    const nu = u1 - u0;
    const ni = i1 - i0;
    const sh = this.shared;
    const g = this.myGrad;
    g.fill(0);
    for (const rg of s.rowGrads) rg.clear();
    // phase 1: own rows through the towers, into the shared outputs
    if (nu > 0) sh.U.set(net.userTower.forward(gemm, params, b.ub, s.user, fast).subarray(0, nu * k), u0 * k);
    if (ni > 0) sh.V.set(net.itemTower.forward(gemm, params, b.ib, s.item, fast).subarray(0, ni * k), i0 * k);
    this.barrier.wait();
    // phase 2: own users against every column (row i's positive is column pos[i])
    const V = sh.V.subarray(0, C * k);
    const dV = this.myDV;
    let loss = 0;
    if (nu > 0) {
      const U = sh.U.subarray(u0 * k, u1 * k);
      gemm(false, true, nu, C, k, 1, U, k, V, k, 0, s.S, C);
      loss = softmaxLossFast(fast, nu, C, s.S, this.cfg.temperature, b.logQ, b.colItem, b.w.subarray(u0, u1), s.dS, n, b.pos.subarray(u0, u1), b.lnCount);
      checkLoss(loss);
      // dU = dS V;  this thread's dV = dS^T U
      gemm(false, false, nu, k, C, 1, s.dS, C, V, k, 0, s.user.dOut, k);
      gemm(true, false, C, k, nu, 1, s.dS, C, U, k, 0, dV, k);
      net.userTower.backward(gemm, params, b.ub, s.user, g, net.layout.denseStart, s.rowGrads, fast);
    } else dV.fill(0, 0, C * k);
    this.barrier.wait();
    // phase 3: own item rows' gradient, summed over the threads in thread order
    if (ni > 0) {
      const dOut = s.item.dOut;
      const all = sh.dV;
      const cK = this.cMax * k;
      const lo = i0 * k;
      const len = ni * k;
      dOut.set(all.subarray(lo, lo + len));
      for (let t = 1; t < T; t++) {
        const o = t * cK + lo;
        for (let x = 0; x < len; x++) dOut[x] += all[o + x];
      }
      net.itemTower.backward(gemm, params, b.ib, s.item, g, net.layout.denseStart, s.rowGrads, fast);
    }
    const dir = sh.rowDir;
    const nt = s.rowGrads.length;
    for (let t = 0; t < nt; t++) {
      const rg = s.rowGrads[t];
      const d = (this.index * nt + t) * 3;
      dir[d] = rg.rows.byteOffset;
      dir[d + 1] = rg.grads.byteOffset;
      dir[d + 2] = rg.n;
    }
    this.barrier.wait();
    return loss;
  }

  /**
   * Phase 4: sums the dense gradient over [lo, hi) of the dense block this thread owns and the rows
   * it owns (row % T), and updates them; `checkGrad` throws on a bad dense gradient (index in the block).
   * The optimiser step must have begun.
   */
  update(opt: Optimizer, s: StepScratch, checkGrad: (g: Float32Array, lo: number, hi: number) => void): void {
    const T = this.threads;
    const L = this.net.layout;
    const D = this.dense;
    const [lo, hi] = split(D, T, this.index);
    const gs = this.gsum;
    const all = this.shared.grad;
    for (let i = lo; i < hi; i++) gs[i] = all[i];
    for (let t = 1; t < T; t++) {
      const o = t * D;
      for (let i = lo; i < hi; i++) gs[i] += all[o + i];
    }
    checkGrad(gs, lo, hi);
    if (hi > lo) opt.updateDense(L.denseStart + lo, hi - lo, gs, lo);
    const dir = this.shared.rowDir;
    const nt = L.tables.length;
    const view = this.view;
    for (let tb = 0; tb < nt; tb++) {
      const dim = this.net.tableSpecs[tb].dim;
      const m = this.merged[tb];
      m.clear();
      for (let t = 0; t < T; t++) {
        const d = (t * nt + tb) * 3;
        const cnt = dir[d + 2];
        if (cnt === 0) continue;
        let rows: Int32Array;
        let grads: Float32Array;
        if (t === this.index) {
          rows = s.rowGrads[tb].rows;
          grads = s.rowGrads[tb].grads;
        } else {
          const rv = view(dir[d], cnt);
          rows = new Int32Array(rv.buffer, rv.byteOffset, cnt);
          grads = view(dir[d + 1], cnt * dim);
        }
        for (let r = 0; r < cnt; r++) {
          const row = rows[r];
          if (row % T !== this.index) continue;
          const o = m.at(row);
          const src = r * dim;
          const mg = m.grads;
          for (let x = 0; x < dim; x++) mg[o + x] += grads[src + x];
        }
      }
      if (m.n > 0) opt.updateRows(L.tables[tb].offset, dim, m.rows, m.n, m.grads);
    }
    this.barrier.wait();
  }

  /** This thread's range of the whole parameter array (for the moving average). */
  paramRange(): [number, number] {
    return split(this.net.layout.total, this.threads, this.index);
  }
}
