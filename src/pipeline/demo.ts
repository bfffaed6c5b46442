/**
 * The demo `npm start` runs: a synthetic shop, split in time, every demo pipeline fitted and scored
 * through the engine, a few users' histories beside what the best pipeline recommends them; then the
 * two-stage engine, with exactly the configuration the table measured, trained on all of the shop into
 * a model directory, and the same users' recommendations from it, explained. Serving that directory is
 * the CLI's part (the serve layer sits above this one).
 */
import { generateSynthetic, parseSplit, splitDataset, type Dataset } from '../data/index.ts';
import { formatResultsTable, relevantTestItems } from '../evaluation/index.ts';
import type { Progress } from '../math/index.ts';
import { builtinRegistry, Engine, readModelDir, trainModel, type StageRegistry } from './engine/index.ts';
import { DEFAULT_SPLIT, type SyntheticOptions } from './data-source.ts';
import { runEvaluation, type EvaluationReport } from './evaluate.ts';
import { listPipelines, pipelineConfig } from './pipelines.ts';

/** Pipelines the demo runs, in order, when registered (names not registered in this build are skipped). */
export const DEMO_PIPELINES: string[] = ['popularity', 'itemknn', 'two-tower', 'two-stage'];

/**
 * The demo's pipeline parameters: the defaults, cut to what a busy 2-core machine does in about a
 * minute: fewer two-tower epochs, fewer candidates, negatives and GBDT rounds. The model directory is
 * the `two-stage` pipeline with these parameters: what the table measured is what `npm start` serves.
 */
export const DEMO_PARAMS: Record<string, Record<string, unknown>> = {
  'two-tower': { epochs: 4, patience: 1 },
  'two-stage': { twoTowerEpochs: 4, candidates: 100, negatives: 10, numRounds: 100 },
};

/** The demo's synthetic shop: sized so the table appears within about two minutes on a busy 2-core machine. */
export const DEMO_DATA: Partial<SyntheticOptions> = { users: 2000, items: 1000, interactions: 60_000 };

/** The pipeline the model directory is trained with. */
const MODEL_PIPELINE = 'two-stage';

export interface DemoOptions {
  data?: Partial<SyntheticOptions>;
  pipelines?: readonly string[];
  /** Per-pipeline parameters, by name (default DEMO_PARAMS). */
  params?: Record<string, Record<string, unknown>>;
  /** Users whose history and recommendations are shown. */
  showUsers?: number;
  seed?: number;
  threads?: number;
  /**
   * The model directory to train on the whole shop (must not exist); null or absent: no model
   * directory, the demo stops after the table.
   */
  modelDir?: string | null;
  /** Stage kinds for training and reading back the model directory (default builtinRegistry()). */
  registry?: StageRegistry;
  /** Progress lines. */
  log?: (msg: string) => void;
  /** Where the fits and scoring report their steps (the CLI's renderer); default none. */
  progress?: Progress;
  /** The results: the table and the example users. */
  print?: (text: string) => void;
}

/** The model directory the demo wrote, and what is in it. */
export interface DemoModel {
  dir: string;
  modelVersion: string;
  stages: string[];
  ranker: string | null;
  seconds: number;
  /** External ids of the users shown (for curl examples), and an item of the catalog. */
  exampleUsers: string[];
  exampleItem: string;
}

export interface DemoResult {
  report: EvaluationReport;
  model: DemoModel | null;
}

