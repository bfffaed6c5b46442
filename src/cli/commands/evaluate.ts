import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import {
  builtinRegistry,
  dataFingerprint,
  DEFAULT_TABLE_METRICS,
  Engine,
  engineRecommender,
  readModelDir,
  scoreEngine,
  scoreService,
  formatResultsTable,
  listPipelines,
  loadEvaluationData,
  runEvaluation,
  DATA_FLAGS,
  dataSourceFromFlags,
  type DataSource,
} from '../../pipeline/index.ts';
import { ReportBuilder } from '../../evaluation/index.ts';
import { parseArgs, UsageError, type OptionDefs } from '../../schema/index.ts';
import type { Command } from '../../schema/index.ts';
import { consoleOutput, type Progress } from '../../math/index.ts';
import { quietOption } from '../progress.ts';

/** Flags naming the data: shared by evaluate, demo and the benchmarks (declared in the pipeline layer). */
export const dataOptions = {
  ...DATA_FLAGS,
  seed: { type: 'number', description: 'random seed (synthetic data, pipelines, user sampling)', default: 42 },
} satisfies OptionDefs;

const options = {
  ...dataOptions,
  pipelines: { type: 'list', of: 'string', description: 'pipelines to evaluate, comma-separated', default: ['popularity', 'itemknn'] },
  param: { type: 'list', of: 'string', description: 'pipeline parameters as NAME.KEY=VALUE, comma-separated (itemknn.neighbours=200,two-stage.sources=two-tower,itemknn)' },
  tune: { type: 'boolean', description: 'let every pipeline that can pick its settings on a validation split of train' },
  threads: { type: 'number', description: 'worker threads a pipeline may use', default: Math.max(1, Math.min(2, availableParallelism())) },
  ks: { type: 'list', of: 'number', description: 'cutoffs K of the metrics', default: [10, 20, 50, 100] },
  'max-users': { type: 'number', description: 'score at most this many test users (a seeded sample)' },
  auc: { type: 'boolean', description: 'also report AUC over the full catalog (pipelines that score every item)' },
  json: { type: 'string', description: 'also write the results as JSON to this file' },
  report: { type: 'string', description: 'also write a self-contained HTML report (curves, user groups, popularity bias, timing) to this file' },
  model: { type: 'string', description: 'score this trained model directory (in process, through the engine) instead of fitting pipelines; its data must be --train' },
  url: { type: 'string', description: "with --model or alone: score the service at this URL over HTTP (GET /v1/users/{id}/recommendations) instead" },
  ...quietOption,
} satisfies OptionDefs;

export { dataSourceFromFlags };

