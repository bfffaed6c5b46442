import { startServer } from '../../serve/index.ts';
import { parseArgs, type OptionDefs } from '../../schema/index.ts';
import type { Command } from '../../schema/index.ts';

const options = {
  model: { type: 'string', description: 'model directory (a symlink lets SIGHUP / reload pick up a newer one)', required: true },
  port: { type: 'number', description: 'TCP port (0: any free one)', default: 8080 },
  host: { type: 'string', description: 'address to bind', default: '127.0.0.1' },
  'api-key': { type: 'string', description: 'key required by write and admin routes (or env TANDEM_API_KEY)' },
  'events-db': { type: 'string', description: 'SQLite file of the event log', default: 'tandem-events.db' },
  'body-limit': { type: 'number', description: 'largest request body in bytes', default: 4194304 },
  log: { type: 'boolean', description: 'log every request (fastify logger)' },
} satisfies OptionDefs;

/** `tandem serve`: the HTTP service until SIGINT or SIGTERM; SIGHUP reloads the model. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a model directory over HTTP (recommendations, events, reload)',
  usage: 'tandem serve --model DIR [--port 8080] [--api-key KEY] [--events-db FILE]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    const apiKey = o['api-key'] ?? process.env.TANDEM_API_KEY ?? null;
    const s = await startServer({ model: o.model, port: o.port, host: o.host, apiKey, eventsDb: o['events-db'], bodyLimit: o['body-limit'], logger: o.log });
    const cur = s.service.current();
    console.error(`tandem serve: model ${cur.rec.modelVersion} (${cur.resolved}), ${cur.rec.stats().items} items, events in ${o['events-db']}${apiKey ? ', API key required for writes' : ''}`);
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
