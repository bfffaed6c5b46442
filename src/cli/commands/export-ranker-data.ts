import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadConfigFile, loadDataset, parseSplit, resolvePreset, splitDataset, type DatasetConfig } from '../../data/index.ts';
import { exportRankerData, TWO_STAGE_DEFAULTS } from '../../pipeline/index.ts';
import { parseArgs, UsageError } from '../../schema/index.ts';
import type { Command } from '../../schema/index.ts';

const options = {
  dataset: { type: 'string', description: 'built-in dataset layout (movielens-100k, movielens-latest)' },
  data: { type: 'string', description: 'directory of the built-in dataset\'s files' },
  config: { type: 'string', description: 'dataset config file (JSON) instead of --dataset' },
  train: { type: 'string', description: 'training interactions file (the test side is never read): the ranker data comes from it' },
  split: { type: 'string', description: 'or split the config\'s interactions first (e.g. user-temporal:0.2) and export from the train side' },
  out: { type: 'string', description: 'output directory', required: true },
  candidates: { type: 'number', description: 'candidates per L1 source', default: TWO_STAGE_DEFAULTS.candidates },
  sources: { type: 'list', of: 'string', description: 'extra L1 sources besides EASE (itemknn, itemknn-recent, popularity, two-tower; \'\' for none)', default: TWO_STAGE_DEFAULTS.extraSources },
  threads: { type: 'number', description: 'threads for the two-tower source', default: 2 },
  'label-fraction': { type: 'number', description: 'last share of each user\'s events that labels the rows', default: TWO_STAGE_DEFAULTS.labelFraction },
  negatives: { type: 'number', description: 'negatives kept per positive (0 = every candidate)', default: TWO_STAGE_DEFAULTS.negativesPerPositive },
  'valid-fraction': { type: 'number', description: 'share of users written to the validation set', default: TWO_STAGE_DEFAULTS.validFraction },
  seed: { type: 'number', description: 'seed of negative sampling and the user split', default: TWO_STAGE_DEFAULTS.seed },
} as const;

/** `tandem export-ranker-data`: the two-stage ranker's training and validation sets as LibSVM (qid groups) and CSV. */
export const exportRankerDataCommand: Command = {
  name: 'export-ranker-data',
  summary: 'write the L2 ranker\'s training/validation sets as LibSVM with qid groups and CSV with named columns',
  usage: 'tandem export-ranker-data (--dataset NAME --data DIR | --config FILE) [--train FILE | --split SPEC] --out DIR',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    let config: DatasetConfig;
    if (o.config) config = await loadConfigFile(o.config);
    else if (o.dataset) {
      if (!o.data) throw new UsageError('--dataset needs --data DIR');
      config = resolvePreset(o.dataset, o.data);
    } else throw new UsageError('give --dataset NAME --data DIR, or --config FILE');
    if (o.train && o.split) throw new UsageError('give --train or --split, not both');
    let train;
    if (o.train) train = (await loadDataset({ ...config, interactions: { ...config.interactions, path: resolve(o.train) } })).dataset;
    else {
      const { dataset } = await loadDataset(config);
      train = o.split ? splitDataset(dataset, parseSplit(o.split)).train : dataset;
    }
    await mkdir(o.out, { recursive: true });
    const started = performance.now();
    const result = await exportRankerData(
      train,
      o.out,
      { candidates: o.candidates, extraSources: o.sources, threads: o.threads, labelFraction: o['label-fraction'], negativesPerPositive: o.negatives, validFraction: o['valid-fraction'], seed: o.seed },
      (line) => console.error(line),
    );
    await writeFile(join(o.out, 'summary.json'), JSON.stringify({ ...result, seconds: (performance.now() - started) / 1000 }, null, 2) + '\n');
    console.log(`wrote ${result.files.join(', ')} to ${o.out}: ${result.trainRows} train rows (${result.trainGroups} users), ${result.validRows} valid rows (${result.validGroups} users), ${result.features.length} features; L1 recall ${result.recall.toFixed(4)}`);
    return 0;
  },
};
