/**
 * `tandem bench train --vs-torch`: our two-tower against the same model in PyTorch
 * (bench/twotower_torch.py), back to back at each thread count, on the temporal split of the dataset
 * (user-temporal:0.2, which is ../shared/benchmarks/ml-100k-temporal for MovieLens 100K). Both start
 * from the same initial weights and see the same inputs; both are scored by our evaluation
 * (recall@100 and NDCG@10 on the test side, training items excluded) after the same epochs.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSplit, splitDataset, type Dataset } from '../src/data/index.ts';
import { getKernelBackend } from '../src/math/index.ts';
import { evaluateRetrieval, exportTrainingInputs, trainTwoTower, TwoTowerModel, type TwoTowerConfig } from '../src/retrieval/index.ts';
import { median } from './stats.ts';

export interface VsTorchOptions {
  threads: number[];
  epochs: number;
  seed: number;
  python: string;
  /** Measurements per side and thread count, alternating ours / torch (the median epoch of all is reported). */
  repeats: number;
  json?: string;
  /** How our threads > 1 train (the two-tower parameter `parallel`). */
  parallel?: 'sync' | 'hogwild';
}

interface Side {
  /** Median seconds per epoch, and per-epoch process CPU seconds. */
  epochSeconds: number;
  epochCpuSeconds: number;
  recall: number;
  ndcg10: number;
  loss: number;
}

export interface VsTorchRow {
  threads: number;
  ours: Side;
  torch: Side;
  /** torch seconds / our seconds per epoch (> 1: we are faster). */
  ratio: number;
  /** The same over process CPU seconds (every thread): steadier on a shared machine. */
  cpuRatio: number;
  /** 1-minute load average when the row was measured (the machine is shared). */
  load: number;
}


/** The reference shape of `tandem bench train`, with `epochs`. */
export function referenceConfig(epochs: number): Partial<TwoTowerConfig> {
  return { embeddingDim: 32, hidden: [128], dim: 64, loss: 'softmax', batchSize: 512, epochs, historyLength: 50 };
}

export async function vsTorch(ds: Dataset, o: VsTorchOptions): Promise<number> {
  const { train, test } = splitDataset(ds, parseSplit('user-temporal:0.2'));
  const config = { ...referenceConfig(o.epochs), ...(o.parallel ? { parallel: o.parallel } : {}) };
  const dir = mkdtempSync(join(tmpdir(), 'tandem-vs-torch-'));
  const script = new URL('./twotower_torch.py', import.meta.url).pathname;
  const rows: VsTorchRow[] = [];
  try {
    const peer = exportTrainingInputs(train, config, o.seed, dir);
    const check = spawnSync(o.python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`--python ${o.python}: cannot import torch (${(check.stderr || check.error?.message || '').trim().split('\n').pop()}); install Debian's python3-torch`);
    console.log(`two-tower vs PyTorch ${check.stdout.trim()} on ${train.summary().interactions} training interactions (user-temporal:0.2), ${o.epochs} epochs, batch 512, kernels: ${getKernelBackend().name}, threads > 1: ${config.parallel ?? 'sync'}`);
    for (const threads of o.threads) {
      const ours: { secs: number[]; cpu: number[]; m: { recall: number; ndcg10: number }; loss: number }[] = [];
      const torch: typeof ours = [];
      for (let rep = 0; rep < o.repeats; rep++) {
        const r = await trainTwoTower(train, config, { threads, seed: o.seed, log: () => {} });
        const m = evaluateRetrieval(r.model, train, test, 100);
        ours.push({ secs: r.epochs.map((e) => e.seconds), cpu: r.epochs.map((e) => e.cpuSeconds), m, loss: r.epochs[r.epochs.length - 1].loss });
        const out = join(dir, `out-${threads}-${rep}.f32`);
        const p = spawnSync(o.python, [script, dir, '--threads', String(threads), '--epochs', String(o.epochs), '--seed', String(o.seed), '--out', out], {
          encoding: 'utf8',
          maxBuffer: 1 << 26,
          // Debian's torch calls the pthread OpenBLAS, whose own pool would otherwise take every core; idle
          // OpenMP threads sleep rather than spin unless the caller says otherwise (spinning on a shared
          // machine measured 74 CPU-s per epoch at 2 threads against 4 passive)
          env: { OMP_WAIT_POLICY: 'PASSIVE', ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
        });
        if (p.status !== 0) throw new Error(`bench/twotower_torch.py failed (exit ${p.status}): ${p.stderr.trim().split('\n').slice(-5).join('\n')}`);
        const ep = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seconds: number; cpuSeconds: number; loss: number });
        const buf = readFileSync(out);
        const params = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
        const model = new TwoTowerModel(peer.features, peer.config, params, { seed: o.seed, threads });
        torch.push({ secs: ep.map((e) => e.seconds), cpu: ep.map((e) => e.cpuSeconds), m: evaluateRetrieval(model, train, test, 100), loss: ep[ep.length - 1].loss });
      }
      const side = (runs: typeof ours): Side => ({
        epochSeconds: +median(runs.flatMap((r) => r.secs)).toFixed(3),
        epochCpuSeconds: +median(runs.flatMap((r) => r.cpu)).toFixed(3),
        recall: +median(runs.map((r) => r.m.recall)).toFixed(4),
        ndcg10: +median(runs.map((r) => r.m.ndcg10)).toFixed(4),
        loss: +median(runs.map((r) => r.loss)).toFixed(4),
      });
      const row: VsTorchRow = { threads, ours: side(ours), torch: side(torch), ratio: 0, cpuRatio: 0, load: +loadavg()[0].toFixed(1) };
      row.ratio = +(row.torch.epochSeconds / row.ours.epochSeconds).toFixed(2);
      row.cpuRatio = +(row.torch.epochCpuSeconds / row.ours.epochCpuSeconds).toFixed(2);
      rows.push(row);
      console.log(
        `threads ${threads}: ours ${row.ours.epochSeconds} s/epoch (${row.ours.epochCpuSeconds} CPU-s), recall@100 ${row.ours.recall}, ndcg@10 ${row.ours.ndcg10} | ` +
          `torch ${row.torch.epochSeconds} s/epoch (${row.torch.epochCpuSeconds} CPU-s), recall@100 ${row.torch.recall}, ndcg@10 ${row.torch.ndcg10} | torch/ours ${row.ratio}x wall, ${row.cpuRatio}x CPU (load ${row.load})`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (o.json) writeFileSync(o.json, JSON.stringify({ epochs: o.epochs, seed: o.seed, repeats: o.repeats, parallel: config.parallel ?? 'sync', rows }, null, 2));
  return 0;
}
