// Worker side of backend.test.ts: attaches to the main thread's kernel memory, checks that the posted
// views are recognised as that memory, computes C = A B^T into them in place, and allocates an array
// of its own from the shared bump pointer.
import { parentPort, workerData } from 'node:worker_threads';
import { getKernelBackend } from '../index.ts';
import { createWasmBackend, type WasmKernelBackend, type WasmMemory, type WasmModule } from './backend.ts';

// auto: the way library code gets it, getKernelBackend() with no arguments (inherits the parent's memory)
const d = workerData as { auto: boolean; memory: WasmMemory; module: WasmModule; a: Float32Array; b: Float32Array; c: Float32Array; m: number; n: number; k: number };
const be = d.auto ? (getKernelBackend() as WasmKernelBackend) : createWasmBackend({ memory: d.memory, module: d.module });
const owns = [be.owns(d.a), be.owns(d.b), be.owns(d.c)];
be.gemm(false, true, d.m, d.n, d.k, 1, d.a, d.k, d.b, d.k, 0, d.c, d.n);
const mine = be.alloc(10);
for (let i = 0; i < mine.length; i++) mine[i] = i;
parentPort!.postMessage({ owns, name: be.name, offset: mine.byteOffset, length: mine.length });
