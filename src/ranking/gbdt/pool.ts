import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../../math/index.ts';
import { type HistContext, JOB, JOBF, SPLIT_STRIDE, type SplitParams, runJob } from './histogram.ts';

// Control words of one worker, before its job words (all Int32 over one SharedArrayBuffer).
export const CTRL = { SEQ: 0, DONE: 1, ERR: 2, CMD: 3, JOB: 4, SIZE: 4 + JOB.SIZE } as const;
export const CMD_RUN = 0;
export const CMD_STOP = 1;
/** Polls before sleeping on the futex: a job round trip is tens of microseconds, a futex wake-up about as much. */
export const SPIN = 20000;
const TIMEOUT_MS = 600_000;

/** What a worker receives: the shared buffers of a HistContext, its control block and the split parameters. */
export interface WorkerInit {
  nRows: number;
  slotSize: number;
  bins: SharedArrayBuffer;
  rowBins: SharedArrayBuffer | null;
  nFeatures: number;
  idx: SharedArrayBuffer;
  og: SharedArrayBuffer;
  oh: SharedArrayBuffer;
  hist: SharedArrayBuffer;
  feats: SharedArrayBuffer;
  binOffset: Int32Array;
  ctrl: SharedArrayBuffer;
  jobf: SharedArrayBuffer;
  split: SplitParams;
}

/**
 * Runs split steps (build a histogram, subtract, find the best splits) on this thread plus `threads - 1`
 * workers, each taking a contiguous range of the feature list. Jobs go through shared control words
 * (Atomics) rather than messages, so a hand-off costs microseconds and `run` stays synchronous. Each
 * feature is handled by exactly one thread with the same code, and range results are reduced in order,
 * so the model does not depend on the thread count.
 */
export class JobPool {
  private seq = 0;
  private closed = false;
  /** Jobs that were split across threads. */
  parallelSteps = 0;
  private readonly j = new Int32Array(JOB.SIZE);
  private readonly jf = new Float64Array(JOBF.SIZE);
  /** Best split of leaf A at [0, 6) and of leaf B at [6, 12) after `run`. */
  readonly result = new Float64Array(2 * SPLIT_STRIDE);

  private constructor(
    private readonly ctx: HistContext,
    private readonly sp: SplitParams,
    private readonly workers: Worker[],
    private readonly ctrls: Int32Array[],
    private readonly jobs: Int32Array[],
    private readonly jobfs: Float64Array[],
  ) {}

