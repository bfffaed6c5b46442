/**
 * The HTTP service: a fastify app over one Engine (the same request path `tandem evaluate` scores), the
 * event log and the live state it feeds (the store layer), auth, metrics and atomic model reload.
 * Writes go to the log first (durable before the reply), then to the live state and the serving
 * engine, both idempotent by sequence number, so a reload that replays the log never counts an entry twice.
 *
 * A model is loaded, checked (the model directory's integrity, then a smoke check of real requests),
 * replayed and swapped in; every request runs to its end on the model it started on (it is pinned), and
 * a swapped-out model is disposed when its last request ends: its kernel memory and native indexes go
 * back at once, so reloads do not grow the process. At request time a failing stage is left out of that
 * answer (logged, counted in `tandem_stage_failures_total{stage}`), and `/readyz` re-runs the smoke check
 * to say whether the model still answers.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { builtinRegistry, disposeModel, Engine, ModelDirError, readModelDir, smokeCheck, tandemVersion, type EventInput, type Model, type RecommendResult, type SmokeRequest, type StageRegistry } from '../pipeline/index.ts';
import { replayStartOf } from '../pipeline/index.ts';
import { InputError, ParamError } from '../schema/index.ts';
import { GroupCommitLog, openEventLog, openLiveState, StoreError, type EventLog, type LiveState, type LogEntry, type LogRecord } from '../store/index.ts';
import { UnknownEntityError } from '../features/index.ts';
import { BadRequestError, ConflictError, HttpError, NotFoundError, UnauthorizedError, UnavailableError, UnprocessableError } from './errors.ts';
import { Metrics } from './metrics.ts';
import { LogFeed } from './log-feed.ts';
import { dashboardPlugin } from './dashboard/index.ts';
import { MAX_K, openApiDocument, ROUTES, type RouteSchema } from './schemas.ts';
import { ExperimentService } from './experiments.ts';

export interface ServiceOptions {
  /** The model directory to serve (a symlink to the current one works well with reload). */
  model: string;
  /** When set, write and admin routes require it (`Authorization: Bearer KEY` or `x-api-key: KEY`). */
  apiKey?: string | null;
  /** The event log: `sqlite:FILE` (default `sqlite:tandem-events.db`), `sqlite::memory:`, `memory` or `postgres://…` (shared by replicas). */
  store?: string;
  /** The live state: `memory` (default) or `redis://…` (shared by replicas). */
  live?: string;
  /** How long a replica waits before retrying the log or the live state after a failure, in ms (default 500). */
  retryMs?: number;
  /** Overrides the model's L1 -> L2 candidate count. */
  candidates?: number;
  /** Largest request body in bytes (default 4 MiB). */
  bodyLimit?: number;
  registry?: StageRegistry;
  /** fastify's logger (default off). */
  logger?: boolean;
  /** Where warnings (failing stages, readiness) and reload outcomes go (default console.error). */
  log?: (line: string) => void;
  /** An experiments file (docs/experiments.md): its arms' models are loaded beside the served one; API-created experiments are written back to it. */
  experiments?: string | null;
}

/** Whether a model can answer: the smoke check at load, re-run when stages fail. */
interface Health {
  ready: boolean;
  reason: string | null;
  /** Set by a stage failure or a 500 since the last check: the next /readyz re-checks. */
  dirty: boolean;
  /** The smoke requests that answered items when the model was loaded: they must keep answering. */
  baseline: ReadonlySet<SmokeRequest>;
  checkedAt: number;
  /** Per stage: failures, the last one's time (ms) and message, and what was logged. */
  failing: Map<string, { count: number; last: number; message: string; loggedAt: number; unlogged: number }>;
}

/** The serving model and the live state built for it from the log. */
interface Live {
  engine: Engine;
  model: Model;
  state: LiveState;
  /** The directory as configured or asked for, and what it resolved to when loaded. */
  dir: string;
  resolved: string;
  loadedAt: number;
  health: Health;
  /** Requests running on this model (pinned at their start). */
  refs: number;
  /** Swapped out: disposed when its last request ends. */
  retired: boolean;
  /** Keeps engine and state up to date with the log, whoever appends (this replica or another on the same log). */
  feed: LogFeed;
}

