/**
 * `tandem bench synthetic`: how long the synthetic generator takes and how much memory it peaks at
 * (each run in its own process, so peak RSS is that run's; median over --repeats), and the quality
 * side: popularity and item-kNN ndcg@10 on a demo-size set, to show the signal stays learnable.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateSynthetic, parseSplit, splitDataset } from '../src/data/index.ts';
import { runEvaluation } from '../src/pipeline/index.ts';
import { UsageError, parseArgs } from '../src/schema/index.ts';
import type { OptionDefs } from '../src/schema/index.ts';
import type { Command } from '../src/schema/index.ts';
import { median } from './stats.ts';

const options = {
  items: { type: 'number', default: 1_000_000, description: 'items' },
  interactions: { type: 'number', default: 10_000_000, description: 'interaction rows' },
  users: { type: 'number', description: 'users (default: interactions / 50)' },
  dim: { type: 'number', default: 16, description: 'latent dimension' },
  candidates: { type: 'number', default: 8, description: 'candidates per choice' },
  repeats: { type: 'number', default: 1, description: 'timed runs, each in a fresh process (the median is reported)' },
  quality: { type: 'boolean', default: true, description: 'also score popularity and item-kNN on a demo-size set (--no-quality to skip)' },
  seed: { type: 'number', default: 42, description: 'seed' },
  json: { type: 'string', description: 'write the figures to this JSON file' },
  child: { type: 'boolean', description: '(internal) run one generation in this process and print one JSON line' },
} satisfies OptionDefs;

type Opts = ReturnType<typeof parseArgs<typeof options>>['options'];

interface Run {
  seconds: number;
  cpuSeconds: number;
  peakRssMB: number;
  datasetMB: number;
}


function sizes(o: Opts): { users: number; items: number; interactions: number; dim: number; candidates: number; seed: number } {
  const users = o.users ?? Math.max(1000, Math.round(o.interactions / 50));
  return { users, items: o.items, interactions: o.interactions, dim: o.dim, candidates: o.candidates, seed: o.seed };
}

function child(o: Opts): void {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const ds = generateSynthetic(sizes(o));
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = (process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1e6;
  const x = ds.interactions;
  let bytes = x.user.byteLength + x.item.byteLength + x.event.byteLength + x.value.byteLength + x.timestamp.byteLength;
  for (const t of [ds.users, ds.items]) {
    for (const col of t.columns) {
      switch (col.kind) {
        case 'numeric':
        case 'vector':
          bytes += col.values.byteLength;
          break;
        case 'categorical':
        case 'id':
          bytes += col.codes.byteLength;
          break;
        case 'multi-categorical':
        case 'text':
          bytes += col.codes.byteLength + col.offsets.byteLength;
          break;
      }
    }
  }
  const run: Run = { seconds, cpuSeconds, peakRssMB: process.resourceUsage().maxRSS / 1024, datasetMB: bytes / 2 ** 20 };
  console.log(JSON.stringify(run));
}

async function quality(seed: number): Promise<Record<string, number>> {
  const ds = generateSynthetic({ users: 5000, items: 3000, interactions: 250_000, seed });
  const { train, test } = splitDataset(ds, parseSplit('user-temporal:0.2'));
  const r = await runEvaluation({ train, test, pipelines: ['popularity', 'itemknn'], seed, ks: [10, 100] });
  const out: Record<string, number> = {};
  for (const x of r.results) {
    out[`${x.pipeline} ndcg@10`] = x.metrics['ndcg@10'];
    out[`${x.pipeline} recall@100`] = x.metrics['recall@100'];
  }
  return out;
}

export const syntheticBench: Command = {
  name: 'synthetic',
  summary: 'synthetic generator: generation time and peak RSS at 1M items / 10M interactions, and its learnability',
  usage: 'tandem bench synthetic [--items 1000000 --interactions 10000000] [--repeats N] [--json FILE]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    if (o.child) {
      child(o);
      return 0;
    }
    if (!(Number.isInteger(o.repeats) && o.repeats >= 1)) throw new UsageError('--repeats must be a positive integer');
    const s = sizes(o);
    console.log(`generating ${s.users} users, ${s.items} items, ${s.interactions} interactions (dim ${s.dim}, ${s.candidates} candidates per choice), ${o.repeats} run(s), each in its own process`);
    const bin = fileURLToPath(new URL('../bin/tandem.mjs', import.meta.url));
    const runs: Run[] = [];
    for (let k = 0; k < o.repeats; k++) {
      const childArgs = ['--max-old-space-size=16384', bin, 'bench', 'synthetic', ...argv.filter((a) => a !== '--child'), '--child'];
      const r = spawnSync(process.execPath, childArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
      if (r.status !== 0) throw new Error(`generation run ${k + 1} failed (exit ${r.status})`);
      const run = JSON.parse(r.stdout.trim().split('\n').pop()!) as Run;
      runs.push(run);
      console.log(`  run ${k + 1}: ${run.seconds.toFixed(2)} s wall, ${run.cpuSeconds.toFixed(2)} s CPU, peak RSS ${run.peakRssMB.toFixed(0)} MB (dataset arrays ${run.datasetMB.toFixed(0)} MB)`);
    }
    const result: Record<string, unknown> = {
      ...s,
      repeats: o.repeats,
      seconds: median(runs.map((r) => r.seconds)),
      cpuSeconds: median(runs.map((r) => r.cpuSeconds)),
      peakRssMB: median(runs.map((r) => r.peakRssMB)),
      datasetMB: runs[0].datasetMB,
      interactionsPerSecond: s.interactions / median(runs.map((r) => r.seconds)),
    };
    console.log(
      `median: ${(result.seconds as number).toFixed(2)} s (${((result.interactionsPerSecond as number) / 1e6).toFixed(2)} M interactions/s), peak RSS ${(result.peakRssMB as number).toFixed(0)} MB`,
    );
    if (o.quality) {
      console.log('quality on the demo-size set (5000 users, 3000 items, 250000 events; user-temporal:0.2):');
      const q = await quality(o.seed);
      for (const [k, v] of Object.entries(q)) console.log(`  ${k.padEnd(22)} ${v.toFixed(4)}`);
      result.quality = q;
    }
    if (o.json) {
      writeFileSync(o.json, JSON.stringify(result, null, 2) + '\n');
      console.log(`wrote ${o.json}`);
    }
    return 0;
  },
};
