/**
 * `tandem bench ranker`: the L2 ranker models side by side.
 *  - Scoring: 500 candidate rows scored by the DCN (3 cross layers, MLP 256-128 by default), by the same
 *    DCN on the plain TypeScript kernels (the reference), and by a GBDT of 300 trees x 63 leaves; the
 *    median and p90 of `repeats` timed passes, in process.
 *  - Training (with --dataset/--data/--train, or --synthetic): the two-stage's leakage-free ranker rows
 *    built once, then the GBDT and the DCN each trained on exactly those rows in its own process
 *    (peak RSS is that run's): seconds, peak RSS above the loaded rows, model size, validation figures.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gemmRef, getKernelBackend, Rng } from '../src/math/index.ts';
import { auc, backendKernels, BLEND_PARAMS, BlendModel, chooseWeight, DcnEnsemble, DcnModel, residualOffsets, fitEncoder, trainDcn, GbdtRankerModel, logLoss, ndcgAt, Ranker, RankerFeatures, RANKER_KINDS, sigmoidOfMargins, trainGbdt, VECTOR_COLUMN, type EmbedGroups, type RankerModel, type RankerTrainingSet } from '../src/ranking/index.ts';
import { ItemCatalog } from '../src/features/index.ts';
import { generateSyntheticWithTruth, parseSplit, splitDataset } from '../src/data/index.ts';
import { ORACLE_PARTS, oracleModel } from './oracle.ts';
import { VALID_SPLIT, assembleModel, builtinRegistry, checkEngineConfig, DATA_FLAGS, dataSourceFromFlags, Engine, fitStages, loadEvaluationData, pipelineConfig, rankerSpace, rankerTrainingRows, scoreEngine, trainRankerModel, type EngineConfig, type Model } from '../src/pipeline/index.ts';
import { check, keyValues, parseArgs, UsageError, type Command, type OptionDefs } from '../src/schema/index.ts';
import { median } from './stats.ts';

const options = {
  ...DATA_FLAGS,
  seed: { type: 'number', default: 42, description: 'seed of the ranker rows and of both models' },
  candidates: { type: 'number', default: 500, description: 'rows scored per timed pass' },
  features: { type: 'number', default: 41, description: 'feature columns of the scoring rows (the last `categorical` are codes)' },
  categorical: { type: 'number', default: 3, description: 'coded categorical columns among them (embedded by the DCN)' },
  'id-item': { type: 'boolean', description: "one more coded column, the item's id over 1,683 codes (the blend's id_item on ML-100K)" },
  vectors: { type: 'number', default: 0, description: "dense numeric columns more (the two-tower's vec_* columns of the blend's `vectors` setting)" },
  'bag-slots': { type: 'number', default: 0, description: "k > 0: the code slots of `bagSlots: k` on ML-100K appended (genres over 19 codes and title words over 2,000, the item's k and the user's k of each: four bags)" },
  history: { type: 'number', default: 0, description: "m > 0: the hist_0..m-1 slots of `history: m` appended (one bag over 1,683 item codes; in id_item's table with --id-item)" },
  cross: { type: 'number', default: 3, description: 'DCN cross layers' },
  ensemble: { type: 'number', default: 1, description: 'n > 1: also time an ensemble of n such DCNs (their mean log-odds: the `ensemble` parameter of the dcn kind)' },
  hidden: { type: 'list', of: 'number', default: [256, 128], description: "DCN MLP widths" },
  'embed-dim': { type: 'number', default: 8, description: 'DCN embedding width' },
  repeats: { type: 'number', default: 300, description: 'timed passes (median and p90 reported)' },
  pipeline: { type: 'string', default: 'two-stage-blend', description: "the pipeline whose ranker rows and ranker parameters the training runs use (its gbdt and dcn params)" },
  param: { type: 'list', of: 'string', description: "the pipeline's parameters as KEY=VALUE, comma-separated (ids=false,dcnLearningRate=0.001)" },
  'no-scoring': { type: 'boolean', description: 'skip the scoring figures' },
  valid: { type: 'boolean', description: "with --quality: score on the train side's validation split (user-temporal:0.2, as tandem tunes: train-inner -> valid on ML-100K), never the test side" },
  'early-vectors': { type: 'boolean', description: "with --quality: the served vec_* columns read the two-tower the ranker rows were built with (fitted on the earlier part), not the one refitted on all of train" },
  quality: { type: 'boolean', description: "with data and a test side: the ranker rows and L1 stages built once, then the GBDT, the DCN and their blend each scored through the engine on the test side (ndcg@10): what `tandem evaluate --pipelines two-stage,two-stage-dcn,two-stage-blend` measures, at a third of its L1 fits" },
  variants: { type: 'string', description: "with --quality: more DCN settings trained on the same rows, each scored alone and blended with the same GBDT; '|' between variants, ';' between a variant's KEY=VALUE pipeline parameters (vectors=0;dcnL2=1e-5|vectors=8). A variant may use fewer vector columns than the rows hold (vectors), not other feature settings" },
  weights: { type: 'list', of: 'number', description: "with --quality: also score each blend at these fixed GBDT weights (0.6,0.7,0.8)" },
  oracle: { type: 'boolean', default: false, description: "with --quality --synthetic: also rank by the generator's own choice model (the truth: the best an L2 could do on these candidates; needs --param ids=both)" },
  'dcn-top': { type: 'list', of: 'number', description: "with --quality: also score the blend (at its weight) as a cascade, the DCN scoring only the GBDT's top n of each request, for each n (50,100,200)" },
  'dcn-seeds': { type: 'number', default: 1, description: "with --quality: n > 1 also trains the DCN at seeds seed+1..seed+n-1 on the same rows and scores their mean log-odds alone and blended with the same GBDT (an ensemble of DCNs)" },
  residual: { type: 'boolean', description: "with --quality: also train the DCN on top of the same GBDT's log-odds (the blend's combine 'residual': z = z_gbdt + z_dcn) and score that" },
  threads: { type: 'number', default: 2, description: "threads of the GBDT (the DCN trains on one); evaluate's default" },
  json: { type: 'string', description: 'write the figures to this JSON file' },
  child: { type: 'string', description: '(internal) train this kind on the rows in --rows and print one JSON line' },
  rows: { type: 'string', description: '(internal) directory of dumped ranker rows' },
} satisfies OptionDefs;

type Opts = ReturnType<typeof parseArgs<typeof options>>['options'];

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}


/**
 * Synthetic ranker rows shaped like ML-100K's (x0 of 75 at the defaults: a third of the numeric columns
 * can be missing, a third are counts the encoder log-compresses), the last `cat` columns codes 0..19.
 */
