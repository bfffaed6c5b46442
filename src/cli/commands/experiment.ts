import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { formatReport, loadExperimentsFile, reportFromLog } from '../../experiments/index.ts';
import { parseArgs, UsageError, type Command, type OptionDefs } from '../../schema/index.ts';
import { openEventLog } from '../../store/index.ts';

const options = {
  experiments: { type: 'string', description: 'the experiments file (the one tandem serve --experiments reads and POST /v1/experiments writes)', default: 'experiments.json' },
  store: { type: 'string', description: 'the event log to read: sqlite:FILE or postgres://... (the one tandem serve --store wrote)', default: 'sqlite:tandem-events.db' },
  json: { type: 'string', description: 'also write the report as JSON to this file' },
} satisfies OptionDefs;

/** `tandem experiment report NAME`: reads the event log and reports one experiment. */
export const experimentCommand: Command = {
  name: 'experiment',
  summary: 'report an online experiment from the event log: per arm CTR, conversion, value per user with 95% intervals, p-values, interleaving, sample-ratio check',
  usage: 'tandem experiment report NAME [--experiments experiments.json] [--store sqlite:FILE] [--json FILE]',
  options,
  async run(argv) {
    const { options: o, positional } = parseArgs(argv, options);
    const [sub, name, ...extra] = positional;
    if (sub !== 'report') throw new UsageError(sub === undefined ? 'give a subcommand: report NAME' : `unknown subcommand '${sub}' (known: report)`);
    if (name === undefined) throw new UsageError('report: give the experiment name');
    if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
    const all = await loadExperimentsFile(o.experiments);
    const e = all.find((x) => x.name === name);
    if (!e) throw new Error(`${o.experiments}: no experiment '${name}' (known: ${all.map((x) => x.name).join(', ') || 'none'})`);
    // opening a missing SQLite file would create an empty log and report nothing: say so instead
    const file = /^sqlite:(?!:memory:)(.+)$/.exec(o.store)?.[1];
    if (file !== undefined && !existsSync(file)) throw new Error(`--store ${o.store}: no event log at ${file} (give the --store the service wrote to)`);
    const log = await openEventLog(o.store);
    try {
      const r = await reportFromLog(log, e);
      for (const l of formatReport(r)) console.log(l);
      if (o.json) {
        await writeFile(o.json, JSON.stringify(r, null, 2) + '\n');
        console.error(`wrote ${o.json}`);
      }
    } finally {
      await log.close();
    }
    return 0;
  },
};
