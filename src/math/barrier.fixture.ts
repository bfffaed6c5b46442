// Test fixture for barrier.test.ts: marks each round in `log`, then meets the main thread at the barrier.
import { workerData } from 'node:worker_threads';
import { Barrier } from './index.ts';

const data = workerData as { state: Int32Array; log: Int32Array };
const b = new Barrier(data.state, 2);
for (let round = 0; round < 4; round++) {
  Atomics.store(data.log, round, round + 1);
  b.wait();
}