function syntheticRows(n: number, F: number, cat: number, seed: number): { x: Float32Array; labels: Float32Array; card: Int32Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(n * F);
  const labels = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let z = -2;
    for (let f = 0; f < F; f++) {
      const v = f >= F - cat ? rng.int(20) : f % 3 === 1 && rng.next() < 0.1 ? NaN : rng.normal() * (f % 3 === 0 ? 100 : 1) + (f % 3 === 0 ? 300 : 0);
      x[r * F + f] = v;
      if (f < 4 && v === v) z += 0.5 * Math.sign(v);
    }
    labels[r] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  const card = Int32Array.from({ length: F }, (_, f) => (f >= F - cat ? 20 : 0));
  return { x, labels, card };
}

/**
 * The rows with `vec` dense columns (standard normal, never missing: the vec_* axis products after the
 * encoder's standardising) and, when `idVocab` > 0, an id code column 0..idVocab-1 appended.
 */
function widenRows(r: { x: Float32Array; labels: Float32Array; card: Int32Array }, n: number, F: number, vec: number, idVocab: number, seed: number): { x: Float32Array; labels: Float32Array; card: Int32Array; F: number } {
  const W = F + vec + (idVocab > 0 ? 1 : 0);
  if (W === F) return { ...r, F };
  const rng = new Rng(seed);
  const x = new Float32Array(n * W);
  for (let i = 0; i < n; i++) {
    x.set(r.x.subarray(i * F, (i + 1) * F), i * W);
    for (let j = 0; j < vec; j++) x[i * W + F + j] = rng.normal();
    if (idVocab > 0) x[i * W + W - 1] = rng.int(idVocab);
  }
  const card = new Int32Array(W);
  card.set(r.card);
  if (idVocab > 0) card[W - 1] = idVocab;
  return { x, labels: r.labels, card, F: W };
}

/** Times `fn` `repeats` times after a warm-up: wall and CPU (this process, user + system) milliseconds per pass. */
function time(repeats: number, fn: () => void): { wall: number[]; cpu: number[] } {
  for (let i = 0; i < Math.min(50, repeats); i++) fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall, cpu };
}

/**
 * The rows with bag slots appended: per vocabulary of `bags`, the item's k slots and the user's k (one
 * table), then m history slots (in column `idCol`'s table when >= 0); 1 to k codes per bag, the rest NaN;
 * the user's slots drawn once per `perRequest` rows (a request's candidates share them).
 */
