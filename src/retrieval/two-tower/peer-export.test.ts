// The export for the PyTorch peer (bench/twotower_torch.py): the files hold what the trainer starts
// from, and the peer's model computes our loss on the same batch at the same weights (skipped when
// Debian's python3-torch is not installed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gemmRef } from '../../math/index.ts';
import { TowerBatch } from '../../features/index.ts';
import { buildExamples } from './core.ts';
import { StepScratch, TwoTowerNet } from './model.ts';
import { exportTrainingInputs } from './peer-export.ts';
import { tinyDataset } from './test-fixture.ts';

const PY = '/usr/bin/python3';
const SCRIPT = new URL('../../../bench/twotower_torch.py', import.meta.url).pathname;
const noTorch = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0 ? 'needs /usr/bin/python3 with torch (Debian python3-torch)' : false;

const f32 = (p: string) => {
  const b = readFileSync(p);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

test('the export writes the layout, the examples and the initial weights, the same for a seed', () => {
  const ds = tinyDataset(30, 40, 8);
  const dir = mkdtempSync(join(tmpdir(), 'tt-export-'));
  try {
    const a = exportTrainingInputs(ds, { embeddingDim: 8, hidden: [16], dim: 8 }, 3, dir);
    const spec = JSON.parse(readFileSync(join(dir, 'spec.json'), 'utf8')) as { layout: { total: number }; arrays: Record<string, { length: number }> };
    assert.equal(spec.layout.total, a.params.length);
    assert.deepEqual(f32(join(dir, 'params.bin')), a.params);
    assert.equal(spec.arrays.seqItems.length, ds.interactions.length);
    assert.equal(spec.arrays.userStart.length, ds.numUsers + 1);
    const b = exportTrainingInputs(ds, { embeddingDim: 8, hidden: [16], dim: 8 }, 3, dir);
    assert.deepEqual(b.params, a.params, 'same seed, same initial weights');
    const c = exportTrainingInputs(ds, { embeddingDim: 8, hidden: [16], dim: 8 }, 4, dir);
    assert.notDeepEqual(c.params, a.params);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PyTorch peer: the same loss as ours on the same batch at the same weights (every feature kind, negative feedback)', { skip: noTorch }, () => {
  const ds = tinyDataset(30, 40, 8);
  const dir = mkdtempSync(join(tmpdir(), 'tt-peer-'));
  try {
    const { features: fs, config: cfg, params } = exportTrainingInputs(ds, { embeddingDim: 8, hidden: [16], dim: 8, batchSize: 64 }, 5, dir);
    const ex = buildExamples(ds);
    const N = Math.min(64, ex.exUser.length);
    // our loss on examples 0..N-1 (each user's history before its event), no dropout, plain kernels
    const net = new TwoTowerNet(fs, cfg.hidden, cfg.dim, cfg.normalize);
    const ub = new TowerBatch(fs.user, N);
    const ib = new TowerBatch(fs.item, N);
    const colItem = new Int32Array(N);
    const w = new Float32Array(N);
    const logQ = new Float32Array(N);
    let negatives = 0;
    for (let e = 0; e < N; e++) {
      const u = ex.exUser[e];
      fs.appendUser(ub, u, ex.seqItems, ex.seqWeights, ex.userStart[u], e);
      fs.appendItem(ib, ex.seqItems[e]);
      colItem[e] = ex.seqItems[e];
      w[e] = ex.seqWeights[e];
      if (w[e] < 0) negatives++;
      logQ[e] = ex.itemLogProb[colItem[e]] + Math.log(N);
    }
    assert.ok(negatives > 0, 'the batch holds negative feedback');
    const loss = { kind: cfg.loss, temperature: cfg.temperature, negatives: cfg.negatives };
    const ours = net.step(gemmRef, params, ub, ib, colItem, w, logQ, loss, new StepScratch(net, N, loss, (n) => new Float32Array(n)));
    const r = spawnSync(PY, [SCRIPT, dir, '--loss-check', String(N)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const theirs = (JSON.parse(r.stdout.trim()) as { loss: number }).loss;
    assert.ok(Number.isFinite(ours) && ours > 0);
    assert.ok(Math.abs(ours - theirs) < 1e-4 * Math.max(1, Math.abs(ours)), `ours ${ours}, torch ${theirs}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
