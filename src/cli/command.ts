import type { OptionDefs } from './args.ts';

/** One CLI command: its options and what it runs. Commands stay thin: parse, call pipeline or serve. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionDefs;
  /** Returns the process exit code. */
  run(argv: readonly string[]): Promise<number>;
}
