import { readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { builtinRegistry, DEMO_DATA, DEMO_PIPELINES, runDemo, type DemoModel, type StageRegistry } from '../../pipeline/index.ts';
import { startServer, type RunningServer } from '../../serve/index.ts';
import { parseArgs, UsageError, type OptionDefs } from '../../schema/index.ts';
import type { Command } from '../../schema/index.ts';
import { consoleOutput } from '../../math/index.ts';
import { quietOption } from '../progress.ts';

const options = {
  users: { type: 'number', description: 'synthetic users', default: DEMO_DATA.users },
  items: { type: 'number', description: 'synthetic items', default: DEMO_DATA.items },
  interactions: { type: 'number', description: 'synthetic interactions', default: DEMO_DATA.interactions },
  seed: { type: 'number', description: 'random seed', default: 42 },
  pipelines: { type: 'list', of: 'string', description: 'pipelines to evaluate (unregistered names are skipped)', default: DEMO_PIPELINES },
  show: { type: 'number', description: 'users whose recommendations are printed', default: 3 },
  threads: { type: 'number', description: 'worker threads a pipeline may use', default: Math.max(1, Math.min(2, availableParallelism())) },
  out: { type: 'string', description: 'model directory to write (must not exist; default models/demo-<date>-<time>); with --no-serve, still written' },
  serve: { type: 'boolean', description: 'train a model directory and serve it until Ctrl-C (--no-serve: stop after the table, unless --out asks for the model directory)', default: true },
  port: { type: 'number', description: 'port to serve on (0: any free one)', default: 8080 },
  host: { type: 'string', description: 'address to serve on', default: '127.0.0.1' },
  ...quietOption,
} satisfies OptionDefs;

/** `models/demo-20261129-191500`: a fresh, sortable name under the gitignored models/ folder. */
function defaultModelDir(now = new Date()): string {
  const s = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `models/demo-${s}`;
}

/** Fails fast (before minutes of training) when the port is taken. */
async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? new UsageError(`port ${port} on ${host} is in use: pick another with --port N (--port 0 takes any free one), or --no-serve`) : err);
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/**
 * Serves the demo's model directory; its event log sits beside it (`<dir>.events.db`).
 * @example const s = await serveDemoModel(model, { port: 0 }); await fetch(`${s.url}/healthz`); await s.close()
 */
export async function serveDemoModel(model: DemoModel, opts: { port: number; host?: string; registry?: StageRegistry; log?: (line: string) => void }): Promise<RunningServer> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const s = await startServer({ model: model.dir, port: opts.port, host: opts.host ?? '127.0.0.1', store: `sqlite:${model.dir}.events.db`, registry: opts.registry, log });
  const user = model.exampleUsers[0] ?? 'u1';
  log('');
  log(`Serving ${model.dir} (model ${model.modelVersion}) at ${s.url}`);
  log(`  dashboard:        ${s.url}/`);
  log(`  API description:  ${s.url}/openapi.json`);
  log('Try:');
  log(`  curl '${s.url}/v1/users/${user}/recommendations?k=5'`);
  log(`  curl '${s.url}/v1/items/${model.exampleItem}/similar?k=5'`);
  log(`  curl -X POST ${s.url}/v1/events -H 'content-type: application/json' -d '{"events": [{"user": "${user}", "item": "${model.exampleItem}", "type": "purchase"}]}'`);
  log(`  curl -X POST ${s.url}/v1/recommendations -H 'content-type: application/json' -d '{"recent": ["${model.exampleItem}"], "k": 5}'`);
  log(`(events go to ${model.dir}.events.db; later: npx tandem serve --model ${model.dir} --events-db ${model.dir}.events.db)`);
  const older = await earlierDemoModels(model.dir);
  if (older > 0) log(`(${dirname(model.dir)} also holds ${older} earlier demo model${older > 1 ? 's' : ''}; once stopped, rm -r ${join(dirname(model.dir), 'demo-*')} clears them all)`);
  log('Ctrl-C stops the server.');
  return s;
}

/** How many other `demo-<date>-<time>` model directories sit beside `dir` (each run keeps its own). */
async function earlierDemoModels(dir: string): Promise<number> {
  const names = await readdir(dirname(dir)).catch(() => [] as string[]);
  return names.filter((n) => /^demo-\d{8}-\d{6}$/.test(n) && n !== basename(dir)).length;
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (sig: string): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(sig);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/**
 * The demo command with a replaceable wait: `serving` is given the running server and the demo
 * closes it once that resolves (tests; by default, the first SIGINT or SIGTERM).
 * @example await runDemoCommand(['--users', '300', '--port', '0'], { serving: async (s) => { await fetch(`${s.url}/healthz`); } })
 */
export async function runDemoCommand(argv: readonly string[], hooks: { serving?: (server: RunningServer) => Promise<unknown> } = {}): Promise<number> {
  const { options: o, positional } = parseArgs(argv, options);
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  if (!(Number.isInteger(o.show) && o.show >= 0)) throw new UsageError('--show must be an integer >= 0');
  if (!(Number.isInteger(o.port) && o.port >= 0 && o.port <= 65535)) throw new UsageError('--port must be an integer in [0, 65535]');
  if (!(Number.isInteger(o.threads) && o.threads >= 1)) throw new UsageError('--threads must be an integer >= 1');
  if (o.serve) await assertPortFree(o.host, o.port);
  const registry = builtinRegistry();
  const t0 = performance.now();
  // the demo's steps and tables go to stdout, its progress line to stderr
  const ui = consoleOutput(o.quiet);
  const { model } = await ui.during(() => runDemo({
    data: { users: o.users, items: o.items, interactions: o.interactions },
    pipelines: o.pipelines,
    showUsers: o.show,
    seed: o.seed,
    threads: o.threads,
    // --no-serve stops after the table; --out still asks for the model directory
    modelDir: o.out ?? (o.serve ? defaultModelDir() : null),
    registry,
    log: ui.out,
    print: ui.out,
    progress: ui.progress,
  }));
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (!o.serve || !model) {
    console.log(`\ndemo finished in ${secs} s; ${model ? `serve the model with: npx tandem serve --model ${model.dir}` : 'npm start (without --no-serve) also trains a model directory and serves it'}`);
    return 0;
  }
  console.log(`\ndemo trained in ${secs} s; starting the service`);
  const server = await serveDemoModel(model, { port: o.port, host: o.host, registry });
  try {
    if (hooks.serving) await hooks.serving(server);
    else console.log(`\ntandem demo: ${await untilSignal()}, closing`);
  } finally {
    await server.close();
  }
  return 0;
}

/** `tandem demo` (what `npm start` runs): a synthetic shop, the pipelines scored, a model directory trained and served. */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'the demo: a synthetic shop, pipelines fitted and scored, example recommendations, then a model served over HTTP',
  usage: 'tandem demo [--users N --items N --interactions N] [--pipelines a,b] [--out DIR] [--port 8080] [--no-serve]',
  options,
  run: (argv) => runDemoCommand(argv),
};