  /** Starts the workers over the context's buffers (which must be SharedArrayBuffers when threads > 1). */
  static async create(ctx: HistContext, sp: SplitParams, threads: number): Promise<JobPool> {
    const workers: Worker[] = [];
    const ctrls: Int32Array[] = [];
    const jobs: Int32Array[] = [];
    const jobfs: Float64Array[] = [];
    try {
      for (let t = 1; t < threads; t++) {
        const sab = new SharedArrayBuffer(CTRL.SIZE * 4);
        const fsab = new SharedArrayBuffer(JOBF.SIZE * 8);
        const init: WorkerInit = {
          nRows: ctx.nRows,
          slotSize: ctx.slotSize,
          bins: ctx.bins.buffer as SharedArrayBuffer,
          rowBins: ctx.rowBins ? (ctx.rowBins.buffer as SharedArrayBuffer) : null,
          nFeatures: ctx.nFeatures,
          idx: ctx.idx.buffer as SharedArrayBuffer,
          og: ctx.og.buffer as SharedArrayBuffer,
          oh: ctx.oh.buffer as SharedArrayBuffer,
          hist: ctx.hist.buffer as SharedArrayBuffer,
          feats: ctx.feats.buffer as SharedArrayBuffer,
          binOffset: ctx.binOffset,
          ctrl: sab,
          jobf: fsab,
          split: sp,
        };
        const w = spawnWorker(new URL('./worker.ts', import.meta.url), { init });
        workers.push(w);
        ctrls.push(new Int32Array(sab, 0, CTRL.JOB));
        jobs.push(new Int32Array(sab, CTRL.JOB * 4, JOB.SIZE));
        jobfs.push(new Float64Array(fsab));
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
    return new JobPool(ctx, sp, workers, ctrls, jobs, jobfs);
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * One split step over feats[0..nFeats) (see runJob); slot < 0 skips the build, slotA/slotB < 0 skip
   * a leaf. Results land in `result`. `parallel` false keeps a small job on this thread.
   */
  run(start: number, end: number, slot: number, parentSlot: number, slotA: number, GA: number, HA: number, CA: number, slotB: number, GB: number, HB: number, CB: number, nFeats: number, parallel: boolean): void {
    const T = this.workers.length + 1;
    const use = parallel && T > 1 && nFeats >= 2 * T;
    const per = use ? Math.ceil(nFeats / T / 4) * 4 : nFeats;
    const fill = (j: Int32Array, jf: Float64Array, fb: number, fe: number): void => {
      j[JOB.START] = start;
      j[JOB.END] = end;
      j[JOB.SLOT] = slot;
      j[JOB.PARENT] = parentSlot;
      j[JOB.FBEG] = fb;
      j[JOB.FEND] = fe;
      j[JOB.SLOT_A] = slotA;
      j[JOB.SLOT_B] = slotB;
      jf[JOBF.GA] = GA;
      jf[JOBF.HA] = HA;
      jf[JOBF.CA] = CA;
      jf[JOBF.GB] = GB;
      jf[JOBF.HB] = HB;
      jf[JOBF.CB] = CB;
    };
    const seq = ++this.seq;
    let active = 0;
    if (use) {
      this.parallelSteps++;
      for (let w = 0; w < this.workers.length; w++) {
        const fb = Math.min(nFeats, per * (w + 1));
        const fe = Math.min(nFeats, per * (w + 2));
        if (fb >= fe) break;
        const c = this.ctrls[w];
        fill(this.jobs[w], this.jobfs[w], fb, fe);
        c[CTRL.CMD] = CMD_RUN;
        Atomics.store(c, CTRL.SEQ, seq);
        Atomics.notify(c, CTRL.SEQ);
        active++;
      }
    }
    fill(this.j, this.jf, 0, Math.min(nFeats, per));
    runJob(this.ctx, this.sp, this.j, this.jf);
    const res = this.result;
    for (let k = 0; k < 2 * SPLIT_STRIDE; k++) res[k] = this.jf[JOBF.OUT_A + k];
    for (let w = 0; w < active; w++) {
      const c = this.ctrls[w];
      let spins = 0;
      const t0 = Date.now();
      while (Atomics.load(c, CTRL.DONE) !== seq) {
        if (++spins < SPIN) continue;
        Atomics.wait(c, CTRL.DONE, Atomics.load(c, CTRL.DONE), 1000);
        if (Date.now() - t0 > TIMEOUT_MS) throw new Error(`gbdt worker ${w + 1} did not finish a job within ${TIMEOUT_MS / 1000} s`);
      }
      if (c[CTRL.ERR] !== 0) throw new Error(`gbdt worker ${w + 1} failed during a split step`);
      // reduce in feature order: a later range wins only with a strictly larger gain
      const jf = this.jobfs[w];
      for (let leaf = 0; leaf < 2; leaf++) {
        const o = leaf * SPLIT_STRIDE;
        if (jf[JOBF.OUT_A + o] > res[o]) for (let k = 0; k < SPLIT_STRIDE; k++) res[o + k] = jf[JOBF.OUT_A + o + k];
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const seq = ++this.seq;
    for (const c of this.ctrls) {
      c[CTRL.CMD] = CMD_STOP;
      Atomics.store(c, CTRL.SEQ, seq);
      Atomics.notify(c, CTRL.SEQ);
    }
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
