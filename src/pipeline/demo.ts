/**
 * The demo `npm start` runs: a synthetic shop, split in time, every demo pipeline fitted and scored,
 * a few users' histories beside what the best pipeline recommends them; then the engine trained on
 * all of the shop into a model directory, and the same users' recommendations from it, explained.
 * Serving that directory is the CLI's part (the serve layer sits above this one).
 */
import { generateSynthetic, parseSplit, splitDataset, type Dataset } from '../data/index.ts';
import { formatResultsTable, relevantTestItems, historyQuery } from '../evaluation/index.ts';
import { builtinRegistry, readModelDir, Recommender, type RankerKind, type SourceKind, type StageConfig, type StageRegistry } from './engine/index.ts';
import { trainModel } from './engine/index.ts';
import { DEFAULT_SPLIT, type SyntheticOptions } from './data-source.ts';
import { runEvaluation, type EvaluationReport } from './evaluate.ts';
import { listPipelines, type Pipeline } from './registry.ts';

/**
 * Pipelines the demo runs, in order, when registered (names not registered in this build are skipped).
 */
export const DEMO_PIPELINES: string[] = ['popularity', 'itemknn', 'two-tower', 'two-stage'];

/**
 * The demo's pipeline parameters: the tuned presets, cut to what a busy 2-core machine does in about
 * a minute. The two-tower gets fewer epochs; two-stage takes item-kNN as its extra L1 source instead of
 * a second two-tower (which would train two more times), fewer candidates, negatives and GBDT rounds
 * (on the demo shop: ndcg@10 0.180 against 0.178 with 20 negatives and 150 rounds, in half the time).
 */
export const DEMO_PARAMS: Record<string, Record<string, unknown>> = {
  'two-tower': { epochs: 4, patience: 1 },
  'two-stage': { sources: 'itemknn', candidates: 100, negatives: 10, numRounds: 100 },
};

/** The demo's synthetic shop: sized so the table appears within about two minutes on a busy 2-core machine. */
export const DEMO_DATA: Partial<SyntheticOptions> = { users: 2000, items: 1000, interactions: 60_000 };

/** The model directory's L1 stages (kinds this build does not register are skipped). */
export const DEMO_STAGES: StageConfig[] = [{ kind: 'two-tower', params: { epochs: 4 } }, { kind: 'ease' }, { kind: 'itemknn' }, { kind: 'popularity' }];

/** The model directory's L2 ranker, used when the registry has a `gbdt` ranker kind. */
export const DEMO_RANKER = { kind: 'gbdt', params: { candidates: 100, negativesPerPositive: 10, gbdt: { numRounds: 100 } } };

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
  /** The model directory's stages (default DEMO_STAGES, those the registry knows). */
  stages?: StageConfig[];
  /** Stage kinds for training and reading back the model directory (default builtinRegistry()). */
  registry?: StageRegistry;
  /** Progress lines. */
  log?: (msg: string) => void;
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
  const registered = new Set(listPipelines().map((p) => p.name));
  const names = (opts.pipelines ?? DEMO_PIPELINES).filter((n) => registered.has(n));
  if (names.length === 0) throw new Error(`none of the demo pipelines is registered (${(opts.pipelines ?? DEMO_PIPELINES).join(', ')})`);
  const withModel = opts.modelDir !== undefined && opts.modelDir !== null;
  const steps = withModel ? 5 : 3;
  const data = { ...DEMO_DATA, seed, ...(opts.data ?? {}) };
  const t0 = performance.now();

  log(`[1/${steps}] generating a synthetic shop: ${data.users} users, ${data.items} items, ${data.interactions} events (views, clicks, purchases, dislikes)`);
  const full = generateSynthetic(data);
  const { train, test } = splitDataset(full, parseSplit(DEFAULT_SPLIT));
  log(`      ${full.numUsers} users, ${full.numItems} items; train ${train.interactions.length}, test ${test.interactions.length} events (${since(t0)})`);

  log(`[2/${steps}] fitting and scoring ${names.join(', ')} (the last 20% of each user's events are the test)`);
  const fitted = new Map<string, Pipeline>();
  const report = await runEvaluation({
    train,
    test,
    pipelines: names,
    params: opts.params ?? DEMO_PARAMS,
    seed,
    threads,
    log: (m) => log(`      ${m}`),
    onFitted: (name, p) => fitted.set(name, p),
  });

  log(`[3/${steps}] results (${since(t0)} since the start)`);
  print('');
  print(formatResultsTable(report.results));
  print(`(${report.dataset.evalUsers} test users, each ranking all ${report.dataset.items} items minus those they already had)`);
  const best = report.results.reduce((a, b) => ((b.metrics['ndcg@10'] ?? 0) > (a.metrics['ndcg@10'] ?? 0) ? b : a));
  const pipeline = fitted.get(best.pipeline)!;
  const users = exampleUsers(train, test, opts.showUsers ?? 3, seed);
  if (users.length) {
    print('');
    print(`What ${best.pipeline} (best ndcg@10) recommends; * = the user did interact with it later (in the test period):`);
    for (const u of users) print(describeUser(train, test, u, pipeline));
  }
  if (!withModel) return { report, model: null };

  const model = await trainDemoModel(opts.modelDir!, full, opts, report, users, threads, seed, steps, log, print);
  return { report, model };
}

