import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TwoTowerSource, type CandidateSource, type TwoTowerConfig } from '../retrieval/index.ts';
import { plainSearch } from '../vectors/index.ts';
import { builtinRegistry, checkEngineConfig, Engine, fitEngine, fixtureDataset, pipelineConfig, readModelDir, trainModel } from './index.ts';

// small and quick: the tests check the wiring, not the model's quality
const TINY: Partial<TwoTowerConfig> = { epochs: 2, embeddingDim: 8, hidden: [16], dim: 8, batchSize: 16, temperature: 0.2 };

async function tmp(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'tandem-tt-index-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return root;
}

async function trainedDir(t: { after: (fn: () => Promise<void>) => void }, kind: 'exact' | 'hnsw') {
  const root = await tmp(t);
  const dataset = fixtureDataset();
  const dir = join(root, 'model');
  const config = { sources: [{ kind: 'two-tower', params: { ...TINY, threads: 1, index: { kind, efSearch: 40 } } }], fallbacks: [{ kind: 'content' }, { kind: 'popularity' }] };
  const res = await trainModel(dir, { dataset, registry: builtinRegistry(), config, holdout: 0, seed: 3 });
  return { dir, dataset, res };
}

const asTT = (s: CandidateSource): TwoTowerSource => {
  assert.ok(s instanceof TwoTowerSource);
  return s;
};

