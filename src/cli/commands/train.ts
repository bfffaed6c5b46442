import { readFile } from 'node:fs/promises';
import { generateSynthetic, loadConfigFile, loadDataset, loadTrainTest, resolvePreset, type Dataset } from '../../data/index.ts';
import { builtinRegistry, checkEngineConfig, DATA_FLAGS, syntheticShape, engineConfigFromFlags, listPipelines, retrainFromLog, trainModel, type RetrainResult } from '../../pipeline/index.ts';
import type { Progress } from '../../math/index.ts';
import { keyValues, parseArgs, UsageError, type Command, type OptionDefs } from '../../schema/index.ts';
import { consoleOutput } from '../../math/index.ts';
import { quietOption } from '../progress.ts';

/** The flags that name an engine configuration: shared by train and export-ranker-data. */
export const engineOptions = {
  engine: { type: 'string', description: 'an engine configuration (JSON: sources, fallbacks, ranker, candidates, business); checked, typos named' },
  pipeline: { type: 'string', description: 'the named pipeline whose configuration to train (tandem evaluate runs the same names)', default: 'two-stage' },
  param: { type: 'list', of: 'string', description: "the pipeline's parameters as KEY=VALUE, comma-separated (candidates=300,easeLambda=250)" },
  stages: { type: 'list', of: 'string', description: "candidate source kinds to use instead of the pipeline's (ease, itemknn, two-tower, popularity, segments, content)" },
  ranker: { type: 'string', description: "the L2 ranker kind (gbdt, dcn, blend), or 'none' for the fused L1 order; default: the pipeline's (gbdt for two-stage); with two-stage, dcn and blend train the two-stage-dcn / two-stage-blend pipelines (settings chosen on valid); with another pipeline or --engine, the kind starts from its own default parameters" },
  candidates: { type: 'number', integer: true, min: 1, description: 'the L1 -> L2 candidate count (candidates per source)' },
  seed: { type: 'number', integer: true, min: 0, description: 'random seed (synthetic data, every fit; the same default as tandem evaluate)', default: 42 },
  threads: { type: 'number', integer: true, min: 1, description: 'threads for the fits that use them (GBDT; the two-tower when its threads parameter is null)', default: 2 },
} satisfies OptionDefs;

const options = {
  config: { type: 'string', description: 'dataset config file (JSON)' },
  dataset: { type: 'string', description: 'built-in dataset preset (movielens-100k, movielens-latest)' },
  data: { type: 'string', description: 'directory holding the preset\u2019s files' },
  train: { type: 'string', description: "train on this interactions file only (a benchmark's train side) instead of the dataset's whole log" },
  synthetic: { type: 'boolean', description: 'train on the built-in synthetic dataset' },
  users: { type: 'number', description: 'synthetic users', default: 5000 },
  items: { type: 'number', description: 'synthetic items', default: 3000 },
  interactions: { type: 'number', description: 'synthetic interactions', default: 250000 },
  shape: DATA_FLAGS.shape,
  out: { type: 'string', description: 'model directory to write (must not exist); with --promote, default: model-<UTC time> beside the link' },
  store: { type: 'string', description: 'an event log (sqlite:FILE, postgres://...): train on the data plus everything logged in it (events, item and user upserts, deletes)' },
  promote: { type: 'string', description: 'a link such as models/current: compare the new model with the one it points to on the latest logged events neither trained on (ndcg@10) and repoint it atomically when the new one is not worse (needs --store)' },
  'promote-holdout': { type: 'number', min: 0.001, max: 1, description: 'with --promote: share of the logged events the current model has not seen that is held out for the comparison (the latest ones)', default: 0.1 },
  ...engineOptions,
  holdout: { type: 'number', min: 0, max: 0.99, description: 'share of each user\u2019s latest interactions held out for evaluation (0: none)', default: 0.2 },
  'eval-users': { type: 'number', integer: true, min: 1, description: 'evaluate on at most this many users', default: 2000 },
  'category-feature': { type: 'string', description: 'item feature that category= filters on (default: the first categorical one)' },
  'skip-bad-rows': { type: 'boolean', description: 'skip and count malformed input rows instead of stopping' },
  json: { type: 'boolean', description: 'print the manifest summary as JSON' },
  ...quietOption,
} satisfies OptionDefs;

/** The dataset the flags name: a config file, a preset (optionally only a train file of it), or the synthetic generator. */
export async function datasetFromFlags(o: { config?: string; dataset?: string; data?: string; train?: string; synthetic?: boolean; users: number; items: number; interactions: number; seed: number; shape?: string[]; 'skip-bad-rows'?: boolean }, progress?: Progress): Promise<Dataset> {
  const chosen = [o.config ? 1 : 0, o.dataset ? 1 : 0, o.synthetic ? 1 : 0].reduce((a, b) => a + b, 0);
  if (chosen !== 1) throw new UsageError('give exactly one of --config FILE, --dataset NAME --data DIR, or --synthetic');
  if (o.shape !== undefined && o.shape.length > 0 && !o.synthetic) throw new UsageError('--shape sets options of the synthetic generator; give --synthetic too');
  if (o.synthetic) {
    if (o.train) throw new UsageError('--train reads a file of a dataset config or preset, not of the synthetic data');
    return generateSynthetic({ ...syntheticShape(o.shape ?? []), users: o.users, items: o.items, interactions: o.interactions, seed: o.seed });
  }
  const config = o.config ? await loadConfigFile(o.config) : resolvePreset(o.dataset!, o.data ?? (() => { throw new UsageError('--dataset needs --data DIR'); })());
  const opts = { skipBadRows: o['skip-bad-rows'], progress };
  if (o.train) {
    // the train file alone: its test side is never read (the same file stands in for it)
    const { train, report } = await loadTrainTest(config, o.train, o.train, opts);
    for (const f of report.files) if (f.skipped > 0) console.error(`${f.path}: skipped ${f.skipped} bad rows`);
    return train;
  }
  const { dataset, report } = await loadDataset(config, opts);
  for (const f of report.files) if (f.skipped > 0) console.error(`${f.path}: skipped ${f.skipped} bad rows`);
  return dataset;
}

