import { writeFileSync } from 'node:fs';
import { Rng, getKernelBackend, jsBackend, type KernelBackend } from '../src/math/index.ts';
import { UsageError, parseArgs } from '../src/schema/index.ts';
import type { Command } from '../src/schema/index.ts';
import { median } from './stats.ts';

/** One measured kernel call shape. */
interface Shape {
  group: 'train' | 'serve' | 'search';
  name: string;
  op: 'gemm' | 'gemv';
  ta: boolean;
  tb: boolean;
  m: number;
  n: number;
  k: number;
}

/** The shapes our customers run: the two-tower trainer (batch 512, layers 200->128->64), one embedding at serving time, exact search. */
export function kernelShapes(items: number, queries: number): Shape[] {
  const t = (name: string, ta: boolean, tb: boolean, m: number, n: number, k: number): Shape => ({ group: 'train', name, op: 'gemm', ta, tb, m, n, k });
  return [
    t('fwd 200->128  Y = X W^T', false, true, 512, 128, 200),
    t('bwd 200->128  dX = dY W', false, false, 512, 200, 128),
    t('bwd 200->128  dW = dY^T X', true, false, 128, 200, 512),
    t('fwd 128->64   Y = X W^T', false, true, 512, 64, 128),
    t('bwd 128->64   dX = dY W', false, false, 512, 128, 64),
    t('bwd 128->64   dW = dY^T X', true, false, 64, 128, 512),
    t('A^T B^T', true, true, 128, 200, 512),
    { group: 'serve', name: 'embed one: x W^T 200->128', op: 'gemm', ta: false, tb: true, m: 1, n: 128, k: 200 },
    { group: 'serve', name: 'embed one: x W^T 128->64', op: 'gemm', ta: false, tb: true, m: 1, n: 64, k: 128 },
    { group: 'search', name: 'scores = items q', op: 'gemv', ta: false, tb: false, m: items, n: 1, k: 64 },
    { group: 'search', name: `scores = Q items^T`, op: 'gemm', ta: false, tb: true, m: queries, n: items, k: 64 },
  ];
}

interface Run {
  group: string;
  name: string;
  op: string;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  flops: number;
  backend: string;
  /** false: arrays outside the backend's memory (copied in and out on every call) */
  inMemory: boolean;
  /** median wall-clock milliseconds per call */
  medianMs: number;
  /** median process CPU milliseconds per call */
  cpuMs: number;
  /** GFLOP/s by wall clock */
  gflops: number;
  /** GFLOP/s by CPU time */
  cpuGflops: number;
}


/**
 * Median time of one call over `reps` timings (after a warm-up); each timing repeats the call until it
 * lasts >= 20 ms. Returns wall-clock and process CPU time: on a shared machine the CPU time shows what
 * the kernel does when it has a core to itself.
 */
function time(fn: () => void, reps: number): { wall: number; cpu: number } {
  fn();
  let inner = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) fn();
    if (performance.now() - t0 >= 20 || inner >= 1 << 16) break;
    inner *= 2;
  }
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) fn();
    wall.push((performance.now() - t0) / inner);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000 / inner);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