/** A loaded, checked model not yet serving; its engine reports stage failures to `slot.live` once it serves. */
interface Loaded {
  baseline: ReadonlySet<SmokeRequest>;
  engine: Engine;
  model: Model;
  dir: string;
  resolved: string;
  slot: { live: Live | null };
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
  /**
   * Loads `dir` (default: the configured model) and swaps to it; throws ModelDirError and keeps the old
   * one when it is broken. `via` names what asked, for the log line (default 'API').
   */
  reload(dir?: string, via?: string): Promise<ReloadResult>;
  /** Readiness now (re-checked when stages failed since the last check). */
  readiness(): { ready: boolean; reason: string | null; degraded: string[] };
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
  // the event log (or another store) out of reach: nothing was stored, worth a retry
  if (err instanceof StoreError && err.code === 'unavailable') return new UnavailableError(`the event log cannot be reached, nothing was stored; retry later: ${err.message}`);
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
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HttpError(415, 'unsupported_media_type', 'body: send JSON with the header "content-type: application/json"', 'content-type');
  }
  if (fe instanceof SyntaxError) return new BadRequestError(`body: malformed JSON (${fe.message})`, 'body');
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) return new HttpError(fe.statusCode, STATUS_CODE_NAMES[fe.statusCode] ?? 'bad_request', fe.message);
  return new HttpError(500, 'internal', 'internal error');
}

/** Stable error codes for statuses fastify or node answer on their own. */
const STATUS_CODE_NAMES: Record<number, string> = { 408: 'timeout', 413: 'body_too_large', 414: 'uri_too_long', 415: 'unsupported_media_type', 431: 'headers_too_large' };

/** The path of the first `__proto__` (or `constructor.prototype`) key in a parsed body, or null. */
function forbiddenKey(v: unknown, path = ''): string | null {
  if (v === null || typeof v !== 'object') return null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = forbiddenKey(v[i], `${path}[${i}]`);
      if (p) return p;
    }
    return null;
  }
  for (const k of Object.keys(v)) {
    const here = path ? `${path}.${k}` : k;
    if (k === '__proto__') return here;
    const child = (v as Record<string, unknown>)[k];
    if (k === 'constructor' && child !== null && typeof child === 'object' && Object.hasOwn(child, 'prototype')) return `${here}.prototype`;
    const p = forbiddenKey(child, here);
    if (p) return p;
  }
  return null;
}

/**
 * Answers a request node refused before fastify saw it (headers over the limit, a malformed request
 * line) in the same error shape as every other answer.
 */
function clientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'headers: larger than the server accepts (16 KiB in all)']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'timeout', 'request: not received in time']
        : [400, 'bad_request', `request: malformed HTTP (${err.code ?? err.message})`];
  const body = JSON.stringify(new HttpError(status, code, message, status === 431 ? 'headers' : undefined).toJSON());
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function keyDigest(k: string): Buffer {
  return createHash('sha256').update(k).digest();
}

/**
 * Builds the service around the model directory `opts.model`.
 * @example const svc = await createService({ model: 'models/current', apiKey: 's3cret' }); await svc.app.listen({ port: 8080 })
 */