/** The engine configuration the flags name (see `engineOptions`). */
export async function engineConfigOfFlags(o: { engine?: string; pipeline: string; param: string[]; stages: string[]; ranker?: string; candidates?: number; 'category-feature'?: string }, train: Dataset): Promise<Record<string, unknown>> {
  const known = listPipelines().map((p) => p.name);
  if (!known.includes(o.pipeline)) throw new UsageError(`--pipeline: unknown pipeline '${o.pipeline}' (known: ${known.join(', ')})`);
  let engine: Record<string, unknown> | undefined;
  if (o.engine) {
    try {
      engine = JSON.parse(await readFile(o.engine, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(`--engine ${o.engine}: ${(err as Error).message}`);
    }
  }
  const c = engineConfigFromFlags({ engine, pipeline: o.engine ? undefined : o.pipeline, params: keyValues(o.param, '--param'), stages: o.stages, ranker: o.ranker, candidates: o.candidates }, train) as Record<string, unknown>;
  if (o['category-feature']) c.business = { ...((c.business as Record<string, unknown>) ?? {}), categoryFeature: o['category-feature'] };
  // checked here, before any fit: a typo stops the command at once, naming the parameter
  checkEngineConfig(c, builtinRegistry());
  return c;
}

/** `tandem train`: fit the engine (two-stage by default), evaluate on a held-out slice, write a model directory. */
export const trainCommand: Command = {
  name: 'train',
  summary: 'train the engine (the two-stage pipeline unless told otherwise) on a dataset and write a model directory',
  usage: 'tandem train (--config FILE | --dataset NAME --data DIR [--train FILE] | --synthetic) (--out DIR | --store URL --promote LINK) [--store URL] [--ranker gbdt|dcn|blend|none] [--engine FILE]',
  options,
  async run(argv) {
    const { options: o, positional } = parseArgs(argv, options);
    if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
    if (!o.out && !o.promote) throw new UsageError('--out DIR is required (or --store URL --promote LINK, which writes beside the link)');
    if (o.promote && !o.store) throw new UsageError('--promote compares models on logged events: give the log with --store URL');
    const t0 = performance.now();
    const ui = consoleOutput(o.quiet);
    const res = await ui.during(async () => {
      const dataset = await datasetFromFlags(o, ui.progress?.scope('load'));
      const s = dataset.summary();
      ui.log(`dataset ${dataset.name}: ${s.users} users, ${s.items} items, ${s.interactions} interactions (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      if (s.interactions === 0) throw new UsageError('the training data holds no interactions');
      const config = await engineConfigOfFlags(o, dataset);
      const common = {
        config,
        holdout: o.holdout,
        evalUsers: o['eval-users'],
        seed: o.seed,
        threads: o.threads,
        parameters: { source: o.config ? { config: o.config } : o.dataset ? { dataset: o.dataset, data: o.data, train: o.train ?? null } : { synthetic: { users: o.users, items: o.items, interactions: o.interactions, seed: o.seed } }, command: `tandem train ${argv.join(' ')}` },
        log: ui.log,
        progress: ui.progress,
      };
      if (o.store) return retrainFromLog(o.out, { ...common, base: dataset, store: o.store, promote: o.promote, promoteHoldout: o['promote-holdout'] });
      return { ...(await trainModel(o.out!, { ...common, dataset })), out: o.out!, log: null, promotion: null };
    });
    const out = res.out;
    const promotion = (res as Partial<RetrainResult>).promotion ?? null;
    const c = res.manifest.config;
    const stages = c.sources.map((x) => x.name);
    if (o.json) {
      console.log(JSON.stringify({ model: out, modelVersion: res.manifest.modelVersion, stages, fallbacks: c.fallbacks.map((x) => x.name), ranker: c.ranker?.kind ?? null, candidates: c.candidates, metrics: res.metrics, seconds: res.seconds, ...(res.log ? { log: res.log } : {}), ...(promotion ? { promotion } : {}) }, null, 2));
    } else {
      console.log(`model ${res.manifest.modelVersion} written to ${out} in ${res.seconds} s (sources: ${stages.join(', ')}; ranker: ${c.ranker?.kind ?? 'none'}; ${c.candidates} candidates per source)`);
      if (Object.keys(res.metrics).length) {
        console.log('held-out evaluation (latest interactions of each user):');
        for (const [k, v] of Object.entries(res.metrics)) console.log(`  ${k.padEnd(16)} ${v}`);
      }
      if (res.log) console.log(`log ${res.log.store}: up to seq ${res.log.lastSeq}; ${res.log.eventsUsed} of ${res.log.events} logged events used; ${res.log.itemsUpserted} items upserted, ${res.log.itemsDeleted} deleted; ${res.log.newUsers} new users`);
      if (promotion) {
        const c = promotion.comparison;
        if (c && !('skipped' in c)) {
          console.log(`promotion check (${c.rule}; ${c.users} users):`);
          for (const k of Object.keys(c.candidate)) console.log(`  ${k.padEnd(16)} new ${c.candidate[k]}   current ${c.current[k]}`);
        }
        console.log(`promotion: ${promotion.reason}`);
      }
    }
    return 0;
  },
};