function measure(be: KernelBackend, s: Shape, reps: number, rng: Rng, inMemory: boolean): Run {
  const mk = (n: number) => {
    const x = inMemory ? be.alloc(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = rng.next() - 0.5;
    return x;
  };
  let fn: () => void;
  let flops: number;
  if (s.op === 'gemv') {
    const m = mk(s.m * s.k);
    const x = mk(s.k);
    const y = mk(s.m);
    fn = () => be.gemv(s.m, s.k, m, x, y);
    flops = 2 * s.m * s.k;
  } else {
    const a = mk(s.m * s.k);
    const b = mk(s.k * s.n);
    const c = mk(s.m * s.n);
    const lda = s.ta ? s.m : s.k;
    const ldb = s.tb ? s.k : s.n;
    fn = () => be.gemm(s.ta, s.tb, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n);
    flops = 2 * s.m * s.n * s.k;
  }
  const t = time(fn, reps);
  return {
    group: s.group,
    name: s.name,
    op: s.op,
    transA: s.ta,
    transB: s.tb,
    m: s.m,
    n: s.n,
    k: s.k,
    flops,
    backend: be.name,
    inMemory,
    medianMs: t.wall,
    cpuMs: t.cpu,
    gflops: flops / t.wall / 1e6,
    cpuGflops: flops / t.cpu / 1e6,
  };
}

const options = {
  items: { type: 'number', default: 100_000, description: 'item rows (x 64 floats) for the search shapes' },
  queries: { type: 'number', default: 32, description: 'queries per block in the search gemm' },
  repeats: { type: 'number', default: 7, description: 'timings per shape; the median is reported' },
  'js-repeats': { type: 'number', default: 3, description: 'timings per shape for the plain TypeScript loop (it is slow)' },
  js: { type: 'boolean', default: true, description: 'also time the plain TypeScript loop (--no-js skips it)' },
  copied: { type: 'boolean', description: 'also time the fast backend on arrays outside its memory (copied in and out)' },
  json: { type: 'string', description: 'write the figures to this JSON file' },
} as const;

/**
 * `tandem bench kernels`: GFLOP/s of gemm/gemv on the trainer's and the search's shapes, the backend
 * getKernelBackend() picks against the plain TypeScript loop, medians over repeats.
 * @example npx tandem bench kernels --items 1000000 --json kernels.json
 */
export const kernelsBench: Command = {
  name: 'kernels',
  summary: 'GFLOP/s of gemm/gemv on the two-tower trainer and exact-search shapes: WebAssembly SIMD vs the plain TypeScript loop',
  usage: 'tandem bench kernels [--items N] [--queries Q] [--repeats R] [--no-js] [--copied] [--json out.json]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    for (const key of ['items', 'queries', 'repeats', 'js-repeats'] as const) {
      if (!Number.isInteger(o[key]) || o[key] < 1) throw new UsageError(`--${key} must be a positive integer, got ${o[key]}`);
    }
    const be = getKernelBackend();
    const rng = new Rng(1);
    const runs: Run[] = [];
    const fmt = (r: Run) => `${r.gflops.toFixed(2).padStart(6)} GFLOP/s [cpu ${r.cpuGflops.toFixed(2).padStart(6)}] ${r.medianMs.toFixed(3).padStart(8)} ms`;
    console.log(`backend ${be.name}; GFLOP/s = 2mnk / median wall time of ${o.repeats} timings (plain loop: ${o['js-repeats']}); [cpu ...] by CPU time`);
    for (const s of kernelShapes(o.items, o.queries)) {
      const dims = s.op === 'gemv' ? `${s.m} x ${s.k}` : `${s.m} x ${s.n} x ${s.k} ${s.ta ? 'T' : 'N'}${s.tb ? 'T' : 'N'}`;
      const fast = measure(be, s, o.repeats, rng, true);
      runs.push(fast);
      let line = `${s.group.padEnd(6)} ${s.op} ${s.name.padEnd(26)} ${dims.padEnd(22)} ${be.name}: ${fmt(fast)}`;
      if (o.copied && be !== jsBackend) {
        const cp = measure(be, s, o.repeats, rng, false);
        runs.push(cp);
        line += `  copied: ${cp.gflops.toFixed(2)} [cpu ${cp.cpuGflops.toFixed(2)}]`;
      }
      if (o.js && be !== jsBackend) {
        const ref = measure(jsBackend, s, o['js-repeats'], rng, true);
        runs.push(ref);
        line += `  js: ${ref.gflops.toFixed(2)} [cpu ${ref.cpuGflops.toFixed(2)}]  x${(fast.cpuGflops / ref.cpuGflops).toFixed(1)}`;
      }
      console.log(line);
    }
    if (o.json) {
      writeFileSync(o.json, JSON.stringify({ backend: be.name, repeats: o.repeats, runs }, null, 2) + '\n');
      console.log(`wrote ${o.json}`);
    }
    return 0;
  },
};
