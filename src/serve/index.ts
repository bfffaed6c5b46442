// Public surface of the serve layer: the HTTP service, its event store, metrics and errors.
export type { ReloadResult, Service, ServiceOptions } from './app.ts';
export { createService } from './app.ts';
export type { RunningServer, ServerOptions } from './server.ts';
export { startServer } from './server.ts';
export { Metrics } from './metrics.ts';
export { BadRequestError, ConflictError, HttpError, NotFoundError, UnauthorizedError, UnavailableError, UnprocessableError } from './errors.ts';
export type { RouteSchema } from './schemas.ts';
export { MAX_BATCH, MAX_K, openApiDocument, ROUTES } from './schemas.ts';
export type { Replica } from './replica.ts';
export { startReplica } from './replica.ts';
export type { FeedStatus } from './log-feed.ts';
