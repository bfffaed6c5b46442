import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureDataset } from './fixture.ts';
import { builtinRegistry } from './registry.ts';
import { makeRegistry } from './stages.ts';
import { readModelDir, readManifest, ModelDirError } from './model-dir.ts';
import { Recommender } from './recommender.ts';
import { trainModel } from './train.ts';
import { EngineInputError, UnknownEntityError } from './errors.ts';
import { buildSegments, matchSegments } from './segments.ts';
import { packArrays, unpackArrays } from './pack.ts';

const registry = builtinRegistry();

async function trained(t: { after: (fn: () => Promise<void>) => void }, opts: { holdout?: number } = {}) {
  const root = await mkdtemp(join(tmpdir(), 'tandem-engine-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dataset = fixtureDataset();
  const dir = join(root, 'model');
  const res = await trainModel(dir, { dataset, registry, stages: [{ kind: 'ease', params: { lambda: 10 } }], holdout: opts.holdout ?? 0.2 });
  return { root, dir, dataset, res };
}

const genreOf = (id: string): number => Number(id.slice(1)) % 4;

test('pack round-trips typed arrays and rejects arrays outside the file', () => {
  const a = { x: Int32Array.of(1, -2, 3), y: Float64Array.of(0.5, NaN), z: Uint8Array.of(7), w: Float32Array.of(1.25) };
  const { index, bytes } = packArrays(a);
  const b = unpackArrays(index, bytes.slice(), 'test.bin');
  assert.deepEqual(Array.from(b.x), [1, -2, 3]);
  assert.ok(Number.isNaN(b.y[1]) && b.y[0] === 0.5);
  assert.equal(b.z[0], 7);
  assert.equal(b.w[0], 1.25);
  assert.throws(() => unpackArrays(index, bytes.subarray(0, 8), 'test.bin'), /test\.bin: array 'x'.*outside/);
});

test('segments: users sharing a feature value get that segment\'s favourites', () => {
  const ds = fixtureDataset();
  const seg = buildSegments(ds, 10);
  const m = matchSegments(seg, { country: 'c2', age: 33 });
  assert.equal(m.length, 2);
  assert.match(m[0].label, /country=c2/);
  const s = m[0].segment;
  let inGenre = 0;
  for (let j = seg.offsets[s]; j < seg.offsets[s + 1]; j++) if (seg.items[j] % 4 === 2) inGenre++;
  assert.ok(inGenre >= 8, `segment top items mostly genre 2, got ${inGenre}/10`);
  assert.deepEqual(matchSegments(seg, { country: 'nowhere' }), []);
});

test('train writes a complete model directory that loads back; the evaluation beats chance', async (t) => {
  const { dir, res, dataset } = await trained(t);
  const m = await readManifest(dir);
  assert.equal(m.format, 'tandem-model');
  assert.equal(m.data.interactions, dataset.interactions.length);
  assert.equal(m.stages[0].kind, 'ease');
  assert.equal(m.business.categoryFeature, 'genre');
  assert.ok(res.metrics['recall@10'] > 0.3, `recall@10 ${res.metrics['recall@10']}`);
  assert.ok(Object.keys(m.files).includes('stages/ease/ease.json'));
  const parent = await readdir(join(dir, '..'));
  assert.deepEqual(parent.filter((f) => f.includes('tmp')), [], 'no temporary directory left behind');
  const model = await readModelDir(dir, registry);
  assert.equal(model.sources.length, 1);
  await assert.rejects(trainModel(dir, { dataset, registry, stages: [], holdout: 0 }), /already exists/);
});

test('a broken model directory is refused with the file named', async (t) => {
  const { root, dir } = await trained(t, { holdout: 0 });
  const { cp } = await import('node:fs/promises');
  const cases: [string, (d: string) => Promise<void>, RegExp][] = [
    ['truncated', (d) => writeFile(join(d, 'data/items.bin'), Buffer.alloc(3)), /items\.bin: 3 bytes, the manifest says/],
    ['corrupted', async (d) => {
      const b = await readFile(join(d, 'data/interactions.bin'));
      b[0] ^= 0xff;
      await writeFile(join(d, 'data/interactions.bin'), b);
    }, /interactions\.bin: checksum differs/],
    ['no manifest', (d) => rm(join(d, 'manifest.json')), /manifest\.json: missing/],
    ['bad json', (d) => appendFile(join(d, 'manifest.json'), '}'), /manifest\.json: not valid JSON/],
    ['unknown stage kind', async (d) => {
      const m = JSON.parse(await readFile(join(d, 'manifest.json'), 'utf8'));
      m.stages[0].kind = 'mystery';
      await writeFile(join(d, 'manifest.json'), JSON.stringify(m));
    }, /kind 'mystery'/],
  ];
  for (const [name, damage, re] of cases) {
    const copy = join(root, name.replace(/ /g, '-'));
    await cp(dir, copy, { recursive: true });
    await damage(copy);
    await assert.rejects(readModelDir(copy, registry), (err: Error) => err instanceof ModelDirError && re.test(err.message), name);
  }
});

test('Recommender: known users get their genre, seen items excluded, live events take effect at once', async (t) => {
  const { dir, dataset } = await trained(t, { holdout: 0 });
  const rec = new Recommender(await readModelDir(dir, registry));
  const r = rec.recommendForUser('u2', { k: 5 });
  assert.equal(r.strategy, 'personal');
  assert.equal(r.items.length, 5);
  assert.ok(r.items.filter((x) => genreOf(x.id) === 2).length >= 4, JSON.stringify(r.items));
  assert.ok(r.items.every((x) => x.source === 'ease' && /found by ease #\d+/.test(x.explanation)));
  for (let i = 1; i < r.items.length; i++) assert.ok(r.items[i - 1].score >= r.items[i].score);
  // the user's training items never come back
  const u = dataset.users.ids.get('u2');
  const { offsets, rows } = dataset.byUser();
  const seen = new Set<string>();
  for (let j = offsets[u]; j < offsets[u + 1]; j++) seen.add(dataset.items.ids.values[dataset.interactions.item[rows[j]]]);
  const all = rec.recommendForUser('u2', { k: 60 });
  assert.ok(all.items.every((x) => !seen.has(x.id)));
  // a new event on the top item: it disappears from the next answer
  const top = r.items[0].id;
  rec.applyEvents(rec.checkEvents([{ user: 'u2', item: top, type: 'purchase' }]));
  assert.ok(!rec.recommendForUser('u2', { k: 5 }).items.some((x) => x.id === top));
  // exclude and category filters
  const ex = rec.recommendForUser('u2', { k: 5, exclude: [r.items[1].id] });
  assert.ok(!ex.items.some((x) => x.id === r.items[1].id));
  const cat = rec.recommendForUser('u2', { k: 6, category: 'g1' });
  assert.equal(cat.items.length, 6);
  assert.ok(cat.items.every((x) => genreOf(x.id) === 1), JSON.stringify(cat.items));
  assert.throws(() => rec.recommendForUser('u2', { k: 0 }), (e: Error) => e instanceof EngineInputError && e.field === 'k');
  assert.throws(() => rec.recommendForUser('u2', { k: 101 }), EngineInputError);
});

test('Recommender: a new user with events becomes personal; unknown users fall back and say so', async (t) => {
  const { dir } = await trained(t, { holdout: 0 });
  const rec = new Recommender(await readModelDir(dir, registry));
  const cold = rec.recommendForUser('stranger', { k: 5 });
  assert.equal(cold.strategy, 'popularity');
  assert.match(cold.items[0].explanation, /popular overall; no history or known features/);
  rec.upsertUser('stranger', rec.checkUserFeatures({ country: 'c3' }));
  const feat = rec.recommendForUser('stranger', { k: 5 });
  assert.equal(feat.strategy, 'features');
  assert.match(feat.items[0].explanation, /users sharing country=c3/);
  assert.ok(feat.items.filter((x) => genreOf(x.id) === 3).length >= 4);
  rec.applyEvents(rec.checkEvents([{ user: 'stranger', item: 'i1' }, { user: 'stranger', item: 'i5' }, { user: 'stranger', item: 'i9' }]));
  const pers = rec.recommendForUser('stranger', { k: 5 });
  assert.equal(pers.strategy, 'personal');
  assert.ok(pers.items.filter((x) => genreOf(x.id) === 1).length >= 4, JSON.stringify(pers.items));
  assert.ok(!pers.items.some((x) => ['i1', 'i5', 'i9'].includes(x.id)));
  const anon = rec.recommendAnonymous({ recent: ['i2', 'i6'] }, { k: 4 });
  assert.equal(anon.strategy, 'personal');
  assert.ok(anon.items.filter((x) => genreOf(x.id) === 2).length >= 3);
  assert.throws(() => rec.recommendAnonymous({ recent: ['nope'] }), (e: Error) => e instanceof EngineInputError && e.field === 'recent[0]');
  assert.throws(() => rec.recommendAnonymous({ features: { planet: 'x' } }), (e: Error) => e instanceof EngineInputError && e.field === 'features.planet');
  assert.throws(() => rec.recommendAnonymous({ features: { age: 'old' } }), (e: Error) => e instanceof EngineInputError && e.field === 'features.age');
});

test('Recommender: upserted items are recommendable, deleted items vanish at once, events are checked whole', async (t) => {
  const { dir } = await trained(t, { holdout: 0 });
  const rec = new Recommender(await readModelDir(dir, registry));
  assert.equal(rec.upsertItem('fresh', rec.checkItemFeatures({ genre: ['g1'], price: 9 })), true);
  assert.equal(rec.hasItem('fresh'), true);
  // similar to a genre-1 item: the new one shares its genre
  const sim = rec.similarItems('fresh', { k: 5 });
  assert.equal(sim.strategy, 'content');
  assert.ok(sim.items.every((x) => genreOf(x.id) === 1));
  // many users buy it: it becomes the most popular item for a cold user
  const evs = [];
  for (let u = 0; u < 30; u++) evs.push({ user: `new${u}`, item: 'fresh', type: 'purchase' });
  rec.applyEvents(rec.checkEvents(evs));
  assert.equal(rec.recommendForUser('cold', { k: 3 }).items[0].id, 'fresh');
  assert.equal(rec.recommendForUser('cold', { k: 3, category: 'g1' }).items[0].id, 'fresh');
  rec.deleteItem('fresh');
  assert.ok(!rec.recommendForUser('cold', { k: 40 }).items.some((x) => x.id === 'fresh'));
  const top = rec.recommendForUser('u1', { k: 1 }).items[0].id;
  rec.deleteItem(top);
  assert.ok(!rec.recommendForUser('u1', { k: 10 }).items.some((x) => x.id === top));
  assert.throws(() => rec.deleteItem(top), UnknownEntityError);
  assert.throws(() => rec.similarItems(top), UnknownEntityError);
  const before = rec.stats().eventsApplied;
  assert.throws(() => rec.checkEvents([{ user: 'a', item: 'i1' }, { user: 'a', item: 'zzz' }]), (e: Error) => e instanceof EngineInputError && e.field === 'events[1].item');
  assert.throws(() => rec.checkEvents([{ user: 'a', item: 'i1', type: 'teleport' }]), /events\[0\]\.type: unknown event type 'teleport' \(known: view, purchase, dislike\)/);
  assert.equal(rec.stats().eventsApplied, before, 'a rejected batch changes nothing');
  const similar = rec.similarItems('i2', { k: 5 });
  assert.equal(similar.strategy, 'similar');
  assert.ok(similar.items.filter((x) => genreOf(x.id) === 2).length >= 4);
  assert.ok(!similar.items.some((x) => x.id === 'i2'));
});

test('the popular list kept up to date by events matches a fresh scan', async (t) => {
  const { dir } = await trained(t, { holdout: 0 });
  const a = new Recommender(await readModelDir(dir, registry), { popularListSize: 10 });
  a.recommendForUser('cold', { k: 10 }); // a scans now, then follows the events incrementally
  let seed = 5;
  const evs = [];
  for (let i = 0; i < 400; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    evs.push({ user: `x${i % 17}`, item: `i${seed % 80}`, type: seed % 3 === 0 ? 'purchase' : 'view' });
  }
  for (let i = 0; i < evs.length; i += 7) {
    a.applyEvents(a.checkEvents(evs.slice(i, i + 7)));
    if (i % 98 === 0 || i + 7 >= evs.length) {
      // reference: a fresh Recommender given the same events before its first (scanning) read
      const b = new Recommender(await readModelDir(dir, registry), { popularListSize: 10 });
      b.applyEvents(b.checkEvents(evs.slice(0, i + 7)));
      assert.deepEqual(a.recommendForUser('cold', { k: 10 }).items, b.recommendForUser('cold', { k: 10 }).items, `after ${i + 7} events`);
    }
  }
});

test('the sources see only the latest maxHistory events, all of them stay excluded', async (t) => {
  const { dir } = await trained(t, { holdout: 0 });
  const full = new Recommender(await readModelDir(dir, registry));
  const capped = new Recommender(await readModelDir(dir, registry), { maxHistory: 2 });
  // genre-0 history first, then two genre-3 events: the capped view sees only genre 3
  const evs = ['i0', 'i4', 'i8', 'i12', 'i16', 'i20', 'i3', 'i7'].map((item) => ({ user: 'h', item }));
  full.applyEvents(full.checkEvents(evs));
  capped.applyEvents(capped.checkEvents(evs));
  const a = full.recommendForUser('h', { k: 5 }).items;
  const b = capped.recommendForUser('h', { k: 5 }).items;
  assert.ok(b.filter((x) => genreOf(x.id) === 3).length >= 4, JSON.stringify(b));
  assert.ok(a.filter((x) => genreOf(x.id) === 0).length >= 3, JSON.stringify(a));
  const seen = new Set(evs.map((e) => e.item));
  assert.ok(capped.recommendForUser('h', { k: 40 }).items.every((x) => !seen.has(x.id)));
});

test('a ranker stage reorders the merged candidates and its top features reach the explanation', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-ranker-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const { writeFile: wf, readFile: rf } = await import('node:fs/promises');
  // ranks by the item's price feature: a known order to check the plumbing against
  const priceRanker = (dataset: import('../../data/index.ts').Dataset, bias: number): import('./stages.ts').Ranker => {
    const price = dataset.items.columns.find((c) => c.name === 'price') as { values: Float64Array };
    return {
      name: 'price',
      rank(_q, c) {
        const scores = new Float32Array(c.count);
        const topFeatures = new Int32Array(c.count).fill(0);
        for (let i = 0; i < c.count; i++) scores[i] = price.values[c.items[i]] + bias;
        return { scores, topFeatures, topN: 1, featureNames: ['price'] };
      },
      save: (dir) => wf(join(dir, 'bias.json'), JSON.stringify(bias)),
    };
  };
  let fitted = 0;
  const kind: import('./stages.ts').RankerKind = {
    kind: 'price',
    async fit(train, makeSources) {
      fitted++;
      assert.equal(makeSources().length, 1, 'the ranker gets fresh L1 sources to fit on an earlier window');
      return priceRanker(train, 0.5);
    },
    load: async (dir, { dataset }) => priceRanker(dataset, JSON.parse(await rf(join(dir, 'bias.json'), 'utf8'))),
  };
  const reg = makeRegistry([...builtinRegistry().sources.values()], [kind]);
  const dir = join(root, 'm');
  await trainModel(dir, { dataset: fixtureDataset(), registry: reg, stages: [{ kind: 'ease', params: { lambda: 10 } }], ranker: { kind: 'price' }, holdout: 0.2 });
  assert.equal(fitted, 2, 'fitted for the evaluation and again on all data');
  const rec = new Recommender(await readModelDir(dir, reg));
  const r = rec.recommendForUser('u2', { k: 8 }).items;
  for (let i = 1; i < r.length; i++) assert.ok(r[i - 1].score >= r[i].score);
  assert.equal(r[0].score, 5 + 6 + 0.5, 'the best price among the candidates, plus the saved bias');
  assert.match(r[0].explanation, /found by ease #\d+; ranked up by price/);
});

test('a ranker may explain lazily: asked only for the k items returned', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-ranker-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const asked: number[] = [];
  const kind: import('./stages.ts').RankerKind = {
    kind: 'lazy',
    fit: async () => lazy,
    load: async () => lazy,
  };
  const lazy: import('./stages.ts').Ranker = {
    name: 'lazy',
    rank(_q, c) {
      return { scores: Float32Array.from(c.items.subarray(0, c.count), (it) => -it), featureNames: ['a', 'b'], explain: (i) => (asked.push(i), [1, 0]) };
    },
    save: async () => {},
  };
  const reg = makeRegistry([...builtinRegistry().sources.values()], [kind]);
  const dir = join(root, 'm');
  await trainModel(dir, { dataset: fixtureDataset(), registry: reg, stages: [{ kind: 'ease', params: { lambda: 10 } }], ranker: { kind: 'lazy' }, holdout: 0 });
  const rec = new Recommender(await readModelDir(dir, reg));
  const r = rec.recommendForUser('u2', { k: 4 }).items;
  assert.equal(asked.length, 4);
  assert.ok(r.every((x) => /ranked up by b, a$/.test(x.explanation)));
  for (let i = 1; i < r.length; i++) assert.ok(Number(r[i - 1].id.slice(1)) < Number(r[i].id.slice(1)), 'ordered by the ranker (smallest index first)');
});

test('a category the candidates miss is filled from popularity and says so', async (t) => {
  const { dir } = await trained(t, { holdout: 0 });
  const rec = new Recommender(await readModelDir(dir, registry), { candidatesPerSource: 3 });
  const r = rec.recommendForUser('u2', { k: 5, category: 'g1' });
  assert.equal(r.strategy, 'personal');
  assert.equal(r.items.length, 5);
  assert.ok(r.items.every((x) => genreOf(x.id) === 1));
  assert.ok(r.items.some((x) => /filled from popularity: too few candidates in this category/.test(x.explanation)));
});
