/**
 * Trains a two-tower model: epochs of shuffled examples on one thread (bit-for-bit reproducible for
 * a seed) or on Hogwild worker threads sharing the weights; moving average of the weights;
 * validation recall after each epoch with early stopping; a progress line on terminals.
 */
import { followCounter, getKernelBackend, NO_PROGRESS, optimizerStateSize, Rng, spawnWorker, type KernelBackend, type Progress } from '../../math/index.ts';
import { FeatureSpace } from '../../features/index.ts';
import type { Dataset } from '../../data/index.ts';
import { featureOptions, resolveConfig, type TwoTowerConfig } from './config.ts';
import { buildExamples, TrainerCore, TrainingError, type Examples } from './core.ts';
import { initParams, TwoTowerNet } from './model.ts';
import { TwoTowerModel } from './two-tower.ts';
import { evaluateRetrieval } from './eval.ts';
import { createSyncShared, supportsSync, type SyncShared } from './sync.ts';
import type { Worker } from 'node:worker_threads';

export interface TrainRunOptions {
  /** Worker threads (1: train on this thread, reproducible for a seed). */
  threads?: number;
  seed?: number;
  /** Held-out interactions after `train` (same tables): recall@K on them after each epoch drives early stopping. */
  valid?: Dataset;
  validK?: number;
  /** Where progress lines go; by default stderr, and only when stdout is a terminal. */
  log?: (line: string) => void;
  /** Features fitted elsewhere (otherwise fitted on `train`). */
  features?: FeatureSpace;
  /** Reports the batches trained (a task `batches` of epochs x batches per epoch). Default: none. */
  progress?: Progress;
}

export interface EpochStats {
  epoch: number;
  loss: number;
  examplesPerSecond: number;
  seconds: number;
  /** Process CPU seconds (every thread) the epoch's training took: steadier than wall time on a busy machine. */
  cpuSeconds: number;
  validRecall?: number;
  validNdcg10?: number;
}

export interface TrainResult {
  model: TwoTowerModel;
  epochs: EpochStats[];
  /** 1-based epoch whose weights the model holds (the best on validation, else the last). */
  bestEpoch: number;
}

/**
 * Trains on every interaction of `train` (each event a positive, or negative feedback).
 * @example const { model } = await trainTwoTower(train, { epochs: 10 }, { valid, threads: 2 });
 */
