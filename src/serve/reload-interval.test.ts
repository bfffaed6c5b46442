// `--reload-interval`: a server on a models/current symlink follows the link on its own, refuses a
// broken target once (the old model keeps serving) and moves on when the link does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry, fixtureDataset, trainModel } from '../pipeline/index.ts';
import { startServer } from './index.ts';

/** Repoints `link` to `target` atomically (a new link renamed over the old one), as a deploy script would. */
async function repoint(link: string, target: string): Promise<void> {
  const tmp = `${link}.tmp`;
  await rm(tmp, { force: true });
  await symlink(target, tmp);
  await rename(tmp, link);
}

test('--reload-interval: the server follows models/current when it moves, refuses a broken target once, keeps serving', async () => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-reload-interval-'));
  const lines: string[] = [];
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  try {
    const dataset = fixtureDataset();
    const registry = builtinRegistry();
    const config = (lambda: number) => ({ sources: [{ kind: 'ease', params: { lambda } }], fallbacks: [{ kind: 'popularity' }] });
    await trainModel(join(root, 'a'), { dataset, registry, config: config(10), holdout: 0 });
    await trainModel(join(root, 'b'), { dataset, registry, config: config(20), holdout: 0 });
    await cp(join(root, 'a'), join(root, 'broken'), { recursive: true });
    await writeFile(join(root, 'broken', 'data/items.bin'), 'garbage');
    const current = join(root, 'current');
    await symlink(join(root, 'a'), current);
    server = await startServer({ model: current, port: 0, store: 'memory', apiKey: null, reloadIntervalS: 0.05, reloadOnSighup: false, log: (l) => lines.push(l) });
    const s = server;
    const version = () => s.service.current().engine.modelVersion;
    const resolved = () => s.service.current().resolved;
    const until = async (what: string, cond: () => boolean) => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(cond(), `${what} within 2 s; log:\n${lines.join('\n')}`);
    };
    const v1 = version();
    await repoint(current, join(root, 'b'));
    await until('the swap to b', () => resolved().endsWith('/b'));
    const v2 = version();
    assert.notEqual(v2, v1);
    await repoint(current, join(root, 'broken'));
    await until('the refusal', () => lines.some((l) => /refused/.test(l)));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(version(), v2, 'the old model keeps serving');
    assert.equal(lines.filter((l) => /refused/.test(l)).length, 1, 'a refused target is tried once, not at every tick');
    assert.equal((await fetch(`${s.url}/v1/users/u1/recommendations?k=3`)).status, 200);
    await repoint(current, join(root, 'a'));
    await until('the swap back to a', () => resolved().endsWith('/a'));
    assert.ok(lines.some((l) => /reload \(interval/.test(l)));
  } finally {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  }
});
