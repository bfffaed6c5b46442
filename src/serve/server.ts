import type { AddressInfo } from 'node:net';
import { createService, type Service, type ServiceOptions } from './app.ts';

export interface ServerOptions extends ServiceOptions {
  port?: number;
  host?: string;
  /** Reload the model on SIGHUP (default true). */
  reloadOnSighup?: boolean;
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
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    service,
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    close: async () => {
      process.off('SIGHUP', onHup);
      await service.close();
    },
  };
}
