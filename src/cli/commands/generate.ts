import { generateSyntheticDataset, syntheticShape, writeDatasetFiles } from '../../pipeline/index.ts';
import { parseArgs, UsageError, type OptionDefs } from '../../schema/index.ts';
import type { Command } from '../../schema/index.ts';
import { dataOptions } from './evaluate.ts';

const options = {
  out: { type: 'string', description: 'directory to write events.tsv, users.tsv, items.tsv and dataset.json into', required: true },
  users: dataOptions.users,
  items: dataOptions.items,
  interactions: dataOptions.interactions,
  dim: dataOptions.dim,
  shape: dataOptions.shape,
  seed: dataOptions.seed,
} satisfies OptionDefs;

/** `tandem generate`: the synthetic shop as files with their dataset config, to show the input format. */
export const generateCommand: Command = {
  name: 'generate',
  summary: 'write the synthetic dataset as TSV files with a dataset config (the input format, by example)',
  usage: 'tandem generate --out DIR [--users N --items N --interactions N --seed S --shape KEY=VALUE,...]',
  options,
  async run(argv) {
    const { options: o, positional } = parseArgs(argv, options);
    if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
    const t0 = performance.now();
    const ds = generateSyntheticDataset({ ...syntheticShape(o.shape ?? []), users: o.users, items: o.items, interactions: o.interactions, dim: o.dim, seed: o.seed });
    const config = await writeDatasetFiles(ds, o.out);
    console.log(`wrote ${ds.numUsers} users, ${ds.numItems} items, ${ds.interactions.length} events to ${o.out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    console.log(`read them back with: tandem evaluate --config ${config}`);
    return 0;
  },
};