/**
 * Runs the demo: the evaluation table and example users, then (with `modelDir`) the model directory
 * and the engine's explained recommendations for the same users.
 * @example const { model } = await runDemo({ modelDir: 'models/demo-1', log: console.error, print: console.log })
 */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const log = opts.log ?? (() => {});
  const print = opts.print ?? (() => {});
  const seed = opts.seed ?? 42;
  const threads = opts.threads ?? 1;
  const registry = opts.registry ?? builtinRegistry();
  const registered = new Set(listPipelines().map((p) => p.name));
  const names = (opts.pipelines ?? DEMO_PIPELINES).filter((n) => registered.has(n));
  if (names.length === 0) throw new Error(`none of the demo pipelines is registered (${(opts.pipelines ?? DEMO_PIPELINES).join(', ')})`);
  const withModel = opts.modelDir !== undefined && opts.modelDir !== null;
  const steps = withModel ? 5 : 3;
  const data = { ...DEMO_DATA, seed, ...(opts.data ?? {}) };
  const params = opts.params ?? DEMO_PARAMS;
  const t0 = performance.now();

  log(`[1/${steps}] generating a synthetic shop: ${data.users} users, ${data.items} items, ${data.interactions} events (views, clicks, purchases, dislikes)`);
  const full = generateSynthetic(data);
  const { train, test } = splitDataset(full, parseSplit(DEFAULT_SPLIT));
  log(`      ${full.numUsers} users, ${full.numItems} items; train ${train.interactions.length}, test ${test.interactions.length} events (${since(t0)})`);

  log(`[2/${steps}] fitting and scoring ${names.join(', ')} through the engine (the last 20% of each user's events are the test)`);
  const fitted = new Map<string, Engine>();
  const report = await runEvaluation({
    train,
    test,
    pipelines: names,
    params,
    seed,
    threads,
    registry,
    log: (m) => log(`      ${m}`),
    progress: opts.progress,
    onFitted: (name, engine) => fitted.set(name, engine),
  });

  log(`[3/${steps}] results (${since(t0)} since the start)`);
  print('');
  print(formatResultsTable(report.results));
  print(`(${report.dataset.evalUsers} test users, each ranking all ${report.dataset.items} items minus those they already had)`);
  const best = report.results.reduce((a, b) => ((b.metrics['ndcg@10'] ?? 0) > (a.metrics['ndcg@10'] ?? 0) ? b : a));
  const engine = fitted.get(best.pipeline)!;
  const users = exampleUsers(train, test, opts.showUsers ?? 3, seed);
  if (users.length) {
    print('');
    print(`What ${best.pipeline} (best ndcg@10) recommends; * = the user did interact with it later (in the test period):`);
    for (const u of users) print(describeUser(train, test, u, engine));
  }
  if (!withModel) return { report, model: null };

  const model = await trainDemoModel(opts.modelDir!, full, train, params, registry, report, users, threads, seed, steps, log, print, opts.progress);
  return { report, model };
}

/** Steps 4 and 5: the two-stage engine on all events, read back, and the example users' explained recommendations. */
async function trainDemoModel(
  dir: string,
  full: Dataset,
  train: Dataset,
  params: Record<string, Record<string, unknown>>,
  registry: StageRegistry,
  report: EvaluationReport,
  users: number[],
  threads: number,
  seed: number,
  steps: number,
  log: (m: string) => void,
  print: (t: string) => void,
  progress: Progress | undefined,
): Promise<DemoModel> {
  const config = pipelineConfig(MODEL_PIPELINE, params[MODEL_PIPELINE] ?? {}, full);
  log(`[4/${steps}] training the ${MODEL_PIPELINE} engine (the configuration the table measured) on all ${full.interactions.length} events; writing ${dir}`);
  const t0 = performance.now();
  // without a progress reporter, a heartbeat while the long fits run
  const heartbeat = progress ? null : setInterval(() => log(`      still training (${since(t0)})`), 15_000);
  heartbeat?.unref();
  const measured = report.results.find((r) => r.pipeline === MODEL_PIPELINE);
  let res;
  try {
    res = await trainModel(dir, {
      metrics: measured ? { ...measured.metrics } : undefined,
      dataset: full,
      config,
      registry,
      // the table's figures travel with the model (the engine itself is not held out again: holdout 0 halves
      // the time); when the table left the served pipeline out, the engine's own held-out run measures it,
      // so the dashboard always has the served model's figures
      holdout: measured ? 0 : 0.2,
      seed,
      threads,
      parameters: {
        demo: { data: { ...DEMO_DATA }, seed, evaluation: report.results.map((r) => ({ pipeline: r.pipeline, ...r.metrics })) },
        metricsFrom: measured ? `the demo's evaluation of '${MODEL_PIPELINE}' (train ${train.interactions.length} events, the latest 20% of each user held out)` : `the engine's own held-out evaluation ('${MODEL_PIPELINE}' was not among the table's pipelines): the latest 20% of each user's events`,
      },
      log: (m) => log(`      ${m}`),
      progress: progress?.scope(MODEL_PIPELINE),
    });
  } finally {
    if (heartbeat) clearInterval(heartbeat);
  }

  log(`[5/${steps}] the engine's recommendations, read back from ${dir}`);
  const engine = new Engine(await readModelDir(dir, registry));
  const ids = users.map((u) => full.users.ids.values[u]);
  let exampleItem = full.items.ids.values[0];
  const stageNames = [...engine.sourceNames];
  const rankerKind = engine.config.ranker?.kind ?? null;
  print('');
  print(`What the engine (${stageNames.join(' + ')}${rankerKind ? ` -> ${rankerKind}` : ''}, trained on all events) recommends the same users, and why:`);
  for (const id of ids) {
    const r = engine.recommend({ user: id, k: 5 });
    if (id === ids[0] && r.items.length) exampleItem = r.items[0].id;
    print('');
    print(`user ${id} (${r.strategy}):`);
    for (const it of r.items) {
      const idx = full.items.ids.get(it.id);
      print(`    ${idx >= 0 ? itemLabel(full, idx) : it.id}`);
      print(`           score ${it.score}: ${it.explanation.text}`);
    }
  }
  return { dir, modelVersion: res.manifest.modelVersion, stages: stageNames, ranker: rankerKind, seconds: res.seconds, exampleUsers: ids, exampleItem };
}