/** Steps 4 and 5: the model directory on all events, read back, and the example users' explained recommendations. */
async function trainDemoModel(
  dir: string,
  full: Dataset,
  opts: DemoOptions,
  report: EvaluationReport,
  users: number[],
  threads: number,
  seed: number,
  steps: number,
  log: (m: string) => void,
  print: (t: string) => void,
): Promise<DemoModel> {
  const registry = opts.registry ?? builtinRegistry();
  // two-tower params take the run settings; other kinds' params stay as given
  const stages = (opts.stages ?? DEMO_STAGES)
    .filter((s) => registry.sources.has(s.kind))
    .map((s) => (s.kind === 'two-tower' ? { ...s, params: { threads, seed, ...(s.params ?? {}) } } : s));
  if (stages.length === 0) throw new Error(`none of the demo's model stages is registered (${(opts.stages ?? DEMO_STAGES).map((s) => s.kind).join(', ')})`);
  const ranker = registry.rankers.has(DEMO_RANKER.kind) ? { kind: DEMO_RANKER.kind, params: { ...DEMO_RANKER.params, seed, threads } } : null;
  const stageNames = stages.map((s) => s.name ?? s.kind);
  log(`[4/${steps}] training the engine on all ${full.interactions.length} events: L1 ${stageNames.join(' + ')}${ranker ? `, L2 ${ranker.kind} ranker` : ' (no L2 ranker registered in this build)'}; writing ${dir}`);
  const t0 = performance.now();
  // the sources fit silently: a line as each finishes, and a heartbeat while the long ones run
  const heartbeat = setInterval(() => log(`      still training (${since(t0)})`), 15_000);
  heartbeat.unref();
  let res;
  try {
    res = await trainModel(dir, {
      dataset: full,
      registry: loggingRegistry(registry, (m) => log(`      ${m}`)),
      stages,
      ranker,
      holdout: 0,
      // the table's figures travel with the model (the engine itself is not held out: holdout 0 halves the time)
      parameters: { demo: { data: { ...DEMO_DATA, ...(opts.data ?? {}) }, seed, evaluation: report.results.map((r) => ({ pipeline: r.pipeline, ...r.metrics })) } },
      log: (m) => log(`      ${m}`),
    });
  } finally {
    clearInterval(heartbeat);
  }

  log(`[5/${steps}] the engine's recommendations, read back from ${dir}`);
  const rec = new Recommender(await readModelDir(dir, registry));
  const ids = users.map((u) => full.users.ids.values[u]);
  let exampleItem = full.items.ids.values[0];
  print('');
  print(`What the engine (${stageNames.join(' + ')}${ranker ? ` -> ${ranker.kind}` : ''}, trained on all events) recommends the same users, and why:`);
  for (const id of ids) {
    const r = rec.recommendForUser(id, { k: 5 });
    if (id === ids[0] && r.items.length) exampleItem = r.items[0].id;
    print('');
    print(`user ${id} (${r.strategy}):`);
    for (const it of r.items) {
      const idx = full.items.ids.get(it.id);
      print(`    ${idx >= 0 ? itemLabel(full, idx) : it.id}`);
      print(`           score ${it.score}: ${it.explanation}`);
    }
  }
  return {
    dir,
    modelVersion: res.manifest.modelVersion,
    stages: stageNames,
    ranker: ranker?.kind ?? null,
    seconds: res.seconds,
    exampleUsers: ids,
    exampleItem,
  };
}

/** The registry with every source and ranker kind wrapped so each fit logs its duration. */
function loggingRegistry(registry: StageRegistry, log: (m: string) => void): StageRegistry {
  const sources = new Map<string, SourceKind>();
  for (const [name, kind] of registry.sources) {
    sources.set(name, {
      ...kind,
      create: (params) => {
        const src = kind.create(params);
        const fit = src.fit.bind(src);
        src.fit = async (ds: Dataset) => {
          const t0 = performance.now();
          await fit(ds);
          log(`${name}: fitted on ${ds.interactions.length} events in ${since(t0)}`);
        };
        return src;
      },
    });
  }
  const rankers = new Map<string, RankerKind>();
  for (const [name, kind] of registry.rankers) {
    rankers.set(name, {
      ...kind,
      fit: async (train, makeSources, params) => {
        const t0 = performance.now();
        log(`${name} ranker: L1 refitted on each user's earlier events, its candidates labelled by the later ones`);
        const ranker = await kind.fit(train, makeSources, params);
        log(`${name} ranker: trained in ${since(t0)}`);
        return ranker;
      },
    });
  }
  return { sources, rankers };
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

function describeUser(train: Dataset, test: Dataset, u: number, p: Pipeline): string {
  const q = historyQuery(train, u);
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
  const recs = p.recommend(q, 5, new Set(q.history));
  for (const it of recs) lines.push(`  ${later.has(it) ? '*' : ' '} ${itemLabel(train, it)}`);
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
