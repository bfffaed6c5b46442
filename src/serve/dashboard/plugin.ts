/**
 * The dashboard as a fastify plugin: the page at `/`, its static files under `/dashboard/`, and
 * read-only JSON under `/dashboard/api/`. Nothing here writes: the page's "try a new user" form calls
 * the public `POST /v1/recommendations`, and write routes keep their API key.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Engine } from '../../pipeline/index.ts';
import type { EventLog, LiveState } from '../../store/index.ts';
import { NotFoundError, BadRequestError } from '../errors.ts';
import { describeItem, itemView, popularItems, searchItems, searchUsers, trainingHistories, userFeatureChoices, userView } from './inspect.ts';
import { LiveFeed } from './live.ts';

export interface DashboardOptions {
  /**
   * The model and live state a request runs on (the one serving when it arrived, kept to its end:
   * a reload swaps them for later requests), or the one serving now without a request.
   */
  current: (req?: FastifyRequest) => { engine: Engine; state: LiveState };
  log: EventLog;
  /** Users with live events or features (the user search lists them after the model's own). */
  recentUsers?: () => Iterable<string>;
  /** Seconds between live updates (default 1). */
  liveInterval?: number;
}

const WEB = fileURLToPath(new URL('../../../web/', import.meta.url));
const UPLOT = fileURLToPath(new URL('../../../node_modules/uplot/dist/', import.meta.url));

