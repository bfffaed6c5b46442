/**
 * `tandem bench cold-start`: hides every training interaction of a random share of the users (their
 * features stay), trains the two-tower on the rest, and measures recall@100 / NDCG@10 on those users'
 * test items from their features alone, against popularity. The data is named as for `tandem evaluate`
 * (a preset, a dataset config or the synthetic set; train/test files or a split rule). Without user
 * features a cold user has nothing to start from, and the bench says so instead of measuring nothing.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs, UsageError, type Command, type OptionDefs } from '../src/schema/index.ts';
import { selectInteractions, type Dataset } from '../src/data/index.ts';
import { Rng } from '../src/math/index.ts';
import { loadEvaluationData, SYNTHETIC_OPTIONS, type DataSource } from '../src/pipeline/index.ts';
import { evaluateRetrieval, trainTwoTower } from '../src/retrieval/index.ts';

// The data flags are those of `tandem evaluate` (its dataOptions), declared again here because bench
// code may not import the cli layer.
const options = {
  dataset: { type: 'string', description: 'built-in dataset preset (movielens-100k, movielens-latest)' },
  data: { type: 'string', description: 'directory holding the preset\u2019s files' },
  config: { type: 'string', description: 'dataset config file (JSON) instead of a preset' },
  synthetic: { type: 'boolean', description: 'the built-in synthetic dataset (sizes: --users --items --interactions --dim)' },
  users: { type: 'number', description: 'synthetic users', default: SYNTHETIC_OPTIONS.users.default },
  items: { type: 'number', description: 'synthetic items', default: SYNTHETIC_OPTIONS.items.default },
  interactions: { type: 'number', description: 'synthetic interactions', default: SYNTHETIC_OPTIONS.interactions.default },
  dim: { type: 'number', description: 'synthetic latent dimension', default: SYNTHETIC_OPTIONS.dim.default },
  train: { type: 'string', description: 'train interactions file (with --test): user, item[, value, timestamp], separator and header detected' },
  test: { type: 'string', description: 'test interactions file' },
  'split-format': { type: 'string', description: 'how --train/--test files are read: auto (default), tsv, csv, tsv-header, csv-header, or config (the dataset\u2019s own interaction format)' },
  split: { type: 'string', description: 'split rule when no files are given: user-temporal:F, leave-last-out[:N], ... (default user-temporal:0.2)' },
  'skip-bad-rows': { type: 'boolean', description: 'skip and count malformed input rows instead of stopping at the first' },
  fraction: { type: 'number', description: 'share of the test users made cold', default: 0.2 },
  epochs: { type: 'number', description: 'training epochs', default: 4 },
  seed: { type: 'number', description: 'random seed (synthetic data, which users go cold, and training)', default: 1 },
  threads: { type: 'number', description: 'training threads', default: 1 },
  json: { type: 'string', description: 'write the figures to this JSON file' },
} satisfies OptionDefs;

/** The data the flags name: exactly one of --dataset, --config, --synthetic (as `tandem evaluate` takes them). */
function dataSource(o: { dataset?: string; data?: string; config?: string; synthetic: boolean; users: number; items: number; interactions: number; dim: number; seed: number }): DataSource {
  if ([o.dataset !== undefined, o.config !== undefined, o.synthetic].filter(Boolean).length !== 1) throw new UsageError('give exactly one of --dataset NAME --data DIR, --config FILE, or --synthetic');
  if (o.synthetic) return { kind: 'synthetic', options: { users: o.users, items: o.items, interactions: o.interactions, dim: o.dim, seed: o.seed } };
  if (o.config !== undefined) return { kind: 'config', path: o.config };
  if (o.data === undefined) throw new UsageError('--dataset needs --data DIR (the directory holding its files)');
  return { kind: 'preset', name: o.dataset!, dir: o.data };
}

/**
 * The cold split: `train` without any interaction of the chosen users, and `test` restricted to them.
 * @example const { train, test, users } = coldStartSplit(train, test, 0.2, 1);
 */
export function coldStartSplit(train: Dataset, test: Dataset, fraction: number, seed: number): { train: Dataset; test: Dataset; users: Int32Array } {
  if (!(fraction > 0 && fraction < 1)) throw new UsageError(`--fraction must be in (0, 1), got ${fraction}`);
  const bt = test.byUser();
  const candidates: number[] = [];
  for (let u = 0; u < test.numUsers; u++) if (bt.offsets[u + 1] > bt.offsets[u]) candidates.push(u);
  new Rng(seed).shuffle(candidates);
  const cold = candidates.slice(0, Math.max(1, Math.round(fraction * candidates.length))).sort((a, b) => a - b);
  const isCold = new Uint8Array(train.numUsers);
  for (const u of cold) isCold[u] = 1;
  const keep = (ds: Dataset, want: number) => {
    const rows: number[] = [];
    for (let r = 0; r < ds.interactions.length; r++) if (isCold[ds.interactions.user[r]] === want) rows.push(r);
    return ds.withInteractions(selectInteractions(ds.interactions, rows));
  };
  return { train: keep(train, 0), test: keep(test, 1), users: Int32Array.from(cold) };
}

