/**
 * The HTTP service: a fastify app over one live Recommender, an event store, auth, metrics and
 * atomic model reload. Every handler reads the current Recommender once at its start and then runs
 * synchronously, so a reload (which swaps one reference) never changes the model under a request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  builtinRegistry,
  EngineInputError,
  ModelDirError,
  readModelDir,
  Recommender,
  tandemVersion,
  UnknownEntityError,
  type EventInput,
  type FeatureRow,
  type RecommenderOptions,
  type StageRegistry,
} from '../pipeline/index.ts';
import { BadRequestError, ConflictError, HttpError, NotFoundError, UnauthorizedError, UnprocessableError } from './errors.ts';
import { EventStore } from './event-store.ts';
import { Metrics } from './metrics.ts';
import { dashboardPlugin } from './dashboard/index.ts';
import { MAX_K, openApiDocument, ROUTES, type RouteSchema } from './schemas.ts';

export interface ServiceOptions {
  /** The model directory to serve (a symlink to the current one works well with reload). */
  model: string;
  /** When set, write and admin routes require it (`Authorization: Bearer KEY` or `x-api-key: KEY`). */
  apiKey?: string | null;
  /** SQLite file of the event log (default `tandem-events.db`; `:memory:` keeps nothing). */
  eventsDb?: string;
  /** Largest request body in bytes (default 4 MiB). */
  bodyLimit?: number;
  registry?: StageRegistry;
  recommender?: RecommenderOptions;
  /** fastify's logger (default off). */
  logger?: boolean;
}

interface Live {
  rec: Recommender;
  /** The directory as configured or asked for, and what it resolved to when loaded. */
  dir: string;
  resolved: string;
  loadedAt: number;
}

export interface ReloadResult {
  modelVersion: string;
  previousVersion: string;
  model: string;
  replayed: number;
}

/** A running service's handles (not yet listening: call `app.listen`). */
export interface Service {
  app: FastifyInstance;
  store: EventStore;
  /** The model now serving. */
  current(): { rec: Recommender; dir: string; resolved: string };
  /** Loads `dir` (default: the configured model) and swaps to it; throws ModelDirError and keeps the old one when it is broken. */
  reload(dir?: string): Promise<ReloadResult>;
  close(): Promise<void>;
}

/** `events/3/item` -> `events[3].item`, for fastify validation errors. */
function fieldOf(err: FastifyError): string {
  const v = err.validation?.[0];
  if (!v) return err.validationContext ?? 'body';
  const parts = v.instancePath.split('/').filter(Boolean);
  const params = v.params as Record<string, unknown>;
  if (typeof params.missingProperty === 'string') parts.push(params.missingProperty);
  if (typeof params.additionalProperty === 'string') parts.push(params.additionalProperty);
  let path = '';
  for (const p of parts) path += /^\d+$/.test(p) ? `[${p}]` : path ? `.${p}` : p;
  return path || (err.validationContext ?? 'body');
}

function validationMessage(err: FastifyError, field: string): string {
  const v = err.validation?.[0];
  if (!v) return err.message;
  if (v.keyword === 'additionalProperties') return `${field}: unknown field`;
  if (v.keyword === 'required') return `${field}: is required`;
  return `${field}: ${v.message ?? 'is invalid'}`;
}

/** The one place errors become responses. */
function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof EngineInputError) return new BadRequestError(err.message, err.field);
  if (err instanceof UnknownEntityError) return new NotFoundError(err.message);
  if (err instanceof ModelDirError) return new UnprocessableError(`model refused, the previous one keeps serving: ${err.message}`);
  const fe = err as FastifyError;
  if (fe && fe.validation) {
    const field = fieldOf(fe);
    return new BadRequestError(validationMessage(fe, field), field);
  }
  switch (fe?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new BadRequestError(`body: larger than the limit of ${fe.message.match(/\d+/)?.[0] ?? 'the configured'} bytes`, 'body');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new BadRequestError(`body: ${fe.message}`, 'body');
  }
  if (fe instanceof SyntaxError) return new BadRequestError(`body: malformed JSON (${fe.message})`, 'body');
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) return new HttpError(fe.statusCode, 'bad_request', fe.message);
  return new HttpError(500, 'internal', 'internal error');
}

function keyDigest(k: string): Buffer {
  return createHash('sha256').update(k).digest();
}

/**
 * Builds the service around the model directory `opts.model`.
 * @example const svc = await createService({ model: 'models/current', apiKey: 's3cret' }); await svc.app.listen({ port: 8080 })
 */
