// Browser tests: Debian's Chromium, headless through playwright-core, against the real service on a
// free port (a small synthetic model with a GBDT ranker) and against a report `tandem evaluate` wrote.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../src/serve/index.ts';
import { CHROMIUM, haveChromium, launchBrowser } from './browser.ts';
import { trainFixtureModel } from './fixture.ts';

const KEY = 'e2e-key';
const skip = haveChromium() ? false : `no browser at ${CHROMIUM} (install Debian's chromium; .ci/run does)`;
let root = '';
let server: RunningServer;
let browser: { context: BrowserContext; close(): Promise<void> };
let page: Page;
const pageErrors: string[] = [];

async function api(path: string, init?: { method?: string; body?: unknown; key?: boolean }): Promise<any> {
  const headers: Record<string, string> = {};
  if (init?.body !== undefined) headers['content-type'] = 'application/json';
  if (init?.key) headers.authorization = `Bearer ${KEY}`;
  const res = await fetch(server.url + path, { method: init?.method ?? 'GET', headers, body: init?.body === undefined ? undefined : JSON.stringify(init.body) });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

/** Opens a dashboard route and waits until the page says it rendered. */
async function open(hash: string): Promise<void> {
  await page.goto(`${server.url}/${hash}`);
  await page.waitForSelector('main[data-ready="1"]');
}

const rowIds = (selector: string): Promise<string[]> => page.$$eval(`${selector} tbody tr[data-item]`, (rows) => rows.map((r) => (r as HTMLElement).dataset.item!));

/** Pixels drawn (alpha > 0) in each canvas under `selector`. */
const inked = (selector: string): Promise<number[]> =>
  page.$$eval(`${selector} canvas`, (cs) =>
    cs.map((c) => {
      const cv = c as HTMLCanvasElement;
      const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    }),
  );

before(async () => {
  if (skip) return;
  root = await mkdtemp(join(tmpdir(), 'tandem-e2e-'));
  const model = await trainFixtureModel(join(root, 'model'), { users: 200, items: 150, interactions: 5000 });
  // the trainer records no per-epoch history yet: add one where a future trainer may, to see it drawn
  const mf = join(model.dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(mf, 'utf8'));
  manifest.parameters.training = { 'two-tower': { valid: [1, 2, 3, 4].map((epoch) => ({ epoch, loss: 5 / epoch, validRecall: 0.1 * epoch, examplesPerSecond: 1e5 })) } };
  await writeFile(mf, JSON.stringify(manifest, null, 2));
  server = await startServer({ model: model.dir, registry: model.registry, port: 0, apiKey: KEY, store: `sqlite:${join(root, 'events.db')}`, log: () => {}, reloadOnSighup: false });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

test('overview shows the serving model and its settings', { skip }, async () => {
  await open('#/overview');
  const version = (await api('/readyz')).modelVersion;
  assert.equal(await page.textContent('#ov-version'), version);
  assert.match((await page.textContent('main'))!, /gbdt/);
  // one chart of losses, one of validation measures (throughput left out)
  const ink = await inked('#ov-curves');
  assert.equal(ink.length, 2);
  assert.ok(ink.every((n) => n > 100), `curve pixels ${ink}`);
  assert.match((await page.textContent('#ov-curves'))!, /two-tower \(validation run\): validRecall/);
  assert.doesNotMatch((await page.textContent('#ov-curves'))!, /examplesPerSecond/);
});

test('training curves: titled by stage and run, not by their path in the manifest; the x axis ticks whole epochs', { skip }, async () => {
  await open('#/overview');
  const titles = await page.$$eval('#ov-curves .u-title', (els) => els.map((e) => e.textContent));
  assert.deepEqual(titles, ['two-tower (validation run): loss', 'two-tower (validation run): validRecall']);
  const ticks = await page.$$eval('#ov-curves .chart', (els) => els.map((e) => (e as HTMLElement).dataset.xticks ?? ''));
  assert.equal(ticks.length, 2);
  for (const t of ticks) {
    assert.ok(t.length > 0, 'the epoch axis recorded its ticks');
    assert.ok(t.split(',').every((x) => Number.isInteger(Number(x)) && Number(x) >= 1 && Number(x) <= 4), `ticks ${t}`);
  }
});

test('first paint: what Chromium shows before any script ran (a headless screenshot at load) is the model, not "Loading…"', { skip }, async () => {
  // a browser with scripts off sees what a screenshot taken at load sees: the document as served,
  // no virtual-time budget to wait for the page's script
  const plain = await launchBrowser(undefined, { javaScriptEnabled: false });
  let html = '';
  try {
    const p = await plain.context.newPage();
    await p.goto(`${server.url}/`);
    html = await p.content();
    assert.match((await p.textContent('main'))!, /Held-out evaluation/);
  } finally {
    await plain.close();
  }
  const version = (await api('/readyz')).modelVersion;
  assert.doesNotMatch(html, /Loading…/);
  assert.match(html, new RegExp(`<span id="model-version" class="muted">model ${version}</span>`));
  assert.match(html, /id="first-paint"/);
  assert.match(html, /<dt>interactions<\/dt><dd>5,000<\/dd>/);
  assert.match(html, /ranker: gbdt/);
  // the icon the page links, and the one browsers ask for anyway
  for (const p of ['/dashboard/favicon.svg', '/favicon.ico']) {
    const res = await fetch(server.url + p);
    assert.equal(res.status, 200, p);
    assert.match(res.headers.get('content-type') ?? '', /image\/svg\+xml/);
  }
});

test('search a user: the recommendations shown are the API\u2019s, in order', { skip }, async () => {
  await open('#/user');
  await page.fill('#user-search', 'u1');
  await page.click('#user-go');
  await page.waitForFunction(() => location.hash === '#/user/u1' && document.querySelector('main')!.dataset.ready === '1' && document.querySelector('#recs'));
  const shown = await rowIds('#recs');
  const fromApi = (await api('/v1/users/u1/recommendations?k=10')).items.map((i: { id: string }) => i.id);
  assert.equal(shown.length, 10);
  assert.deepEqual(shown, fromApi);
  assert.equal(await page.textContent('#user-id'), 'u1');
  // the L1-only comparison lists the same request without the ranker
  await page.check('#compare-l1');
  await page.waitForSelector('#l1 tbody tr');
  const view = await api('/dashboard/api/users/u1?k=10');
  assert.deepEqual(await rowIds('#l1'), view.l1.map((i: { id: string }) => i.id));
  assert.equal(await page.locator('#recs th', { hasText: 'vs L1' }).count(), 1);
  await page.uncheck('#compare-l1');
  await page.waitForFunction(() => !document.querySelector('#l1'));
});

test('post an event: the user\u2019s history shows it at the top, and the recommendations follow the API', { skip }, async () => {
  await open('#/user/u2');
  const before = await rowIds('#history');
  const recs = await rowIds('#recs');
  const item = recs[0]; // a recommended item: certainly not yet in the history
  await api('/v1/events', { method: 'POST', key: true, body: { events: [{ user: 'u2', item, type: 'purchase' }] } });
  await page.click('#user-refresh');
  await page.waitForFunction((it) => document.querySelector('#history tbody tr')?.getAttribute('data-item') === it, item);
  const afterIds = await rowIds('#history');
  assert.equal(afterIds[0], item);
  assert.deepEqual(afterIds.slice(1, before.length), before.slice(0, before.length - 1));
  assert.equal(await page.getAttribute('#history tbody tr:first-child', 'class'), 'new');
  const fromApi = (await api('/v1/users/u2/recommendations?k=10')).items.map((i: { id: string }) => i.id);
  assert.deepEqual(await rowIds('#recs'), fromApi);
  assert.ok(!fromApi.includes(item));
});

test('a user the model never saw gets the fallback, shown as the API gives it', { skip }, async () => {
  await open('#/user/nobody-here');
  assert.equal(await page.textContent('#user-strategy'), 'popularity');
  assert.match((await page.textContent('#user-body'))!, /unknown to the model/);
  const fromApi = (await api('/v1/users/nobody-here/recommendations?k=10')).items.map((i: { id: string }) => i.id);
  assert.deepEqual(await rowIds('#recs'), fromApi);
  assert.deepEqual(await rowIds('#history'), []);
});

test('item page: features, similar items and a drawn popularity chart', { skip }, async () => {
  await open('#/item/i3');
  assert.equal(await page.textContent('#item-id'), 'i3');
  assert.match((await page.textContent('#item-features'))!, /category/);
  const sim = (await api('/v1/items/i3/similar?k=10')).items.map((i: { id: string }) => i.id);
  assert.deepEqual(await rowIds('#similar'), sim);
  const ink = await inked('#item-chart');
  assert.ok(ink.length > 0 && ink.some((n) => n > 100), `canvas pixels ${ink}`);
});

test('live page: events arrive over server-sent events', { skip }, async () => {
  await open('#/live');
  await api('/v1/events', { method: 'POST', key: true, body: { events: [{ user: 'live-user', item: 'i7', type: 'click' }, { user: 'live-user', item: 'i8' }] } });
  await page.waitForFunction(() => /live-user/.test(document.querySelector('#live-events tbody')?.textContent ?? ''), undefined, { timeout: 10_000 });
  const text = (await page.textContent('#live-applied'))!;
  assert.match(text, /events applied/);
});

test('try a new user: picking liked items updates the recommendations to the API\u2019s answer', { skip }, async () => {
  await open('#/try');
  await page.waitForSelector('#try-recs tbody tr');
  const first = await page.getAttribute('#try-picks input >> nth=0', 'value');
  const second = await page.getAttribute('#try-picks input >> nth=3', 'value');
  await page.check(`#try-picks input[value="${first}"]`);
  await page.check(`#try-picks input[value="${second}"]`);
  await page.selectOption('select[name="plan"]', { index: 1 });
  const plan = await page.inputValue('select[name="plan"]');
  const expected = (await api('/v1/recommendations', { method: 'POST', body: { features: { plan }, recent: [first, second], k: 10 } })).items.map((i: { id: string }) => i.id);
  await page.waitForFunction((ids) => [...document.querySelectorAll('#try-recs tbody tr')].map((r) => r.getAttribute('data-item')).join() === ids.join(), expected, { timeout: 10_000 });
  assert.match((await page.textContent('#try-strategy'))!, /personal/);
});

test('a narrow window: pages stack without sideways scrolling', { skip }, async () => {
  await page.setViewportSize({ width: 400, height: 800 });
  try {
    for (const h of ['#/overview', '#/user/u1', '#/item/i3', '#/try']) {
      await open(h);
      const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(over <= 1, `${h} overflows by ${over}px`);
    }
  } finally {
    await page.setViewportSize({ width: 1280, height: 860 });
  }
});

test('a report written by tandem evaluate --report renders its charts', { skip }, async () => {
  const file = join(root, 'report.html');
  const r = spawnSync(process.execPath, ['bin/tandem.mjs', 'evaluate', '--synthetic', '--users', '300', '--items', '200', '--interactions', '8000', '--pipelines', 'popularity,itemknn', '--threads', '1', '--report', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  await page.goto(`file://${file}`);
  await page.waitForSelector('#chart-recall canvas');
  for (const id of ['#chart-recall', '#chart-ndcg', '#chart-deciles']) {
    const ink = await inked(id);
    assert.ok(ink.length > 0 && ink.every((n) => n > 100), `${id} canvas pixels ${ink}`);
  }
  assert.ok((await page.locator('figure.bars svg path').count()) >= 4, 'activity bars drawn');
  assert.deepEqual(await page.$$eval('#metrics tbody tr td:first-child', (tds) => tds.map((t) => t.textContent)), ['popularity', 'itemknn']);
  assert.equal(await page.locator('#groups tbody tr').count(), 6);
});

test('no script errors in any page', { skip }, () => {
  assert.deepEqual(pageErrors, []);
});
