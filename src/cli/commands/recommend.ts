import { builtinRegistry, Engine, readModelDir, type RecommendResult } from '../../pipeline/index.ts';
import { parseArgs, UsageError, type Command, type OptionDefs } from '../../schema/index.ts';

const options = {
  model: { type: 'string', description: 'model directory', required: true },
  user: { type: 'string', description: 'recommend for this user id (known or not)' },
  item: { type: 'string', description: 'with --similar: items similar to this item id' },
  similar: { type: 'boolean', description: 'similar items to --item' },
  k: { type: 'number', integer: true, min: 1, alias: 'k', description: 'number of items', default: 10 },
  exclude: { type: 'list', of: 'string', description: 'item ids never to return' },
  category: { type: 'string', description: 'only items of this category' },
  candidates: { type: 'number', integer: true, min: 1, description: "the L1 -> L2 candidate count (default: the model's)" },
  json: { type: 'boolean', description: 'print JSON' },
} satisfies OptionDefs;

/** `tandem recommend`: recommendations or similar items from a model directory, with explanations (the service's request path, in process). */
export const recommendCommand: Command = {
  name: 'recommend',
  summary: 'print recommendations for a user, or items similar to an item',
  usage: 'tandem recommend --model DIR (--user ID | --item ID --similar) [-k 10]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    if (!!o.user === !!o.item) throw new UsageError('give either --user ID or --item ID --similar');
    if (o.item && !o.similar) throw new UsageError('--item needs --similar');
    const engine = new Engine(await readModelDir(o.model, builtinRegistry()), { maxK: 1000, candidates: o.candidates });
    const res: RecommendResult = o.user ? engine.recommend({ user: o.user, k: o.k, exclude: o.exclude, category: o.category }) : engine.similarItems(o.item!, { k: o.k, exclude: o.exclude, category: o.category });
    if (o.json) {
      console.log(JSON.stringify({ ...(o.user ? { user: o.user } : { item: o.item }), modelVersion: engine.modelVersion, ...res }, null, 2));
      return 0;
    }
    console.log(`${o.user ? `user ${o.user}` : `items similar to ${o.item}`}: ${res.strategy} (model ${engine.modelVersion})`);
    const w = Math.max(4, ...res.items.map((r) => r.id.length));
    console.log(`${'#'.padStart(3)}  ${'item'.padEnd(w)}  ${'score'.padStart(9)}  ${'source'.padEnd(18)}  label / explanation`);
    res.items.forEach((r, i) => {
      const label = engine.catalog.label(engine.catalog.index(r.id));
      console.log(`${String(i + 1).padStart(3)}  ${r.id.padEnd(w)}  ${r.score.toFixed(4).padStart(9)}  ${r.source.padEnd(18)}  ${label ? `${label} \u2014 ` : ''}${r.explanation.text}`);
    });
    return 0;
  },
};
