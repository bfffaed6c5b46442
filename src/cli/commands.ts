import type { Command } from './command.ts';
import { benchCommand } from './commands/bench.ts';

/** Every CLI command, in the order `--help` lists them. Each lives in its own file under commands/. */
export const commands: Command[] = [benchCommand];
