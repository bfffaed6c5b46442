// Split-step worker: sleeps on the shared job words, and for each new step takes chunks of features
// until none is left (see pool.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { type HistContext, JOB, drainChunks } from './histogram.ts';
import { CMD_STOP, SPIN, type WorkerInit } from './pool.ts';

const init = (workerData as { init: WorkerInit }).init;
const ctx: HistContext = {
  nRows: init.nRows,
  nFeatures: init.nFeatures,
  slotSize: init.slotSize,
  bins: new Uint8Array(init.bins),
  rowBins: init.rowBins ? new Uint8Array(init.rowBins) : null,
  idx: new Int32Array(init.idx),
  og: new Float64Array(init.og),
  oh: new Float64Array(init.oh),
  direct: init.direct,
  hist: new Float64Array(init.hist),
  feats: new Int32Array(init.feats),
  binOffset: init.binOffset,
};
const j = new Int32Array(init.job);
const jf = new Float64Array(init.jobf);
const res = new Float64Array(init.res);
parentPort!.postMessage('ready');

let seen = Atomics.load(j, JOB.SEQ);
for (;;) {
  let spins = 0;
  while (Atomics.load(j, JOB.SEQ) === seen) {
    if (++spins >= SPIN) Atomics.wait(j, JOB.SEQ, seen);
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
