import { startServer } from '../../serve/index.ts';
import { parseArgs, UsageError, type Command, type OptionDefs } from '../../schema/index.ts';

const options = {
  model: { type: 'string', description: 'model directory (a symlink lets SIGHUP / reload pick up a newer one)', required: true },
  port: { type: 'number', description: 'TCP port (0: any free one)', default: 8080 },
  host: { type: 'string', description: 'address to bind', default: '127.0.0.1' },
  'api-key': { type: 'string', description: 'key required by write and admin routes (or env TANDEM_API_KEY); an empty one is refused' },
  auth: { type: 'boolean', default: true, description: '--no-auth: serve write and admin routes without a key, said explicitly (not with --api-key)' },
  store: { type: 'string', description: 'the event log: sqlite:FILE, sqlite::memory:, memory, or postgres://USER@HOST:PORT/DB (shared by replicas) (default sqlite:tandem-events.db)' },
  'events-db': { type: 'string', description: 'SQLite file of the event log (the same as --store sqlite:FILE)' },
  live: { type: 'string', description: 'the live state (recent histories, user features, counters): memory, or redis://HOST:PORT/DB?prefix=NAME (shared by replicas)', default: 'memory' },
  candidates: { type: 'number', integer: true, min: 1, description: "the L1 -> L2 candidate count (default: the model's, from its manifest)" },
  'body-limit': { type: 'number', description: 'largest request body in bytes', default: 4194304 },
  log: { type: 'boolean', description: 'log every request (fastify logger)' },
  experiments: { type: 'string', description: 'an experiments file (docs/experiments.md): arms served by their own models, exposures logged; API-created experiments are written back to it' },
  'reload-interval': { type: 'number', min: 0, description: 'every S seconds, reload when --model (a symlink like models/current) points to another directory (0: only on SIGHUP or POST /v1/admin/reload)', default: 0 },
} satisfies OptionDefs;

/** `tandem serve`: the HTTP service until SIGINT or SIGTERM; SIGHUP reloads the model. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a model directory over HTTP (recommendations, events, reload)',
  usage: 'tandem serve --model DIR [--port 8080] [--api-key KEY | --no-auth] [--store sqlite:FILE | postgres://…] [--live memory | redis://…] [--candidates N] [--reload-interval S] [--experiments FILE]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    const apiKey = resolveApiKey(o['api-key'], process.env.TANDEM_API_KEY, o.auth);
    if (o.store && o['events-db']) throw new UsageError('give --store or --events-db, not both');
    const store = o.store ?? `sqlite:${o['events-db'] ?? 'tandem-events.db'}`;
    const s = await startServer({ model: o.model, port: o.port, host: o.host, apiKey, store, live: o.live, candidates: o.candidates, bodyLimit: o['body-limit'], logger: o.log, reloadIntervalS: o['reload-interval'], experiments: o.experiments ?? null });
    const cur = s.service.current();
    if (!apiKey) console.error(o.auth ? 'tandem serve: warning: no --api-key and no TANDEM_API_KEY: write and admin routes are open to anyone who can reach this port (give a key, or --no-auth to say so)' : 'tandem serve: --no-auth: write and admin routes need no key');
    console.error(`tandem serve: model ${cur.engine.modelVersion} (${cur.resolved}), ${cur.engine.stats().items} items, ${cur.engine.candidateCount} candidates per source, ranker ${cur.engine.config.ranker?.kind ?? 'none'}, events in ${hidePassword(store)}, live state ${hidePassword(o.live)}${apiKey ? ', API key required for writes' : ''}`);
    console.log(`listening on ${s.url}`);
    await new Promise<void>((resolve) => {
      const stop = (sig: string): void => {
        console.error(`tandem serve: ${sig}, closing`);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        void s.close().then(resolve);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    return 0;
  },
};

/**
 * The API key from `--api-key` or TANDEM_API_KEY. An empty one (`--api-key "$KEY"` with KEY unset)
 * is refused rather than taken as "no auth": serving without a key must be said with --no-auth.
 */
export function resolveApiKey(flag: string | undefined, env: string | undefined, auth: boolean): string | null {
  if (!auth) {
    if (flag !== undefined) throw new UsageError('--no-auth and --api-key contradict each other: give one');
    return null;
  }
  if (flag !== undefined) {
    if (flag.trim() === '') throw new UsageError("--api-key is empty (an unset variable in --api-key \"$KEY\"?): give a key, or --no-auth to serve write and admin routes without one");
    return flag;
  }
  if (env !== undefined) {
    if (env.trim() === '') throw new UsageError('TANDEM_API_KEY is set but empty: give a key, or --no-auth to serve write and admin routes without one');
    return env;
  }
  return null;
}

/** A store URL as it may be logged: `postgres://app:secret@db/shop` -> `postgres://app:***@db/shop`. */
export function hidePassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}
