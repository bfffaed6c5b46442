import type { Command } from '../../schema/index.ts';
import { benches } from '../../../bench/index.ts';
import { helpText } from '../../schema/index.ts';

/** `tandem bench <name>`: dispatches to the benchmarks bench/index.ts lists. */
export const benchCommand: Command = {
  name: 'bench',
  get summary() {
    return `run a benchmark (tandem bench <name> --help): ${benches.map((b) => b.name).join(', ')}`;
  },
  usage: 'tandem bench <name> [options]',
  options: {},
  async run(argv) {
    const [name, ...rest] = argv;
    const b = benches.find((x) => x.name === name);
    if (b && (rest.includes('--help') || rest.includes('-h'))) {
      console.log(helpText(b.usage, b.summary, b.options));
      return 0;
    }
    if (!b) {
      console.error(`tandem bench: unknown benchmark '${name ?? ''}'. Known: ${benches.map((x) => x.name).join(', ') || '(none yet)'}`);
      return 2;
    }
    return b.run(rest);
  },
};
