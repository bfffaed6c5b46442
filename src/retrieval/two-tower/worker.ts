// Training worker: rebuilds the trainer over the shared parameters, optimiser state and moving
// average, then each epoch trains on the slice of the shuffled order the main thread names (Hogwild)
// or on its part of every batch of the whole order (synchronous).
import { parentPort, workerData } from 'node:worker_threads';
import { BarrierAborted, getKernelBackend, Rng } from '../../math/index.ts';
import { FeatureSpace } from '../../features/index.ts';
import { TrainerCore } from './core.ts';
import { TwoTowerNet } from './model.ts';
import { rngStreams, type WorkerInit } from './train.ts';

const init = workerData as WorkerInit & { index: number; threads: number };
// attach to the main thread's kernel memory first, so the shared weights are read in place
const backend = getKernelBackend(init.memory ? ({ memory: init.memory, module: init.module } as Parameters<typeof getKernelBackend>[0]) : {});
const fs = FeatureSpace.fromState(init.fsJson, init.fsArrays);
const net = new TwoTowerNet(fs, init.cfg.hidden, init.cfg.dim, init.cfg.normalize);
const sync = init.sync;
// Hogwild: only worker 0 keeps the moving average, counting every thread's steps. Synchronous: every
// worker averages its range, and all draw the one-thread run's batch stream
const core = new TrainerCore(
  net,
  init.cfg,
  init.ex,
  init.params,
  init.optState,
  sync || init.index === 0 ? init.ema : null,
  sync ? rngStreams(init.seed).batches : new Rng(init.seed).fork(100 + init.index),
  backend,
  false,
  init.emaEvery,
  sync ? 1 : init.threads,
  sync ? { shared: sync, index: init.index } : null,
);

// batches done, summed over the workers: the main thread's progress reads it while it waits
const batches = init.batches;
const onBatch = sync && init.index > 0 ? undefined : (): void => void Atomics.add(batches, 0, 1);

parentPort!.on('message', (m: { type: string; epoch: number; from: number; to: number; stepBase: number; stepStride: number; totalSteps: number }) => {
  if (m.type !== 'epoch') return;
  try {
    const r = core.runRange(init.order, m.from, m.to, { epoch: m.epoch, stepBase: m.stepBase, stepStride: m.stepStride, totalSteps: m.totalSteps, onBatch });
    parentPort!.postMessage({ type: 'done', ...r });
  } catch (e) {
    // released: this thread only stopped because another one failed (the pool reports that one)
    parentPort!.postMessage({ type: 'error', message: `worker ${init.index}: ${e instanceof Error ? e.message : String(e)}`, released: e instanceof BarrierAborted });
    // after the message, so the main thread hears this failure before the released threads' own
    core.abort();
  }
});
parentPort!.postMessage({ type: 'ready' });
