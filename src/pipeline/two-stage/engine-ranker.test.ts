import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry, makeRegistry, readModelDir, Recommender, trainModel } from '../engine/index.ts';
import { fixtureDataset } from '../engine/fixture.ts';
import { gbdtRankerKind } from './engine-ranker.ts';

test('the gbdt ranker kind trains through the engine, saves, loads, and explains by feature', async () => {
  const root = await mkdtemp(join(tmpdir(), 'gbdt-ranker-'));
  try {
    const reg = makeRegistry([...builtinRegistry().sources.values()], [gbdtRankerKind]);
    const dir = join(root, 'm');
    const ds = fixtureDataset({ users: 80, items: 60, perUser: 12 });
    await trainModel(dir, {
      dataset: ds,
      registry: reg,
      stages: [{ kind: 'ease', params: { lambda: 10 } }],
      ranker: { kind: 'gbdt', params: { candidates: 30, gbdt: { numRounds: 20, numLeaves: 4, minDataInLeaf: 5, earlyStoppingRounds: 5 } } },
      holdout: 0.2,
    });
    const rec = new Recommender(await readModelDir(dir, reg));
    const r = rec.recommendForUser('u1', { k: 6 }).items;
    assert.equal(r.length, 6);
    for (let i = 1; i < r.length; i++) assert.ok(r[i - 1].score >= r[i].score);
    // the fixture's users keep to their genre: user 1 prefers g1, items i with i % 4 == 1
    const inGenre = r.filter((x) => Number(x.id.slice(1)) % 4 === 1).length;
    assert.ok(inGenre >= 4, `${inGenre}/6 in the user's genre`);
    assert.ok(r.some((x) => x.explanation.includes('sim_') || x.explanation.includes('l1_') || x.explanation.includes('x_genre')), r.map((x) => x.explanation).join(' / '));
    await assert.rejects(
      trainModel(join(root, 'bad'), { dataset: ds, registry: reg, stages: [{ kind: 'ease', params: {} }], ranker: { kind: 'gbdt', params: { nope: 1 } }, holdout: 0.2 }),
      /ranker\.params\.nope/,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
