import { helpText, parseArgs, UsageError } from '../schema/index.ts';
import type { Command } from '../schema/index.ts';
import { commands } from './commands.ts';

const GLOBAL_HELP = () =>
  [
    'tandem: a two-stage recommender engine (two-tower retrieval, vector index, GBDT ranking, HTTP serving)',
    '',
    'Usage: tandem <command> [options]     (tandem <command> --help for its options)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(22)} ${c.summary}`),
  ].join('\n');

/** Entry point: returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(GLOBAL_HELP());
    return 0;
  }
  if (name === '--version') {
    console.log(await version());
    return 0;
  }
  const cmd: Command | undefined = commands.find((c) => c.name === name);
  if (!cmd) {
    console.error(`tandem: unknown command '${name}'\n\n${GLOBAL_HELP()}`);
    return 2;
  }
  if (cmd.name !== 'bench' && (rest.includes('--help') || rest.includes('-h'))) {
    console.log(helpText(cmd.usage, cmd.summary, cmd.options));
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`tandem ${name}: ${err.message}\n\n${helpText(cmd.usage, cmd.summary, cmd.options)}`);
      return 2;
    }
    console.error(`tandem ${name}: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.TANDEM_DEBUG && err instanceof Error) console.error(err.stack);
    return 1;
  }
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export { parseArgs };