for (const kind of ['exact', 'hnsw'] as const) {
  test(`engine two-tower stage (${kind}): the model directory holds the index, reload reads it, answers come from it`, async (t) => {
    const { dir, dataset, res } = await trainedDir(t, kind);
    const files = Object.keys(res.manifest.files);
    for (const f of ['manifest.json', 'vectors.f32', 'labels.i32', ...(kind === 'hnsw' ? ['hnsw.bin'] : [])]) assert.ok(files.includes(`stages/two-tower/index/${f}`), `${f} in ${files.join(', ')}`);
    const model = await readModelDir(dir, builtinRegistry());
    // the training curves the dashboard draws: one entry per epoch of the fit, in the manifest as written
    const curves = (model.manifest.parameters.training as Record<string, { fit: { epoch: number; loss: number }[] }>)['two-tower'].fit;
    assert.deepEqual(curves.map((e) => e.epoch), Array.from({ length: curves.length }, (_, i) => i + 1));
    assert.ok(curves.length >= 1 && curves.every((e) => Number.isFinite(e.loss)));
    const tt = asTT(model.stages[0]);
    assert.equal(tt.indexOrigin, 'loaded', 'the index is read, not rebuilt');
    const ix = tt.vectorIndex();
    assert.equal(ix.kind, kind);
    assert.equal(ix.size, dataset.numItems);
    assert.equal(tt.indexOrigin, 'loaded');

    // the source's answer is the index's answer for the user embedding (seen items excluded)
    const q = dataset.query(5);
    const seen = new Set(q.history);
    const got = tt.candidates(q, 20, seen);
    const u = tt.model!.embedQuery(q);
    const want = ix.search(u, 20, { exclude: seen });
    assert.deepEqual(Array.from(got.items), Array.from(want.ids));
    if (kind === 'exact') assert.deepEqual(Array.from(got.scores), Array.from(want.scores));
    for (const it of got.items) assert.ok(!seen.has(it));
    // scores are the model's dot products whatever the index stores (HNSW indexes centred vectors)
    assert.equal(tt.indexCenter() !== null, kind === 'hnsw');
    if (kind === 'hnsw') assert.ok(files.includes('stages/two-tower/index-center.json'));
    const vecs = tt.itemEmbeddings();
    got.items.forEach((it, r) => {
      let d = 0;
      for (let j = 0; j < u.length; j++) d += u[j] * vecs[it * u.length + j];
      assert.ok(Math.abs(d - got.scores[r]) < 1e-5, `item ${it}: score ${got.scores[r]} vs dot ${d}`);
    });
    // on this small catalog the graph finds the exact top 20
    const n = dataset.numItems;
    const exactRef = plainSearch(vecs, Int32Array.from({ length: n }, (_, i) => i), u.length, u, n).ids.filter((i) => !seen.has(i)).slice(0, 20);
    assert.deepEqual(Array.from(got.items), Array.from(exactRef));
    // and an item taken out of the index directly disappears from the source's answers
    const top = got.items[0];
    ix.remove([top]);
    assert.ok(!Array.from(tt.candidates(q, 200, seen).items).includes(top));

    // an allow mask (a category) restricts the answer and still fills k when k items qualify
    const allow = new Uint8Array(dataset.numItems);
    for (let i = 1; i < dataset.numItems; i += 4) allow[i] = 1;
    const inCat = tt.candidates(q, 10, seen, { allow });
    let eligible = 0;
    for (let i = 0; i < allow.length; i++) if (allow[i] && !seen.has(i) && ix.has(i)) eligible++;
    assert.equal(inCat.items.length, Math.min(10, eligible));
    for (const it of inCat.items) assert.equal(allow[it], 1);
  });

  test(`engine two-tower stage (${kind}): an item added live is retrievable, a deleted one never returned`, async (t) => {
    const { dir, dataset } = await trainedDir(t, kind);
    const model = await readModelDir(dir, builtinRegistry());
    const tt = asTT(model.stages[0]);
    const rec = new Engine(model, { maxK: 100 });
    const n0 = dataset.numItems;
    assert.equal(rec.upsertItem('fresh', rec.checkItemFeatures({ genre: ['g1'], price: 7 })), true);
    const ix = tt.vectorIndex();
    assert.ok(ix.has(n0), 'the new item is in the index under its dense index');
    assert.equal(ix.size, n0 + 1);
    // its own embedding finds it first (normalised towers: self-similarity 1 is the maximum)
    const v = tt.model!.embedItem({ genre: ['g1'], price: 7 });
    assert.equal(tt.search(v, 1).items[0], n0);
    const forUser = rec.recommend({ user: 'u1', k: 100 });
    const fresh = forUser.items.find((r) => r.id === 'fresh');
    assert.ok(fresh, 'the new item reaches recommendations through the two-tower');
    assert.equal(fresh.explanation.foundBy[0].source, 'two-tower');

    // delete a trained item and the new one: never returned again, by the source or the engine
    rec.deleteItem('i5');
    rec.deleteItem('fresh');
    assert.ok(!ix.has(5) && !ix.has(n0));
    for (let u = 0; u < 20; u++) {
      const items = Array.from(tt.candidates(dataset.query(u), 500).items);
      assert.ok(!items.includes(5) && !items.includes(n0), `user ${u}`);
      const ids = rec.recommend({ user: `u${u}`, k: 100 }).items.map((r) => r.id);
      assert.ok(!ids.includes('i5') && !ids.includes('fresh'), `user ${u}`);
    }
    // an upsert brings a deleted trained item back with its trained embedding
    rec.upsertItem('i5', rec.checkItemFeatures({ genre: ['g1'], price: 10 }));
    assert.ok(ix.has(5));
    const c = tt.indexCenter();
    const stored = Array.from(ix.vector(5), (x, j) => x + (c ? c[j] : 0));
    assert.deepEqual(stored.map((x) => x.toFixed(5)), Array.from(tt.model!.embedItem(5), (x) => x.toFixed(5)));
  });

  test(`two-tower source (${kind}): save and load give identical answers`, async (t) => {
    const root = await tmp(t);
    const ds = fixtureDataset({ seed: 11 });
    const a = new TwoTowerSource({ config: TINY, seed: 5, threads: 1, index: { kind } });
    await a.fit(ds);
    await a.save(join(root, 'tt'));
    const b = await TwoTowerSource.load(join(root, 'tt'));
    assert.equal(b.indexOrigin, 'loaded');
    assert.equal(b.vectorIndex().kind, kind);
    for (let u = 0; u < ds.numUsers; u++) {
      const q = ds.query(u);
      const seen = new Set(q.history);
      const x = a.candidates(q, 25, seen);
      const y = b.candidates(q, 25, seen);
      assert.deepEqual(Array.from(y.items), Array.from(x.items), `user ${u}`);
      assert.deepEqual(Array.from(y.scores), Array.from(x.scores), `user ${u}`);
    }
    const nu = b.candidatesForFeatures({ country: 'c2', age: 30 }, Int32Array.of(2, 6), 10);
    assert.deepEqual(nu, a.candidatesForFeatures({ country: 'c2', age: 30 }, Int32Array.of(2, 6), 10));
    // a new user's request through candidates(): the feature row is embedded (embedUser), as candidatesForFeatures
    const viaRequest = b.candidates({ user: -1, history: Int32Array.of(2, 6) }, 10, undefined, { features: { country: 'c2', age: 30 } });
    assert.deepEqual(Array.from(viaRequest.items), Array.from(nu.items));
    // scores of any items, read from the index, equal the retrieval scores
    const q0 = ds.query(0);
    const top = b.candidates(q0, 5);
    const out = new Float32Array(5);
    b.scoreItems(q0, top.items, out);
    for (let r = 0; r < 5; r++) assert.ok(Math.abs(out[r] - top.scores[r]) < 1e-5, `rank ${r}: ${out[r]} vs ${top.scores[r]}`);
    // nothing to go on: no candidates
    assert.equal(b.candidates({ user: -1, history: new Int32Array(0) }, 10).items.length, 0);
    assert.equal(nu.items.length, 10);
  });
}

