import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSplit, splitDataset } from '../../data/index.ts';
import { exportRankerData } from '../../pipeline/index.ts';
import { parseArgs, UsageError, type Command, type OptionDefs } from '../../schema/index.ts';
import { consoleOutput } from '../../math/index.ts';
import { quietOption } from '../progress.ts';
import { datasetFromFlags, engineConfigOfFlags, engineOptions } from './train.ts';

const options = {
  dataset: { type: 'string', description: 'built-in dataset layout (movielens-100k, movielens-latest)' },
  data: { type: 'string', description: "directory of the built-in dataset's files" },
  config: { type: 'string', description: 'dataset config file (JSON) instead of --dataset' },
  train: { type: 'string', description: 'training interactions file (the test side is never read): the ranker data comes from it' },
  split: { type: 'string', description: "or split the config's interactions first (e.g. user-temporal:0.2) and export from the train side" },
  out: { type: 'string', description: 'output directory', required: true },
  ...engineOptions,
  'skip-bad-rows': { type: 'boolean', description: 'skip and count malformed input rows instead of stopping' },
  ...quietOption,
} satisfies OptionDefs;

/** `tandem export-ranker-data`: the engine's ranker training and validation sets as LibSVM (qid groups) and CSV. */
export const exportRankerDataCommand: Command = {
  name: 'export-ranker-data',
  summary: "write the L2 ranker's training/validation sets (exactly what training builds) as LibSVM with qid groups and CSV with named columns",
  usage: 'tandem export-ranker-data (--dataset NAME --data DIR | --config FILE) [--train FILE | --split SPEC] --out DIR [--param candidates=300]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    if (o.train && o.split) throw new UsageError('give --train or --split, not both');
    const ui = consoleOutput(o.quiet);
    const started = performance.now();
    const result = await ui.during(async () => {
      const loaded = await datasetFromFlags({ ...o, synthetic: false, users: 0, items: 0, interactions: 0 }, ui.progress?.scope('load'));
      const train = o.split ? splitDataset(loaded, parseSplit(o.split)).train : loaded;
      const config = await engineConfigOfFlags(o, train);
      if (!config.ranker) throw new UsageError('the engine configuration has no ranker: nothing to export');
      await mkdir(o.out, { recursive: true });
      return exportRankerData(train, o.out, config, { seed: o.seed, threads: o.threads, log: ui.log, progress: ui.progress });
    });
    await writeFile(join(o.out, 'summary.json'), JSON.stringify({ ...result, seconds: (performance.now() - started) / 1000 }, null, 2) + '\n');
    console.log(`wrote ${result.files.join(', ')} to ${o.out}: ${result.trainRows} train rows (${result.trainGroups} users), ${result.validRows} valid rows (${result.validGroups} users), ${result.features.length} features; L1 recall ${result.recall.toFixed(4)}`);
    return 0;
  },
};
