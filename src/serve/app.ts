/**
 * The HTTP service: a fastify app over one Engine (the same request path `tandem evaluate` scores), the
 * event log and the live state it feeds (the store layer), auth, metrics and atomic model reload.
 * Writes go to the log first (durable before the reply), then to the live state and the serving
 * engine, both idempotent by sequence number, so a reload that replays the log never counts an entry twice.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { builtinRegistry, Engine, ModelDirError, readModelDir, tandemVersion, type EventInput, type RecommendResult, type StageRegistry } from '../pipeline/index.ts';
import { InputError, ParamError } from '../schema/index.ts';
import { openEventLog, openLiveState, StoreError, type EventLog, type LiveState, type LogEntry, type LogRecord } from '../store/index.ts';
import { UnknownEntityError } from '../features/index.ts';
import { BadRequestError, ConflictError, HttpError, NotFoundError, UnauthorizedError, UnprocessableError } from './errors.ts';
import { Metrics } from './metrics.ts';
import { dashboardPlugin } from './dashboard/index.ts';
import { MAX_K, openApiDocument, ROUTES, type RouteSchema } from './schemas.ts';

export interface ServiceOptions {
  /** The model directory to serve (a symlink to the current one works well with reload). */
  model: string;
  /** When set, write and admin routes require it (`Authorization: Bearer KEY` or `x-api-key: KEY`). */
  apiKey?: string | null;
  /** The event log: `sqlite:FILE` (default `sqlite:tandem-events.db`), `sqlite::memory:` or `memory`. */
  store?: string;
  /** The live state: `memory` (default). */
  live?: string;
  /** Overrides the model's L1 -> L2 candidate count. */
  candidates?: number;
  /** Largest request body in bytes (default 4 MiB). */
  bodyLimit?: number;
  registry?: StageRegistry;
  /** fastify's logger (default off). */
  logger?: boolean;
}

/** The serving model and the live state built for it from the log. */
interface Live {
  engine: Engine;
  state: LiveState;
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
  log: EventLog;
  /** The model now serving and its live state. */
  current(): { engine: Engine; state: LiveState; dir: string; resolved: string };
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
  if (err instanceof ParamError) return new BadRequestError(err.message, err.field);
  if (err instanceof StoreError && err.code === 'invalid') return new BadRequestError(err.message, err.field);
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
  const log = await openEventLog(opts.store ?? 'sqlite:tandem-events.db');
  const liveUrl = opts.live ?? 'memory';
  const metrics = new Metrics();
  const version = await tandemVersion();
  const apiDigest = opts.apiKey ? keyDigest(opts.apiKey) : null;

  const load = async (dir: string): Promise<{ engine: Engine; dir: string; resolved: string }> => {
    let resolved: string;
    try {
      resolved = await realpath(dir);
    } catch {
      throw new ModelDirError(`${dir}: no such model directory`);
    }
    const model = await readModelDir(resolved, registry);
    return { engine: new Engine(model, { maxK: MAX_K, candidates: opts.candidates }), dir, resolved };
  };

  // users with events or features since the model, newest last: the dashboard's user search finds them
  const recentUsers = new Set<string>();
  const RECENT_USERS = 10_000;
  /** Applies log entries to a model and its live state (both idempotent by seq). */
  const applyTo = async (engine: Engine, state: LiveState, entries: readonly LogEntry[]): Promise<void> => {
    await state.apply(entries);
    for (const e of entries) {
      if (e.kind !== 'event' && e.kind !== 'user') continue;
      recentUsers.delete(e.user);
      recentUsers.add(e.user);
      if (recentUsers.size > RECENT_USERS) recentUsers.delete(recentUsers.values().next().value!);
    }
    const before = engine.logState().skipped;
    engine.applyEntries(entries);
    const skipped = engine.logState().skipped - before;
    // an entry the model cannot take (its item or feature is gone): skipped, counted
    if (skipped > 0) metrics.inc('tandem_replay_skipped_total', 'Logged entries a newly loaded model could not take.', skipped);
  };

  /** A fresh live state for `engine`: the log replayed from the model's creation on. */
  const replay = async (engine: Engine): Promise<{ state: LiveState; replayed: number }> => {
    const state = await openLiveState(liveUrl);
    const from = await log.seqBefore(Date.parse(engine.manifest.createdAt) / 1000);
    let replayed = 0;
    for await (const batch of log.scan(from)) {
      await applyTo(engine, state, batch);
      replayed += batch.length;
    }
    return { state, replayed };
  };

  /** Appends records to the log, then applies them to the model serving at that moment. */
  const append = async (records: LogRecord[]): Promise<LogEntry[]> => {
    const entries = await log.append(records);
    // read `live` after the await: a reload may have swapped the model meanwhile (apply is idempotent)
    const cur = live;
    await applyTo(cur.engine, cur.state, entries);
    return entries;
  };

  const first = await load(opts.model);
  const firstReplay = await replay(first.engine);
  let live: Live = { ...first, state: firstReplay.state, loadedAt: Date.now() / 1000 };
  let lastReplayed = firstReplay.replayed;
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

  const shape = (r: RecommendResult) => r.items.map((it) => ({ id: it.id, score: it.score, source: it.source, explanation: it.explanation.text, reasons: { foundBy: it.explanation.foundBy, rankedUpBy: it.explanation.rankedUpBy, adjustments: it.explanation.adjustments, fallback: it.explanation.fallback } }));

