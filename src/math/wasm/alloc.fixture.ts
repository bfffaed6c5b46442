// Worker side of the concurrent-allocation test in backend.test.ts: signals it is ready, waits for
// the go, then allocates `count` small arrays from the shared bump pointer as fast as it can, marking
// each with its index and recording its byte offset.
import { workerData } from 'node:worker_threads';
import { createWasmBackend, type WasmMemory } from './backend.ts';

const d = workerData as { memory: WasmMemory; flag: Int32Array; offsets: Float64Array; count: number };
const be = createWasmBackend({ memory: d.memory });
Atomics.store(d.flag, 0, 1);
while (Atomics.load(d.flag, 1) === 0);
for (let i = 0; i < d.count; i++) {
  const a = be.alloc(1 + (i % 7));
  a.fill(i + 1);
  d.offsets[i] = a.byteOffset;
}
Atomics.store(d.flag, 0, 2);
Atomics.notify(d.flag, 0);
