/**
 * What a long command shows while it works: a progress renderer on stderr (a line redrawn in place on a
 * terminal, a line every ~10 s otherwise; none with --quiet), and log functions that write around it.
 */
import { ProgressRenderer, type Progress, type ProgressStream } from '../math/index.ts';

/** The `--quiet` flag every long command takes. */
export const quietOption = { quiet: { type: 'boolean', description: 'no progress lines on stderr (the log lines stay)' } } as const;

export interface CommandOutput {
  /** The renderer, or undefined with --quiet (the library's silent default). */
  progress: Progress | undefined;
  /** A log line on stderr. */
  log(line: string): void;
  /** A line on stdout (tables, results). */
  out(line: string): void;
  /** Clears the progress line and stops its timer. */
  close(): void;
  /** Runs `work`, then closes (however it ends). */
  during<T>(work: () => Promise<T>): Promise<T>;
}

// through console.* so the tests that capture console output still see every log line
const consoleErr: ProgressStream = { write: (s: string) => void console.error(s.replace(/\n$/, '')) };
const consoleOut: ProgressStream = { write: (s: string) => void console.log(s.replace(/\n$/, '')) };

/**
 * The output of one command run.
 * @example const ui = commandOutput(o.quiet); try { await runEvaluation({ ..., log: ui.log, progress: ui.progress }); } finally { ui.close(); }
 */
export function commandOutput(quiet: boolean, stream: NodeJS.WriteStream = process.stderr): CommandOutput {
  const r = quiet ? null : new ProgressRenderer({ write: (s: string) => stream.write(s), isTTY: stream.isTTY, get columns() { return stream.columns; } });
  const close = () => r?.close();
  return {
    progress: r ?? undefined,
    log: (l) => (r ? r.print(l, consoleErr) : consoleErr.write(l)),
    out: (l) => (r ? r.print(l, consoleOut) : consoleOut.write(l)),
    close,
    during: (work) => work().finally(close),
  };
}
