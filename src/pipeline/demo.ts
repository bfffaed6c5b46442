/**
 * The demo `npm start` runs: a synthetic shop, split in time, every demo pipeline fitted and scored,
 * then a few users' histories beside what the best pipeline recommends them.
 */
import type { Dataset } from '../data/index.ts';
import { formatResultsTable, relevantTestItems, historyQuery } from '../evaluation/index.ts';
import { DEFAULT_SPLIT, loadEvaluationData, type SyntheticOptions } from './data-source.ts';
import { runEvaluation, type EvaluationReport } from './evaluate.ts';
import { listPipelines, type Pipeline } from './registry.ts';

/**
 * Pipelines the demo runs, in order, when registered. Later layers append theirs here (names not
 * registered in this build are skipped).
 */
export const DEMO_PIPELINES: string[] = ['popularity', 'itemknn'];

/** The demo's synthetic shop: big enough to be interesting, small enough to finish in well under a minute. */
export const DEMO_DATA: Partial<SyntheticOptions> = { users: 5000, items: 3000, interactions: 250_000 };

export interface DemoOptions {
  data?: Partial<SyntheticOptions>;
  pipelines?: readonly string[];
  /** Users whose history and recommendations are shown. */
  showUsers?: number;
  seed?: number;
  threads?: number;
  /** Progress lines. */
  log?: (msg: string) => void;
  /** The results: the table and the example users. */
  print?: (text: string) => void;
}

/**
 * Runs the demo and returns the evaluation report.
 * @example await runDemo({ log: console.error, print: console.log })
 */
export async function runDemo(opts: DemoOptions = {}): Promise<EvaluationReport> {
  const log = opts.log ?? (() => {});
  const print = opts.print ?? (() => {});
  const seed = opts.seed ?? 42;
  const registered = new Set(listPipelines().map((p) => p.name));
  const names = (opts.pipelines ?? DEMO_PIPELINES).filter((n) => registered.has(n));
  if (names.length === 0) throw new Error(`none of the demo pipelines is registered (${(opts.pipelines ?? DEMO_PIPELINES).join(', ')})`);
  const data = { ...DEMO_DATA, seed, ...(opts.data ?? {}) };
  log(`[1/3] generating a synthetic shop: ${data.users} users, ${data.items} items, ${data.interactions} events (views, clicks, purchases, dislikes)`);
  const { train, test } = await loadEvaluationData({ source: { kind: 'synthetic', options: data }, split: DEFAULT_SPLIT, log: (m) => log(`      ${m}`) });
  log(`[2/3] fitting and scoring ${names.join(', ')} (the last 20% of each user's events are the test)`);
  const fitted = new Map<string, Pipeline>();
  const report = await runEvaluation({
    train,
    test,
    pipelines: names,
    seed,
    threads: opts.threads ?? 1,
    log: (m) => log(`      ${m}`),
    onFitted: (name, p) => fitted.set(name, p),
  });
  log('[3/3] results');
  print('');
  print(formatResultsTable(report.results));
  print(`(${report.dataset.evalUsers} test users, each ranking all ${report.dataset.items} items minus those they already had)`);
  const best = report.results.reduce((a, b) => ((b.metrics['ndcg@10'] ?? 0) > (a.metrics['ndcg@10'] ?? 0) ? b : a));
  const pipeline = fitted.get(best.pipeline)!;
  print('');
  print(`What ${best.pipeline} (best ndcg@10) recommends; * = the user did interact with it later (in the test period):`);
  for (const u of exampleUsers(train, test, opts.showUsers ?? 3, seed)) print(describeUser(train, test, u, pipeline));
  return report;
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