export async function trainTwoTower(train: Dataset, config: Partial<TwoTowerConfig> = {}, run: TrainRunOptions = {}): Promise<TrainResult> {
  const cfg = resolveConfig(config);
  const threads = Math.max(1, Math.floor(run.threads ?? 1));
  const seed = run.seed ?? 1;
  const log = run.log ?? (process.stdout.isTTY ? (l: string) => process.stderr.write(l + '\n') : () => {});
  const backend = getKernelBackend();
  const fs = run.features ?? FeatureSpace.fit(train, featureOptions(cfg));
  const net = new TwoTowerNet(fs, cfg.hidden, cfg.dim, cfg.normalize);
  const ex = buildExamples(train);
  const nEx = ex.exUser.length;
  if (nEx < 2) throw new Error(`two-tower: the training set has ${nEx} interactions; at least 2 are needed`);
  const streams = rngStreams(seed);
  const params = backend.alloc(net.layout.total);
  initParams(net.layout, params, streams.init, cfg.initStd);
  const optState = backend.alloc(optimizerStateSize(cfg.optimizer, params.length));
  const ema = cfg.emaDecay > 0 ? backend.alloc(params.length) : null;
  if (ema) ema.set(params);
  // bound the moving average's cost to a fraction of a step's work on big tables
  const emaEvery = Math.max(1, Math.round(params.length / (cfg.batchSize * 2000)));
  const order = new Int32Array(new SharedArrayBuffer(nEx * 4));
  for (let i = 0; i < nEx; i++) order[i] = i;
  const stepsPerEpoch = Math.ceil(nEx / cfg.batchSize);
  const totalSteps = stepsPerEpoch * cfg.epochs;
  const shuffleRng = streams.shuffle;
  const mode = threads === 1 ? 'one' : parallelMode(cfg, backend, log);

  const task = (run.progress ?? NO_PROGRESS).start('batches', totalSteps, 'batches');
  // Hogwild workers add to it after every batch; one thread ticks the task itself
  const batches = new Int32Array(new SharedArrayBuffer(4));
  const onBatch = () => task.tick();
  let core: TrainerCore | null = null;
  let pool: WorkerPool | null = null;
  if (threads === 1) {
    core = new TrainerCore(net, cfg, ex, params, optState, ema, streams.batches, backend, true, emaEvery, 1);
  } else {
    if (cfg.optimizer === 'adagrad') optState.fill(0.1);
    const sync = mode === 'sync' ? createSyncShared(backend, net, cfg, threads) : null;
    pool = await WorkerPool.start(threads, { cfg, fsJson: fs.toJSON(), fsArrays: fs.arrays(), ex, params, optState, ema, order, seed, emaEvery, batches, sync, memory: backend.memory, module: (backend as { module?: unknown }).module });
  }

  const model = new TwoTowerModel(fs, cfg, ema ?? params, { seed, threads });
  const epochs: EpochStats[] = [];
  let best = -1;
  let bestEpoch = 0;
  let bestParams: Float32Array | null = null;
  let since = 0;
  try {
    for (let epoch = 0; epoch < cfg.epochs; epoch++) {
      shuffleRng.shuffle(order);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      let loss = 0;
      let seen = 0;
      task.note(`epoch ${epoch + 1}/${cfg.epochs}`);
      if (core) {
        const r = core.runRange(order, 0, nEx, { epoch, stepBase: epoch * stepsPerEpoch, stepStride: 1, totalSteps, onBatch });
        loss = r.loss;
        seen = r.examples;
      } else {
        const stop = followCounter(task, batches);
        const r = await pool!.epoch(epoch, nEx, stepsPerEpoch, totalSteps).finally(stop);
        loss = r.loss;
        seen = r.examples;
      }
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(c0);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      checkFinite(params, net, epoch);
      const st: EpochStats = { epoch: epoch + 1, loss: loss / Math.max(1, seen), examplesPerSecond: seen / seconds, seconds, cpuSeconds };
      if (run.valid) {
        const m = evaluateRetrieval(model, train, run.valid, run.validK ?? 100, undefined, run.progress);
        st.validRecall = m.recall;
        st.validNdcg10 = m.ndcg10;
      }
      epochs.push(st);
      log(
        `two-tower epoch ${st.epoch}/${cfg.epochs}  loss ${st.loss.toFixed(4)}  ${Math.round(st.examplesPerSecond)} ex/s` +
          (st.validRecall !== undefined ? `  valid recall@${run.validK ?? 100} ${st.validRecall.toFixed(4)}  ndcg@10 ${st.validNdcg10!.toFixed(4)}` : ''),
      );
      if (run.valid) {
        if (st.validRecall! > best) {
          best = st.validRecall!;
          bestEpoch = epoch + 1;
          bestParams = Float32Array.from(model.params);
          since = 0;
        } else if (++since >= cfg.patience) {
          log(`two-tower: early stop after epoch ${epoch + 1}; best epoch ${bestEpoch} (valid recall ${best.toFixed(4)})`);
          break;
        }
      } else bestEpoch = epoch + 1;
    }
  } finally {
    task.finish();
    await pool?.close();
  }
  if (bestParams) model.params.set(bestParams);
  return { model, epochs, bestEpoch };
}

/** The seeded random streams of a run: initial weights, epoch shuffles, batch sampling (dropout, negatives). */
export function rngStreams(seed: number): { init: Rng; shuffle: Rng; batches: Rng } {
  const rng = new Rng(seed);
  const init = rng.fork(0);
  const shuffle = rng.fork(1);
  return { init, shuffle, batches: rng.fork(2) };
}

/** How threads > 1 train: the configured `parallel`, unless this run cannot do it synchronously (says why). */
function parallelMode(cfg: TwoTowerConfig, backend: KernelBackend, log: (line: string) => void): 'sync' | 'hogwild' {
  if (cfg.parallel === 'hogwild') return 'hogwild';
  const why = cfg.loss !== 'softmax' ? "loss 'bce'" : !supportsSync(backend) ? `the ${backend.name} kernels` : null;
  if (why === null) return 'sync';
  log(`two-tower: synchronous parallel training needs loss 'softmax' and the wasm kernels; with ${why} the threads train Hogwild`);
  return 'hogwild';
}

