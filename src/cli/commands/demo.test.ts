// The demo command end to end with a tiny shop: trained, served on a free port, answering, closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDemoCommand } from './demo.ts';
import { captureConsole } from '../../math/console.fixture.ts';

const TINY = ['--users', '200', '--items', '100', '--interactions', '4000', '--pipelines', 'popularity', '--show', '1', '--threads', '1'];

/** Runs `fn` with console output captured into `lines` (readable while it runs); its error is thrown. */
async function quietly<T>(fn: (lines: string[]) => Promise<T>): Promise<{ value: T; out: string }> {
  const r = await captureConsole(fn);
  if (r.error) throw r.error;
  return { value: r.value as T, out: r.out };
}

test('tandem demo serves its model directory: /healthz and the printed curl example answer, then it shuts down', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-demo-cli-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'demo-model');
  let url = '';
  const { value: code, out } = await quietly((lines) =>
    runDemoCommand([...TINY, '--out', dir, '--port', '0'], {
      serving: async (s) => {
        url = s.url;
        const health = await fetch(`${s.url}/healthz`);
        assert.equal(health.status, 200);
        assert.deepEqual(await health.json(), { status: 'ok' });
        // the first curl example, as printed, works
        const example = /curl '([^']+\/v1\/users\/([^/]+)\/recommendations\?k=5)'/.exec(lines.join('\n'));
        assert.ok(example, lines.join('\n'));
        const r = await fetch(example[1]);
        assert.equal(r.status, 200);
        const body = (await r.json()) as { user: string; items: { id: string; explanation: string }[] };
        assert.equal(body.user, example[2]);
        assert.equal(body.items.length, 5);
        // the dashboard has the served model's held-out figures (the table here left two-stage out: the engine measured itself)
        const o = (await (await fetch(`${s.url}/dashboard/api/overview`)).json()) as { metrics: Record<string, number>; metricsFrom: string | null };
        assert.equal(typeof o.metrics['ndcg@10'], 'number', JSON.stringify(o.metrics));
        assert.match(o.metricsFrom ?? '', /held-out evaluation/);
        const page = await (await fetch(`${s.url}/`)).text();
        assert.match(page, /<td>ndcg@10<\/td><td class="num">[\d.]+<\/td>/, 'shown at first paint');
      },
    }),
  );
  assert.equal(code, 0);
  assert.match(out, /dashboard: +http:\/\/127\.0\.0\.1:\d+\//);
  assert.ok((await stat(join(dir, 'manifest.json'))).isFile());
  assert.ok((await stat(`${dir}.events.db`)).isFile());
  // closed: the port no longer answers
  await assert.rejects(fetch(`${url}/healthz`));
});

test('tandem demo refuses a port in use before it trains anything', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-demo-cli-'));
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen({ port: 0, host: '127.0.0.1' }, resolve));
  t.after(async () => {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await rm(root, { recursive: true, force: true });
  });
  const port = (blocker.address() as AddressInfo).port;
  const dir = join(root, 'never-written');
  await assert.rejects(runDemoCommand([...TINY, '--out', dir, '--port', String(port)]), /port \d+ on 127\.0\.0\.1 is in use: .*--port/);
  await assert.rejects(access(dir), /ENOENT/);
});

test('tandem demo --no-serve stops after the table (no model directory unless --out asks for one)', async () => {
  const { value: code, out } = await quietly(() => runDemoCommand([...TINY, '--no-serve']));
  assert.equal(code, 0);
  assert.match(out, /^\[3\/3\] results/m);
  assert.match(out, /^popularity +\d/m);
  assert.doesNotMatch(out, /\[4\/|Serving/);
  assert.match(out, /demo finished in [\d.]+ s/);
});
