/**
 * `tandem bench train`: two-tower training throughput (positives per second) at each thread count,
 * on MovieLens or a synthetic catalog, plus request-time inference latency. The model is the
 * reference shape: 32-wide embeddings, history bag, towers concat -> 128 -> 64, in-batch softmax, batch 512.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, UsageError } from '../src/schema/index.ts';
import type { Command } from '../src/schema/index.ts';
import { loadDataset, resolvePreset, type Dataset } from '../src/data/index.ts';
import { generateSynthetic } from '../src/data/index.ts';
import { getKernelBackend } from '../src/math/index.ts';
import { trainTwoTower } from '../src/retrieval/index.ts';
import { median } from './stats.ts';

const options = {
  dataset: { type: 'string', description: "preset name (e.g. 'movielens-100k'), with --data" },
  data: { type: 'string', description: 'directory of the preset files' },
  synthetic: { type: 'boolean', description: 'use the synthetic generator instead of a dataset' },
  items: { type: 'number', description: 'synthetic: items', default: 1_000_000 },
  users: { type: 'number', description: 'synthetic: users', default: 200_000 },
  interactions: { type: 'number', description: 'synthetic: interactions', default: 10_000_000 },
  threads: { type: 'list', of: 'number', description: 'thread counts to measure', default: [1, 2] as number[] },
  epochs: { type: 'number', description: 'epochs per measurement (the median epoch is reported)', default: 1 },
  'max-examples': { type: 'number', description: 'train on at most this many positives per epoch (0: all)', default: 0 },
  seed: { type: 'number', description: 'random seed', default: 1 },
  parallel: { type: 'string', description: "threads > 1: 'sync' (shared batches) or 'hogwild' (the two-tower parameter)", values: ['sync', 'hogwild'], default: 'sync' },
  json: { type: 'string', description: 'write the figures to this JSON file' },
  'vs-torch': { type: 'boolean', description: 'also train the same model in PyTorch (bench/twotower_torch.py), back to back per thread count, on the temporal split; print the time ratio and recall' },
  python: { type: 'string', description: 'with --vs-torch: the Python that has torch', default: '/usr/bin/python3' },
  repeats: { type: 'number', description: 'with --vs-torch: runs per side and thread count, alternating', default: 1 },
  'recall-users': { type: 'number', description: "hold out the latest interaction of this many users, train on the rest, then build the engine's item index and report recall@100 of the held-out items (index, exact scan, popularity) (0: off)", default: 0 },
} as const;

interface Run {
  threads: number;
  /** positive examples per wall-clock second (median epoch) */
  examplesPerSecond: number;
  epochSeconds: number;
  /** positives per process-CPU second (all threads): steadier than wall clock on a busy machine */
  examplesPerCpuSecond: number;
  peakRssMB: number;
  examples: number;
}


/** Runs this benchmark once per thread count in a child process and merges the JSON. */
function runEach(argv: readonly string[], threads: number[], json: string | undefined): number {
  const runs: unknown[] = [];
  let merged: Record<string, unknown> = {};
  const bin = new URL('../bin/tandem.mjs', import.meta.url).pathname;
  for (const t of threads) {
    const out = join(tmpdir(), `tandem-bench-train-${process.pid}-${t}.json`);
    const rest: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (a === '--threads' || a === '--json') i++;
      else if (!a.startsWith('--threads=') && !a.startsWith('--json=')) rest.push(a);
    }
    const r = spawnSync(process.execPath, [bin, 'bench', 'train', ...rest, '--threads', String(t), '--json', out], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) return r.status ?? 1;
    const j = JSON.parse(readFileSync(out, 'utf8')) as { runs: unknown[] };
    rmSync(out, { force: true });
    runs.push(...j.runs);
    merged = { ...j, ...merged };
  }
  if (json) writeFileSync(json, JSON.stringify({ ...merged, runs }, null, 2));
  return 0;
}

