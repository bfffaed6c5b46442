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
import { DATA_FLAGS, dataSourceFromFlags, loadEvaluationData } from '../src/pipeline/index.ts';
import { evaluateRetrieval, trainTwoTower } from '../src/retrieval/index.ts';

const options = {
  ...DATA_FLAGS,
  fraction: { type: 'number', description: 'share of the test users made cold', default: 0.2 },
  epochs: { type: 'number', description: 'training epochs', default: 4 },
  seed: { type: 'number', description: 'random seed (synthetic data, which users go cold, and training)', default: 1 },
  threads: { type: 'number', description: 'training threads', default: 1 },
  json: { type: 'string', description: 'write the figures to this JSON file' },
} satisfies OptionDefs;

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
    const source = dataSourceFromFlags(o);
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
