import type { Worker } from 'node:worker_threads';
import { type GbdtKernelSet, type WasmMemory, type WasmModule, spawnWorker } from '../../math/index.ts';
import { type HistContext, JOB, JOBF, NO_CHUNKS, SPLIT_STRIDE, type SplitParams, drainChunks, runChunk } from './histogram.ts';

export const CMD_RUN = 0;
export const CMD_STOP = 1;
/**
 * Chunks a parallel step is cut into, per thread. Each chunk is a pass over the leaf's rows (a row's bins
 * share a cache line, so fewer, wider chunks read each line fewer times); more than one per thread lets
 * a thread that was descheduled on a busy machine be covered by the others.
 */
export const CHUNKS_PER_THREAD = 2;
/** Polls before sleeping on the futex: a split step takes tens of microseconds to milliseconds. */
export const SPIN = 20000;
/**
 * Polls of an idle worker before it sleeps. Shorter: the main thread starts every step's chunks itself,
 * so a worker that wakes late only joins late, while a worker spinning through the main thread's serial
 * work (partition, gradients, small leaves' steps; longer still when the main thread is preempted on a
 * busy machine) burns CPU for nothing.
 */
export const WORKER_SPIN = 2000;
const TIMEOUT_MS = 600_000;

/** What a worker receives: the shared arrays of a HistContext (views of shared memory), the job words and the split parameters. */
export interface WorkerInit {
  nRows: number;
  nFeatures: number;
  slotSize: number;
  bins: Uint8Array;
  rowBins: Uint8Array | null;
  idx: Int32Array;
  og: Float64Array;
  oh: Float64Array;
  direct: boolean;
  hist: Float64Array;
  feats: Int32Array;
  binOffset: Int32Array;
  job: SharedArrayBuffer;
  jobf: SharedArrayBuffer;
  res: SharedArrayBuffer;
  split: SplitParams;
  /** With the WebAssembly kernels: their memory and module, and this worker's `hb` scratch in it. */
  wasm: { memory: WasmMemory; module: WasmModule; hb: Int32Array; kout: Float64Array } | null;
}

/** Bytes of one thread's scratch in the kernels' memory: `hb` (2 int32s per feature), then `kout`. */
function threadScratchBytes(nFeatures: number): number {
  return Math.ceil((nFeatures * 8 + SPLIT_STRIDE * 8) / 64) * 64;
}

/** Scratch the pool's threads need in the kernels' memory. */
export function kernelScratchBytes(nFeatures: number, threads: number): number {
  return threads * threadScratchBytes(nFeatures);
}

/** Thread t's `hb` and `kout` in the scratch at byte `at` of `mem`. */
function threadScratch(mem: ArrayBufferLike, at: number, nFeatures: number, t: number): { hb: Int32Array; kout: Float64Array } {
  const o = at + t * threadScratchBytes(nFeatures);
  return { hb: new Int32Array(mem, o, 2 * nFeatures), kout: new Float64Array(mem, Math.ceil((o + nFeatures * 8) / 8) * 8, SPLIT_STRIDE) };
}

/**
 * Runs split steps (build a histogram, subtract, find the best splits) on this thread plus `threads - 1`
 * workers. A step is cut into chunks of features that the threads take as they come free (Atomics on
 * shared job words, not messages: a hand-off costs microseconds and `run` stays synchronous). Each
 * chunk's results land in its own slot and are reduced in chunk order, and each feature is computed by
 * the same code whichever thread takes it, so the model does not depend on the thread count.
 */
export class JobPool {
  private closed = false;
  /** Steps that were offered to the worker threads. */
  parallelSteps = 0;
  /** Best split of leaf A at [0, 6) and of leaf B at [6, 12) after `run`. */
  readonly result = new Float64Array(2 * SPLIT_STRIDE);

  private constructor(
    private readonly ctx: HistContext,
    private readonly sp: SplitParams,
    private readonly workers: Worker[],
    private readonly j: Int32Array,
    private readonly jf: Float64Array,
    private readonly res: Float64Array,
  ) {}

