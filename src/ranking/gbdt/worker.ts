// Split-step worker: sleeps on the shared job words, and for each new step takes chunks of features
// until none is left (see pool.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { createGbdtKernels } from '../../math/index.ts';
import { type HistContext, JOB, drainChunks } from './histogram.ts';
import { CMD_STOP, WORKER_SPIN, type WorkerInit } from './pool.ts';

const init = (workerData as { init: WorkerInit }).init;
const ctx: HistContext = {
  nRows: init.nRows,
  nFeatures: init.nFeatures,
  slotSize: init.slotSize,
  bins: init.bins,
  rowBins: init.rowBins,
  idx: init.idx,
  og: init.og,
  oh: init.oh,
  direct: init.direct,
  hist: init.hist,
  feats: init.feats,
  binOffset: init.binOffset,
};
if (init.wasm) {
  // this thread's own instance of the kernels on the same memory; the arrays above are views of it
  ctx.kern = createGbdtKernels({ memory: init.wasm.memory, module: init.wasm.module }).kernels;
  ctx.hb = init.wasm.hb;
  ctx.kout = init.wasm.kout;
}
const j = new Int32Array(init.job);
const jf = new Float64Array(init.jobf);
const res = new Float64Array(init.res);
parentPort!.postMessage('ready');

let seen = Atomics.load(j, JOB.SEQ);
for (;;) {
  let spins = 0;
  while (Atomics.load(j, JOB.SEQ) === seen) {
    if (++spins >= WORKER_SPIN) Atomics.wait(j, JOB.SEQ, seen);
  }
  seen = Atomics.load(j, JOB.SEQ);
  if (j[JOB.CMD] === CMD_STOP) break;
  try {
    drainChunks(ctx, init.split, j, jf, res);
  } catch (e) {
    parentPort!.postMessage({ error: String(e) });
  }
}
parentPort!.close();