function bagRows(r: { x: Float32Array; labels: Float32Array; card: Int32Array; F: number }, n: number, perRequest: number, bags: number[], k: number, m: number, idCol: number, seed: number): { x: Float32Array; labels: Float32Array; card: Int32Array; F: number; groups: EmbedGroups } {
  const F = r.F;
  const W = F + bags.length * 2 * k + m;
  const rng = new Rng(seed);
  const x = new Float32Array(n * W).fill(NaN);
  const card = new Int32Array(W);
  card.set(r.card);
  const pool = Int32Array.from({ length: W }, (_, f) => (card[f] > 0 ? f : -1));
  const table = pool.slice();
  let c = F;
  for (const V of bags) {
    for (let side = 0; side < 2; side++) {
      for (let j = 0; j < k; j++) {
        card[c + j] = V;
        pool[c + j] = c;
        table[c + j] = F + (c - F) - side * k;
      }
      c += k;
    }
  }
  for (let j = 0; j < m; j++) {
    card[c + j] = 1683;
    pool[c + j] = c;
    table[c + j] = idCol >= 0 ? idCol : c;
  }
  // the user's bags and history are the same on every row of a request (`perRequest` rows)
  const user = new Float32Array(W).fill(NaN);
  for (let i = 0; i < n; i++) {
    x.set(r.x.subarray(i * F, (i + 1) * F), i * W);
    const fresh = i % perRequest === 0;
    let q = F;
    for (const V of bags) {
      for (let side = 0; side < 2; side++) {
        if (side === 0 || fresh) {
          const have = 1 + rng.int(k);
          for (let j = 0; j < k; j++) user[q + j] = j < have ? rng.int(V) : NaN;
        }
        q += k;
      }
    }
    if (fresh) for (let j = 0; j < m; j++) user[q + j] = rng.int(1683);
    x.set(user.subarray(F), i * W + F);
  }
  return { x, labels: r.labels, card, F: W, groups: { pool, table } };
}

