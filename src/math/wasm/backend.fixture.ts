// Worker side of backend.test.ts: attaches to the main thread's kernel memory, checks that the posted
// views are recognised as that memory, computes C = A B^T into them in place, and allocates an array
// of its own from the shared bump pointer.
import { parentPort, workerData } from 'node:worker_threads';
import { createWasmBackend, type WasmMemory, type WasmModule } from './backend.ts';

const d = workerData as { memory: WasmMemory; module: WasmModule; a: Float32Array; b: Float32Array; c: Float32Array; m: number; n: number; k: number };
const be = createWasmBackend({ memory: d.memory, module: d.module });
const owns = [be.owns(d.a), be.owns(d.b), be.owns(d.c)];
be.gemm(false, true, d.m, d.n, d.k, 1, d.a, d.k, d.b, d.k, 0, d.c, d.n);
const mine = be.alloc(10);
for (let i = 0; i < mine.length; i++) mine[i] = i;
parentPort!.postMessage({ owns, name: be.name, offset: mine.byteOffset, length: mine.length });