export async function createService(opts: ServiceOptions): Promise<Service> {
  const registry = opts.registry ?? builtinRegistry();
  const store = new EventStore(opts.eventsDb ?? 'tandem-events.db');
  const metrics = new Metrics();
  const version = await tandemVersion();
  const apiDigest = opts.apiKey ? keyDigest(opts.apiKey) : null;

  const load = async (dir: string): Promise<Omit<Live, 'loadedAt'>> => {
    let resolved: string;
    try {
      resolved = await realpath(dir);
    } catch {
      throw new ModelDirError(`${dir}: no such model directory`);
    }
    const model = await readModelDir(resolved, registry);
    return { rec: new Recommender(model, { maxK: MAX_K, ...(opts.recommender ?? {}) }), dir, resolved };
  };

  /** Replays the log since the model's creation into it; synchronous, so no write slips in between. */
  const replay = (rec: Recommender): number => {
    const since = Date.parse(rec.manifest.createdAt) / 1000;
    let n = 0;
    for (const e of store.since(since)) {
      try {
        switch (e.kind) {
          case 'event':
            rec.applyEvents(rec.checkEvents([{ user: e.user, item: e.item, type: e.type, value: e.value, timestamp: e.timestamp }]));
            break;
          case 'item':
            rec.upsertItem(e.item, rec.checkItemFeatures(e.features as FeatureRow));
            break;
          case 'delete-item':
            if (rec.hasItem(e.item)) rec.deleteItem(e.item);
            break;
          case 'user':
            rec.upsertUser(e.user, rec.checkUserFeatures(e.features as FeatureRow));
            break;
        }
        n++;
      } catch {
        // an entry the new model cannot take (its item or feature is gone): skipped, counted
        metrics.inc('tandem_replay_skipped_total', 'Logged entries a newly loaded model could not take.');
      }
    }
    return n;
  };

  const first = await load(opts.model);
  let live: Live = { ...first, loadedAt: Date.now() / 1000 };
  let lastReplayed = replay(live.rec);
  let reloading = false;

  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? 4 * 1024 * 1024,
    // ids up to the schemas' 256 characters (fastify's default stops path parameters at 100)
    routerOptions: { maxParamLength: 256 },
    // bad URLs and over-long ids, found before any route runs, answer in the same error shape
    frameworkErrors: (err, _req, reply) => {
      const h = toHttpError(err);
      void (reply as FastifyReply).code(h.status).type('application/json').send(h.toJSON());
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  });

  app.setErrorHandler((err, _req, reply) => {
    const h = toHttpError(err);
    if (h.status >= 500) app.log.error(err);
    void reply.code(h.status).type('application/json').send(h.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const h = new NotFoundError(`no route ${req.method} ${req.url.split('?')[0]}`);
    void reply.code(404).send(h.toJSON());
  });

  const started = new WeakMap<FastifyRequest, number>();
  app.addHook('onRequest', async (req) => {
    started.set(req, performance.now());
  });
  app.addHook('onResponse', async (req, reply) => {
    const t = started.get(req);
    metrics.observe(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, t === undefined ? 0 : performance.now() - t);
  });

  const requireKey = async (req: FastifyRequest): Promise<void> => {
    if (!apiDigest) return;
    const h = req.headers.authorization;
    const given = typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7) : req.headers['x-api-key'];
    if (typeof given !== 'string' || !timingSafeEqual(keyDigest(given), apiDigest)) throw new UnauthorizedError();
  };

  type Handler = (req: FastifyRequest, reply: FastifyReply) => unknown;
  const route = (key: string, handler: Handler, serialize = true): void => {
    const def: RouteSchema = ROUTES[key];
    const [method, url] = key.split(' ');
    const integers = Object.entries((def.querystring?.properties ?? {}) as Record<string, { type?: string }>)
      .filter(([, s]) => s.type === 'integer')
      .map(([n]) => n);
    app.route({
      method: method as 'GET',
      url,
      schema: {
        ...(def.params ? { params: def.params } : {}),
        ...(def.querystring ? { querystring: def.querystring } : {}),
        ...(def.body ? { body: def.body } : {}),
        ...(serialize ? { response: def.response } : {}),
      },
      onRequest: def.auth ? requireKey : undefined,
      // query strings are text: turn integer fields into numbers so the schema checks them (bodies stay strict)
      preValidation: integers.length
        ? async (req) => {
            const q = req.query as Record<string, unknown>;
            for (const n of integers) if (typeof q[n] === 'string' && /^-?\d+$/.test(q[n] as string)) q[n] = Number(q[n]);
          }
        : undefined,
      handler: async (req, reply) => handler(req, reply),
    });
  };

  const splitIds = (s: string | undefined): string[] | undefined => (s ? s.split(',').map((x) => x.trim()).filter((x) => x !== '') : undefined);

  route('GET /v1/users/:id/recommendations', (req) => {
    const rec = live.rec;
    const { id } = req.params as { id: string };
    const q = req.query as { k?: number; exclude?: string; category?: string };
    const r = rec.recommendForUser(id, { k: q.k, exclude: splitIds(q.exclude), category: q.category });
    return { user: id, modelVersion: rec.modelVersion, strategy: r.strategy, items: r.items };
  });

  route('POST /v1/recommendations', (req) => {
    const rec = live.rec;
    const b = req.body as { features?: FeatureRow; recent?: string[]; k?: number; exclude?: string[]; category?: string };
    const r = rec.recommendAnonymous({ features: b.features, recent: b.recent }, { k: b.k, exclude: b.exclude, category: b.category });
    return { modelVersion: rec.modelVersion, strategy: r.strategy, items: r.items };
  });

  route('GET /v1/items/:id/similar', (req) => {
    const rec = live.rec;
    const { id } = req.params as { id: string };
    const q = req.query as { k?: number; category?: string };
    const r = rec.similarItems(id, { k: q.k, category: q.category });
    return { item: id, modelVersion: rec.modelVersion, strategy: r.strategy, items: r.items };
  });

  route('POST /v1/events', (req) => {
    const rec = live.rec;
    const { events } = req.body as { events: EventInput[] };
    const checked = rec.checkEvents(events); // the whole batch or nothing
    store.appendEvents(checked.map((e) => ({ user: e.user, item: e.item, type: e.type, value: e.value, timestamp: e.timestamp })));
    rec.applyEvents(checked);
    metrics.inc('tandem_events_stored_total', 'Events stored in the event log.', checked.length);
    return { stored: checked.length, modelVersion: rec.modelVersion };
  });

  route('PUT /v1/items/:id', (req) => {
    const rec = live.rec;
    const { id } = req.params as { id: string };
    const features = rec.checkItemFeatures((req.body as { features: FeatureRow }).features);
    store.appendItem(id, features as Record<string, unknown>);
    return { id, created: rec.upsertItem(id, features) };
  });

  route('DELETE /v1/items/:id', (req) => {
    const rec = live.rec;
    const { id } = req.params as { id: string };
    if (!rec.hasItem(id)) throw new NotFoundError(`unknown item '${id}'`);
    store.appendItemDelete(id);
    rec.deleteItem(id);
    return { id, deleted: true };
  });

  route('PUT /v1/users/:id', (req) => {
    const rec = live.rec;
    const { id } = req.params as { id: string };
    const features = rec.checkUserFeatures((req.body as { features: FeatureRow }).features);
    store.appendUser(id, features as Record<string, unknown>);
    return { id, created: rec.upsertUser(id, features) };
  });

  const reload = async (dir?: string): Promise<ReloadResult> => {
    if (reloading) throw new ConflictError('a reload is already running');
    reloading = true;
    try {
      const next = await load(dir ?? opts.model);
      // from here to the swap nothing awaits: no request or event can land between replay and swap
      const replayed = replay(next.rec);
      const previousVersion = live.rec.modelVersion;
      live = { ...next, loadedAt: Date.now() / 1000 };
      lastReplayed = replayed;
      metrics.inc('tandem_model_reloads_total', 'Successful model reloads.');
      return { modelVersion: next.rec.modelVersion, previousVersion, model: next.resolved, replayed };
    } catch (err) {
      metrics.inc('tandem_model_reload_failures_total', 'Refused model reloads (the old model kept serving).');
      throw err;
    } finally {
      reloading = false;
    }
  };

  route('POST /v1/admin/reload', async (req) => {
    const b = (req.body ?? {}) as { model?: string };
    return reload(b.model);
  });

  route('GET /healthz', () => ({ status: 'ok' }));
  route('GET /readyz', () => ({ ready: true, modelVersion: live.rec.modelVersion, items: live.rec.stats().items }));
  route(
    'GET /metrics',
    (_req, reply) => {
      const s = live.rec.stats();
      void reply.type('text/plain; version=0.0.4');
      return metrics.render([
        { name: 'tandem_index_items', help: 'Items that can be recommended (trained plus added, minus deleted).', value: s.items },
        { name: 'tandem_items_deleted', help: 'Items deleted since the model was loaded.', value: s.deletedItems },
        { name: 'tandem_model_trained_items', help: 'Items the model was trained on.', value: s.trainedItems },
        { name: 'tandem_users_live', help: 'Users with events or features since the model was loaded.', value: s.liveUsers },
        { name: 'tandem_events_applied', help: 'Events applied to the serving model (including replayed ones).', value: s.eventsApplied },
        { name: 'tandem_replayed_entries', help: 'Logged entries replayed into the serving model when it was loaded.', value: lastReplayed },
        { name: 'tandem_model_info', help: 'The serving model (value 1).', value: 1, labels: { version: live.rec.modelVersion, tandem: version } },
        { name: 'tandem_model_loaded_timestamp_seconds', help: 'When the serving model was loaded.', value: live.loadedAt },
      ]);
    },
    false,
  );
  void app.register(dashboardPlugin, { current: () => live.rec, store });
  const doc = openApiDocument(ROUTES, version);
  route('GET /openapi.json', () => doc, false);

  return {
    app,
    store,
    current: () => ({ rec: live.rec, dir: live.dir, resolved: live.resolved }),
    reload,
    close: async () => {
      await app.close();
      store.close();
    },
  };
}
