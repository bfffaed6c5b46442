export { Rng, AliasTable } from './rng.ts';
export { hashString, mix32 } from './hash.ts';
export { TopK, topKIndices } from './topk.ts';
export { dot, axpy, scaleTo, norm2, gemv } from './kernels.ts';
export type { Gemm, KernelBackend } from './gemm.ts';
export { gemmRef, jsBackend, getKernelBackend } from './gemm.ts';
export { spawnWorker } from './worker.ts';
export type { OptimizerKind, OptimizerConfig, LrSchedule } from './optim.ts';
export { Optimizer, optimizerStateSize, lrMultiplier } from './optim.ts';