async function scoringBench(o: Opts): Promise<Record<string, unknown>[]> {
  const n = o.candidates;
  const base = syntheticRows(Math.max(n, 5000), o.features, o.categorical, 1);
  const wide = widenRows(base, Math.max(n, 5000), o.features, o.vectors, o['id-item'] ? 1683 : 0, 3);
  const bagged = o['bag-slots'] > 0 || o.history > 0 ? bagRows(wide, Math.max(n, 5000), n, o['bag-slots'] > 0 ? [19, 2000] : [], o['bag-slots'], o.history, o['id-item'] ? wide.F - 1 : -1, 4) : null;
  const { x, labels, card, F } = bagged ?? wide;
  const spec = fitEncoder(x, 5000, F, card, true, 5, undefined, bagged?.groups);
  const rng = new Rng(2);
  const be = getKernelBackend();
  const make = (kernels?: Parameters<typeof DcnModel.random>[5]) => DcnModel.random(spec, o['embed-dim'], o.cross, o.hidden, rng, kernels);
  const dcn = make();
  const dcnRef = make({ gemm: gemmRef, alloc: (k) => new Float32Array(k), fast: null });
  const out = new Float64Array(n);
  const rowsOut: Record<string, unknown>[] = [];
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  const report = (name: string, t: { wall: number[]; cpu: number[] }, extra: Record<string, unknown> = {}) => {
    const r = { model: name, candidates: n, medianMs: r3(median(t.wall)), p90Ms: r3(quantile(t.wall, 0.9)), medianCpuMs: r3(median(t.cpu)), ...extra };
    rowsOut.push(r);
    console.log(`${name.padEnd(44)} median ${r.medianMs.toFixed(3)} ms wall (p90 ${r.p90Ms.toFixed(3)}), median ${r.medianCpuMs.toFixed(3)} ms CPU`);
  };
  console.log(`scoring ${n} candidates x ${F} features (${spec.inputs?.length ?? spec.categorical.length} embedded inputs${o.vectors ? `, ${o.vectors} vector columns` : ''}), kernels: ${be.name}; ${o.repeats} passes (CPU time: what a pass costs while it has a core; the machine may be shared)`);
  const inputs = dcn.shape.numeric + dcn.shape.missing + (dcn.shape.inputs?.length ?? dcn.shape.vocab.length) * o['embed-dim'];
  report(`dcn (${o.cross} cross, MLP ${o.hidden.join('-')}, x0 ${inputs} wide, ${be.name}, ${dcn.scoringPath} pass)`, time(o.repeats, () => dcn.predict(x, n, out)), { parameters: dcn.params.length, inputs });
  if (o.ensemble > 1) {
    const ens = new DcnEnsemble([dcn, ...Array.from({ length: o.ensemble - 1 }, () => make())]);
    report(`dcn ensemble of ${o.ensemble} (mean log-odds)`, time(o.repeats, () => ens.predict(x, n, out)));
  }
  const before = new Float64Array(n);
  dcn.plainMargins(x, n, before);
  report(`dcn, unfused pass (encoder in JS, gemm, separate bias/ReLU/cross passes)`, time(o.repeats, () => dcn.plainMargins(x, n, before)));
  report(`dcn, reference kernels (plain TypeScript)`, time(Math.max(5, Math.floor(o.repeats / 10)), () => dcnRef.predict(x, n, out)));
  const gbdt = (await trainGbdt({ features: x.slice(0, 5000 * F), nRows: 5000, nFeatures: F, labels: labels.slice(0, 5000) }, { objective: 'binary', numRounds: 300, numLeaves: 63, minDataInLeaf: 5, learningRate: 0.1, earlyStoppingRounds: 0 })).model;
  report('gbdt (300 trees x 63 leaves)', time(o.repeats, () => gbdt.predict(x, n, out)));
  // the blend of these two as a request scores it: the DCN on every candidate, then the cascade's top 100 and 50
  const g = new GbdtRankerModel(gbdt);
  for (const top of [null, 100, 50]) {
    const b = new BlendModel(g, dcn, 0.6, {}, null, false, top);
    report(`blend at 0.6, ${top === null ? 'the DCN on every candidate' : `cascade: the DCN on the top ${top}`}`, time(o.repeats, () => b.predictRequest(x, n, out)));
  }
  const row = new Float64Array(F + 1);
  report('dcn contributions of 10 candidates, row by row', time(Math.max(5, Math.floor(o.repeats / 5)), () => {
    for (let i = 0; i < 10; i++) dcn.contributions(x, i, row);
  }));
  const ten = Int32Array.from({ length: 10 }, (_, i) => i);
  const rows10 = new Float64Array(10 * (F + 1));
  report('dcn contributions of 10 candidates, one pass (a response)', time(Math.max(5, Math.floor(o.repeats / 5)), () => dcn.contributionsOf(x, ten, 10, rows10)));
  return rowsOut;
}

/** Writes a training set's arrays and shape to dir/name.*. */
function dumpSet(dir: string, name: string, s: RankerTrainingSet): void {
  const bin = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  writeFileSync(join(dir, `${name}.features`), bin(s.features));
  writeFileSync(join(dir, `${name}.labels`), bin(s.labels));
  writeFileSync(join(dir, `${name}.groups`), bin(s.groups));
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ nRows: s.nRows, nFeatures: s.nFeatures, featureNames: s.featureNames, cardinalities: s.cardinalities ? Array.from(s.cardinalities) : null, embedOnly: s.embedOnly ? Array.from(s.embedOnly) : null, embedGroups: s.embedGroups ? { pool: Array.from(s.embedGroups.pool), table: Array.from(s.embedGroups.table) } : null }));
}

