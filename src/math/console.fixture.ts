// Console capture for tests of commands and benchmarks: what they print, readable while they run.

/**
 * Runs `fn` with console.log and console.error captured into `lines` (passed to `fn`, so a test can read
 * them while it runs); restores both however `fn` ends. An error `fn` throws is returned with what was
 * printed until then, never thrown.
 * @example const { value: code, out } = await captureConsole(() => someCommand.run(['--json', file]))
 */
export async function captureConsole<T>(fn: (lines: string[]) => Promise<T>): Promise<{ value?: T; error?: Error; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  const err = console.error;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  console.error = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    return { value: await fn(lines), out: lines.join('\n') };
  } catch (e) {
    return { error: e instanceof Error ? e : new Error(String(e)), out: lines.join('\n') };
  } finally {
    console.log = log;
    console.error = err;
  }
}

/**
 * Runs a command's `run(argv)` under `captureConsole`: its exit code and output; an error it throws is
 * thrown again with the output in its message (a test that expects success fails saying what was printed).
 */
export async function runCaptured(command: { run(argv: string[]): Promise<number> }, argv: string[]): Promise<{ code: number; out: string }> {
  const r = await captureConsole(() => command.run(argv));
  if (r.error) {
    r.error.message += `\n--- output ---\n${r.out}`;
    throw r.error;
  }
  return { code: r.value!, out: r.out };
}
