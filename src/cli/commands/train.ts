import { generateSynthetic, loadConfigFile, loadDataset, resolvePreset, type Dataset } from '../../data/index.ts';
import { builtinRegistry, trainModel } from '../../pipeline/index.ts';
import { parseArgs, UsageError, type OptionDefs } from '../../schema/index.ts';
import type { Command } from '../../schema/index.ts';

const options = {
  config: { type: 'string', description: 'dataset config file (JSON)' },
  dataset: { type: 'string', description: 'built-in dataset preset (movielens-100k, movielens-latest)' },
  data: { type: 'string', description: 'directory holding the preset\u2019s files' },
  synthetic: { type: 'boolean', description: 'train on the built-in synthetic dataset' },
  users: { type: 'number', description: 'synthetic users', default: 5000 },
  items: { type: 'number', description: 'synthetic items', default: 3000 },
  interactions: { type: 'number', description: 'synthetic interactions', default: 250000 },
  seed: { type: 'number', description: 'synthetic seed', default: 42 },
  out: { type: 'string', description: 'model directory to write (must not exist)', required: true },
  stages: { type: 'list', of: 'string', description: 'candidate sources to fit, in order (default: every built-in kind that suits the catalog)' },
  ranker: { type: 'string', description: 'L2 ranker kind to train on the merged candidates (gbdt); none by default' },
  holdout: { type: 'number', description: 'share of each user\u2019s latest interactions held out for evaluation (0: none)', default: 0.2 },
  'eval-users': { type: 'number', description: 'evaluate on at most this many users', default: 2000 },
  'category-feature': { type: 'string', description: 'item feature that category= filters on (default: the first categorical one)' },
  'skip-bad-rows': { type: 'boolean', description: 'skip and count malformed input rows instead of stopping' },
  json: { type: 'boolean', description: 'print the manifest summary as JSON' },
} satisfies OptionDefs;

/** The dataset the flags name: a config file, a preset, or the synthetic generator. */
export async function datasetFromFlags(o: { config?: string; dataset?: string; data?: string; synthetic?: boolean; users: number; items: number; interactions: number; seed: number; 'skip-bad-rows'?: boolean }): Promise<Dataset> {
  const chosen = [o.config ? 1 : 0, o.dataset ? 1 : 0, o.synthetic ? 1 : 0].reduce((a, b) => a + b, 0);
  if (chosen !== 1) throw new UsageError('give exactly one of --config FILE, --dataset NAME --data DIR, or --synthetic');
  if (o.synthetic) {
    return generateSynthetic({ users: o.users, items: o.items, interactions: o.interactions, seed: o.seed });
  }
  const config = o.config ? await loadConfigFile(o.config) : resolvePreset(o.dataset!, o.data ?? (() => { throw new UsageError('--dataset needs --data DIR'); })());
  const { dataset, report } = await loadDataset(config, { skipBadRows: o['skip-bad-rows'] });
  for (const f of report.files) if (f.skipped > 0) console.error(`${f.path}: skipped ${f.skipped} bad rows`);
  return dataset;
}

/** Source kinds to fit by default: every built-in one, but EASE is dense (items^2), so only on catalogs it can hold. */
function defaultStages(ds: Dataset, known: string[]): string[] {
  const out: string[] = [];
  for (const k of ['two-tower', 'itemknn', 'item-to-item', 'popularity']) if (known.includes(k)) out.push(k);
  if (known.includes('ease') && ds.numItems <= 20000) out.unshift('ease');
  return out;
}

/** `tandem train`: fit the engine's stages, evaluate on a held-out slice, write a model directory. */
export const trainCommand: Command = {
  name: 'train',
  summary: 'train the engine on a dataset and write a model directory',
  usage: 'tandem train (--config FILE | --dataset NAME --data DIR | --synthetic) --out DIR',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    const t0 = performance.now();
    const dataset = await datasetFromFlags(o);
    const s = dataset.summary();
    console.error(`dataset ${dataset.name}: ${s.users} users, ${s.items} items, ${s.interactions} interactions (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    const registry = builtinRegistry();
    const known = [...registry.sources.keys()];
    const stages = o.stages.length ? o.stages : defaultStages(dataset, known);
    for (const st of stages) if (!registry.sources.has(st)) throw new UsageError(`--stages: unknown source '${st}' (known: ${known.join(', ')})`);
    if (!(o.holdout >= 0 && o.holdout < 1)) throw new UsageError('--holdout must be in [0, 1)');
    if (o.ranker && !registry.rankers.has(o.ranker)) throw new UsageError(`--ranker: unknown ranker '${o.ranker}' (known: ${[...registry.rankers.keys()].join(', ') || 'none'})`);
    const res = await trainModel(o.out, {
      dataset,
      registry,
      stages: stages.map((kind) => ({ kind })),
      ranker: o.ranker ? { kind: o.ranker } : null,
      holdout: o.holdout,
      evalUsers: o['eval-users'],
      business: o['category-feature'] ? { categoryFeature: o['category-feature'] } : undefined,
      parameters: { source: o.config ? { config: o.config } : o.dataset ? { dataset: o.dataset, data: o.data } : { synthetic: { users: o.users, items: o.items, interactions: o.interactions, seed: o.seed } } },
      log: (l) => console.error(l),
    });
    if (o.json) {
      console.log(JSON.stringify({ model: o.out, modelVersion: res.manifest.modelVersion, stages, ranker: o.ranker ?? null, metrics: res.metrics, seconds: res.seconds }, null, 2));
    } else {
      console.log(`model ${res.manifest.modelVersion} written to ${o.out} in ${res.seconds} s (stages: ${stages.join(', ') || 'none: popularity and feature fallbacks only'}; ranker: ${o.ranker ?? 'none'})`);
      if (Object.keys(res.metrics).length) {
        console.log('held-out evaluation (latest interactions of each user):');
        for (const [k, v] of Object.entries(res.metrics)) console.log(`  ${k.padEnd(16)} ${v}`);
      }
    }
    return 0;
  },
};