function checkFinite(params: Float32Array, net: TwoTowerNet, epoch: number): void {
  for (let i = 0; i < params.length; i++) {
    if (!Number.isFinite(params[i])) {
      const L = net.layout;
      const all = [...L.tables, ...L.user.weights, ...L.user.biases, ...L.item.weights, ...L.item.biases];
      const t = all.find((r) => i >= r.offset && i < r.offset + r.length);
      throw new TrainingError(`training diverged in epoch ${epoch + 1}: parameter ${t ? `${t.name}[${i - t.offset}]` : i} is ${params[i]}`);
    }
  }
}

/** What each worker needs to rebuild the trainer over the shared memory. */
export interface WorkerInit {
  cfg: TwoTowerConfig;
  fsJson: unknown;
  fsArrays: Record<string, Int32Array | Float32Array | Uint8Array>;
  ex: Examples;
  params: Float32Array;
  optState: Float32Array;
  ema: Float32Array | null;
  order: Int32Array;
  seed: number;
  emaEvery: number;
  /** Batches done, summed over the workers (shared; progress). */
  batches: Int32Array;
  /** Synchronous data-parallel buffers (null: Hogwild). */
  sync: SyncShared | null;
  /** The kernel backend's shared memory, when it has one. */
  memory?: unknown;
  /** The compiled kernels that memory was made with: a worker attaching with its own compile of
   * kernels.wasm would fail if the file were rebuilt meanwhile. */
  module?: unknown;
}

/** Training workers: Hogwild ones each take a contiguous slice of the shuffled order every epoch; synchronous ones all take the whole order and share each batch. */
class WorkerPool {
  private constructor(
    private readonly workers: Worker[],
    private readonly threads: number,
    private readonly sync: boolean,
  ) {}

  static async start(threads: number, init: WorkerInit): Promise<WorkerPool> {
    const workers: Worker[] = [];
    for (let t = 0; t < threads; t++) {
      const w = spawnWorker(new URL('./worker.ts', import.meta.url), { ...init, index: t, threads } as unknown as Record<string, unknown>);
      workers.push(w);
    }
    try {
      await Promise.all(workers.map((w) => once(w, 'ready')));
    } catch (e) {
      // one failed to start: stop the others, or they keep the process alive
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    return new WorkerPool(workers, threads, init.sync !== null);
  }

  async epoch(epoch: number, n: number, stepsPerEpoch: number, totalSteps: number): Promise<{ loss: number; examples: number }> {
    const per = Math.ceil(n / this.threads);
    const settled = await Promise.allSettled(
      this.workers.map((w, t) => {
        const p = once(w, 'done');
        if (this.sync) w.postMessage({ type: 'epoch', epoch, from: 0, to: n, stepBase: epoch * stepsPerEpoch, stepStride: 1, totalSteps });
        else w.postMessage({ type: 'epoch', epoch, from: Math.min(n, t * per), to: Math.min(n, (t + 1) * per), stepBase: epoch * stepsPerEpoch + t, stepStride: this.threads, totalSteps });
        return p;
      }),
    );
    const failed = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
    // a thread released by another's failure says only that: report the failure that caused it
    if (failed.length) throw failed.find((e) => !(e instanceof WorkerReleased)) ?? failed[0];
    const res = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value);
    let loss = 0;
    let examples = 0;
    for (const r of res as { loss: number; examples: number }[]) {
      loss += r.loss;
      examples += r.examples;
    }
    return { loss, examples };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** A synchronous worker stopped by another thread's failure (BarrierAborted in the worker). */
class WorkerReleased extends TrainingError {}

function once(w: Worker, type: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: { type: string; message?: string; released?: boolean }) => {
      if (m.type === 'error') {
        cleanup();
        reject(m.released ? new WorkerReleased(m.message ?? 'worker released') : new TrainingError(m.message ?? 'worker failed'));
      } else if (m.type === type) {
        cleanup();
        resolve(m);
      }
    };
    const onErr = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`two-tower worker exited with code ${code}`));
    };
    const cleanup = () => {
      w.off('message', onMsg);
      w.off('error', onErr);
      w.off('exit', onExit);
    };
    w.on('message', onMsg);
    w.on('error', onErr);
    w.on('exit', onExit);
  });
}
