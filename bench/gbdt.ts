/**
 * `tandem bench gbdt`: GBDT training time, peak memory and validation AUC at 1 and 2 threads (each run
 * in its own process, so peak RSS is that run's), and prediction throughput with 300 trees of 63 leaves.
 * Data: a synthetic binary-classification set, or LibSVM files (--libsvm, --valid).
 * `--dump DIR` writes the synthetic data for bench/gbdt_xgboost.py, which times XGBoost on the same rows.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/math/index.ts';
import { type GbdtData, auc, readLibsvmData, trainGbdt } from '../src/ranking/index.ts';
import { UsageError, parseArgs } from '../src/schema/index.ts';
import type { OptionDefs } from '../src/schema/index.ts';
import type { Command } from '../src/schema/index.ts';
import { median } from './stats.ts';

const options = {
  rows: { type: 'number', default: 200_000, description: 'synthetic training rows' },
  features: { type: 'number', default: 50, description: 'synthetic features' },
  'valid-rows': { type: 'number', default: 50_000, description: 'synthetic validation rows' },
  libsvm: { type: 'string', description: 'train on this LibSVM file (qid: groups allowed) instead of synthetic data' },
  valid: { type: 'string', description: 'LibSVM validation file (with --libsvm); default: the last 20% of groups/rows' },
  'index-base': { type: 'number', default: 0, description: 'first feature index in the LibSVM files (0 or 1)' },
  threads: { type: 'list', of: 'number', default: [1, 2], description: 'thread counts to train with' },
  rounds: { type: 'number', default: 200, description: 'boosting rounds' },
  leaves: { type: 'number', default: 255, description: 'numLeaves' },
  bins: { type: 'number', default: 255, description: 'maxBin' },
  'learning-rate': { type: 'number', default: 0.1, description: 'learningRate' },
  'min-data-in-leaf': { type: 'number', default: 20, description: 'minDataInLeaf' },
  'predict-trees': { type: 'number', default: 300, description: 'trees of the prediction model' },
  'predict-leaves': { type: 'number', default: 63, description: 'leaves per tree of the prediction model' },
  'predict-train-rows': { type: 'number', default: 50_000, description: 'rows the prediction model is trained on' },
  repeats: { type: 'number', default: 200, description: 'timed repeats of the 500-row prediction (median reported)' },
  'no-train': { type: 'boolean', description: 'skip the training runs' },
  'no-predict': { type: 'boolean', description: 'skip the prediction figures' },
  dump: { type: 'string', description: 'write the synthetic data to this directory (for bench/gbdt_xgboost.py) and exit' },
  seed: { type: 'number', default: 1, description: 'data seed' },
  json: { type: 'string', description: 'write the figures to this JSON file' },
  gradients: { type: 'list', of: 'string', default: ['direct'] as string[], description: "'direct' (histograms read gradients in place) and/or 'copy' (gathered into leaf order first, the reference): each listed mode is timed" },
  'vs-xgboost': { type: 'boolean', description: 'after our run at each thread count, time XGBoost (bench/gbdt_xgboost.py) on the same rows and print the ratios' },
  python: { type: 'string', default: '/usr/bin/python3', description: 'with --vs-xgboost: the Python that has xgboost' },
  child: { type: 'number', description: '(internal) run one training in this process with this many threads' },
} satisfies OptionDefs;

/**
 * A synthetic binary set: standard normal features, a nonlinear logit of the first 12 (products, sines,
 * thresholds), labels drawn from it; features 10 and 11 are missing (NaN) in 10% of rows. Row-major.
 * @example const d = syntheticBinary(200000, 50, 1);
 */
export function syntheticBinary(nRows: number, nFeatures: number, seed: number): GbdtData {
  if (nFeatures < 12) throw new UsageError('--features: the synthetic set needs at least 12 features');
  const rng = new Rng(seed);
  const F = nFeatures;
  const x = new Float32Array(nRows * F);
  const y = new Float32Array(nRows);
  for (let r = 0; r < nRows; r++) {
    const o = r * F;
    for (let f = 0; f < F; f++) x[o + f] = rng.normal();
    const z =
      0.8 * x[o] * x[o + 1] + 1.2 * Math.sin(2 * x[o + 2]) + 0.6 * x[o + 3] - 0.4 * x[o + 4] * x[o + 4] + 0.5 * Math.abs(x[o + 5]) +
      (x[o + 6] > 0.5 ? 0.7 : -0.2) + 0.3 * x[o + 7] * x[o + 8] + 0.4 * Math.tanh(2 * x[o + 9]) + 0.3 * x[o + 10] - 0.3 * x[o + 11];
    y[r] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    if (rng.next() < 0.1) x[o + 10] = NaN;
    if (rng.next() < 0.1) x[o + 11] = NaN;
  }
  return { features: x, nRows, nFeatures: F, labels: y };
}