test('engine two-tower stage: a category request is filtered inside the index; a new user with features is embedded from them', async (t) => {
  const { dir, dataset } = await trainedDir(t, 'hnsw');
  const model = await readModelDir(dir, builtinRegistry());
  const tt = asTT(model.stages[0]);
  // few candidates per source: filtering only after the merge would leave the category short
  const rec = new Engine(model, { candidates: 5, maxK: 100 });
  const res = rec.recommend({ user: 'u0', k: 10, category: 'g3' });
  assert.equal(res.strategy, 'personal');
  assert.equal(res.items.length, 10);
  for (const r of res.items) {
    assert.equal(Number(r.id.slice(1)) % 4, 3, `${r.id} is in g3`);
    assert.equal(r.source, 'two-tower', 'supplied by the two-tower, not a fallback');
  }
  // a live item in the category is eligible at once; a deleted one is not
  rec.upsertItem('fresh-g3', rec.checkItemFeatures({ genre: ['g3'], price: 6 }));
  rec.deleteItem(res.items[0].id);
  const again = rec.recommend({ user: 'u0', k: 25, category: 'g3' });
  assert.ok(!again.items.some((r) => r.id === res.items[0].id));
  assert.ok(again.items.some((r) => r.id === 'fresh-g3'));

  // a new user with features and recent items: the two-tower embeds the features (embedUser)
  const feats = { country: 'c2', age: 30 };
  const anon = rec.recommend({ features: feats, recent: ['i2', 'i6'], k: 5 });
  assert.equal(anon.strategy, 'personal');
  const want = tt.candidatesForFeatures(feats, Int32Array.of(2, 6), 5, new Set([2, 6]), undefined, Float32Array.of(1, 1));
  assert.deepEqual(anon.items.map((r) => r.id), Array.from(want.items, (i) => `i${i}`));
  // only features: embedded from them alone, the 'features' strategy
  const onlyFeatures = rec.recommend({ features: feats, k: 5 });
  assert.equal(onlyFeatures.strategy, 'features');
  assert.equal(onlyFeatures.items[0].source, 'two-tower');
  assert.equal(dataset.numUsers, 60);
});

test('two-tower source: a directory saved without an index builds one on first use; a wrong index is refused', async (t) => {
  const root = await tmp(t);
  const ds = fixtureDataset();
  const a = new TwoTowerSource({ config: TINY, seed: 2, threads: 1 });
  await a.fit(ds);
  await a.model!.save(join(root, 'model-only'));
  const b = await TwoTowerSource.load(join(root, 'model-only'));
  assert.equal(b.indexOrigin, null);
  assert.equal(b.vectorIndex().kind, 'exact', "'auto' picks exact for a small catalog");
  assert.equal(b.indexOrigin, 'built');
  await a.save(join(root, 'full'));
  const m = JSON.parse(await (await import('node:fs/promises')).readFile(join(root, 'full/index/manifest.json'), 'utf8'));
  await writeFile(join(root, 'full/index/manifest.json'), JSON.stringify({ ...m, dim: 4 }));
  await assert.rejects(TwoTowerSource.load(join(root, 'full')), /index/);
});

test("the 'two-tower' evaluate pipeline ranks the full catalog in exact order (the exact index = the plain loop)", async () => {
  const ds = fixtureDataset({ seed: 4 });
  const config = checkEngineConfig(pipelineConfig('two-tower', { ...TINY, hidden: '16' }, ds), builtinRegistry());
  const { model } = await fitEngine(ds, config, builtinRegistry(), { seed: 1 });
  const engine = new Engine(model);
  const src = asTT(model.stages[0]);
  assert.equal(src.vectorIndex().kind, 'exact');
  const vecs = src.itemEmbeddings();
  const n = ds.numItems;
  const labels = Int32Array.from({ length: n }, (_, i) => i);
  for (let u = 0; u < ds.numUsers; u += 3) {
    const q = ds.query(u);
    const seen = new Set(q.history);
    const got = engine.recommend({ user: ds.users.ids.values[u], k: 30 }).items.map((r) => ds.items.ids.get(r.id));
    const ref = plainSearch(vecs, labels, src.model!.dim, src.model!.embedQuery(q), n).ids.filter((i) => !seen.has(i)).slice(0, 30);
    assert.deepEqual(got, Array.from(ref), `user ${u}`);
  }
});

test('two-tower stage parameter index: checked, with the field named', () => {
  const reg = builtinRegistry();
  const c = checkEngineConfig({ sources: [{ kind: 'two-tower', params: { index: { kind: 'hnsw', M: 12, efSearch: 64 } } }] }, reg);
  assert.deepEqual((c.sources[0].params as { index: Record<string, unknown> }).index, { kind: 'hnsw', exactBelow: 20000, M: 12, efConstruction: 200, efSearch: 64, seed: 100, filterExactFraction: 0.02, mipsAugment: 0 });
  const bad = (index: unknown, re: RegExp) => assert.throws(() => checkEngineConfig({ sources: [{ kind: 'two-tower', params: { index } }] }, reg), re);
  bad({ kind: 'ivf' }, /sources\[0\]\.params\.index\.kind: 'ivf' is not one of auto, exact, hnsw/);
  bad({ ef: 3 }, /sources\[0\]\.params\.index\.ef: unknown parameter/);
  bad({ M: -1 }, /sources\[0\]\.params\.index\.M: -1 is outside/);
  bad('hnsw', /sources\[0\]\.params\.index: must be an object/);
});
