/**
 * `tandem bench spread`: fits one pipeline with several seeds on the same split and reports each
 * seed's ndcg@10 and recall@100 with their mean, standard deviation and range: how far apart two fits
 * that differ only in their seed land (the figure the README quotes beside a single run).
 */
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { consoleOutput } from '../src/math/index.ts';
import { DATA_FLAGS, dataSourceFromFlags, listPipelines, loadEvaluationData, resolvePipelineParams, runEvaluation } from '../src/pipeline/index.ts';
import { keyValues, parseArgs, UsageError, type Command, type OptionDefs } from '../src/schema/index.ts';

const options = {
  ...DATA_FLAGS,
  pipeline: { type: 'string', description: 'the pipeline to fit (any name tandem evaluate takes)', default: 'two-tower' },
  param: { type: 'list', of: 'string', description: "the pipeline's parameters as KEY=VALUE, comma-separated (epochs=5)" },
  seeds: { type: 'number', description: 'fits, with seeds --seed, --seed + 1, ...', default: 5 },
  seed: { type: 'number', description: 'the first seed (42: the seed tandem evaluate uses by default)', default: 42 },
  'data-seed': { type: 'number', description: 'seed of the synthetic data (the same data for every fit)', default: 42 },
  threads: { type: 'number', description: 'threads a fit may use (the two-tower trains on one unless its threads parameter says otherwise)', default: Math.max(1, Math.min(2, availableParallelism())) },
  'max-users': { type: 'number', description: 'score at most this many test users (a seeded sample, the same for every fit)' },
  json: { type: 'string', description: 'also write the figures as JSON to this file' },
  verbose: { type: 'boolean', description: "print each fit's log lines" },
  quiet: { type: 'boolean', description: 'no progress lines on stderr' },
} satisfies OptionDefs;

/** Summary of one metric over the seeds. */
export interface Spread {
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator; 0 for one value). */
  std: number;
  median: number;
  min: number;
  max: number;
  /** max - min. */
  range: number;
}

/**
 * Mean, sample standard deviation, median and range of `xs`.
 * @example spreadOf([1, 2, 3, 4]) // { mean: 2.5, std: 1.29..., median: 2.5, min: 1, max: 4, range: 3 }
 */
export function spreadOf(xs: readonly number[]): Spread {
  if (xs.length === 0) throw new Error('spreadOf: no values');
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const ss = xs.reduce((a, b) => a + (b - mean) * (b - mean), 0);
  const s = [...xs].sort((a, b) => a - b);
  const median = n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, median, min: s[0], max: s[n - 1], range: s[n - 1] - s[0] };
}

const METRICS = ['ndcg@10', 'recall@100'] as const;

export const spreadBench: Command = {
  name: 'spread',
  summary: 'run-to-run spread: one pipeline fitted with N seeds on the same split; ndcg@10 and recall@100 per seed, mean, std, range',
  usage: 'tandem bench spread (--dataset NAME --data DIR | --config FILE | --synthetic) [--train FILE --test FILE | --split RULE] [--pipeline two-tower] [--seeds 5] [--json FILE]',
  options,
  async run(argv) {
    const { options: o, positional } = parseArgs(argv, options);
    if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
    const known = listPipelines().map((p) => p.name);
    if (!known.includes(o.pipeline)) throw new UsageError(`--pipeline: unknown pipeline '${o.pipeline}' (known: ${known.join(', ')})`);
    if (!(Number.isInteger(o.seeds) && o.seeds >= 1)) throw new UsageError('--seeds must be a positive integer');
    if ((o.train === undefined) !== (o.test === undefined)) throw new UsageError('--train and --test go together');
    const params = keyValues(o.param, '--param');
    // checked before anything is fitted: a typo names the parameter
    const resolved = resolvePipelineParams(o.pipeline, params);
    const ui = consoleOutput(o.quiet);
    const seeds = Array.from({ length: o.seeds }, (_, i) => o.seed + i);
    const rows: { seed: number; metrics: Record<string, number>; trainSeconds: number; evalSeconds: number }[] = [];
    const dataset = await ui.during(async () => {
      const { train, test } = await loadEvaluationData({ source: dataSourceFromFlags({ ...o, seed: o['data-seed'] }), trainPath: o.train, testPath: o.test, splitFormat: o['split-format'], split: o.split, skipBadRows: o['skip-bad-rows'], log: ui.log, progress: ui.progress?.scope('load') });
      ui.out(`${o.pipeline} on ${train.name}: ${seeds.length} fits on the same split (train ${train.interactions.length}, test ${test.interactions.length} interactions), seeds ${seeds[0]}..${seeds[seeds.length - 1]}`);
      ui.out(`${'seed'.padStart(6)}  ${METRICS.map((m) => m.padStart(10)).join('  ')}  ${'train s'.padStart(8)}`);
      let users = 0;
      for (const seed of seeds) {
        const r = await runEvaluation({
          train,
          test,
          pipelines: [o.pipeline],
          params: { [o.pipeline]: params },
          seed,
          threads: o.threads,
          ks: [10, 100],
          maxUsers: o['max-users'],
          log: o.verbose ? (l) => ui.log(`seed ${seed}: ${l}`) : undefined,
          progress: ui.progress?.scope(`seed ${seed}`),
        });
        const x = r.results[0];
        users = r.dataset.evalUsers;
        rows.push({ seed, metrics: Object.fromEntries(METRICS.map((m) => [m, x.metrics[m]])), trainSeconds: x.trainSeconds, evalSeconds: x.evalSeconds });
        ui.out(`${String(seed).padStart(6)}  ${METRICS.map((m) => x.metrics[m].toFixed(4).padStart(10)).join('  ')}  ${x.trainSeconds.toFixed(1).padStart(8)}`);
      }
      return { name: train.name, users: train.numUsers, items: train.numItems, trainInteractions: train.interactions.length, testInteractions: test.interactions.length, evalUsers: users };
    });
    const summary = Object.fromEntries(METRICS.map((m) => [m, spreadOf(rows.map((r) => r.metrics[m]))])) as Record<(typeof METRICS)[number], Spread>;
    for (const [label, key] of [['mean', 'mean'], ['std', 'std'], ['median', 'median'], ['min', 'min'], ['max', 'max'], ['range', 'range']] as const) {
      console.log(`${label.padStart(6)}  ${METRICS.map((m) => summary[m][key].toFixed(4).padStart(10)).join('  ')}`);
    }
    const nd = summary['ndcg@10'];
    const rc = summary['recall@100'];
    console.log(`ndcg@10 ${nd.mean.toFixed(4)} \u00b1 ${nd.std.toFixed(4)} (std; range ${nd.range.toFixed(4)}), recall@100 ${rc.mean.toFixed(4)} \u00b1 ${rc.std.toFixed(4)} (range ${rc.range.toFixed(4)}) over ${rows.length} seeds`);
    if (o.json) {
      await writeFile(o.json, JSON.stringify({ pipeline: o.pipeline, params: resolved, dataset, seeds: rows, summary, command: `tandem bench spread ${argv.join(' ')}` }, null, 2) + '\n');
      console.error(`wrote ${o.json}`);
    }
    return 0;
  },
};