/** Files the page loads: URL path -> file and content type. A fixed list: no path from a request reaches the file system. */
const STATIC: Record<string, { file: string; type: string }> = {
  '/dashboard/app.js': { file: WEB + 'app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: WEB + 'style.css', type: 'text/css; charset=utf-8' },
  '/dashboard/experiments.js': { file: WEB + 'experiments.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/vendor/uplot.js': { file: UPLOT + 'uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/vendor/uplot.css': { file: UPLOT + 'uPlot.min.css', type: 'text/css; charset=utf-8' },
  '/dashboard/favicon.svg': { file: WEB + 'favicon.svg', type: 'image/svg+xml' },
  // browsers ask for it whatever the page links: the same icon, not a 404
  '/favicon.ico': { file: WEB + 'favicon.svg', type: 'image/svg+xml' },
};

const escHtml = (v: unknown): string => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const num = (x: number): string => (Number.isInteger(x) ? x.toLocaleString('en') : String(Math.round(x * 10000) / 10000));

/**
 * The page's first paint, rendered here: what the model is, its data, stages and held-out figures, so a
 * screenshot (or a browser without scripts) shows the model at once rather than "Loading…"; the script
 * replaces it with the interactive page.
 */
export function firstPaint(engine: Engine): { main: string; version: string } {
  const m = engine.manifest;
  const stages = [...m.config.sources.map((s) => `${s.name} (${s.kind})`), ...m.config.fallbacks.map((s) => `${s.name} (${s.kind}, fallback)`)];
  const metrics = Object.entries(m.metrics ?? {}).filter(([, v]) => typeof v === 'number');
  return {
    version: `model ${escHtml(m.modelVersion)}`,
    main: `<h1>Overview</h1>
  <div class="grid" id="first-paint">
    <div class="card"><h2>Model</h2><dl class="kv"><dt>version</dt><dd>${escHtml(m.modelVersion)}</dd><dt>created</dt><dd>${escHtml(m.createdAt)}</dd><dt>Tandem</dt><dd>${escHtml(m.tandemVersion)}</dd></dl></div>
    <div class="card"><h2>Dataset</h2><dl class="kv"><dt>name</dt><dd>${escHtml(m.data.name)}</dd><dt>users</dt><dd>${num(m.data.users)}</dd><dt>items</dt><dd>${num(m.data.items)}</dd><dt>interactions</dt><dd>${num(m.data.interactions)}</dd></dl></div>
    <div class="card"><h2>Stages</h2><p>${stages.map((x) => `<span class="chip">${escHtml(x)}</span>`).join(' ')}</p><p>ranker: ${escHtml(m.config.ranker?.kind ?? 'none (the fused L1 order)')}</p></div>
    <div class="card"><h2>Held-out evaluation</h2>${metrics.length ? `<table><tbody>${metrics.map(([k, v]) => `<tr><td>${escHtml(k)}</td><td class="num">${num(v)}</td></tr>`).join('')}</tbody></table>` : '<p class="muted">no held-out figures in the manifest</p>'}</div>
  </div>`,
  };
}

function intParam(v: unknown, name: string, lo: number, hi: number, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) throw new BadRequestError(`${name}: must be an integer from ${lo} to ${hi}`, name);
  return n;
}

/**
 * Registers the dashboard on `app`.
 * @example app.register(dashboardPlugin, { current: () => live.rec, store })
 */
export async function dashboardPlugin(app: FastifyInstance, opts: DashboardOptions): Promise<void> {
  const cache = new Map<string, Buffer>();
  let page: string | null = null;
  app.get('/', async (req, reply: FastifyReply) => {
    page ??= await readFile(WEB + 'index.html', 'utf8');
    const fp = firstPaint(opts.current(req).engine);
    const html = page.replace('<main id="main" aria-live="polite"><p class="muted">Loading…</p></main>', `<main id="main" aria-live="polite">${fp.main}</main>`).replace('<span id="model-version" class="muted"></span>', `<span id="model-version" class="muted">${fp.version}</span>`);
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(html);
  });
  for (const [url, f] of Object.entries(STATIC)) {
    app.get(url, async (_req, reply: FastifyReply) => {
      let body = cache.get(url);
      if (!body) {
        body = await readFile(f.file);
        cache.set(url, body);
      }
      return reply.type(f.type).header('cache-control', 'no-cache').send(body);
    });
  }
  app.get('/dashboard', async (_req, reply) => reply.redirect('/'));

  app.get('/dashboard/api/overview', async (req) => {
    const { engine, state } = opts.current(req);
    const m = engine.manifest;
    const c = m.config;
    const stage = (s: (typeof c.sources)[number], role: string) => ({ name: s.name, kind: s.kind, role, weight: s.weight, candidates: s.candidates ?? engine.candidateCount, params: s.params });
    return {
      modelVersion: m.modelVersion,
      createdAt: m.createdAt,
      tandemVersion: m.tandemVersion,
      data: m.data,
      stats: { ...engine.stats(), liveUsers: (await state.stats()).users },
      metrics: m.metrics,
      metricsFrom: typeof m.parameters.metricsFrom === 'string' ? m.parameters.metricsFrom : null,
      stages: [...c.sources.map((s) => stage(s, 'source')), ...c.fallbacks.map((s) => stage(s, 'fallback'))],
      candidates: engine.candidateCount,
      ranker: c.ranker ? { kind: c.ranker.kind, params: c.ranker.params, features: m.ranker?.features ?? [], summary: m.ranker?.summary ?? {} } : null,
      business: c.business,
      parameters: m.parameters,
      schema: {
        users: m.schema.user.map((f) => `${f.name} (${f.kind})`),
        items: m.schema.item.map((f) => `${f.name} (${f.kind})`),
        events: m.schema.eventTypes.map((e) => `${e.name} (${e.negative ? '-' : ''}${e.weight})`),
      },
      trainingHistory: trainingHistories(m),
    };
  });

  app.get('/dashboard/api/users', async (req) => {
    const q = req.query as { q?: string; limit?: string };
    return { users: searchUsers(opts.current(req).engine, q.q ?? '', intParam(q.limit, 'limit', 1, 200, 20), opts.recentUsers?.() ?? []) };
  });

  app.get('/dashboard/api/users/:id', async (req) => {
    const { id } = req.params as { id: string };
    const q = req.query as { k?: string; history?: string };
    const { engine, state } = opts.current(req);
    return { modelVersion: engine.modelVersion, ...(await userView(engine, state, id, intParam(q.k, 'k', 1, engine.maxK, 10), intParam(q.history, 'history', 1, 1000, 30))) };
  });

  app.get('/dashboard/api/items', async (req) => {
    const q = req.query as { q?: string; limit?: string };
    return { items: searchItems(opts.current(req).engine, q.q ?? '', intParam(q.limit, 'limit', 1, 200, 20)) };
  });

  app.get('/dashboard/api/items/:id', async (req) => {
    const { id } = req.params as { id: string };
    const q = req.query as { k?: string };
    const { engine } = opts.current(req);
    const view = itemView(engine, id);
    if (!view) throw new NotFoundError(`unknown item '${id}'`);
    const similar = engine.similarItems(id, { k: intParam(q.k, 'k', 1, engine.maxK, 10) });
    return { modelVersion: engine.modelVersion, ...view, similarStrategy: similar.strategy, similar: similar.items.map((s) => ({ id: s.id, score: s.score, source: s.source, explanation: s.explanation.text, ...describeItem(engine, s.id) })) };
  });

  app.get('/dashboard/api/describe', async (req) => {
    const q = req.query as { items?: string };
    const ids = (q.items ?? '').split(',').filter((x) => x !== '');
    if (ids.length > 200) throw new BadRequestError('items: at most 200 ids', 'items');
    const { engine } = opts.current(req);
    return { items: ids.map((id) => ({ id, ...describeItem(engine, id) })) };
  });

  app.get('/dashboard/api/form', async (req) => {
    const { engine } = opts.current(req);
    return { features: userFeatureChoices(engine), popular: popularItems(engine, 40) };
  });

  const feed = new LiveFeed(opts.current, opts.log, (opts.liveInterval ?? 1) * 1000);
  const streams = new Set<import('node:http').ServerResponse>();
  // an open event stream never goes idle: end them first, or closing the server would wait on them
  app.addHook('preClose', async () => {
    feed.stop();
    for (const res of streams) res.end();
    streams.clear();
  });
  app.get('/dashboard/api/live/snapshot', async () => feed.snapshot());
  app.get('/dashboard/api/live', (req, reply) => {
    // server-sent events: one shared ticker, one write per client per tick
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    void feed.snapshot().then((s) => res.write(`retry: 3000\ndata: ${JSON.stringify(s)}\n\n`), () => res.write('retry: 3000\n\n'));
    const off = feed.subscribe((s) => res.write(`data: ${JSON.stringify(s)}\n\n`));
    streams.add(res);
    req.raw.on('close', () => {
      off();
      streams.delete(res);
    });
  });
}

