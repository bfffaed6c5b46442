// `tandem bench reload`: reloads a served model many times, alternating two model directories, and
// measures the process's resident memory: a reload must give back what the model it replaces held
// (kernel memory, native indexes), so RSS stays flat. Prints RSS every `--every` reloads and the
// least-squares slope after `--warmup` reloads, in MB per reload.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '../src/data/index.ts';
import { getKernelBackend } from '../src/math/index.ts';
import { builtinRegistry, trainModel } from '../src/pipeline/index.ts';
import { parseArgs, type Command, type OptionDefs } from '../src/schema/index.ts';
import { startServer } from '../src/serve/index.ts';

const options = {
  count: { type: 'number', integer: true, min: 2, default: 500, description: 'reloads' },
  model: { type: 'list', of: 'string', default: [], description: 'two model directories to alternate (--model A --model B); default: train two small ones' },
  every: { type: 'number', integer: true, min: 1, default: 50, description: 'print a row every this many reloads' },
  warmup: { type: 'number', integer: true, min: 0, default: 100, description: 'reloads left out of the slope (allocator and JIT warm-up)' },
  items: { type: 'number', integer: true, min: 10, default: 1500, description: 'synthetic items of the trained models' },
  users: { type: 'number', integer: true, min: 10, default: 900, description: 'synthetic users of the trained models' },
  interactions: { type: 'number', integer: true, min: 100, default: 60000, description: 'synthetic interactions of the trained models' },
  stages: { type: 'list', of: 'string', default: ['two-tower', 'ease'], description: 'candidate sources of the trained models (popularity is the fallback)' },
  seed: { type: 'number', integer: true, default: 7, description: 'seed of the synthetic data and training' },
  json: { type: 'string', description: 'write the result JSON here' },
} satisfies OptionDefs;

/** Least-squares slope of y on x. */
export function slope(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) (mx += x[i]), (my += y[i]);
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : NaN;
}

const MB = 2 ** 20;

/** `tandem bench reload`. */
export const reloadBench: Command = {
  name: 'reload',
  summary: 'resident memory over many model reloads (alternating two models): the slope in MB per reload must be flat',
  usage: 'tandem bench reload [--count 500] [--model A --model B] [--every 50] [--warmup 100] [--json out.json]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    if (o.model.length !== 0 && o.model.length !== 2) throw new Error(`--model: give two model directories (--model A --model B), got ${o.model.length}`);
    const tmp = await mkdtemp(join(tmpdir(), 'tandem-bench-reload-'));
    try {
      let models = o.model;
      if (models.length === 0) {
        const t0 = performance.now();
        const dataset = generateSynthetic({ items: o.items, users: o.users, interactions: o.interactions, seed: o.seed });
        const registry = builtinRegistry();
        const sources = o.stages.map((kind) => (kind === 'two-tower' ? { kind, params: { epochs: 2, validate: false } } : { kind }));
        const config = { sources, fallbacks: [{ kind: 'popularity' }] };
        models = [join(tmp, 'a'), join(tmp, 'b')];
        await trainModel(models[0], { dataset, registry, config, holdout: 0, seed: o.seed });
        await trainModel(models[1], { dataset, registry, config, holdout: 0, seed: o.seed + 1 });
        console.error(`trained two models (${dataset.numItems} items, ${dataset.numUsers} users, stages ${o.stages.join(', ')} + popularity) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
      const server = await startServer({ model: models[0], port: 0, store: 'memory', reloadOnSighup: false, log: () => {} });
      const users = server.service.current().engine.activeUsers(50);
      const kernel = getKernelBackend();
      const sample = () => {
        const m = process.memoryUsage();
        return { rss: m.rss / MB, heap: m.heapUsed / MB, external: m.external / MB, kernel: (kernel.memory?.buffer.byteLength ?? 0) / MB };
      };
      const rows: { reload: number; rssMB: number; heapMB: number; externalMB: number; kernelMB: number }[] = [];
      const x: number[] = [];
      const y: number[] = [];
      const start = sample();
      console.log(`reload  RSS MB  heap MB  external MB  kernel memory MB`);
      console.log(`${'0'.padStart(6)}  ${start.rss.toFixed(1).padStart(6)}  ${start.heap.toFixed(1).padStart(7)}  ${start.external.toFixed(1).padStart(11)}  ${start.kernel.toFixed(1).padStart(16)}`);
      const t0 = performance.now();
      let errors = 0;
      for (let i = 1; i <= o.count; i++) {
        const res = await fetch(`${server.url}/v1/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: models[i % 2] }) });
        if (res.status !== 200) {
          errors++;
          console.error(`reload ${i}: ${res.status} ${await res.text()}`);
        } else await res.arrayBuffer();
        // a request on each model: the pinned-request path (the old model is disposed when its requests end)
        const r = await fetch(`${server.url}/v1/users/${encodeURIComponent(users[i % users.length] ?? 'nobody')}/recommendations?k=10`);
        if (r.status !== 200) errors++;
        await r.arrayBuffer();
        const s = sample();
        if (i > o.warmup) {
          x.push(i);
          y.push(s.rss);
        }
        if (i % o.every === 0 || i === o.count) {
          rows.push({ reload: i, rssMB: Math.round(s.rss * 10) / 10, heapMB: Math.round(s.heap * 10) / 10, externalMB: Math.round(s.external * 10) / 10, kernelMB: Math.round(s.kernel * 10) / 10 });
          console.log(`${String(i).padStart(6)}  ${s.rss.toFixed(1).padStart(6)}  ${s.heap.toFixed(1).padStart(7)}  ${s.external.toFixed(1).padStart(11)}  ${s.kernel.toFixed(1).padStart(16)}`);
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      await server.close();
      const perReload = slope(x, y);
      const result = { count: o.count, warmup: o.warmup, models, slopeMBPerReload: Math.round(perReload * 10000) / 10000, rows, errors, seconds: Math.round(seconds * 10) / 10, loadAverage: os.loadavg().map((v) => Math.round(v * 100) / 100) };
      console.log(`RSS slope after ${o.warmup} reloads: ${perReload.toFixed(4)} MB per reload (least squares over ${x.length} reloads; goal < 0.05); ${o.count} reloads in ${seconds.toFixed(1)} s, ${errors} errors`);
      if (o.json) await writeFile(o.json, JSON.stringify(result, null, 2) + '\n');
      return errors === 0 ? 0 : 1;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  },
};
