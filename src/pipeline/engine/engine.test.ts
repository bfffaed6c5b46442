import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnknownEntityError } from '../../features/index.ts';
import { defineRankerKind, RANKER_KINDS, type RankerModel } from '../../ranking/index.ts';
import { buildSegments, matchSegments, PopularitySource, SOURCE_KINDS } from '../../retrieval/index.ts';
import { InputError, ParamError, schema } from '../../schema/index.ts';
import { checkEngineConfig, makeRegistry } from './config.ts';
import { Engine, type LiveUserInput } from './engine.ts';
import { fitEngine } from './fit.ts';
import { fixtureDataset } from './fixture.ts';
import { ModelDirError, readManifest, readModelDir } from './model-dir.ts';
import { packArrays, unpackArrays } from './pack.ts';
import { builtinRegistry } from './registry.ts';
import { trainModel } from './train.ts';

const registry = builtinRegistry();
const FALLBACKS = [{ kind: 'segments' }, { kind: 'content' }, { kind: 'popularity' }];
const EASE = { sources: [{ kind: 'ease', params: { lambda: 10 } }], fallbacks: FALLBACKS };

async function trained(t: { after: (fn: () => Promise<void>) => void }, opts: { holdout?: number; config?: Record<string, unknown> } = {}) {
  const root = await mkdtemp(join(tmpdir(), 'tandem-engine-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dataset = fixtureDataset();
  const dir = join(root, 'model');
  const res = await trainModel(dir, { dataset, registry, config: opts.config ?? EASE, holdout: opts.holdout ?? 0.2 });
  return { root, dir, dataset, res };
}

const genreOf = (id: string): number => Number(id.slice(1)) % 4;

/** A user's live state as the store hands it over: events in log order. */
function liveOf(events: { item: string; type?: string }[], features: Record<string, unknown> | null = null): LiveUserInput {
  return { events: events.map((e, i) => ({ item: e.item, type: e.type ?? 'view', value: 1, timestamp: 1_800_000_000 + i })), features };
}

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

test("segments: users sharing a feature value get that segment's favourites", () => {
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

test('engine configurations are checked whole: each stage against its kind, typos named with the known parameters', () => {
  const c = checkEngineConfig({ sources: [{ kind: 'ease' }, { name: 'ease-h10', kind: 'ease', params: { base: 'ease', halfLife: 10 } }], ranker: { kind: 'gbdt' } }, registry);
  assert.equal(c.sources[0].name, 'ease');
  assert.equal((c.sources[0].params as { lambda: number }).lambda, 500, 'defaults spelled out');
  assert.equal((c.ranker!.params as { numLeaves: number }).numLeaves, 31);
  assert.equal(c.candidates, 200);
  const bad = (given: unknown, re: RegExp) => assert.throws(() => checkEngineConfig(given, registry), (e: Error) => e instanceof ParamError && re.test(e.message), re.source);
  bad({ sources: [{ kind: 'ease', params: { lamda: 10 } }] }, /sources\[0\]\.params\.lamda: unknown parameter \(known: lambda, maxItems, halfLife, base\); did you mean 'lambda'\?/);
  bad({ sources: [{ kind: 'itemknn', params: { neighbors: 50 } }] }, /sources\[0\]\.params\.neighbors: unknown parameter .*did you mean 'neighbours'/);
  bad({ sources: [{ kind: 'mystery' }] }, /sources\[0\]\.kind: unknown source kind 'mystery' \(known: popularity, itemknn, ease, two-tower, segments, content\)/);
  bad({ sources: [{ kind: 'ease' }, { kind: 'ease' }] }, /sources\[1\]\.name: 'ease' is already the name of sources\[0\]/);
  bad({ sources: [{ kind: 'ease', params: { base: 'other' } }] }, /sources\[0\]\.params: needs stage 'other' before it/);
  bad({ sources: [] }, /sources: must hold at least 1 entry/);
  bad({ sources: [{ kind: 'ease' }], ranker: { kind: 'gbdt', params: { numLeafs: 3 } } }, /ranker\.params\.numLeafs: unknown parameter.*did you mean 'numLeaves'/);
  bad({ sources: [{ kind: 'ease' }], ranker: { kind: 'deepfm' } }, /ranker\.kind: unknown ranker kind 'deepfm' \(known: gbdt, dcn, blend\)/);
  bad({ sources: [{ kind: 'ease' }], candidats: 5 }, /candidats: unknown parameter .*did you mean 'candidates'/);
  bad({ sources: [{ kind: 'two-tower', params: { index: { kind: 'annoy' } } }] }, /sources\[0\]\.params\.index\.kind: 'annoy' is not one of auto, exact, hnsw/);
});

test('train writes a complete model directory that loads back; the held-out evaluation beats chance', async (t) => {
  const { dir, res, dataset } = await trained(t);
  const m = await readManifest(dir, registry);
  assert.equal(m.format, 'tandem-model');
  assert.equal(m.data.interactions, dataset.interactions.length);
  assert.deepEqual(m.stages.map((s) => s.kind), ['ease', 'segments', 'content', 'popularity']);
  assert.equal(m.config.business.categoryFeature, null);
  assert.equal(m.config.candidates, 200);
  assert.ok(res.metrics['recall@10'] > 0.3, `recall@10 ${res.metrics['recall@10']}`);
  assert.ok(Object.keys(m.files).includes('stages/ease/ease.json'));
  const parent = await readdir(join(dir, '..'));
  assert.deepEqual(parent.filter((f) => f.includes('tmp')), [], 'no temporary directory left behind');
  const model = await readModelDir(dir, registry);
  assert.equal(model.stages.length, 4);
  await assert.rejects(trainModel(dir, { dataset, registry, config: EASE, holdout: 0 }), /already exists/);
});

test('a broken model directory is refused with the file and the field named', async (t) => {
  const { root, dir } = await trained(t, { holdout: 0 });
  const edit = (fn: (m: Record<string, any>) => void) => async (d: string) => {
    const m = JSON.parse(await readFile(join(d, 'manifest.json'), 'utf8'));
    fn(m);
    await writeFile(join(d, 'manifest.json'), JSON.stringify(m));
  };
  const cases: [string, (d: string) => Promise<void>, RegExp][] = [
    ['truncated', (d) => writeFile(join(d, 'data/items.bin'), Buffer.alloc(3)), /items\.bin: 3 bytes, the manifest says/],
    [
      'corrupted',
      async (d) => {
        const b = await readFile(join(d, 'data/interactions.bin'));
        b[0] ^= 0xff;
        await writeFile(join(d, 'data/interactions.bin'), b);
      },
      /interactions\.bin: checksum differs/,
    ],
    ['no manifest', (d) => rm(join(d, 'manifest.json')), /manifest\.json: missing/],
    ['bad json', (d) => appendFile(join(d, 'manifest.json'), '}'), /manifest\.json: not valid JSON/],
    ['unknown stage kind', edit((m) => (m.config.sources[0].kind = 'mystery')), /config\.sources\[0\]\.kind: unknown source kind 'mystery'/],
    ['a typo in stage parameters', edit((m) => (m.config.sources[0].params = { lamda: 10 })), /manifest\.json: config\.sources\[0\]\.params\.lamda: unknown parameter \(known: lambda.*did you mean 'lambda'/],
    ['a bad value', edit((m) => (m.config.candidates = 0)), /config\.candidates: 0 is outside \[1, inf\]/],
    ['an older format', edit((m) => (m.formatVersion = 1)), /format version 1; this Tandem reads version 2/],
    ['stages out of step', edit((m) => m.stages.pop()), /stages \[ease, segments, content\] do not match the configuration's/],
  ];
  for (const [name, damage, re] of cases) {
    const copy = join(root, name.replace(/ /g, '-'));
    await cp(dir, copy, { recursive: true });
    await damage(copy);
    await assert.rejects(readModelDir(copy, registry), (err: Error) => err instanceof ModelDirError && re.test(err.message), name);
  }
});

test('known users get their genre, seen items never come back, live events count at once, filters hold', async (t) => {
  const { dir, dataset } = await trained(t, { holdout: 0 });
  const engine = new Engine(await readModelDir(dir, registry));
  const r = engine.recommend({ user: 'u2', k: 5 });
  assert.equal(r.strategy, 'personal');
  assert.equal(r.items.length, 5);
  assert.ok(r.items.filter((x) => genreOf(x.id) === 2).length >= 4, JSON.stringify(r.items));
  assert.ok(r.items.every((x) => x.source === 'ease' && x.explanation.foundBy[0].source === 'ease' && /^found by ease #\d+/.test(x.explanation.text)));
  for (let i = 1; i < r.items.length; i++) assert.ok(r.items[i - 1].score >= r.items[i].score);
  const u = dataset.users.ids.get('u2');
  const seen = new Set(Array.from(dataset.userHistory(u).history, (it) => dataset.items.ids.values[it]));
  assert.ok(engine.recommend({ user: 'u2', k: 60 }).items.every((x) => !seen.has(x.id)));
  // a live event on the top item: it disappears from the next answer
  const top = r.items[0].id;
  assert.ok(!engine.recommend({ user: 'u2', k: 5, live: liveOf([{ item: top, type: 'purchase' }]) }).items.some((x) => x.id === top));
  const ex = engine.recommend({ user: 'u2', k: 5, exclude: [r.items[1].id, 'not-an-item'] });
  assert.ok(!ex.items.some((x) => x.id === r.items[1].id));
  const cat = engine.recommend({ user: 'u2', k: 6, category: 'g1' });
  assert.equal(cat.items.length, 6);
  assert.ok(cat.items.every((x) => genreOf(x.id) === 1), JSON.stringify(cat.items));
  assert.throws(() => engine.recommend({ user: 'u2', k: 0 }), (e: Error) => e instanceof InputError && e.field === 'k');
  assert.throws(() => engine.recommend({ user: 'u2', k: 101 }), InputError);
});

test('fallbacks are ordinary stages: new users get features, then popularity, and say why', async (t) => {
  const { dir } = await trained(t, { holdout: 0 });
  const engine = new Engine(await readModelDir(dir, registry));
  const cold = engine.recommend({ user: 'stranger', k: 5 });
  assert.equal(cold.strategy, 'popularity');
  assert.equal(cold.items[0].source, 'popularity');
  assert.match(cold.items[0].explanation.text, /popular overall; no history or known features/);
  assert.equal(cold.items[0].explanation.fallback, cold.items[0].explanation.text);
  const feat = engine.recommend({ user: 'stranger', k: 5, live: liveOf([], { country: 'c3' }) });
  assert.equal(feat.strategy, 'features');
  assert.equal(feat.items[0].source, 'segments');
  assert.match(feat.items[0].explanation.text, /users sharing country=c3/);
  assert.ok(feat.items.filter((x) => genreOf(x.id) === 3).length >= 4);
  const pers = engine.recommend({ user: 'stranger', k: 5, live: liveOf([{ item: 'i1' }, { item: 'i5' }, { item: 'i9' }]) });
  assert.equal(pers.strategy, 'personal');
  assert.ok(pers.items.filter((x) => genreOf(x.id) === 1).length >= 4, JSON.stringify(pers.items));
  assert.ok(!pers.items.some((x) => ['i1', 'i5', 'i9'].includes(x.id)));
  const anon = engine.recommend({ recent: ['i2', 'i6'], k: 4 });
  assert.equal(anon.strategy, 'personal');
  assert.ok(anon.items.filter((x) => genreOf(x.id) === 2).length >= 3);
  assert.throws(() => engine.recommend({ recent: ['nope'] }), (e: Error) => e instanceof InputError && e.field === 'recent[0]');
  assert.throws(() => engine.recommend({ features: { planet: 'x' } }), (e: Error) => e instanceof InputError && e.field === 'features.planet');
  assert.throws(() => engine.recommend({ features: { age: 'old' } }), (e: Error) => e instanceof InputError && e.field === 'features.age');
});

test('upserted items are recommendable, deleted items vanish at once, events are checked whole', async (t) => {
  const { dir } = await trained(t, { holdout: 0 });
  const engine = new Engine(await readModelDir(dir, registry));
  assert.equal(engine.upsertItem('fresh', engine.checkItemFeatures({ genre: ['g1'], price: 9 })), true);
  assert.equal(engine.hasItem('fresh'), true);
  // similar to a genre-1 item the trained stages never saw: the content fallback
  const sim = engine.similarItems('fresh', { k: 5 });
  assert.equal(sim.strategy, 'content');
  assert.ok(sim.items.every((x) => genreOf(x.id) === 1), JSON.stringify(sim.items));
  // many users buy it: it becomes the most popular item for a cold user
  engine.observeEvents(engine.checkEvents(Array.from({ length: 30 }, (_, u) => ({ user: `new${u}`, item: 'fresh', type: 'purchase' }))));
  assert.equal(engine.recommend({ user: 'cold', k: 3 }).items[0].id, 'fresh');
  assert.equal(engine.recommend({ user: 'cold', k: 3, category: 'g1' }).items[0].id, 'fresh');
  engine.deleteItem('fresh');
  assert.ok(!engine.recommend({ user: 'cold', k: 40 }).items.some((x) => x.id === 'fresh'));
  const top = engine.recommend({ user: 'u1', k: 1 }).items[0].id;
  engine.deleteItem(top);
  assert.ok(!engine.recommend({ user: 'u1', k: 10 }).items.some((x) => x.id === top));
  assert.throws(() => engine.deleteItem(top), UnknownEntityError);
  assert.throws(() => engine.similarItems(top), UnknownEntityError);
  assert.throws(() => engine.checkEvents([{ user: 'a', item: 'i1' }, { user: 'a', item: 'zzz' }]), (e: Error) => e instanceof InputError && e.field === 'events[1].item');
  assert.throws(() => engine.checkEvents([{ user: 'a', item: 'i1', type: 'teleport' }]), /events\[0\]\.type: unknown event type 'teleport' \(known: view, purchase, dislike\)/);
  assert.throws(() => engine.checkEvents([{ user: 'a', item: 'i1', timestamp: 1e20 }]), /events\[0\]\.timestamp: must be seconds since the epoch, before 2100/);
  const similar = engine.similarItems('i2', { k: 5 });
  assert.equal(similar.strategy, 'similar');
  assert.ok(similar.items.filter((x) => genreOf(x.id) === 2).length >= 4);
  assert.ok(!similar.items.some((x) => x.id === 'i2'));
});

test('applying log entries is idempotent by sequence number (a reload replay and a handler may both pass one)', async (t) => {
  const { dir } = await trained(t, { holdout: 0 });
  const engine = new Engine(await readModelDir(dir, registry));
  const entries = [
    { seq: 3, received: 1, kind: 'item' as const, item: 'n1', features: { genre: ['g2'] } },
    ...Array.from({ length: 20 }, (_, i) => ({ seq: 4 + i, received: 1, kind: 'event' as const, user: `x${i}`, item: 'n1', type: 'purchase', value: 1, timestamp: 1.8e9 })),
    { seq: 30, received: 1, kind: 'item' as const, item: 'bad', features: { planet: 'x' } },
  ];
  assert.equal(engine.applyEntries(entries), 21);
  assert.deepEqual(engine.logState(), { position: 30, skipped: 1 });
  const once = engine.popularItems(3);
  assert.equal(engine.applyEntries(entries), 0, 'the same entries again change nothing');
  assert.deepEqual(engine.popularItems(3), once);
  assert.equal(once[0].id, 'n1');
});

test("popularity's live order, kept by events without a scan, matches a fresh fit on the same events", () => {
  const ds = fixtureDataset();
  const live = new PopularitySource();
  live.fit(ds);
  let seed = 5;
  for (let i = 0; i < 400; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const it = seed % 80;
    live.observe(it, seed % 3 === 0 ? 3 : 1);
    if (i % 97 === 0 || i === 399) {
      // reference: the training counts plus these events, sorted from scratch
      const counts = Float64Array.from(live.scores.subarray(0, 80));
      const order = Array.from({ length: 80 }, (_, k) => k).sort((a, b) => counts[b] - counts[a] || a - b);
      assert.deepEqual(Array.from(live.candidates({ user: -1, history: new Int32Array(0) }, 80).items), order, `after ${i + 1} events`);
    }
  }
});

test('the sources see only the latest maxHistory events; all of them stay excluded', async (t) => {
  const { dir } = await trained(t, { holdout: 0 });
  const { dir: capDir } = await trained(t, { holdout: 0, config: { ...EASE, maxHistory: 2 } });
  const full = new Engine(await readModelDir(dir, registry));
  const capped = new Engine(await readModelDir(capDir, registry));
  // genre-0 history first, then two genre-3 events: the capped view sees only genre 3
  const evs = ['i0', 'i4', 'i8', 'i12', 'i16', 'i20', 'i3', 'i7'].map((item) => ({ item }));
  const a = full.recommend({ user: 'h', k: 5, live: liveOf(evs) }).items;
  const b = capped.recommend({ user: 'h', k: 5, live: liveOf(evs) }).items;
  assert.ok(b.filter((x) => genreOf(x.id) === 3).length >= 4, JSON.stringify(b));
  assert.ok(a.filter((x) => genreOf(x.id) === 0).length >= 3, JSON.stringify(a));
  const seen = new Set(evs.map((e) => e.item));
  assert.ok(capped.recommend({ user: 'h', k: 40, live: liveOf(evs) }).items.every((x) => !seen.has(x.id)));
});

/** A ranker model that scores by one feature column (known order), counting the contributions it is asked for. */
function columnRankerKind(column: string, asked: number[]) {
  const make = (names: readonly string[] | null, bias: number): RankerModel & { names: readonly string[] | null } => ({
    kind: 'column',
    names,
    get nFeatures() {
      return this.names!.length;
    },
    predict(x, n, out) {
      const W = this.names!.length;
      const f = this.names!.indexOf(column);
      for (let i = 0; i < n; i++) out[i] = x[i * W + f] + bias;
    },
    contributions(_x, row, out) {
      asked.push(row);
      out.fill(0);
      out[this.names!.indexOf(column)] = 1;
    },
    save: async (dir) => writeFile(join(dir, 'column.json'), JSON.stringify({ names, bias })),
    summary: () => ({ column }),
  });
  return defineRankerKind({
    kind: 'column',
    description: 'scores by one feature column (a test fixture)',
    params: schema({ bias: { type: 'number', default: 0.5, description: 'added to every score' } }),
    train: async ({ train }, p) => make(train.featureNames, p.bias),
    // every file through the loader's reader: the model loader refuses listed files nobody read
    load: async (dir, _p, read = (f) => readFile(f)) => {
      const j = JSON.parse(Buffer.from(await read(join(dir, 'column.json'))).toString('utf8')) as { names: string[]; bias: number };
      return make(j.names, j.bias);
    },
  });
}

test('a ranker model orders the merged candidates by its scores; contributions are asked for the k returned only', async (t) => {
  const asked: number[] = [];
  const reg = makeRegistry(SOURCE_KINDS, [...RANKER_KINDS, columnRankerKind('i_price', asked)]);
  const root = await mkdtemp(join(tmpdir(), 'tandem-ranker-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'm');
  await trainModel(dir, { dataset: fixtureDataset(), registry: reg, config: { ...EASE, ranker: { kind: 'column', params: { bias: 2 } } }, holdout: 0 });
  const engine = new Engine(await readModelDir(dir, reg));
  asked.length = 0;
  const r = engine.recommend({ user: 'u2', k: 4 }).items;
  assert.equal(asked.length, 4, 'explained lazily, for the returned items only');
  for (let i = 1; i < r.length; i++) assert.ok(r[i - 1].score >= r[i].score);
  assert.equal(r[0].score, 11 + 2, 'the best price among the candidates (5 + 6), plus the saved bias');
  assert.deepEqual(r[0].explanation.rankedUpBy, [{ feature: 'i_price', contribution: 1 }]);
  assert.match(r[0].explanation.text, /found by ease #\d+; ranked up by i_price/);
  // the dashboard's L1 view: the same request without the ranker
  const l1 = engine.recommend({ user: 'u2', k: 4, ranker: false }).items;
  assert.notDeepEqual(l1.map((x) => x.id), r.map((x) => x.id));
  assert.ok(l1.every((x) => x.explanation.rankedUpBy.length === 0));
});

test('one source and no ranker: the L1 order is the final list', async (t) => {
  const { dir } = await trained(t, { holdout: 0 });
  const engine = new Engine(await readModelDir(dir, registry));
  for (const user of ['u1', 'u2', 'u7', 'u33']) {
    const final = engine.recommend({ user, k: 10 }).items.map((x) => x.id);
    const l1 = engine.recommend({ user, k: 10, ranker: false }).items.map((x) => x.id);
    assert.deepEqual(l1, final, user);
    const trace = engine.trace({ user, k: 10 });
    assert.equal(trace.rows, null);
    assert.deepEqual(trace.result.items.map((x) => x.id), final);
  }
});

test('a category the candidates cannot fill is filled from the fallbacks, which say so; the candidate count is one setting', async (t) => {
  const { dir } = await trained(t, { holdout: 0, config: { ...EASE, candidates: 3 } });
  const engine = new Engine(await readModelDir(dir, registry));
  // 20 trained items of g1 (some seen by u2), and 15 new ones the trained sources cannot know
  for (let i = 0; i < 15; i++) engine.upsertItem(`n${i}`, engine.checkItemFeatures({ genre: ['g1'] }));
  const r = engine.recommend({ user: 'u2', k: 30, category: 'g1' });
  assert.equal(r.strategy, 'personal');
  assert.equal(r.items.length, 30);
  assert.ok(r.items.every((x) => x.id.startsWith('n') || genreOf(x.id) === 1));
  const filled = r.items.filter((x) => x.explanation.fallback !== null);
  assert.ok(filled.length >= 10, JSON.stringify(r.items.map((x) => x.explanation.text)));
  assert.ok(filled.every((x) => /too few candidates/.test(x.explanation.fallback!)));
  for (let i = 1; i < r.items.length; i++) assert.ok(r.items[i - 1].score >= r.items[i].score, 'fallback items score below ranked ones');
  // the candidate count is one setting: the manifest's, overridable per engine (tandem serve --candidates)
  assert.equal(engine.candidateCount, 3);
  assert.equal(new Engine(await readModelDir(dir, registry), { candidates: 50 }).candidateCount, 50);
});

test('fitEngine in memory and the model directory read back answer the same', async (t) => {
  const { dir, dataset } = await trained(t, { holdout: 0 });
  const { model } = await fitEngine(dataset, EASE, registry);
  const a = new Engine(model);
  const b = new Engine(await readModelDir(dir, registry));
  for (const user of ['u0', 'u5', 'stranger']) assert.deepEqual(a.recommend({ user, k: 20 }), b.recommend({ user, k: 20 }), user);
});

test("a dataset whose time is an order keeps it through the model directory; popularity refuses a half-life in days", async (t) => {
  const ds = fixtureDataset();
  const { Dataset } = await import('../../data/index.ts');
  const ordered = new Dataset(ds.users, ds.items, ds.interactions, ds.eventTypes, 'ordered', 'order');
  const root = await mkdtemp(join(tmpdir(), 'tandem-order-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await trainModel(join(root, 'm'), { dataset: ordered, registry, config: EASE, holdout: 0 });
  assert.equal((await readModelDir(join(root, 'm'), registry)).dataset.timeKind, 'order');
  await assert.rejects(fitEngine(ordered, { sources: [{ kind: 'popularity', params: { halfLifeDays: 7 } }] }, registry), /halfLifeDays needs timestamps in seconds/);
});

test('the ranker rows follow the row budget: negatives are sampled when every candidate would not fit, every positive kept', async () => {
  const ds = fixtureDataset({ users: 120, items: 100, perUser: 12 });
  const base = { sources: [{ kind: 'ease', params: { lambda: 10 } }], fallbacks: [], candidates: 40, ranker: { kind: 'gbdt', params: { numRounds: 5, earlyStoppingRounds: 0 } } };
  const { rankerTrainingRows } = await import('./fit.ts');
  const all = await rankerTrainingRows(ds, base, registry);
  const budget = Math.round((all.train.nRows + all.valid.nRows) / 4);
  const lines: string[] = [];
  const cut = await rankerTrainingRows(ds, { ...base, ranker: { ...base.ranker, training: { maxRows: budget } } }, registry, { log: (l) => lines.push(l) });
  const rows = cut.train.nRows + cut.valid.nRows;
  assert.ok(rows <= budget * 1.3, `${rows} rows for a budget of ${budget}`);
  assert.equal(cut.report.positives, all.report.positives, 'every positive kept');
  assert.ok(lines.some((l) => /negatives kept per positive/.test(l)), lines.join('\n'));
});

test('validBy time: the early-stopping rows are the groups whose label window starts latest, over every label window; refused on order-only time', async () => {
  const ds = fixtureDataset({ users: 120, items: 100, perUser: 12 });
  const base = { sources: [{ kind: 'ease', params: { lambda: 10 } }], fallbacks: [], candidates: 40, ranker: { kind: 'gbdt', params: { numRounds: 5, earlyStoppingRounds: 0 } } };
  const { rankerTrainingRows } = await import('./fit.ts');
  const { splitUserTime } = await import('../../ranking/index.ts');
  const byUsers = await rankerTrainingRows(ds, base, registry);
  const { later } = splitUserTime(ds, 0.2);
  const start = (u: number) => {
    let t = Infinity;
    for (let r = 0; r < later.interactions.length; r++) if (later.interactions.user[r] === u) t = Math.min(t, later.interactions.timestamp[r]);
    return t;
  };
  const byTime = await rankerTrainingRows(ds, { ...base, ranker: { ...base.ranker, training: { validBy: 'time' } } }, registry);
  assert.equal(byTime.train.nRows + byTime.valid.nRows, byUsers.train.nRows + byUsers.valid.nRows, 'the same rows, cut another way');
  const G = byTime.train.groups.length - 1 + byTime.valid.groups.length - 1;
  assert.equal(byTime.valid.groups.length - 1, Math.round(G * 0.15));
  const latestTrain = Math.max(...Array.from(byTime.train.groupUsers, start));
  assert.ok(Array.from(byTime.valid.groupUsers, start).every((t) => t >= latestTrain), 'every validation group starts no earlier than every train group');
  // two label windows: a user's earlier window can train while their later one validates
  const two = await rankerTrainingRows(ds, { ...base, ranker: { ...base.ranker, training: { validBy: 'time', labelWindows: 2 } } }, registry);
  assert.ok(two.train.nRows > byTime.train.nRows);
  const { Dataset } = await import('../../data/index.ts');
  const ordered = new Dataset(ds.users, ds.items, ds.interactions, ds.eventTypes, 'ordered', 'order');
  await assert.rejects(rankerTrainingRows(ordered, { ...base, ranker: { ...base.ranker, training: { validBy: 'time' } } }, registry), /validBy 'time': this data's timestamps are positions within each user/);
});

test('a bag of GBDTs averages their margins; it saves and loads whole', async (t) => {
  const { GbdtRankerModel } = await import('../../ranking/index.ts');
  const root = await mkdtemp(join(tmpdir(), 'tandem-bags-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const config = { ...EASE, candidates: 30, ranker: { kind: 'gbdt', params: { numRounds: 8, earlyStoppingRounds: 0, minDataInLeaf: 5, bags: 3 } } };
  await trainModel(join(root, 'm'), { dataset: fixtureDataset(), registry, config, holdout: 0 });
  const model = await readModelDir(join(root, 'm'), registry);
  const m = model.ranker!.model as InstanceType<typeof GbdtRankerModel>;
  assert.equal(m.models.length, 3);
  assert.notDeepEqual(m.models[0].treeObjects(), m.models[1].treeObjects(), 'the seeds differ');
  const trace = new Engine(model).trace({ user: 'u3', k: 5 });
  const W = trace.featureNames.length;
  const n = trace.candidates.count;
  const got = new Float64Array(n);
  m.predict(trace.rows!, n, got);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const g of m.models) s += g.predictRowRef(trace.rows!.subarray(i * W, (i + 1) * W));
    assert.ok(Math.abs(got[i] - 1 / (1 + Math.exp(-s / 3))) < 1e-9, `row ${i}`);
  }
});

test('a model directory gets the permissions a plain mkdir gets (the umask), not mkdtemp\'s private 0700', async (t) => {
  const { mkdir, stat } = await import('node:fs/promises');
  const root = await mkdtemp(join(tmpdir(), 'tandem-mode-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'model');
  await trainModel(dir, { dataset: fixtureDataset(), registry, config: EASE, holdout: 0 });
  await mkdir(join(root, 'plain'));
  const mode = async (p: string) => (await stat(p)).mode & 0o777;
  assert.equal((await mode(dir)).toString(8), (await mode(join(root, 'plain'))).toString(8));
  assert.equal((await mode(join(dir, 'stages'))).toString(8), (await mode(join(root, 'plain'))).toString(8));
});

test('checkTandemVersion: the same or an older MAJOR.MINOR is read, any patch; a newer one or no version is refused', async () => {
  const { checkTandemVersion } = await import('./model-dir.ts');
  for (const v of ['0.1.0', '0.1.7', '0.0.9', '0.1.0-rc.1']) assert.equal(checkTandemVersion(v, '0.1.3'), null, v);
  for (const v of ['0.2.0', '1.0.0', '99.0.0']) assert.match(checkTandemVersion(v, '0.1.3')!, /newer than this Tandem 0\.1\.3/, v);
  for (const v of ['', 'latest', '1.2', 'v1.2.3']) assert.match(checkTandemVersion(v, '0.1.3')!, /is not a version/, v);
});

test('serving: a ranker that fails leaves the fused L1 order (reported), no ranker explanations; without a handler the error propagates', async () => {
  const ds = fixtureDataset();
  const config = { sources: [{ kind: 'ease', params: { lambda: 10 } }], fallbacks: FALLBACKS, candidates: 40, ranker: { kind: 'gbdt', params: { numRounds: 5, earlyStoppingRounds: 0 } } };
  const { model } = await fitEngine(ds, config, registry);
  const l1 = new Engine(model).recommend({ user: 'u2', k: 5, ranker: false });
  model.ranker!.rank = () => {
    throw new Error('ranker down');
  };
  const failures: string[] = [];
  const serving = new Engine(model, { onStageError: (stage, err) => failures.push(`${stage}: ${(err as Error).message}`) });
  const r = serving.recommend({ user: 'u2', k: 5 });
  assert.deepEqual(r.items.map((i) => i.id), l1.items.map((i) => i.id), 'the fused L1 order answers');
  assert.ok(r.items.every((i) => i.explanation.rankedUpBy.length === 0));
  assert.deepEqual(failures, ['ranker: ranker down']);
  assert.throws(() => new Engine(model).recommend({ user: 'u2', k: 5 }), /ranker down/);
});

test('variant: other business rules over the same model; catalog changes fed to the base refresh the variant’s rules', async (t) => {
  const { dir } = await trained(t, { holdout: 0 });
  const engine = new Engine(await readModelDir(dir, registry));
  assert.throws(() => engine.variant({ business: { diversityLambda: 2 } }), (e: Error) => e instanceof ParamError && /business\.diversityLambda/.test(e.message));
  const available = engine.variant({ business: { availabilityFeature: 'price' } });
  const top = available.recommend({ user: 'u1', k: 3 }).items.map((x) => x.id);
  assert.deepEqual(top, engine.recommend({ user: 'u1', k: 3 }).items.map((x) => x.id), 'every fixture item has a price > 0 or none: all available');
  // the item goes out of stock through the base engine (as the log feeds it): the variant drops it, the base keeps it
  engine.upsertItem(top[0], engine.checkItemFeatures({ genre: [`g${genreOf(top[0])}`], price: 0 }));
  assert.ok(!available.recommend({ user: 'u1', k: 3 }).items.some((x) => x.id === top[0]));
  assert.equal(engine.recommend({ user: 'u1', k: 3 }).items[0].id, top[0]);
  // a fresh engine built with the same rules agrees with the variant
  const rebuilt = new Engine(await readModelDir(dir, registry), { business: { availabilityFeature: 'price' } });
  rebuilt.upsertItem(top[0], rebuilt.checkItemFeatures({ genre: [`g${genreOf(top[0])}`], price: 0 }));
  assert.deepEqual(available.recommend({ user: 'u1', k: 5 }).items.map((x) => x.id), rebuilt.recommend({ user: 'u1', k: 5 }).items.map((x) => x.id));
});

test('two-tower stages that differ only in seedOffset are independent fits; equal offsets give equal fits', async () => {
  const dataset = fixtureDataset();
  const tt = (seedOffset: number) => ({ kind: 'two-tower', params: { epochs: 1, validate: false, embeddingDim: 8, hidden: [16], dim: 8, seedOffset } });
  const config = checkEngineConfig({ sources: [{ name: 'a', ...tt(0) }, { name: 'b', ...tt(1) }, { name: 'c', ...tt(0) }], fallbacks: [] }, registry);
  const { model } = await fitEngine(dataset, config, registry, { seed: 7 });
  const [a, b, c] = model.stages;
  const q = dataset.query(0);
  const top = (s: typeof a) => Array.from(s.candidates(q, 20).scores);
  assert.deepEqual(top(c), top(a), 'same seed, same fit');
  assert.notDeepEqual(top(b), top(a), 'seed + 1, another fit');
});