export const trainBench: Command = {
  name: 'train',
  summary: 'two-tower training throughput (positives/s) at 1..n threads, and inference latency',
  usage: 'tandem bench train (--dataset movielens-100k --data DIR | --synthetic [--items N --interactions N]) [--threads 1,2] [--max-examples N] [--recall-users N] [--vs-torch [--epochs 5]] [--json out.json]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    for (const t of o.threads) if (!Number.isInteger(t) || t < 1) throw new UsageError(`--threads: ${t} is not a positive integer`);
    // one process per thread count, so each run's peak RSS is its own (kernel memory is never freed)
    if (o.threads.length > 1 && !o['vs-torch']) return runEach(argv, o.threads, o.json);
    let ds: Dataset;
    const t0 = performance.now();
    if (o.synthetic) {
      ds = generateSynthetic({ items: o.items, users: o.users, interactions: o.interactions, seed: o.seed });
    } else {
      if (!o.dataset || !o.data) throw new UsageError('give --dataset and --data, or --synthetic');
      ds = (await loadDataset(resolvePreset(o.dataset, o.data))).dataset;
    }
    if (!Number.isInteger(o['max-examples']) || o['max-examples'] < 0) throw new UsageError(`--max-examples must be an integer >= 0 (0: every interaction), got ${o['max-examples']}`);
    if (!Number.isInteger(o['recall-users']) || o['recall-users'] < 0) throw new UsageError(`--recall-users must be an integer >= 0, got ${o['recall-users']}`);
    if (o['max-examples'] > 0 && o['max-examples'] < ds.interactions.length) {
      const { selectInteractions } = await import('../src/data/index.ts');
      ds = ds.withInteractions(selectInteractions(ds.interactions, Int32Array.from({ length: o['max-examples'] }, (_, i) => i)));
    }
    if (o['vs-torch']) {
      const { vsTorch } = await import('./train-torch.ts');
      return vsTorch(ds, { threads: o.threads, epochs: o.epochs, seed: o.seed, python: o.python, repeats: o.repeats, json: o.json, parallel: o.parallel as 'sync' | 'hogwild' });
    }
    let holdOut: import('./train-recall.ts').HoldOut | null = null;
    if (o['recall-users'] > 0) {
      const { holdOutLatest } = await import('./train-recall.ts');
      holdOut = holdOutLatest(ds, o['recall-users']);
      ds = holdOut.train;
    }
    const s = ds.summary();
    console.log(`data: ${s.users} users, ${s.items} items, ${s.interactions} interactions (${((performance.now() - t0) / 1000).toFixed(1)} s to load); kernels: ${getKernelBackend().name}`);
    const config = { embeddingDim: 32, hidden: [128], dim: 64, loss: 'softmax' as const, batchSize: 512, epochs: o.epochs, historyLength: 50, parallel: o.parallel as 'sync' | 'hogwild' };
    const runs: Run[] = [];
    let inference: Record<string, number> = {};
    let recall: import('./train-recall.ts').RecallFigures | null = null;
    for (const threads of o.threads) {
      const r = await trainTwoTower(ds, config, { threads, seed: o.seed, log: () => {} });
      const secs = median(r.epochs.map((e) => e.seconds));
      const cpu = median(r.epochs.map((e) => e.cpuSeconds));
      const seen = ds.interactions.length;
      const run: Run = {
        threads,
        examplesPerSecond: Math.round(seen / secs),
        epochSeconds: +secs.toFixed(3),
        examplesPerCpuSecond: Math.round(seen / cpu),
        peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
        examples: seen,
      };
      runs.push(run);
      console.log(`threads ${threads}: ${run.examplesPerSecond} positives/s (epoch ${run.epochSeconds} s wall, ${cpu.toFixed(1)} s CPU; ${run.examplesPerCpuSecond} per CPU-second; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}), peak RSS ${run.peakRssMB} MB`);
      if (threads === o.threads[0]) inference = latency(r.model, ds);
      if (holdOut && threads === o.threads[0]) {
        const { measureRecall } = await import('./train-recall.ts');
        recall = measureRecall(r.model, holdOut, 100, (l) => console.log(l));
        console.log(`recall@100 of ${recall.users} held-out latest items: index (${recall.indexKind}) ${recall.indexRecall}, exact scan ${recall.exactRecall}, popularity ${recall.popularityRecall}; index top-100 overlap with exact ${recall.indexOverlap}; peak RSS ${recall.peakRssMB} MB`);
      }
    }
    console.log(`inference: embedUser p50 ${inference.embedUserP50Us} us, p99 ${inference.embedUserP99Us} us; embedItem p50 ${inference.embedItemP50Us} us`);
    if (o.json) writeFileSync(o.json, JSON.stringify({ dataset: { ...s, name: o.synthetic ? 'synthetic' : o.dataset }, kernels: getKernelBackend().name, runs, inference, ...(recall ? { recall } : {}) }, null, 2));
    return 0;
  },
};

/** Per-call latency of request-time embedding (known users with their history, catalog items). */
function latency(model: import('../src/retrieval/index.ts').TwoTowerModel, ds: Dataset): Record<string, number> {
  const n = Math.min(2000, ds.numUsers);
  const qs = Array.from({ length: n }, (_, u) => ds.query(u));
  const out = new Float32Array(model.dim);
  for (let i = 0; i < 200; i++) model.embedQuery(qs[i % n], out); // warm-up
  const tu: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    model.embedQuery(qs[i], out);
    tu.push((performance.now() - t) * 1000);
  }
  const ti: number[] = [];
  for (let i = 0; i < Math.min(2000, ds.numItems); i++) {
    const t = performance.now();
    model.embedItem(i, out);
    ti.push((performance.now() - t) * 1000);
  }
  const pct = (xs: number[], p: number) => +[...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(1);
  return { embedUserP50Us: pct(tu, 0.5), embedUserP99Us: pct(tu, 0.99), embedItemP50Us: pct(ti, 0.5) };
}