export async function createService(opts: ServiceOptions): Promise<Service> {
  // an empty key (`--api-key "$KEY"` with KEY unset) must not mean "no auth"
  if (opts.apiKey === '') throw new Error('apiKey: empty; give a key, or null to serve without one');
  const registry = opts.registry ?? builtinRegistry();
  const say = opts.log ?? ((l: string) => console.error(l));
  // group commit on durable logs: concurrent appends (one-event POSTs, exposures) share a transaction
  // (`tandem bench log`: 10x on SQLite, 30x on PostgreSQL); the memory log has no commit to share
  const opened = await openEventLog(opts.store ?? 'sqlite:tandem-events.db');
  const log = opened.kind === 'memory' ? opened : new GroupCommitLog(opened);
  const liveUrl = opts.live ?? 'memory';
  const metrics = new Metrics();
  const version = await tandemVersion();
  const apiDigest = opts.apiKey ? keyDigest(opts.apiKey) : null;
  const FAILURES = 'tandem_stage_failures_total';
  const FAILURES_HELP = 'Requests in which a stage (source, fallback or ranker) failed and the others answered.';
  metrics.declare('tandem_events_stored_total', 'Events stored in the event log.');
  metrics.declare('tandem_exposures_logged_total', 'Answers of users in a running experiment (each an exposure in the event log).');
  metrics.declare('tandem_model_reloads_total', 'Successful model reloads.');
  metrics.declare('tandem_model_reload_failures_total', 'Refused model reloads (the old model kept serving).');
  metrics.declare('tandem_replay_skipped_total', 'Logged entries a newly loaded model could not take.');
  metrics.declare('tandem_live_state_failures_total', 'Requests answered without the live state because it failed.');

  /** A stage failed in a request: counted, logged (the first at once, then at most one line per stage every 10 s), readiness re-checked. */
  const stageFailed = (l: Live, stage: string, err: unknown): void => {
    metrics.inc(FAILURES, FAILURES_HELP, 1, { stage });
    const now = Date.now();
    const message = err instanceof Error ? err.message : String(err);
    let f = l.health.failing.get(stage);
    if (!f) l.health.failing.set(stage, (f = { count: 0, last: 0, message, loggedAt: 0, unlogged: 0 }));
    f.count++;
    f.last = now;
    f.message = message;
    f.unlogged++;
    l.health.dirty = true;
    if (now - f.loggedAt >= 10_000) {
      say(`warning: stage '${stage}' of model ${l.engine.modelVersion} failed${f.unlogged > 1 ? ` (${f.unlogged} times since the last report)` : ''}, the other stages answered: ${message}`);
      f.loggedAt = now;
      f.unlogged = 0;
    }
  };

  const load = async (dir: string): Promise<Loaded> => {
    let resolved: string;
    try {
      resolved = await realpath(dir);
    } catch {
      throw new ModelDirError(`${dir}: no such model directory`);
    }
    const model = await readModelDir(resolved, registry);
    // until it serves, a stage failure is a smoke-check problem: collected, and the model refused
    const slot: { live: Live | null; probe: string[] | null } = { live: null, probe: [] };
    let engine: Engine;
    try {
      engine = new Engine(model, {
        maxK: MAX_K,
        candidates: opts.candidates,
        onStageError: (stage, err) => {
          if (slot.probe) slot.probe.push(`stage '${stage}' failed: ${err instanceof Error ? err.message : String(err)}`);
          else if (slot.live) stageFailed(slot.live, stage, err);
        },
      });
    } catch (err) {
      disposeModel(model);
      throw err;
    }
    const r = smokeCheck(engine);
    const problems = [...slot.probe!, ...r.problems];
    slot.probe = null;
    if (problems.length) {
      disposeModel(model);
      throw new ModelDirError(`${resolved}: the smoke check failed (${r.requests} requests through the loaded model): ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`);
    }
    for (const s of [...engine.sourceNames, ...engine.config.fallbacks.map((f) => f.name!), ...(engine.hasRanker ? ['ranker'] : [])]) metrics.declare(FAILURES, FAILURES_HELP, { stage: s });
    const baseline = new Set(Object.entries(r.answered).filter(([, n]) => n! > 0).map(([k]) => k as SmokeRequest));
    return { engine, model, dir, resolved, slot, baseline };
  };

  /** The serving record of a loaded model and its replayed state. */
  const serving = (next: Loaded, state: LiveState, from: number): Live => {
    const engine = next.engine;
    const feed = new LogFeed({ log, state, from, say, retryMs: opts.retryMs, applyModel: (es) => applyModel(engine, es), modelPosition: () => engine.logState().position });
    const l: Live = { engine, model: next.model, state, dir: next.dir, resolved: next.resolved, loadedAt: Date.now() / 1000, health: { ready: true, reason: null, dirty: false, baseline: next.baseline, checkedAt: Date.now(), failing: new Map() }, refs: 0, retired: false, feed };
    next.slot.live = l;
    feed.start();
    return l;
  };

  /** Frees a model nothing runs on any more: its kernel memory, native indexes and live state. */
  const release = (l: Live): void => {
    // the feed may be applying to the engine: it stops first
    void l.feed.stop().then(() => {
      disposeModel(l.model);
      void l.state.close();
    });
  };

  /** A swapped-out model: disposed now, or when the last request still running on it ends. */
  const retire = (l: Live): void => {
    l.retired = true;
    if (l.refs === 0) release(l);
  };

  const unpin = (l: Live): void => {
    if (--l.refs === 0 && l.retired) release(l);
  };

  /** Whether `l` can answer: re-runs the smoke check (at most once a second) after failures. */
  const checkHealth = (l: Live): Health => {
    const h = l.health;
    if (!h.dirty || Date.now() - h.checkedAt < 1000) return h;
    h.dirty = false;
    h.checkedAt = Date.now();
    // degraded answers count (the other stages answer); no answer, a throw or a non-finite score do not
    const r = smokeCheck(l.engine, { mustAnswer: h.baseline });
    const was = h.ready;
    h.ready = r.ok;
    h.reason = r.ok ? null : r.problems.slice(0, 3).join('; ');
    // not ready: look again at the next /readyz (a second on), whatever made it fail
    if (!r.ok) h.dirty = true;
    if (was !== h.ready) say(h.ready ? `ready again: model ${l.engine.modelVersion} answers` : `not ready: model ${l.engine.modelVersion} cannot answer: ${h.reason}`);
    return h;
  };

  // users with events or features since the model, newest last: the dashboard's user search finds them
  const recentUsers = new Set<string>();
  const RECENT_USERS = 10_000;
  /** Applies log entries to a model's in-process part (catalog, counters; idempotent by seq). */
  const applyModel = (engine: Engine, entries: readonly LogEntry[]): void => {
    for (const e of entries) {
      if (e.kind !== 'event' && e.kind !== 'user') continue;
      recentUsers.delete(e.user);
      recentUsers.add(e.user);
      if (recentUsers.size > RECENT_USERS) recentUsers.delete(recentUsers.values().next().value!);
    }
    const before = engine.logState().skipped;
    engine.applyEntries(entries);
    experiments?.applyEntries(entries);
    const skipped = engine.logState().skipped - before;
    // an entry the model cannot take (its item or feature is gone): skipped, counted
    if (skipped > 0) metrics.inc('tandem_replay_skipped_total', 'Logged entries a newly loaded model could not take.', skipped);
  };

  // set once the first model serves; log entries reach its arm models too
  let experiments: ExperimentService | null = null;

  /** A fresh live state for `engine`: the log replayed from the model's creation on. */
  const replay = async (engine: Engine): Promise<{ state: LiveState; replayed: number; from: number }> => {
    const state = await openLiveState(liveUrl);
    try {
      // a model trained from this log (tandem train --store) replays from the last seq it was trained on;
      // one trained from files, from its creation time
      const from = replayStartOf(engine.manifest, opts.store ?? 'sqlite:tandem-events.db', await log.lastSeq()) ?? (await log.seqBefore(Date.parse(engine.manifest.createdAt) / 1000));
      // a shared state (Redis) may hold what other replicas applied (everything up to its position):
      // only what lies beyond is sent to it; position() also adopts its generation
      const held = await state.position();
      let replayed = 0;
      for await (const batch of log.scan(from)) {
        if (batch[batch.length - 1].seq > held) await state.apply(batch[0].seq > held ? batch : batch.filter((e) => e.seq > held));
        applyModel(engine, batch);
        replayed += batch.length;
      }
      return { state, replayed, from };
    } catch (err) {
      await state.close();
      throw err;
    }
  };

  /**
   * Appends records to the log (durable before the reply), then waits until the model serving at that
   * moment and the live state hold them, together with anything another replica appended before them.
   */
  const append = async (records: LogRecord[]): Promise<LogEntry[]> => {
    const entries = await log.append(records);
    // read `live` after the await: a reload may have swapped the model meanwhile (its feed follows the log too)
    await live.feed.wrote(entries);
    return entries;
  };

  /** A user's live state, or null (the model alone answers) while the live state is out of reach. */
  const liveUser = async (cur: Live, id: string) => {
    try {
      return await cur.state.user(id);
    } catch (err) {
      if (err instanceof StoreError && (err.code === 'unavailable' || err.code === 'stale' || err.code === 'storage')) {
        metrics.inc('tandem_live_state_failures_total', 'Requests answered without the live state because it failed.');
        return null;
      }
      throw err;
    }
  };

  let first: Loaded;
  let firstReplay: { state: LiveState; replayed: number; from: number };
  try {
    first = await load(opts.model);
  } catch (err) {
    // refused at start-up: nothing serves, so nothing keeps the log open
    await log.close();
    throw err;
  }
  try {
    firstReplay = await replay(first.engine);
  } catch (err) {
    disposeModel(first.model);
    await log.close();
    throw err;
  }
  let live: Live = serving(first, firstReplay.state, firstReplay.from);
  try {
    experiments = await ExperimentService.open({
      file: opts.experiments ?? null,
      loadModel: async (dir) => {
        const l = await load(dir);
        return { engine: l.engine, model: l.model, resolved: l.resolved, dispose: () => disposeModel(l.model) };
      },
      log,
      say,
      served: first,
      // not awaited: the answer does not wait for the feed, which only keeps the exposure's seq in hand
      appended: (entries) => void live.feed.wrote(entries),
    });
  } catch (err) {
    disposeModel(first.model);
    await firstReplay.state.close();
    await log.close();
    throw err;
  }
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
    // so do requests node refuses itself (headers over 16 KiB: 431)
    clientErrorHandler: clientError,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  });

  // JSON only (anything else is a 415 in the error shape); an empty body is no body (reload's default);
  // a `__proto__` key anywhere is refused naming where it is
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return done(new BadRequestError(`body: malformed JSON (${(err as Error).message})`, 'body'), undefined);
    }
    const bad = forbiddenKey(value);
    if (bad) return done(new BadRequestError(`${bad}: the key '${bad.endsWith('prototype') ? 'constructor.prototype' : '__proto__'}' is not allowed`, bad), undefined);
    done(null, value);
  });

  app.setErrorHandler((err, req, reply) => {
    const h = toHttpError(err);
    if (h.status >= 500) {
      app.log.error(err);
      const l = pins.get(req);
      if (l) l.health.dirty = true;
      say(`error: ${req.method} ${req.url.split('?')[0]} answered 500: ${err instanceof Error ? err.message : String(err)}`);
    }
    void reply.code(h.status).type('application/json').send(h.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const h = new NotFoundError(`no route ${req.method} ${req.url.split('?')[0]}`);
    void reply.code(404).send(h.toJSON());
  });

  const started = new WeakMap<FastifyRequest, number>();
  // every request runs on the model serving when it arrived, to its end (a reload meanwhile waits to dispose it)
  const pins = new WeakMap<FastifyRequest, Live>();
  const pinned = (req: FastifyRequest): Live => pins.get(req) ?? live;
  app.addHook('onRequest', async (req, reply) => {
    started.set(req, performance.now());
    // the dashboard's event stream lasts as long as its client: it reads the serving model at each tick instead
    if (req.routeOptions.url === '/dashboard/api/live') return;
    const l = live;
    l.refs++;
    pins.set(req, l);
    let done = false;
    // 'close' comes after the response is sent, or when the client went away first
    reply.raw.once('close', () => {
      if (done) return;
      done = true;
      unpin(l);
    });
  });
  app.addHook('onResponse', async (req, reply) => {
    const t = started.get(req);
    metrics.observe(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, t === undefined ? 0 : performance.now() - t);
  });

  const requireKey = async (req: FastifyRequest): Promise<void> => {
    if (!apiDigest) return;
    const h = req.headers.authorization;
    // the scheme is case-insensitive (RFC 7235: `bearer KEY` is `Bearer KEY`)
    const bearer = typeof h === 'string' ? /^\s*bearer\s+(\S+)\s*$/i.exec(h)?.[1] : undefined;
    const given = bearer ?? req.headers['x-api-key'];
    // digests of equal length, compared in constant time: neither the key nor its length leaks through timing
    if (typeof given !== 'string' || !timingSafeEqual(keyDigest(given), apiDigest)) throw new UnauthorizedError();
  };

  type Handler = (req: FastifyRequest, reply: FastifyReply, cur: Live) => unknown;
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
      preValidation:
        integers.length || def.optionalBody
          ? async (req) => {
              const q = req.query as Record<string, unknown>;
              for (const n of integers) if (typeof q[n] === 'string' && /^-?\d+$/.test(q[n] as string)) q[n] = Number(q[n]);
              if (def.optionalBody && (req.body === undefined || req.body === null)) req.body = {};
            }
          : undefined,
      handler: async (req, reply) => handler(req, reply, pinned(req)),
    });
  };

  const splitIds = (s: string | undefined): string[] | undefined => (s ? s.split(',').map((x) => x.trim()).filter((x) => x !== '') : undefined);

  const shape = (r: RecommendResult) => r.items.map((it) => ({ id: it.id, score: it.score, source: it.source, explanation: it.explanation.text, reasons: { foundBy: it.explanation.foundBy, rankedUpBy: it.explanation.rankedUpBy, adjustments: it.explanation.adjustments, fallback: it.explanation.fallback } }));

  route('GET /v1/users/:id/recommendations', async (req, _reply, cur) => {
    const { id } = req.params as { id: string };
    const q = req.query as { k?: number; exclude?: string; category?: string };
    const state = await liveUser(cur, id);
    const ask = (engine: Engine, o: { ranker: boolean } = { ranker: true }) => engine.recommend({ user: id, live: state, k: q.k, exclude: splitIds(q.exclude), category: q.category, ranker: o.ranker });
    // a user in a running experiment is answered by their arm, and the exposure is logged first
    const x = experiments!.active ? await experiments!.answer(id, cur, ask, q.k ?? 10) : null;
    if (x?.exposureId) metrics.inc('tandem_exposures_logged_total', 'Answers of users in a running experiment (each an exposure in the event log).');
    if (x) return { user: id, modelVersion: x.modelVersions.join('+'), strategy: x.result.strategy, items: shape(x.result), experiment: x.experiment, arm: x.arm, ...(x.exposureId ? { exposureId: x.exposureId } : {}) };
    const r = ask(cur.engine);
    return { user: id, modelVersion: cur.engine.modelVersion, strategy: r.strategy, items: shape(r) };
  });

  route('POST /v1/recommendations', (req, _reply, cur) => {
    const engine = cur.engine;
    const b = req.body as { features?: Record<string, unknown>; recent?: string[]; k?: number; exclude?: string[]; category?: string };
    const r = engine.recommend({ features: b.features as never, recent: b.recent, k: b.k, exclude: b.exclude, category: b.category });
    return { modelVersion: engine.modelVersion, strategy: r.strategy, items: shape(r) };
  });

  route('GET /v1/items/:id/similar', (req, _reply, cur) => {
    const engine = cur.engine;
    const { id } = req.params as { id: string };
    const q = req.query as { k?: number; category?: string };
    const r = engine.similarItems(id, { k: q.k, category: q.category });
    return { item: id, modelVersion: engine.modelVersion, strategy: r.strategy, items: shape(r) };
  });

  route('POST /v1/events', async (req, _reply, cur) => {
    const { events } = req.body as { events: (EventInput & { exposureId?: string })[] };
    const checked = cur.engine.checkEvents(events); // the whole batch or nothing
    await append(checked.map((e, i) => ({ kind: 'event', user: e.user, item: e.item, type: e.type, value: e.value, timestamp: e.timestamp, ...(events[i].exposureId === undefined ? {} : { exposureId: events[i].exposureId }) })));
    metrics.inc('tandem_events_stored_total', 'Events stored in the event log.', checked.length);
    return { stored: checked.length, modelVersion: live.engine.modelVersion };
  });

  route('PUT /v1/items/:id', async (req, _reply, cur) => {
    const { id } = req.params as { id: string };
    const features = cur.engine.checkItemFeatures((req.body as { features: unknown }).features);
    const isNew = !cur.engine.hasItem(id);
    await append([{ kind: 'item', item: id, features: features as Record<string, unknown> }]);
    return { id, created: isNew };
  });

  route('DELETE /v1/items/:id', async (req, _reply, cur) => {
    const { id } = req.params as { id: string };
    if (!cur.engine.hasItem(id)) throw new NotFoundError(`unknown item '${id}'`);
    await append([{ kind: 'delete-item', item: id }]);
    return { id, deleted: true };
  });

  route('PUT /v1/users/:id', async (req, _reply, cur) => {
    const { id } = req.params as { id: string };
    const features = cur.engine.checkUserFeatures((req.body as { features: unknown }).features);
    const isNew = cur.engine.userIndexOf(id) < 0 && (await liveUser(cur, id)) === null;
    await append([{ kind: 'user', user: id, features: features as Record<string, unknown> }]);
    return { id, created: isNew };
  });

  const reload = async (dir?: string, via = 'API'): Promise<ReloadResult> => {
    if (reloading) throw new ConflictError('a reload is already running');
    reloading = true;
    const target = dir ?? opts.model;
    try {
      const next = await load(target);
      let replayed: number;
      let state: LiveState;
      let from: number;
      try {
        ({ state, replayed, from } = await replay(next.engine));
      } catch (err) {
        disposeModel(next.model);
        throw err;
      }
      const previous = live;
      live = serving(next, state, from);
      // entries appended while the replay ran went to the old model; the new one takes them now (its follower would too)
      for await (const batch of log.scan(live.feed.status().model)) await live.feed.wrote(batch);
      lastReplayed = replayed;
      retire(previous);
      metrics.inc('tandem_model_reloads_total', 'Successful model reloads.');
      say(`reload (${via}): ${previous.engine.modelVersion} -> ${next.engine.modelVersion} (${next.resolved}, ${replayed} logged entries replayed)`);
      return { modelVersion: next.engine.modelVersion, previousVersion: previous.engine.modelVersion, model: next.resolved, replayed };
    } catch (err) {
      metrics.inc('tandem_model_reload_failures_total', 'Refused model reloads (the old model kept serving).');
      say(`reload (${via}) of ${target} refused, still serving ${live.engine.modelVersion}: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    } finally {
      reloading = false;
    }
  };

  route('POST /v1/admin/reload', async (req) => {
    const b = (req.body ?? {}) as { model?: string };
    return reload(b.model, 'API');
  });

  /** Readiness of `l`, and the stages that failed in the last minute. */
  const readiness = (l: Live): { ready: boolean; reason: string | null; degraded: string[] } => {
    const h = checkHealth(l);
    const since = Date.now() - 60_000;
    const degraded = [...h.failing].filter(([, f]) => f.last >= since).map(([s]) => s);
    // answering all the same: without the live state, or without what other replicas logged since
    const feed = l.feed.status();
    if (feed.stateMode !== 'ok') degraded.push('live-state');
    if (feed.logError !== null) degraded.push('event-log');
    return { ready: h.ready, reason: h.reason, degraded };
  };

  route('GET /healthz', () => ({ status: 'ok' }));
  route('GET /readyz', (_req, reply, cur) => {
    const r = readiness(cur);
    if (!r.ready) void reply.code(503);
    return { ready: r.ready, modelVersion: cur.engine.modelVersion, items: cur.engine.stats().items, ...(r.degraded.length ? { degraded: r.degraded } : {}), ...(r.reason ? { reason: r.reason } : {}) };
  });
  route(
    'GET /metrics',
    async (_req, reply, cur) => {
      const s = cur.engine.stats();
      // the live state out of reach: its figures are unknown (NaN), the rest is reported
      const st = await cur.state.stats().catch(() => ({ users: NaN, events: NaN, items: NaN }));
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
  void app.register(dashboardPlugin, {
    current: (req) => {
      const l = req ? pinned(req) : live;
      return { engine: l.engine, state: l.state };
    },
    log,
    recentUsers: () => recentUsers,
  });
  route('GET /v1/experiments', () => ({ experiments: experiments!.list(), models: experiments!.memory() }));
  route('POST /v1/experiments', async (req, reply, cur) => {
    const created = await experiments!.create(req.body, undefined, cur);
    void reply.code(201);
    return created;
  });
  route('POST /v1/experiments/:name/stop', (req) => experiments!.stop((req.params as { name: string }).name));
  route('GET /v1/experiments/:name/report', (req) => experiments!.report((req.params as { name: string }).name));

  const doc = openApiDocument(ROUTES, version);
  route('GET /openapi.json', () => doc, false);

  return {
    app,
    log,
    current: () => ({ engine: live.engine, state: live.state, dir: live.dir, resolved: live.resolved }),
    reload,
    readiness: () => readiness(live),
    close: async () => {
      await app.close();
      retire(live);
      experiments?.close();
      await log.close();
    },
  };
}
