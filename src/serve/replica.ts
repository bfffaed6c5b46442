/**
 * A `tandem serve` replica as a child process of its own (for the scale-out tests and `tandem bench
 * serve --replicas`): started with the given flags, ready once it prints "listening on", stopped with a
 * signal of the caller's choice (SIGKILL included: that is what the tests need).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/tandem.mjs', import.meta.url));

export interface Replica {
  /** `http://host:port` it listens on. */
  url: string;
  process: ChildProcess;
  /** Its stdout and stderr so far (for a failure's message). */
  output(): string;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `tandem serve ARGS --port 0` and resolves once it listens (rejects with its output if it exits
 * first or takes longer than `timeoutMs`).
 * @example const a = await startReplica(['--model', dir, '--store', pgUrl, '--live', redisUrl, '--no-auth'])
 */
export function startReplica(args: readonly string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Replica> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let url: string | null = null;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tandem serve did not listen within ${opts.timeoutMs ?? 60_000} ms:\n${out.slice(-3000)}`));
    }, opts.timeoutMs ?? 60_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.length > 1_000_000) out = out.slice(-500_000);
      const m = url === null ? /listening on (http:\/\/\S+)/.exec(out) : null;
      if (m) {
        url = m[1];
        clearTimeout(timer);
        resolve({
          url,
          process: child,
          output: () => out,
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            await exited;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (url !== null) return;
      clearTimeout(timer);
      reject(new Error(`tandem serve exited (${code ?? signal}) before listening:\n${out.slice(-3000)}`));
    });
  });
}
