import type { Command } from '../schema/index.ts';
import { benchCommand } from './commands/bench.ts';
import { exportRankerDataCommand } from './commands/export-ranker-data.ts';
import { trainCommand } from './commands/train.ts';
import { recommendCommand } from './commands/recommend.ts';
import { serveCommand } from './commands/serve.ts';
import { evaluateCommand } from './commands/evaluate.ts';
import { demoCommand } from './commands/demo.ts';
import { generateCommand } from './commands/generate.ts';
import { experimentCommand } from './commands/experiment.ts';

/** Every CLI command, in the order `--help` lists them. Each lives in its own file under commands/. */
export const commands: Command[] = [trainCommand, recommendCommand, serveCommand, exportRankerDataCommand, evaluateCommand, demoCommand, generateCommand, benchCommand, experimentCommand];