  route('GET /v1/users/:id/recommendations', async (req) => {
    const { id } = req.params as { id: string };
    const q = req.query as { k?: number; exclude?: string; category?: string };
    const cur = live;
    const state = await cur.state.user(id);
    const r = cur.engine.recommend({ user: id, live: state, k: q.k, exclude: splitIds(q.exclude), category: q.category });
    return { user: id, modelVersion: cur.engine.modelVersion, strategy: r.strategy, items: shape(r) };
  });

  route('POST /v1/recommendations', (req) => {
    const engine = live.engine;
    const b = req.body as { features?: Record<string, unknown>; recent?: string[]; k?: number; exclude?: string[]; category?: string };
    const r = engine.recommend({ features: b.features as never, recent: b.recent, k: b.k, exclude: b.exclude, category: b.category });
    return { modelVersion: engine.modelVersion, strategy: r.strategy, items: shape(r) };
  });

  route('GET /v1/items/:id/similar', (req) => {
    const engine = live.engine;
    const { id } = req.params as { id: string };
    const q = req.query as { k?: number; category?: string };
    const r = engine.similarItems(id, { k: q.k, category: q.category });
    return { item: id, modelVersion: engine.modelVersion, strategy: r.strategy, items: shape(r) };
  });

  route('POST /v1/events', async (req) => {
    const { events } = req.body as { events: EventInput[] };
    const checked = live.engine.checkEvents(events); // the whole batch or nothing
    await append(checked.map((e) => ({ kind: 'event', user: e.user, item: e.item, type: e.type, value: e.value, timestamp: e.timestamp })));
    metrics.inc('tandem_events_stored_total', 'Events stored in the event log.', checked.length);
    return { stored: checked.length, modelVersion: live.engine.modelVersion };
  });

  route('PUT /v1/items/:id', async (req) => {
    const { id } = req.params as { id: string };
    const features = live.engine.checkItemFeatures((req.body as { features: unknown }).features);
    const isNew = !live.engine.hasItem(id);
    await append([{ kind: 'item', item: id, features: features as Record<string, unknown> }]);
    return { id, created: isNew };
  });

  route('DELETE /v1/items/:id', async (req) => {
    const { id } = req.params as { id: string };
    if (!live.engine.hasItem(id)) throw new NotFoundError(`unknown item '${id}'`);
    await append([{ kind: 'delete-item', item: id }]);
    return { id, deleted: true };
  });

  route('PUT /v1/users/:id', async (req) => {
    const { id } = req.params as { id: string };
    const features = live.engine.checkUserFeatures((req.body as { features: unknown }).features);
    const isNew = live.engine.userIndexOf(id) < 0 && (await live.state.user(id)) === null;
    await append([{ kind: 'user', user: id, features: features as Record<string, unknown> }]);
    return { id, created: isNew };
  });

  const reload = async (dir?: string): Promise<ReloadResult> => {
    if (reloading) throw new ConflictError('a reload is already running');
    reloading = true;
    try {
      const next = await load(dir ?? opts.model);
      const { state, replayed } = await replay(next.engine);
      const previous = live;
      live = { ...next, state, loadedAt: Date.now() / 1000 };
      // entries appended while the replay ran went to the old model; the new one takes them now
      for await (const batch of log.scan(await state.position())) await applyTo(next.engine, state, batch);
      lastReplayed = replayed;
      await previous.state.close();
      metrics.inc('tandem_model_reloads_total', 'Successful model reloads.');
      return { modelVersion: next.engine.modelVersion, previousVersion: previous.engine.modelVersion, model: next.resolved, replayed };
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
  route('GET /readyz', () => ({ ready: true, modelVersion: live.engine.modelVersion, items: live.engine.stats().items }));
  route(
    'GET /metrics',
    async (_req, reply) => {
      const cur = live;
      const s = cur.engine.stats();
      const st = await cur.state.stats();
      void reply.type('text/plain; version=0.0.4');
      return metrics.render([
        { name: 'tandem_index_items', help: 'Items that can be recommended (trained plus added, minus deleted).', value: s.items },
        { name: 'tandem_items_deleted', help: 'Items deleted since the model was loaded.', value: s.deletedItems },
        { name: 'tandem_model_trained_items', help: 'Items the model was trained on.', value: s.trainedItems },
        { name: 'tandem_users_live', help: 'Users with events or features since the model was loaded.', value: st.users },
        { name: 'tandem_events_applied', help: 'Events applied to the serving model (including replayed ones).', value: s.eventsObserved },
        { name: 'tandem_replayed_entries', help: 'Logged entries replayed into the serving model when it was loaded.', value: lastReplayed },
        { name: 'tandem_model_info', help: 'The serving model (value 1).', value: 1, labels: { version: cur.engine.modelVersion, tandem: version } },
        { name: 'tandem_model_loaded_timestamp_seconds', help: 'When the serving model was loaded.', value: cur.loadedAt },
      ]);
    },
    false,
  );
  void app.register(dashboardPlugin, { current: () => ({ engine: live.engine, state: live.state }), log, recentUsers: () => recentUsers });
  const doc = openApiDocument(ROUTES, version);
  route('GET /openapi.json', () => doc, false);

  return {
    app,
    log,
    current: () => ({ engine: live.engine, state: live.state, dir: live.dir, resolved: live.resolved }),
    reload,
    close: async () => {
      await app.close();
      await live.state.close();
      await log.close();
    },
  };
}