/** `--param itemknn.neighbours=200,popularity.halfLifeDays=30` as per-pipeline parameter objects. */
export function parsePipelineParams(list: readonly string[], pipelines: readonly string[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, string>> = {};
  let last: [string, string] | null = null;
  for (const item of list) {
    const m = /^([a-z][a-z0-9-]*)\.([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(item);
    if (!m) {
      // a piece without NAME.KEY= continues the previous value (a list: two-stage.sources=two-tower,itemknn)
      if (!last) throw new UsageError(`--param '${item}': expected NAME.KEY=VALUE, as in itemknn.neighbours=200`);
      const [n, k] = last;
      out[n][k] = out[n][k] === '' ? item : `${out[n][k]},${item}`;
      continue;
    }
    if (!pipelines.includes(m[1])) throw new UsageError(`--param '${item}': pipeline '${m[1]}' is not among --pipelines (${pipelines.join(', ')})`);
    (out[m[1]] ??= {})[m[2]] = m[3];
    last = [m[1], m[2]];
  }
  return out;
}

/**
 * `tandem evaluate --model DIR` / `--url URL`: a trained model (in process) or a running service (over
 * HTTP) scored on the test side, the train side being the data it was trained on.
 */
async function scoreTrained(o: { model?: string; url?: string; train?: string; test?: string; split?: string; 'split-format'?: string; 'skip-bad-rows': boolean; ks: number[]; json?: string }, source: DataSource, argv: readonly string[], log: (m: string) => void, progress?: Progress): Promise<number> {
  const { train, test } = await loadEvaluationData({ source, trainPath: o.train, testPath: o.test, splitFormat: o['split-format'] as never, split: o.split, skipBadRows: o['skip-bad-rows'], log, progress: progress?.scope('load') });
  const t0 = performance.now();
  let result: { metrics: Record<string, number>; users: number };
  let name: string;
  if (o.url !== undefined) {
    name = o.url;
    const r = await scoreService(o.url, train, test, { ks: o.ks, progress });
    result = r;
    log(`${o.url}: ${r.requests} requests`);
  } else {
    const engine = new Engine(await readModelDir(o.model!, builtinRegistry()), { maxK: Math.max(100, ...o.ks) });
    if (engine.manifest.data.fingerprint !== dataFingerprint(train)) log(`note: ${o.model} was trained on other data than this train side (fingerprints differ); its figures are for that model as it is`);
    name = o.model!;
    result = scoreEngine(engine, train, test, { ks: o.ks, progress });
  }
  const seconds = (performance.now() - t0) / 1000;
  const report = { dataset: { name: train.name, users: train.numUsers, items: train.numItems, interactions: train.interactions.length + test.interactions.length, trainInteractions: train.interactions.length, testInteractions: test.interactions.length, evalUsers: result.users }, results: [{ pipeline: name, metrics: result.metrics, trainSeconds: 0, evalSeconds: Math.round(seconds * 1000) / 1000, users: result.users }] };
  console.log(formatResultsTable(report.results));
  console.log(`(${result.users} test users; ${train.numItems} items, minus each user's training items)`);
  if (o.json) {
    await writeFile(o.json, JSON.stringify(report, null, 2) + '\n');
    console.error(`wrote ${o.json} (tandem evaluate ${argv.join(' ')})`);
  }
  return 0;
}

/** `tandem evaluate`: fit the named pipelines on train, score them on test, print a table, write JSON. */
export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: 'fit pipelines on the train side and score them on the test side (full-ranking metrics)',
  usage:
    'tandem evaluate (--dataset NAME --data DIR | --config FILE | --synthetic) [--train FILE --test FILE | --split RULE] [--pipelines popularity,itemknn | --model DIR | --url URL] [--json FILE]',
  options,
  async run(argv) {
    const { options: o, positional } = parseArgs(argv, options);
    if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
    const source = dataSourceFromFlags(o);
    if ((o.train === undefined) !== (o.test === undefined)) throw new UsageError('--train and --test go together');
    if (o.train !== undefined && o.split !== undefined) throw new UsageError('give either --train/--test or --split, not both');
    const known = listPipelines().map((p) => p.name);
    for (const p of o.pipelines) if (!known.includes(p)) throw new UsageError(`--pipelines: unknown pipeline '${p}' (known: ${known.join(', ')})`);
    if (o.pipelines.length === 0) throw new UsageError('--pipelines: name at least one pipeline');
    if (!(Number.isInteger(o.threads) && o.threads >= 1)) throw new UsageError('--threads must be a positive integer');
    if (o['max-users'] !== undefined && !(Number.isInteger(o['max-users']) && o['max-users'] >= 1)) throw new UsageError('--max-users must be a positive integer');
    const params = parsePipelineParams(o.param, o.pipelines);
    if (o.tune) {
      for (const p of o.pipelines) if (listPipelines().find((s) => s.name === p)!.params.tune) (params[p] ??= {}).tune ??= true;
    }
    const ui = consoleOutput(o.quiet);
    const log = ui.log;
    if (o.model !== undefined || o.url !== undefined) return ui.during(() => scoreTrained(o, source, argv, log, ui.progress));
    const { report, rep } = await ui.during(async () => {
      const { train, test } = await loadEvaluationData({ source, trainPath: o.train, testPath: o.test, splitFormat: o['split-format'], split: o.split, skipBadRows: o['skip-bad-rows'], log, progress: ui.progress?.scope('load') });
      const rep = o.report ? new ReportBuilder(train, test, { maxUsers: o['max-users'], seed: o.seed }) : null;
      const report = await runEvaluation({
        train,
        test,
        pipelines: o.pipelines,
        params,
        seed: o.seed,
        threads: o.threads,
        ks: o.ks,
        maxUsers: o['max-users'],
        auc: o.auc,
        log,
        progress: ui.progress,
        onFitted: rep ? (name, engine) => rep.add(name, engineRecommender(engine, train)) : undefined,
      });
      return { report, rep };
    });
    console.log(formatResultsTable(report.results, o.auc ? [...DEFAULT_TABLE_METRICS, 'auc'] : DEFAULT_TABLE_METRICS));
    console.log(`(${report.dataset.evalUsers} test users; ${report.dataset.items} items ranked per user, minus each user's training items)`);
    if (rep) {
      await rep.write(o.report!, report, `tandem evaluate ${argv.join(' ')}`);
      console.error(`wrote ${o.report}`);
    }
    if (o.json) {
      await writeFile(o.json, JSON.stringify(report, null, 2) + '\n');
      console.error(`wrote ${o.json}`);
    }
    return 0;
  },
};
