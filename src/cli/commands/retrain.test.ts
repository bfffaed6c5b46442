// `tandem train --store URL --promote LINK` end to end: a server on models/current takes items, deletes
// and events through its API; the retrain reads them from the log, is promoted over the files-only
// model, and the server (--reload-interval) picks it up, replaying the log only after the seq the new
// model was trained through. A worse candidate leaves the link where it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureDataset, writeDatasetFiles } from '../../pipeline/index.ts';
import { startServer } from '../../serve/index.ts';
import { trainCommand } from './train.ts';

async function quiet<T>(fn: () => Promise<T>): Promise<{ value: T; out: string }> {
  const lines: string[] = [];
  const [log, err] = [console.log, console.error];
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  console.error = () => {};
  try {
    return { value: await fn(), out: lines.join('\n') };
  } finally {
    console.log = log;
    console.error = err;
  }
}

test('tandem train --store --promote: promoted over the files-only model, picked up by a server with --reload-interval; a worse one is refused', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-retrain-cli-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const base = fixtureDataset();
  const config = await writeDatasetFiles(base, join(root, 'data'));
  const store = `sqlite:${join(root, 'events.db')}`;
  const current = join(root, 'models', 'current');
  const data = ['--config', config, '--holdout', '0', '--quiet'];
  const first = await quiet(() => trainCommand.run([...data, '--out', join(root, 'models', 'm0'), '--stages', 'popularity', '--ranker', 'none']));
  assert.equal(first.value, 0);
  await symlink('m0', current);
  const lines: string[] = [];
  const server = await startServer({ model: current, port: 0, store, apiKey: null, reloadIntervalS: 0.05, reloadOnSighup: false, log: (l) => lines.push(l) });
  try {
    const call = async (method: string, path: string, body: unknown) => {
      const res = await fetch(`${server.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.text()}`);
    };
    await call('PUT', '/v1/items/new1', { features: { genre: ['g0'], price: 6 } });
    const del = await fetch(`${server.url}/v1/items/i0`, { method: 'DELETE' });
    assert.ok(del.ok, `DELETE /v1/items/i0: ${del.status}`);
    // the users' later activity in their genre (the fixture's rule), and new1 among genre-0 users
    const events: { user: string; item: string; type: string; timestamp: number }[] = [];
    let ts = 1_700_100_000;
    for (let k = 0; k < 3; k++)
      for (let u = 0; u < base.numUsers; u++) {
        const g = u % 4;
        events.push({ user: `u${u}`, item: g === 0 && k === 0 && u < 40 ? 'new1' : `i${g + 4 * ((u * 7 + k * 3) % 20 || 1)}`, type: 'view', timestamp: ts++ });
      }
    for (let i = 0; i < events.length; i += 50) await call('POST', '/v1/events', { events: events.slice(i, i + 50) });
    const v0 = server.service.current().engine.modelVersion;

    const promoted = await quiet(() => trainCommand.run([...data, '--store', store, '--promote', current, '--stages', 'ease', '--ranker', 'none', '--promote-holdout', '0.3']));
    assert.equal(promoted.value, 0);
    assert.match(promoted.out, /promotion check/);
    assert.match(promoted.out, /ndcg@10 +new [\d.]+ +current [\d.]+/);
    assert.match(promoted.out, /promotion: new ndcg@10 [\d.]+ >= current [\d.]+: promoted/);
    const target = await realpath(current);
    assert.notEqual(target, await realpath(join(root, 'models', 'm0')));
    const manifest = JSON.parse(await readFile(join(target, 'manifest.json'), 'utf8'));
    assert.equal(manifest.parameters.log.store, `sqlite:${join(root, 'events.db')}`);
    assert.ok(manifest.parameters.log.lastSeq >= events.length + 2);
    assert.equal(manifest.parameters.promotion.promoted, true);
    assert.ok(manifest.parameters.promotion.comparison.candidate?.['ndcg@10'] >= manifest.parameters.promotion.comparison.current?.['ndcg@10'], JSON.stringify(manifest.parameters.promotion));

    for (let i = 0; i < 300 && server.service.current().engine.modelVersion === v0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.notEqual(server.service.current().engine.modelVersion, v0, `reloaded within 3 s; log:\n${lines.join('\n')}`);
    assert.equal(server.service.current().engine.modelVersion, manifest.modelVersion);
    assert.ok(lines.some((l) => /reload \(interval.*\(.*, 0 logged entries replayed\)/.test(l)), `replayed from the seq it was trained through; log:\n${lines.join('\n')}`);
    for (const u of ['u0', 'u1', 'u4', 'u8']) {
      const body = (await (await fetch(`${server.url}/v1/users/${u}/recommendations?k=20`)).json()) as { items: { id: string }[] };
      assert.ok(!body.items.some((x) => x.id === 'i0'), `the deleted item stays gone for ${u}`);
    }
    const newUser = (await (await fetch(`${server.url}/v1/users/u44/recommendations?k=20`)).json()) as { items: { id: string }[] };
    assert.ok(newUser.items.length > 0);

    // more events, then a worse candidate (popularity only): refused, the link stays
    const later: typeof events = [];
    for (let k = 3; k < 6; k++)
      for (let u = 0; u < base.numUsers; u++) later.push({ user: `u${u}`, item: `i${(u % 4) + 4 * ((u * 7 + k * 3) % 20 || 1)}`, type: 'view', timestamp: ts++ });
    let posted = 0;
    for (let i = 0; i < later.length; i += 50) {
      const batch = later.slice(i, i + 50).filter((e) => e.item !== 'i0');
      await call('POST', '/v1/events', { events: batch });
      posted += batch.length;
    }
    const refused = await quiet(() => trainCommand.run([...data, '--store', store, '--promote', current, '--stages', 'popularity', '--ranker', 'none', '--promote-holdout', '0.5', '--json']));
    const s = JSON.parse(refused.out);
    assert.equal(s.promotion.promoted, false, JSON.stringify(s.promotion));
    assert.ok(s.promotion.comparison.candidate?.['ndcg@10'] < s.promotion.comparison.current?.['ndcg@10'], JSON.stringify(s.promotion));
    assert.equal(await realpath(current), target, 'current stays');
    // a server started on the log-trained model replays only what was logged after it was trained
    const second = await startServer({ model: target, port: 0, store, apiKey: null, reloadOnSighup: false, log: () => {} });
    try {
      const metrics = await (await fetch(`${second.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`^tandem_replayed_entries ${posted}$`, 'm'));
      const u0 = (await (await fetch(`${second.url}/v1/users/u0/recommendations?k=20`)).json()) as { items: { id: string }[] };
      assert.ok(!u0.items.some((x) => x.id === 'i0'));
    } finally {
      await second.close();
    }
    await assert.rejects(trainCommand.run([...data, '--promote', current]), /--promote compares models on logged events: give the log with --store/);
    await assert.rejects(trainCommand.run([...data]), /--out DIR is required/);
  } finally {
    await server.close();
  }
});
