import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread running the TypeScript module at `entry` (a URL, usually
 * `new URL('./my-worker.ts', import.meta.url)`). Node 20 workers do not inherit tsx's loader, so a
 * small bootstrap registers it first. `workerData` reaches the module as usual (plus `__entry`).
 * @example const w = spawnWorker(new URL('./train-worker.ts', import.meta.url), { shard: 1 });
 */
export function spawnWorker(entry: URL, workerData: Record<string, unknown> = {}, options: Omit<WorkerOptions, 'workerData'> = {}): Worker {
  const bootstrap = new URL('./worker-bootstrap.mjs', import.meta.url);
  return new Worker(bootstrap, { ...options, workerData: { ...workerData, __entry: entry.href } });
}
