// Worker entry for ItemKnnSource.fit with threads > 1: computes the neighbour block of one item range
// from the shared matrices and posts it back (its arrays transferred, not copied).
import { parentPort, workerData } from 'node:worker_threads';
import { neighbourBlock, type KnnMatrix } from './itemknn-core.ts';

const d = workerData as { matrix: KnnMatrix; k: number; shrink: number; from: number; to: number; done: Int32Array };
// items done, summed over the workers: the main thread's progress reads it
const block = neighbourBlock(d.matrix, d.k, d.shrink, d.from, d.to, (n) => void Atomics.add(d.done, 0, n));
parentPort!.postMessage(block, [block.counts.buffer as ArrayBuffer, block.items.buffer as ArrayBuffer, block.sims.buffer as ArrayBuffer]);
