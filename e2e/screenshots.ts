/**
 * Makes the docs' screenshots: trains a synthetic model (EASE + two-tower, GBDT ranker, held-out
 * metrics), serves it, drives a little live traffic, and photographs every dashboard page, a narrow
 * window, and an evaluation report.
 *   node --import tsx e2e/screenshots.ts [--out docs] [--report-data /path/to/ml-100k] [--report-pipelines a,b] [--model DIR]
 * With --model, the model is trained into DIR when DIR does not exist and reused when it does
 * (training takes a few minutes on 2 cores).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/serve/index.ts';
import { launchBrowser } from './browser.ts';
import { fixtureRegistry, trainFixtureModel } from './fixture.ts';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const out = arg('--out', 'docs');
const ml = arg('--report-data', '/work/shared/datasets/ml-100k');
const reportPipelines = arg('--report-pipelines', 'popularity,itemknn');
const root = await mkdtemp(join(tmpdir(), 'tandem-shots-'));
const modelDir = arg('--model', join(root, 'model'));
let registry;
if (existsSync(modelDir)) registry = fixtureRegistry();
else {
  console.error('training the screenshot model...');
  const m = await trainFixtureModel(modelDir, { users: 2000, items: 800, interactions: 60000, twoTower: true, holdout: 0.2 });
  console.error(`trained in ${m.seconds.toFixed(1)} s`);
  registry = m.registry;
}
const model = { dir: modelDir, registry };
const server = await startServer({ model: model.dir, registry: model.registry, port: 0, store: `sqlite:${join(root, 'events.db')}`, log: () => {}, reloadOnSighup: false });
const browser = await launchBrowser({ width: 1280, height: 860 });
const page = await browser.context.newPage();
const shot = async (hash: string, file: string, prepare?: () => Promise<void>): Promise<void> => {
  await page.goto(`${server.url}/${hash}`);
  await page.waitForSelector('main[data-ready="1"]');
  if (prepare) await prepare();
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(out, file), fullPage: true });
  console.error(`wrote ${join(out, file)}`);
};
const post = (events: unknown[]) => fetch(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });

try {
  await shot('#/overview', 'dashboard-overview.png');
  await post([{ user: 'u12', item: 'i40', type: 'purchase' }]);
  await page.evaluate(() => sessionStorage.setItem('compareL1', '1'));
  await shot('#/user/u12', 'dashboard-user.png');
  await page.evaluate(() => sessionStorage.setItem('compareL1', '0'));
  await shot('#/item/i40', 'dashboard-item.png');
  await shot('#/try', 'dashboard-try.png', async () => {
    for (const n of [0, 2, 5]) await page.check(`#try-picks input >> nth=${n}`);
    await page.selectOption('select[name="country"]', { index: 2 });
    await page.waitForTimeout(500);
  });
  await shot('#/live', 'dashboard-live.png', async () => {
    // a few seconds of modest traffic so the rate chart has a shape
    for (let s = 0; s < 8; s++) {
      const n = 20 + 15 * s;
      await post(Array.from({ length: n }, (_, i) => ({ user: `u${(s * 37 + i) % 2000}`, item: `i${(s * 11 + i * 7) % 800}`, type: i % 5 === 0 ? 'click' : 'view' })));
      await page.waitForTimeout(1000);
    }
  });
  await page.setViewportSize({ width: 420, height: 900 });
  await shot('#/user/u12', 'dashboard-narrow.png');
  await page.setViewportSize({ width: 1200, height: 900 });
  const report = join(root, 'report.html');
  const data = existsSync(join(ml, 'u.data')) ? ['--dataset', 'movielens-100k', '--data', ml] : ['--synthetic'];
  const r = spawnSync(process.execPath, ['bin/tandem.mjs', 'evaluate', ...data, '--pipelines', reportPipelines, '--report', report], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  await page.goto(`file://${report}`);
  await page.waitForSelector('#chart-recall canvas');
  await page.screenshot({ path: join(out, 'report.png'), fullPage: true });
  console.error(`wrote ${join(out, 'report.png')}`);
} finally {
  await browser.close();
  await server.close();
  await rm(root, { recursive: true, force: true });
}