  /**
   * Starts the workers over the context's arrays (views of SharedArrayBuffers when threads > 1). With
   * `wasm`, ctx.kern is set, and every thread's `hb` scratch is taken from [scratchAt, + kernelScratchBytes).
   */
  static async create(ctx: HistContext, sp: SplitParams, threads: number, wasm: { set: GbdtKernelSet; scratchAt: number } | null = null): Promise<JobPool> {
    const shared = threads > 1;
    const buf = (bytes: number) => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    const j = new Int32Array(buf(JOB.SIZE * 4));
    const jf = new Float64Array(buf(JOBF.SIZE * 8));
    // at most one chunk per feature
    const res = new Float64Array(buf(Math.max(1, ctx.nFeatures) * 2 * SPLIT_STRIDE * 8));
    j[JOB.NEXT] = NO_CHUNKS;
    const F = ctx.nFeatures;
    if (wasm) {
      ctx.kern = wasm.set.kernels;
      ({ hb: ctx.hb, kout: ctx.kout } = threadScratch(wasm.set.memory.buffer, wasm.scratchAt, F, 0));
    }
    const workers: Worker[] = [];
    try {
      for (let t = 1; t < threads; t++) {
        const init: WorkerInit = {
          nRows: ctx.nRows,
          nFeatures: ctx.nFeatures,
          slotSize: ctx.slotSize,
          bins: ctx.bins,
          rowBins: ctx.rowBins,
          idx: ctx.idx,
          og: ctx.og,
          oh: ctx.oh,
          direct: ctx.direct === true,
          hist: ctx.hist,
          feats: ctx.feats,
          binOffset: ctx.binOffset,
          job: j.buffer as SharedArrayBuffer,
          jobf: jf.buffer as SharedArrayBuffer,
          res: res.buffer as SharedArrayBuffer,
          split: sp,
          wasm: wasm ? { memory: wasm.set.memory, module: wasm.set.module, ...threadScratch(wasm.set.memory.buffer, wasm.scratchAt, F, t) } : null,
        };
        const w = spawnWorker(new URL('./worker.ts', import.meta.url), { init });
        workers.push(w);
        await new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`gbdt worker ${t} exited with code ${code} before starting`)));
        });
        w.removeAllListeners();
        w.on('error', () => {});
      }
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    return new JobPool(ctx, sp, workers, j, jf, res);
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * One split step over feats[0..nFeats) (see runChunk); slot < 0 skips the build, slotA/slotB < 0 skip
   * a leaf. Results land in `result`. `parallel` false keeps a small step on this thread.
   */
  run(start: number, end: number, slot: number, parentSlot: number, slotA: number, GA: number, HA: number, CA: number, slotB: number, GB: number, HB: number, CB: number, nFeats: number, parallel: boolean): void {
    const { j, jf, res } = this;
    // one chunk (one pass over the rows) on one thread; CHUNKS_PER_THREAD per thread in parallel
    const par = parallel && this.workers.length > 0;
    const chunk = par ? Math.max(1, Math.ceil(nFeats / (this.threads * CHUNKS_PER_THREAD))) : Math.max(1, nFeats);
    const nChunks = Math.ceil(nFeats / chunk);
    j[JOB.NCHUNKS] = nChunks;
    j[JOB.CHUNK] = chunk;
    j[JOB.NFEATS] = nFeats;
    j[JOB.START] = start;
    j[JOB.END] = end;
    j[JOB.SLOT] = slot;
    j[JOB.PARENT] = parentSlot;
    j[JOB.SLOT_A] = slotA;
    j[JOB.SLOT_B] = slotB;
    jf[JOBF.GA] = GA;
    jf[JOBF.HA] = HA;
    jf[JOBF.CA] = CA;
    jf[JOBF.GB] = GB;
    jf[JOBF.HB] = HB;
    jf[JOBF.CB] = CB;
    if (!par || nChunks < 2) {
      for (let k = 0; k < nChunks; k++) runChunk(this.ctx, this.sp, j, jf, res, k);
    } else {
      this.parallelSteps++;
      j[JOB.DONE] = 0;
      j[JOB.CMD] = CMD_RUN;
      Atomics.store(j, JOB.NEXT, 0);
      Atomics.add(j, JOB.SEQ, 1);
      Atomics.notify(j, JOB.SEQ);
      drainChunks(this.ctx, this.sp, j, jf, res);
      let spins = 0;
      const t0 = Date.now();
      for (;;) {
        const done = Atomics.load(j, JOB.DONE);
        if (done === nChunks) break;
        if (++spins < SPIN) continue;
        Atomics.wait(j, JOB.DONE, done, 1000);
        if (Date.now() - t0 > TIMEOUT_MS) throw new Error(`gbdt: a worker did not finish its part of a split step within ${TIMEOUT_MS / 1000} s`);
      }
      Atomics.store(j, JOB.NEXT, NO_CHUNKS);
      if (j[JOB.ERR] !== 0) throw new Error('gbdt: a worker failed during a split step');
    }
    // reduce in chunk (= feature) order: a later chunk wins only with a strictly larger gain
    const out = this.result;
    for (let leaf = 0; leaf < 2; leaf++) {
      const o = leaf * SPLIT_STRIDE;
      out[o] = -Infinity;
      for (let k = 0; k < nChunks; k++) {
        const r = k * 2 * SPLIT_STRIDE + o;
        if (res[r] > out[o]) for (let q = 0; q < SPLIT_STRIDE; q++) out[o + q] = res[r + q];
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.j[JOB.CMD] = CMD_STOP;
    Atomics.add(this.j, JOB.SEQ, 1);
    Atomics.notify(this.j, JOB.SEQ);
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            setTimeout(() => void w.terminate().then(() => resolve()), 2000).unref();
          }),
      ),
    );
  }
}