type Opts = ReturnType<typeof parseArgs<typeof options>>['options'];

interface TrainRow {
  threads: number;
  seconds: number;
  peakRssMB: number;
  validAuc: number;
  cpuSeconds?: number;
  gradients?: string;
}

interface XgbRow {
  threads: number;
  seconds: number;
  cpuSeconds: number;
  validAuc: number;
  /** our seconds / XGBoost's (< 1: we are faster), wall and CPU */
  ratio: number;
  cpuRatio: number;
  aucDiff: number;
}

/** XGBoost on the dumped rows at `threads`, right after our run; prints the ratios to `ours`. */
function runXgboost(o: Opts, dir: string, threads: number, ours: TrainRow & { cpuSeconds: number }): XgbRow {
  const script = fileURLToPath(new URL('./gbdt_xgboost.py', import.meta.url));
  // idle OpenMP threads sleep rather than spin unless the caller says otherwise (as for the torch peer)
  const env = { OMP_WAIT_POLICY: 'PASSIVE', ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  const r = spawnSync(o.python, [script, dir, '--threads', String(threads), '--rounds', String(o.rounds), '--leaves', String(o.leaves), '--no-predict', '--json', join(dir, 'xgb.json')], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`bench/gbdt_xgboost.py failed (exit ${r.status}); is xgboost importable by ${o.python}?`);
  const x = (JSON.parse(readFileSync(join(dir, 'xgb.json'), 'utf8')) as { train: { seconds: number; cpuSeconds: number; validAuc: number }[] }).train[0];
  const row: XgbRow = { threads, seconds: x.seconds, cpuSeconds: x.cpuSeconds, validAuc: x.validAuc, ratio: ours.seconds / x.seconds, cpuRatio: ours.cpuSeconds / x.cpuSeconds, aucDiff: ours.validAuc - x.validAuc };
  console.log(`xgboost threads=${threads}: ${x.seconds.toFixed(2)} s (${x.cpuSeconds.toFixed(2)} CPU s), valid AUC ${x.validAuc.toFixed(4)} | ours/xgboost ${row.ratio.toFixed(2)}x wall, ${row.cpuRatio.toFixed(2)}x CPU; AUC ours - xgboost ${row.aucDiff >= 0 ? '+' : ''}${row.aucDiff.toFixed(4)}`);
  return row;
}


/** Rows [a, b) of row-major data (groups re-based when present). */
function sliceRows(d: GbdtData, a: number, b: number, groups?: Int32Array): GbdtData {
  const F = d.nFeatures;
  return { features: d.features.slice(a * F, b * F), nRows: b - a, nFeatures: F, labels: d.labels.slice(a, b), groups };
}

function loadData(o: Opts): { train: GbdtData; valid: GbdtData } {
  if (!o.libsvm) {
    return { train: syntheticBinary(o.rows, o.features, o.seed), valid: syntheticBinary(o['valid-rows'], o.features, o.seed + 1000) };
  }
  const base = o['index-base'] === 1 ? 1 : 0;
  const train = readLibsvmData(o.libsvm, { indexBase: base });
  if (o.valid) {
    const valid = readLibsvmData(o.valid, { indexBase: base, nFeatures: train.nFeatures });
    return { train, valid };
  }
  // no validation file: hold out the last 20% (whole groups when there are groups)
  if (train.groups) {
    const g = train.groups;
    const ng = g.length - 1;
    const cut = Math.max(1, Math.floor(ng * 0.8));
    const at = g[cut];
    return {
      train: sliceRows(train, 0, at, g.slice(0, cut + 1)),
      valid: sliceRows(train, at, train.nRows, Int32Array.from(g.subarray(cut), (v) => v - at)),
    };
  }
  const at = Math.floor(train.nRows * 0.8);
  return { train: sliceRows(train, 0, at), valid: sliceRows(train, at, train.nRows) };
}

function trainParams(o: Opts, labels: Float32Array | Float64Array) {
  const binary = labels.every((v) => v === 0 || v === 1);
  return {
    objective: binary ? ('binary' as const) : ('regression' as const),
    numRounds: o.rounds,
    numLeaves: o.leaves,
    maxBin: o.bins,
    learningRate: o['learning-rate'],
    minDataInLeaf: o['min-data-in-leaf'],
    minSumHessianInLeaf: 1,
    lambdaL2: 1,
  };
}

/** One training run in this process (the child side): prints one JSON line. */
async function childTrain(o: Opts, threads: number): Promise<void> {
  const { train, valid } = loadData(o);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  // progress on stderr (the parent passes it through): long runs on a shared machine are otherwise silent
  const onRound = (r: number) => {
    if ((r + 1) % 20 === 0) process.stderr.write(`  threads=${threads}: round ${r + 1}/${o.rounds}, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  };
  const gradients = o.gradients[0];
  if (o.gradients.length !== 1 || (gradients !== 'direct' && gradients !== 'copy')) throw new UsageError(`--gradients: 'direct' or 'copy', got '${o.gradients.join(',')}'`);
  const res = await trainGbdt(train, trainParams(o, train.labels), { threads, onRound, gradients });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const raw = new Float64Array(valid.nRows);
  res.model.predictRaw(valid.features, valid.nRows, raw);
  const binary = valid.labels.every((v) => v === 0 || v === 1);
  const row: TrainRow & { binSeconds: number; parallelSteps: number; cpuSeconds: number } = {
    threads,
    seconds,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    validAuc: binary ? auc(raw, valid.labels) : auc(raw, Float32Array.from(valid.labels, (v) => (v > 0 ? 1 : 0))),
    binSeconds: res.binSeconds,
    parallelSteps: res.parallelSteps,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
  console.log(JSON.stringify(row));
}

/** `rows` rows made by repeating the rows of `d` (candidate batches for timing). */
function tileRows(d: GbdtData, rows: number): Float32Array {
  const F = d.nFeatures;
  const out = new Float32Array(rows * F);
  for (let r = 0; r < rows; r++) {
    const s = (r % d.nRows) * F;
    for (let f = 0; f < F; f++) out[r * F + f] = d.features[s + f];
  }
  return out;
}

async function predictBench(o: Opts): Promise<{ rowsPerSecond: number; msFor500x300: number; cpuMsFor500x300: number; msNoNaN: number; trees: number; meanLeaves: number; meanDepth: number }> {
  // synthetic: a model on fresh synthetic rows, scored on others; LibSVM: trained on its rows, scored on the validation rows
  const loaded = o.libsvm ? loadData(o) : null;
  const data = loaded ? loaded.train : syntheticBinary(o['predict-train-rows'], o.features, o.seed + 7);
  const F = data.nFeatures;
  const tr = data.nRows > o['predict-train-rows'] ? sliceRows(data, 0, o['predict-train-rows']) : data;
  const binary = tr.labels.every((v) => v === 0 || v === 1);
  const { model } = await trainGbdt(
    tr,
    { objective: binary ? 'binary' : 'regression', numRounds: o['predict-trees'], numLeaves: o['predict-leaves'], learningRate: 0.05, minDataInLeaf: 5, lambdaL2: 1, baggingFraction: 0.8, featureFraction: 0.8 },
    { threads: 2 },
  );
  const forest = model.forest;
  const leaves = model.trees.reduce((a, t) => a + t.leafValue.length, 0) / model.trees.length;
  const cand = tileRows(loaded ? loaded.valid : syntheticBinary(100_000, F, o.seed + 99), 100_000);
  // mean depth of a row's leaf, over the first 500 candidate rows
  let depthSum = 0;
  for (let r = 0; r < 500; r++) {
    for (const t of model.trees) {
      let node = t.feature.length > 0 ? 0 : ~0;
      while (node >= 0) {
        const v = cand[r * F + t.feature[node]];
        node = v < t.threshold[node] ? t.left[node] : v >= t.threshold[node] ? t.right[node] : t.defaultLeft[node] ? t.left[node] : t.right[node];
        depthSum++;
      }
    }
  }
  const out = new Float64Array(100_000);
  // wall and CPU ms per call: on a shared machine a call that is preempted keeps its wall time, not its CPU time
  const time500 = (x: Float32Array): { wall: number; cpu: number } => {
    for (let i = 0; i < 20; i++) forest.predictRaw(x, 500, out); // warm-up
    const times: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < o.repeats; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      forest.predictRaw(x, 500, out);
      times.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    }
    return { wall: median(times), cpu: median(cpu) };
  };
  const x500 = cand.slice(0, 500 * F);
  const t500 = time500(x500);
  const ms = t500.wall;
  const msNoNaN = time500(x500.map((v) => (Number.isNaN(v) ? 0 : v))).wall;
  const bulk: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    forest.predictRaw(cand, 100_000, out);
    bulk.push(100_000 / ((performance.now() - t0) / 1000));
  }
  return { rowsPerSecond: median(bulk), msFor500x300: ms, cpuMsFor500x300: t500.cpu, msNoNaN, trees: model.trees.length, meanLeaves: leaves, meanDepth: depthSum / (500 * model.trees.length) };
}

function dump(o: Opts, dir: string): void {
  const { train, valid } = loadData(o);
  mkdirSync(dir, { recursive: true });
  const w = (name: string, a: Float32Array | Float64Array) => writeFileSync(join(dir, name), Buffer.from(Float32Array.from(a).buffer));
  w('train.f32', train.features);
  w('train-labels.f32', train.labels);
  w('valid.f32', valid.features);
  w('valid-labels.f32', valid.labels);
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ trainRows: train.nRows, validRows: valid.nRows, features: train.nFeatures, seed: o.seed }));
  console.log(`wrote ${train.nRows} + ${valid.nRows} rows x ${train.nFeatures} features to ${dir}`);
}

export const gbdtBench: Command = {
  name: 'gbdt',
  summary: 'GBDT training seconds, peak memory and validation AUC at 1 and 2 threads; prediction rows/s and ms for 500 rows x 300 trees',
  usage: 'tandem bench gbdt [--rows N --features F | --libsvm FILE [--valid FILE]] [--vs-xgboost] [--gradients direct,copy] [--json out.json]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    if (o.child !== undefined) {
      await childTrain(o, o.child);
      return 0;
    }
    if (o.dump) {
      dump(o, o.dump);
      return 0;
    }
    const train: TrainRow[] = [];
    const xgboost: XgbRow[] = [];
    if (!o['no-train']) {
      const bin = fileURLToPath(new URL('../bin/tandem.mjs', import.meta.url));
      for (const m of o.gradients) if (m !== 'direct' && m !== 'copy') throw new UsageError(`--gradients: 'direct' or 'copy', got '${m}'`);
      let xdir: string | null = null;
      if (o['vs-xgboost']) {
        if (o.libsvm) throw new UsageError('--vs-xgboost runs on the synthetic set only');
        xdir = mkdtempSync(join(tmpdir(), 'tandem-vs-xgb-'));
        dump(o, xdir);
      }
      // the child parses the same argv: drop the options that are the parent's alone
      const childArgv: string[] = [];
      for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--gradients' || a === '--json' || a === '--python') i++;
        else if (a !== '--vs-xgboost' && !/^--(gradients|json|python)=/.test(a)) childArgv.push(a);
      }
      try {
        for (const t of o.threads) {
          let ours: (TrainRow & { cpuSeconds: number }) | null = null;
          for (const mode of o.gradients) {
            // a fresh process per run: its peak RSS is this run's alone
            const r = spawnSync(process.execPath, ['--max-old-space-size=16384', bin, 'bench', 'gbdt', ...childArgv, '--gradients', mode, '--child', String(t)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
            if (r.status !== 0) throw new Error(`training run with ${t} threads failed (exit ${r.status})`);
            const row = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as TrainRow & { binSeconds: number; parallelSteps: number; cpuSeconds: number };
            // CPU seconds (all threads, spin-waits included) say more than wall time on a shared machine
            console.log(`train threads=${t}${o.gradients.length > 1 ? ` gradients=${mode}` : ''}: ${row.seconds.toFixed(2)} s (binning ${row.binSeconds.toFixed(2)} s; ${row.cpuSeconds.toFixed(2)} CPU s), peak RSS ${row.peakRssMB.toFixed(0)} MB, valid AUC ${row.validAuc.toFixed(4)}`);
            train.push({ threads: row.threads, seconds: row.seconds, peakRssMB: row.peakRssMB, validAuc: row.validAuc, cpuSeconds: row.cpuSeconds, gradients: mode });
            ours ??= { ...row };
          }
          if (xdir && ours) xgboost.push(runXgboost(o, xdir, t, ours));
        }
      } finally {
        if (xdir) rmSync(xdir, { recursive: true, force: true });
      }
    }
    let predict = { rowsPerSecond: NaN, msFor500x300: NaN, cpuMsFor500x300: NaN };
    if (!o['no-predict']) {
      const p = await predictBench(o);
      console.log(`predict: ${p.trees} trees, ${p.meanLeaves.toFixed(1)} leaves and depth ${p.meanDepth.toFixed(1)} on average; 500 rows in ${p.msFor500x300.toFixed(3)} ms (median of ${o.repeats}; CPU ${p.cpuMsFor500x300.toFixed(3)} ms; ${p.msNoNaN.toFixed(3)} ms with no NaN in the rows); ${Math.round(p.rowsPerSecond)} rows/s in bulk (100k rows)`);
      predict = { rowsPerSecond: p.rowsPerSecond, msFor500x300: p.msFor500x300, cpuMsFor500x300: p.cpuMsFor500x300 };
    }
    const result = { train, xgboost, predict };
    if (o.json) writeFileSync(o.json, JSON.stringify(result, null, 2) + '\n');
    return 0;
  },
};
