import { availableParallelism } from 'node:os';
import { DEMO_DATA, DEMO_PIPELINES, runDemo } from '../../pipeline/index.ts';
import { parseArgs, UsageError, type OptionDefs } from '../args.ts';
import type { Command } from '../command.ts';

const options = {
  users: { type: 'number', description: 'synthetic users', default: DEMO_DATA.users },
  items: { type: 'number', description: 'synthetic items', default: DEMO_DATA.items },
  interactions: { type: 'number', description: 'synthetic interactions', default: DEMO_DATA.interactions },
  seed: { type: 'number', description: 'random seed', default: 42 },
  pipelines: { type: 'list', description: 'pipelines to run (unregistered names are skipped)', default: DEMO_PIPELINES },
  show: { type: 'number', description: 'users whose recommendations are printed', default: 3 },
  threads: { type: 'number', description: 'worker threads a pipeline may use', default: Math.max(1, Math.min(2, availableParallelism())) },
  serve: { type: 'boolean', description: 'serve the fitted model afterwards (--no-serve to skip; serving comes with a later issue)', default: false },
} satisfies OptionDefs;

/** `tandem demo` (what `npm start` runs): a synthetic shop, the pipelines fitted and scored, example users. */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'the demo: generate a synthetic shop, fit and score the pipelines, show example recommendations',
  usage: 'tandem demo [--users N --items N --interactions N] [--pipelines a,b] [--no-serve]',
  options,
  async run(argv) {
    const { options: o, positional } = parseArgs(argv, options);
    if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
    if (!(Number.isInteger(o.show) && o.show >= 0)) throw new UsageError('--show must be an integer >= 0');
    const t0 = performance.now();
    await runDemo({
      data: { users: o.users, items: o.items, interactions: o.interactions },
      pipelines: o.pipelines,
      showUsers: o.show,
      seed: o.seed,
      threads: o.threads,
      log: (m) => console.log(m),
      print: (t) => console.log(t),
    });
    console.log(`\ndemo finished in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (o.serve) console.log('(serving after the demo is not part of this build yet)');
    return 0;
  },
};