function since(t0: number): string {
  return `${((performance.now() - t0) / 1000).toFixed(1)} s`;
}

/** `n` users with some history and some relevant test items, spread over the user range. */
function exampleUsers(train: Dataset, test: Dataset, n: number, seed: number): number[] {
  const rel = relevantTestItems(train, test);
  const { offsets } = train.byUser();
  const ok: number[] = [];
  for (let u = 0; u < train.numUsers; u++) if (rel.offsets[u + 1] - rel.offsets[u] >= 2 && offsets[u + 1] - offsets[u] >= 5) ok.push(u);
  const out: number[] = [];
  for (let k = 0; k < n && ok.length > 0; k++) out.push(ok[(seed * 7919 + Math.floor(((k + 0.5) * ok.length) / n)) % ok.length]);
  return [...new Set(out)];
}

function describeUser(train: Dataset, test: Dataset, u: number, engine: Engine): string {
  const q = train.query(u);
  const lines: string[] = [];
  lines.push('');
  lines.push(`user ${train.users.ids.values[u]} (${entityLabel(train, 'users', u)}): ${q.history.length} events; the latest:`);
  for (let k = Math.max(0, q.history.length - 5); k < q.history.length; k++) {
    const r = train.byUser().rows[train.byUser().offsets[u] + k];
    const ev = train.eventTypes[train.interactions.event[r]].name;
    lines.push(`    ${ev.padEnd(9)} ${itemLabel(train, q.history[k])}`);
  }
  const later = new Set<number>();
  const te = test.byUser();
  for (let k = te.offsets[u]; k < te.offsets[u + 1]; k++) later.add(test.interactions.item[te.rows[k]]);
  lines.push('  recommended:');
  for (const r of engine.recommend({ user: train.users.ids.values[u], k: 5, explain: false }).items) {
    const it = train.items.ids.get(r.id);
    lines.push(`  ${later.has(it) ? '*' : ' '} ${itemLabel(train, it)}`);
  }
  return lines.join('\n');
}

/** "i123  books | t4,t9 | 'silver river' | price 12.5": the id, then each feature briefly. */
export function itemLabel(ds: Dataset, item: number): string {
  return `${ds.items.ids.values[item].padEnd(6)} ${entityLabel(ds, 'items', item)}`;
}

function entityLabel(ds: Dataset, side: 'users' | 'items', row: number): string {
  const parts: string[] = [];
  for (const c of ds[side].columns) {
    switch (c.kind) {
      case 'categorical':
      case 'id':
        if (c.codes[row] >= 0) parts.push(c.vocab.values[c.codes[row]]);
        break;
      case 'multi-categorical':
      case 'text': {
        const vals = Array.from(c.codes.subarray(c.offsets[row], c.offsets[row + 1]), (k) => c.vocab.values[k] ?? '?');
        if (vals.length) parts.push(c.kind === 'text' ? `'${vals.join(' ')}'` : vals.slice(0, 3).join(','));
        break;
      }
      case 'numeric':
        if (!Number.isNaN(c.values[row])) parts.push(`${c.name} ${Math.round(c.values[row] * 100) / 100}`);
        break;
      case 'vector':
        break;
    }
  }
  return parts.join(' | ');
}