/**
 * How many of `users` have at least one user feature value: what the two-tower can start from.
 * @example usersWithFeatures(train, users) === users.length when every cold user has an age or a country
 */
export function usersWithFeatures(ds: Dataset, users: ArrayLike<number>): number {
  let n = 0;
  for (let k = 0; k < users.length; k++) {
    const u = users[k];
    const has = ds.users.columns.some((c) => {
      switch (c.kind) {
        case 'categorical':
        case 'id':
          return c.codes[u] >= 0;
        case 'multi-categorical':
        case 'text':
          return c.offsets[u + 1] > c.offsets[u];
        case 'numeric':
          return !Number.isNaN(c.values[u]);
        case 'vector':
          return !Number.isNaN(c.values[u * c.dim]);
      }
    });
    if (has) n++;
  }
  return n;
}

/** Recall@K and NDCG@10 of one fixed list (most popular first) for every user of `test`. */
function popularity(train: Dataset, test: Dataset, users: Int32Array, K: number): { recall: number; ndcg10: number } {
  const counts = train.itemCounts();
  const order = Array.from(counts.keys()).sort((a, b) => counts[b] - counts[a] || a - b);
  const rank = new Int32Array(train.numItems).fill(-1);
  order.slice(0, K).forEach((it, r) => (rank[it] = r));
  const bt = test.byUser();
  let recall = 0;
  let ndcg = 0;
  for (const u of users) {
    const items = new Set<number>();
    for (let k = bt.offsets[u]; k < bt.offsets[u + 1]; k++) items.add(test.interactions.item[bt.rows[k]]);
    let hits = 0;
    let dcg = 0;
    for (const it of items) {
      const r = rank[it];
      if (r >= 0) hits++;
      if (r >= 0 && r < 10) dcg += 1 / Math.log2(r + 2);
    }
    let idcg = 0;
    for (let j = 0; j < Math.min(10, items.size); j++) idcg += 1 / Math.log2(j + 2);
    recall += hits / items.size;
    ndcg += dcg / idcg;
  }
  return { recall: recall / users.length, ndcg10: ndcg / users.length };
}

export const coldStartBench: Command = {
  name: 'cold-start',
  summary: 'two-tower recall for users whose training history is hidden (features only), against popularity',
  usage: 'tandem bench cold-start (--dataset NAME --data DIR | --config FILE | --synthetic) [--train FILE --test FILE | --split RULE] [--fraction 0.2]',
  options,
  async run(argv) {
    const { options: o, positional } = parseArgs(argv, options);
    if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
    const source = dataSource(o);
    if ((o.train === undefined) !== (o.test === undefined)) throw new UsageError('--train and --test go together');
    const loaded = await loadEvaluationData({ source, trainPath: o.train, testPath: o.test, splitFormat: o['split-format'], split: o.split, skipBadRows: o['skip-bad-rows'], log: (m) => console.error(m) });
    const declared = loaded.train.users.columns.map((c) => c.name);
    if (declared.length === 0) {
      throw new Error('no user features to start from: the dataset declares none (a users file with feature columns in the dataset config), so a user without history has nothing for the two-tower to use, and cold start cannot be measured');
    }
    const { train, test, users } = coldStartSplit(loaded.train, loaded.test, o.fraction, o.seed);
    const covered = usersWithFeatures(train, users);
    if (covered === 0) {
      throw new Error(`no user features to start from: none of the ${users.length} cold users has a value for any user feature (${declared.join(', ')}), so cold start cannot be measured`);
    }
    if (covered < users.length) console.log(`note: ${users.length - covered} of ${users.length} cold users have no user feature values; they start from nothing`);
    console.log(`cold users: ${users.length} (training interactions hidden: ${loaded.train.interactions.length - train.interactions.length})`);
    const t0 = performance.now();
    const { model } = await trainTwoTower(train, { epochs: o.epochs }, { seed: o.seed, threads: o.threads });
    const tt = evaluateRetrieval(model, train, test, 100, users);
    const pop = popularity(train, test, users, 100);
    const secs = (performance.now() - t0) / 1000;
    console.log(`two-tower (features only): recall@100 ${tt.recall.toFixed(4)}  ndcg@10 ${tt.ndcg10.toFixed(4)}   (${secs.toFixed(1)} s)`);
    console.log(`popularity:                recall@100 ${pop.recall.toFixed(4)}  ndcg@10 ${pop.ndcg10.toFixed(4)}`);
    if (o.json) writeFileSync(o.json, JSON.stringify({ coldUsers: users.length, fraction: o.fraction, seed: o.seed, results: [{ pipeline: 'two-tower', metrics: { 'recall@100': tt.recall, 'ndcg@10': tt.ndcg10 } }, { pipeline: 'popularity', metrics: { 'recall@100': pop.recall, 'ndcg@10': pop.ndcg10 } }] }, null, 2));
    return 0;
  },
};