function readSet(dir: string, name: string): RankerTrainingSet {
  const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { nRows: number; nFeatures: number; featureNames: string[]; cardinalities: number[] | null; embedOnly?: number[] | null; embedGroups?: { pool: number[]; table: number[] } | null };
  const f32 = (p: string) => {
    const b = readFileSync(join(dir, p));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  const b = readFileSync(join(dir, `${name}.groups`));
  const groups = new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return {
    features: f32(`${name}.features`),
    labels: f32(`${name}.labels`),
    groups,
    nRows: meta.nRows,
    nFeatures: meta.nFeatures,
    featureNames: meta.featureNames,
    groupUsers: new Int32Array(groups.length - 1),
    items: new Int32Array(meta.nRows),
    ...(meta.cardinalities ? { cardinalities: Int32Array.from(meta.cardinalities) } : {}),
    ...(meta.embedOnly ? { embedOnly: Uint8Array.from(meta.embedOnly) } : {}),
    ...(meta.embedGroups ? { embedGroups: { pool: Int32Array.from(meta.embedGroups.pool), table: Int32Array.from(meta.embedGroups.table) } } : {}),
  };
}

/** The child side: one kind trained on the dumped rows; one JSON line on stdout. */
async function childTrain(o: Opts): Promise<void> {
  const train = readSet(o.rows!, 'train');
  const valid = readSet(o.rows!, 'valid');
  const params = JSON.parse(readFileSync(join(o.rows!, 'params.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  const kind = RANKER_KINDS.find((k) => k.kind === o.child);
  if (!kind) throw new UsageError(`--child: unknown kind '${o.child}'`);
  if (kind.kind === 'dcn') getKernelBackend();
  // the resident set now, with the rows loaded (the read buffers' transient peak is not training's)
  const rssLoaded = process.memoryUsage().rss / (1 << 20);
  const t0 = performance.now();
  const model = await kind.train({ train, valid }, params[kind.kind], { seed: o.seed, threads: 1, log: (l) => process.stderr.write(`  ${l}\n`) });
  const seconds = (performance.now() - t0) / 1000;
  const peak = process.resourceUsage().maxRSS / 1024;
  const z = new Float64Array(valid.nRows);
  model.margins!(valid.features, valid.nRows, z);
  const dir = mkdtempSync(join(tmpdir(), 'tandem-ranker-model-'));
  await model.save(dir);
  const du = spawnSync('du', ['-sk', dir], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  const s = model.summary();
  console.log(JSON.stringify({
    kind: kind.kind,
    rows: train.nRows,
    seconds: Math.round(seconds * 10) / 10,
    peakRssMB: Math.round(peak),
    trainingMB: Math.round(peak - rssLoaded),
    modelKB: Number(du.stdout.split('\t')[0]),
    validLogLoss: Math.round(logLoss(z, valid.labels) * 1e5) / 1e5,
    validAuc: Math.round(auc(z, valid.labels) * 1e4) / 1e4,
    validNdcg10: Math.round(ndcgAt(z, valid.labels, valid.groups, 10) * 1e4) / 1e4,
    chose: s.bestIteration ?? s.bestEpoch ?? null,
  }));
}

async function trainingBench(o: Opts): Promise<Record<string, unknown>[]> {
  const source = dataSourceFromFlags(o);
  // the rows come from the train side only (a given test file, or a split rule's test part, is not read by training)
  const { train } = await loadEvaluationData({ source, trainPath: o.train, testPath: o.test, split: o.split, log: (l) => console.log(l) });
  const registry = builtinRegistry();
  // checked: every ranker parameter explicit (defaults filled in), as the engine trains them
  const config = checkEngineConfig(pipelineConfig(o.pipeline, {}, train), registry);
  const rp = config.ranker!.params as Record<string, unknown>;
  const dir = mkdtempSync(join(tmpdir(), 'tandem-ranker-rows-'));
  try {
    console.log(`building the ${o.pipeline} ranker rows (leakage-free, seed ${o.seed})`);
    const rows = await rankerTrainingRows(train, config, registry, { seed: o.seed, threads: 1 });
    dumpSet(dir, 'train', rows.train);
    dumpSet(dir, 'valid', rows.valid);
    writeFileSync(join(dir, 'params.json'), JSON.stringify({ gbdt: rp.gbdt ?? rp, dcn: rp.dcn ?? {} }));
    console.log(`${rows.train.nRows} train rows, ${rows.valid.nRows} valid rows, ${rows.train.nFeatures} features; each model trained in its own process, one thread`);
    const out: Record<string, unknown>[] = [];
    for (const kind of ['gbdt', 'dcn']) {
      const bin = fileURLToPath(new URL('../bin/tandem.mjs', import.meta.url));
      const r = spawnSync(process.execPath, [bin, 'bench', 'ranker', '--child', kind, '--rows', dir, '--seed', String(o.seed)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`bench ranker: the ${kind} run failed (exit ${r.status})`);
      const line = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      out.push(line);
      console.log(`${kind.padEnd(5)} ${line.rows} rows: ${line.seconds} s, peak RSS ${line.peakRssMB} MB (+${line.trainingMB} MB over the loaded rows), model ${line.modelKB} KB; valid logloss ${line.validLogLoss}, AUC ${line.validAuc}, ndcg@10 ${line.validNdcg10} (chose ${line.chose})`);
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Quality side by side on one set of rows and stages: the blend pipeline's configuration (its gbdt and dcn
 * params), each model trained as the engine trains it (same seed), the blend's weight chosen on the
 * validation rows exactly as the blend kind chooses it (from the two models just trained: the blend kind
 * would train the same two again), every engine scored on the test side as `tandem evaluate` scores it.
 */
async function qualityBench(o: Opts): Promise<Record<string, unknown>[]> {
  if (o.test === undefined && o.split === undefined && !o.synthetic) throw new UsageError('--quality needs a test side (--train FILE --test FILE, or --split / --synthetic)');
  const t0 = performance.now();
  const data = await loadEvaluationData({ source: dataSourceFromFlags(o), trainPath: o.train, testPath: o.test, split: o.split, log: (l) => console.log(l) });
  // --valid: the train side's own validation split (train-inner -> valid), where settings are chosen
  const { train, test } = o.valid ? splitDataset(data.train, parseSplit(VALID_SPLIT)) : data;
  if (o.valid) console.log(`--valid: train side split by ${VALID_SPLIT}: ${train.interactions.length} train, ${test.interactions.length} valid interactions`);
  const registry = builtinRegistry();
  const base = checkEngineConfig(pipelineConfig(o.pipeline, keyValues(o.param ?? [], '--param'), train), registry);
  const bp = base.ranker!.params as { gbdt: Record<string, unknown>; dcn: Record<string, unknown>; weights: number[]; metric: 'ndcg' | 'logloss'; weight: number | null; dcnTop?: number | null };
  const run = { seed: o.seed, threads: o.threads, log: (l: string) => console.log(`  ${l}`) };
  const rows = await rankerTrainingRows(train, base, registry, run);
  const catalog = new ItemCatalog(train.items);
  const stages = await fitStages(train, base, registry, catalog, run);
  console.log(`rows and stages built once in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const configOf = (kind: string, params: Record<string, unknown>) => checkEngineConfig({ ...base, ranker: { ...base.ranker, kind, params } }, registry);
  const out: Record<string, unknown>[] = [];
  // --early-vectors: the ranker's vector space is the rows' L1 two-tower
  const early = (m: Model, c: EngineConfig): Model => {
    if (!o['early-vectors'] || !m.ranker || !c.ranker?.features.vectors) return m;
    const features = RankerFeatures.fit(train, c.sources.map((s) => s.name!), c.ranker.features, rankerSpace(c, rows.early.model.stages));
    return { ...m, ranker: new Ranker(features, m.ranker.model, c.ranker.explainTop) };
  };
  type Ranked = { model: RankerModel; summary: Record<string, unknown> };
  /** Scores `ranked` as the ranker of `config` through the engine on the test side; one row and one line. */
  const scoreIn = async (config: EngineConfig, name: string, kind: string, params: Record<string, unknown>, ranked: Ranked, seconds: number, variant?: { spec: string; params: Record<string, string>; note: string }) => {
    const c = checkEngineConfig({ ...config, ranker: { ...config.ranker, kind, params } }, registry);
    const engine = new Engine(early(await assembleModel(train, c, registry, catalog, stages, ranked), c), { maxK: 100 });
    const r = scoreEngine(engine, train, test, { ks: [10, 20, 50, 100], seed: o.seed });
    const row = { ranker: name, ...(variant ? { variant: variant.params } : {}), trainSeconds: Math.round(seconds * 10) / 10, users: r.users, ...Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, Math.round(v * 1e4) / 1e4])), summary: ranked.summary };
    out.push(row);
    console.log(`${name.padEnd(6)}${variant ? ` [${variant.spec}]` : ''} ndcg@10 ${(r.metrics['ndcg@10'] ?? NaN).toFixed(4)}  recall@10 ${(r.metrics['recall@10'] ?? NaN).toFixed(4)}  (${variant ? variant.note : `${r.users} users; model trained in ${row.trainSeconds} s`})`);
  };
  const score = (name: string, kind: string, params: Record<string, unknown>, ranked: Ranked, seconds: number) => scoreIn(base, name, kind, params, ranked, seconds);
  let t = performance.now();
  const g = await trainRankerModel(rows, configOf('gbdt', bp.gbdt), registry, run);
  const gs = (performance.now() - t) / 1000;
  await score('gbdt', 'gbdt', bp.gbdt, g, gs);
  if (o.oracle) {
    const source = dataSourceFromFlags(o);
    if (source.kind !== 'synthetic') throw new UsageError('--oracle: only on the synthetic data (--synthetic), whose choice model is known');
    const { truth } = generateSyntheticWithTruth(source.options);
    for (const parts of ORACLE_PARTS) {
      const oracle = oracleModel(truth, train, rows.train.featureNames, parts);
      await score(parts === 'full' ? 'oracle' : `oracle:${parts}`, 'gbdt', bp.gbdt, { model: oracle, summary: oracle.summary() }, 0);
    }
  }
  t = performance.now();
  const d = await trainRankerModel(rows, configOf('dcn', bp.dcn), registry, run);
  const ds = (performance.now() - t) / 1000;
  await score('dcn', 'dcn', bp.dcn, d, ds);
  let weight = bp.weight ?? 0.5;
  let figures: { weight: number; value: number }[] = [];
  if (bp.weight === null && rows.valid.nRows > 0) {
    const zg = new Float64Array(rows.valid.nRows);
    const zd = new Float64Array(rows.valid.nRows);
    g.model.margins!(rows.valid.features, rows.valid.nRows, zg);
    d.model.margins!(rows.valid.features, rows.valid.nRows, zd);
    ({ weight, figures } = chooseWeight(zg, zd, rows.valid, bp.weights, bp.metric));
  }
  console.log(`blend: gbdt weight ${weight} (valid ${bp.metric}: ${figures.map((f) => `${f.weight} ${f.value.toFixed(4)}`).join(', ')})`);
  const blend = new BlendModel(g.model, d.model, weight, { weightChoice: { metric: bp.metric, figures } }, null, false, bp.dcnTop ?? null);
  await score('blend', 'blend', bp, { model: blend, summary: blend.summary() }, gs + ds);
  for (const top of o['dcn-top'] ?? []) {
    const b = new BlendModel(g.model, d.model, weight, {}, null, false, top);
    await score(`blend@${weight}/top${top}`, 'blend', { ...bp, weight, dcnTop: top }, { model: b, summary: b.summary() }, gs + ds);
  }
  for (const w of o.weights ?? []) {
    const b = new BlendModel(g.model, d.model, w);
    await score(`blend@${w}`, 'blend', { ...bp, weight: w }, { model: b, summary: b.summary() }, gs + ds);
  }
  if (o['dcn-seeds'] > 1) {
    const nets: RankerModel[] = [d.model];
    t = performance.now();
    for (let k = 1; k < o['dcn-seeds']; k++) nets.push((await trainRankerModel(rows, configOf('dcn', bp.dcn), registry, { ...run, seed: o.seed + k })).model);
    const es = ds + (performance.now() - t) / 1000;
    // every ensemble size from 2 up: the first k nets
    for (let k = 2; k <= nets.length; k++) {
      const mean = meanModel(nets.slice(0, k));
      await score(`dcn×${k}`, 'dcn', bp.dcn, { model: mean, summary: {} }, es);
      for (const w of [...new Set([weight, ...(o.weights ?? [])])]) {
        const b = new BlendModel(g.model, mean, w);
        await score(`blend×${k}@${w}`, 'blend', { ...bp, weight: w }, { model: b, summary: b.summary() }, gs + es);
      }
    }
  }
  if (o.residual) {
    t = performance.now();
    const rp = check(BLEND_PARAMS, { ...bp, combine: 'residual' }, { path: 'ranker.params' });
    const valid = rows.valid.nRows > 0 ? rows.valid : null;
    const off = await residualOffsets({ train: rows.train, valid }, g.model, rp.gbdt, rp.residualCrossFit, run);
    const r = await trainDcn(off.rows, valid, rp.dcn, run, backendKernels(), { train: off.train, valid: off.valid });
    const b = new BlendModel(g.model, r.model, 1, {}, null, true);
    await score('residual', 'blend', { ...bp, combine: 'residual' }, { model: b, summary: b.summary() }, gs + (performance.now() - t) / 1000);
  }
  // more DCN settings on the same rows (fewer vector columns: the rows' last ones dropped), each with the same GBDT
  const given = keyValues(o.param ?? [], '--param');
  for (const v of (o.variants ?? '').split('|').filter((x) => x.trim())) {
    const extra = Object.fromEntries(v.split(';').map((kv) => kv.split('=').map((x) => x.trim()) as [string, string]));
    const c = checkEngineConfig(pipelineConfig(o.pipeline, { ...given, ...extra }, train), registry);
    const drop = (rows.train.embedOnly?.filter((e) => e === VECTOR_COLUMN).length ?? 0) - c.ranker!.features.vectorDims * (c.ranker!.features.vectors ? 1 : 0);
    const { vectors: _a, vectorDims: _b, ...rest } = c.ranker!.features;
    const { vectors: _c, vectorDims: _d, ...baseRest } = base.ranker!.features;
    if (JSON.stringify(rest) !== JSON.stringify(baseRest) || drop < 0) throw new UsageError(`--variants '${v}': only fewer vector columns than the rows' may differ from --param's features`);
    const cut = (s: RankerTrainingSet): RankerTrainingSet => (drop === 0 ? s : dropLastColumns(s, drop));
    const vrows = { train: cut(rows.train), valid: cut(rows.valid) };
    const vp = c.ranker!.params as typeof bp;
    t = performance.now();
    const dv = await trainRankerModel(vrows, checkEngineConfig({ ...c, ranker: { ...c.ranker, kind: 'dcn', params: vp.dcn } }, registry), registry, run);
    const dvs = (performance.now() - t) / 1000;
    const variant = { spec: v, params: extra, note: `DCN trained in ${dvs.toFixed(1)} s, ${JSON.stringify(dv.summary.bestEpoch ?? null)} epochs kept` };
    const scoreAs = (name: string, kind: string, params: Record<string, unknown>, ranked: Ranked) => scoreIn(c, name, kind, params, ranked, dvs, variant);
    await scoreAs('dcn', 'dcn', vp.dcn, dv);
    // the same trees, reading the narrower rows (the dropped columns are ones they leave out)
    const gm = g.model as GbdtRankerModel;
    const gv = drop === 0 ? gm : new GbdtRankerModel(gm.models, {}, { width: vrows.train.nFeatures, keep: gm.columns!.keep });
    for (const w of vp.weight === null ? [] : [...new Set([vp.weight, ...(o.weights ?? [])])]) {
      const b = new BlendModel(gv, dv.model, w);
      await scoreAs(`blend@${w}`, 'blend', { ...vp, weight: w }, { model: b, summary: b.summary() });
    }
  }
  return out;
}

/** The mean log-odds of several models (an ensemble; scored only, never saved). */
function meanModel(models: RankerModel[]): RankerModel {
  let tmp = new Float64Array(0);
  const margins = (x: Float32Array, n: number, out: Float64Array): void => {
    if (tmp.length < n) tmp = new Float64Array(n);
    out.fill(0, 0, n);
    for (const m of models) {
      m.margins!(x, n, tmp);
      for (let i = 0; i < n; i++) out[i] += tmp[i] / models.length;
    }
  };
  return {
    kind: 'dcn',
    nFeatures: models[0].nFeatures,
    margins,
    predict(x, n, out) {
      sigmoidOfMargins({ margins }, x, n, out);
    },
    save: async () => {
      throw new Error('an ensemble of the bench is not saved');
    },
    summary: () => ({ models: models.length }),
  };
}

/** A training set without its last `k` columns. */
function dropLastColumns(s: RankerTrainingSet, k: number): RankerTrainingSet {
  const W = s.nFeatures;
  const V = W - k;
  const features = new Float32Array(s.nRows * V);
  for (let r = 0; r < s.nRows; r++) features.set(s.features.subarray(r * W, r * W + V), r * V);
  const groups = s.embedGroups ? { embedGroups: { pool: s.embedGroups.pool.slice(0, V), table: s.embedGroups.table.slice(0, V) } } : {};
  return { ...s, features, nFeatures: V, featureNames: s.featureNames.slice(0, V), ...(s.cardinalities ? { cardinalities: s.cardinalities.slice(0, V) } : {}), ...(s.embedOnly ? { embedOnly: s.embedOnly.slice(0, V) } : {}), ...groups };
}

export const rankerBench: Command = {
  name: 'ranker',
  summary: 'L2 ranker models: 500-candidate scoring (DCN, its reference kernels, GBDT); with data, GBDT and DCN training on the same rows',
  usage: 'tandem bench ranker [--candidates 500] [--repeats 300] [--dataset NAME --data DIR --train FILE --test FILE [--quality] | --synthetic [--quality]] [--no-scoring] [--json FILE]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    if (o.child) {
      await childTrain(o);
      return 0;
    }
    const withData = o.dataset !== undefined || o.config !== undefined || o.synthetic;
    if (o.quality) {
      if (!withData) throw new UsageError('--quality needs data (--dataset/--data, --config or --synthetic)');
      const quality = await qualityBench(o);
      if (o.json) writeFileSync(o.json, JSON.stringify({ quality }, null, 2) + '\n');
      return 0;
    }
    const scoring = o['no-scoring'] ? null : await scoringBench(o);
    const training = withData ? await trainingBench(o) : null;
    if (o.json) writeFileSync(o.json, JSON.stringify({ scoring, training }, null, 2) + '\n');
    return 0;
  },
};
