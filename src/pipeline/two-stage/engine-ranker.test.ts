import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry, makeRegistry, readModelDir, Recommender, trainModel } from '../engine/index.ts';
import { fixtureDataset } from '../engine/fixture.ts';
import { GbdtModel, RankerFeatures, type L1Block } from '../../ranking/index.ts';
import { userQuery } from '../../retrieval/index.ts';
import { gbdtRankerKind, topPositive } from './engine-ranker.ts';
import { Rng } from '../../math/index.ts';

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
    const loaded = await readModelDir(dir, reg);
    const rec = new Recommender(loaded);
    const r = rec.recommendForUser('u1', { k: 6 }).items;
    assert.equal(r.length, 6);
    for (let i = 1; i < r.length; i++) assert.ok(r[i - 1].score >= r[i].score);
    // the fixture's users keep to their genre: user 1 prefers g1, items i with i % 4 == 1
    const inGenre = r.filter((x) => Number(x.id.slice(1)) % 4 === 1).length;
    assert.ok(inGenre >= 4, `${inGenre}/6 in the user's genre`);
    assert.ok(r.some((x) => x.explanation.includes('sim_') || x.explanation.includes('l1_') || x.explanation.includes('x_genre')), r.map((x) => x.explanation).join(' / '));

    // the lazy explanation equals the eager reference (every candidate's contributions, sorted) on every candidate
    const ranker = loaded.ranker!;
    const n = 30;
    const cand = {
      count: n,
      items: Int32Array.from({ length: n }, (_, i) => (i * 7) % ds.numItems),
      scores: new Float32Array(n),
      source: new Uint8Array(n),
      sourceNames: ['ease'],
      sourceScores: Float32Array.from({ length: n }, (_, i) => (i % 5 === 4 ? NaN : 1 - i / n)),
      sourceRanks: Int32Array.from({ length: n }, (_, i) => (i % 5 === 4 ? -1 : i)),
    };
    const q = userQuery(loaded.dataset, 1);
    const out = ranker.rank(q, cand);
    assert.ok(out.explain && out.featureNames && !out.topFeatures);
    const explain = out.explain;
    const model = GbdtModel.load(join(dir, 'ranker', 'gbdt-model.json'));
    const feats = RankerFeatures.fit(loaded.dataset, ['ease']);
    const W = feats.width;
    const x = new Float32Array(n * W);
    const block: L1Block = { sources: ['ease'], count: n, items: cand.items, scores: cand.sourceScores, ranks: Float32Array.from(cand.sourceRanks, (v) => (v < 0 ? NaN : v)), l1Rank: Int32Array.from({ length: n }, (_, i) => i) };
    feats.extract(q, block, x, 0);
    const p = new Float64Array(n);
    model.predict(x, n, p);
    let explained = 0;
    for (let i = 0; i < n; i++) {
      assert.equal(out.scores[i], Math.fround(p[i]), `score of candidate ${i}`);
      const c = model.contributions(x.subarray(i * W, (i + 1) * W), new Float64Array(W + 1));
      const want = Array.from({ length: W }, (_, f) => f).filter((f) => c[f] > 0).sort((a, b) => c[b] - c[a] || a - b).slice(0, 3);
      const got: number[] = Array.from(explain(i)).filter((f) => f >= 0);
      assert.deepEqual(got, want, `candidate ${i}`);
      explained += got.length;
    }
    assert.ok(explained > 0, 'some candidate has a positive contribution');
    assert.throws(() => explain(n), /30 candidates/);
    ranker.rank(q, cand);
    assert.throws(() => explain(0), /later rank/);

    await assert.rejects(
      trainModel(join(root, 'bad'), { dataset: ds, registry: reg, stages: [{ kind: 'ease', params: {} }], ranker: { kind: 'gbdt', params: { nope: 1 } }, holdout: 0.2 }),
      /ranker\.params\.nope/,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('topPositive: the largest positive values, largest first, ties by index, -1 padded', () => {
  assert.deepEqual(Array.from(topPositive(Float64Array.of(0.1, -1, 0.5), 3, 2)), [2, 0]);
  assert.deepEqual(Array.from(topPositive(Float64Array.of(0, -1, NaN), 3, 2)), [-1, -1]);
  const rng = new Rng(7);
  for (let t = 0; t < 200; t++) {
    const n = 1 + (t % 40);
    // coarse values so ties happen
    const v = Float64Array.from({ length: n }, () => Math.round((rng.next() - 0.4) * 8) / 8);
    const top = 1 + (t % 5);
    const want = Array.from({ length: n }, (_, f) => f).filter((f) => v[f] > 0).sort((a, b) => v[b] - v[a] || a - b).slice(0, top);
    while (want.length < top) want.push(-1);
    assert.deepEqual(Array.from(topPositive(v, n, top)), want, `case ${t}`);
  }
});
