import { realpath } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createService, type Service, type ServiceOptions } from './app.ts';

export interface ServerOptions extends ServiceOptions {
  port?: number;
  host?: string;
  /** Reload the model on SIGHUP (default true). */
  reloadOnSighup?: boolean;
  /**
   * Every this many seconds, resolve `model` (a symlink such as models/current) and reload when it
   * names another directory than the one serving (0 or unset: never). A refused directory is not
   * tried again until the link moves on.
   */
  reloadIntervalS?: number;
}

export interface RunningServer {
  service: Service;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Starts the service and listens; SIGHUP reloads the configured model directory (a broken one is
 * logged and refused, the old one keeps serving).
 * @example const s = await startServer({ model: 'models/current', port: 8080 }); ...; await s.close()
 */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const service = await createService({ ...opts, log });
  await service.app.listen({ port: opts.port ?? 8080, host: opts.host ?? '127.0.0.1' });
  const addr = service.app.server.address() as AddressInfo;
  const onHup = (): void => {
    log('SIGHUP: reloading the model');
    // the service logs the outcome (as for a reload through the API)
    service.reload(undefined, 'SIGHUP').catch(() => {});
  };
  if (opts.reloadOnSighup !== false) process.on('SIGHUP', onHup);
  let refused: string | null = null;
  let checking = false;
  const watch =
    opts.reloadIntervalS && opts.reloadIntervalS > 0
      ? setInterval(() => {
          if (checking) return;
          checking = true;
          void (async () => {
            try {
              const target = await realpath(opts.model).catch(() => null);
              if (target === null || target === service.current().resolved || target === refused) return;
              // the service logs the outcome; a refused target waits for the link to move on
              await service.reload(undefined, `interval, ${opts.model} -> ${target}`).then(
                () => (refused = null),
                () => (refused = target),
              );
            } finally {
              checking = false;
            }
          })();
        }, opts.reloadIntervalS * 1000)
      : null;
  watch?.unref();
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    service,
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    close: async () => {
      process.off('SIGHUP', onHup);
      if (watch) clearInterval(watch);
      await service.close();
    },
  };
}
