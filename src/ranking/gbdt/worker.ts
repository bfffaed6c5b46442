// Split-step worker: waits on its control block for jobs and runs its feature range of each over the
// shared buffers (see pool.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { type HistContext, JOB, runJob } from './histogram.ts';
import { CTRL, CMD_STOP, SPIN, type WorkerInit } from './pool.ts';

const init = (workerData as { init: WorkerInit }).init;
const ctx: HistContext = {
  nRows: init.nRows,
  slotSize: init.slotSize,
  bins: new Uint8Array(init.bins),
  idx: new Int32Array(init.idx),
  og: new Float64Array(init.og),
  oh: new Float64Array(init.oh),
  hist: new Float64Array(init.hist),
  feats: new Int32Array(init.feats),
  binOffset: init.binOffset,
  rowBins: init.rowBins ? new Uint8Array(init.rowBins) : null,
  nFeatures: init.nFeatures,
};
const c = new Int32Array(init.ctrl, 0, CTRL.JOB);
const j = new Int32Array(init.ctrl, CTRL.JOB * 4, JOB.SIZE);
const jf = new Float64Array(init.jobf);
parentPort!.postMessage('ready');

let seen = 0;
for (;;) {
  let spins = 0;
  while (Atomics.load(c, CTRL.SEQ) === seen) {
    if (++spins >= SPIN) Atomics.wait(c, CTRL.SEQ, seen);
  }
  seen = Atomics.load(c, CTRL.SEQ);
  if (c[CTRL.CMD] === CMD_STOP) break;
  try {
    runJob(ctx, init.split, j, jf);
  } catch (e) {
    c[CTRL.ERR] = 1;
    parentPort!.postMessage({ error: String(e) });
  }
  Atomics.store(c, CTRL.DONE, seen);
  Atomics.notify(c, CTRL.DONE);
}
parentPort!.close();
