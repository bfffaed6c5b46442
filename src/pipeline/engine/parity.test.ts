import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ranker } from '../../ranking/index.ts';
import { checkEngineConfig } from './config.ts';
import { Engine } from './engine.ts';
import { rankerTrainingRows } from './fit.ts';
import { fixtureDataset } from './fixture.ts';
import { readModelDir, writeModelDir } from './model-dir.ts';
import { builtinRegistry } from './registry.ts';

const registry = builtinRegistry();

// the GBDT on the plain rows; the blend (GBDT + DCN) on rows with the id columns, which only the DCN reads,
// and with the two-tower's user and item vectors on their main axes (vec_*) and the genre bags and recent
// items (bag_*, ubag_*, hist_*), which only the DCN reads too, there with two DCNs averaged (the
// two-stage-blend pipeline's shape)
const BLEND = { gbdt: { numRounds: 15, earlyStoppingRounds: 0, minDataInLeaf: 5 }, dcn: { epochs: 1, crossLayers: 1, hidden: [8], patience: 0 }, weight: 0.5 };
const BLEND_ENSEMBLE = { ...BLEND, dcn: { ...BLEND.dcn, ensemble: 2 } };
const RANKERS = [
  { kind: 'gbdt', params: { numRounds: 15, earlyStoppingRounds: 0, minDataInLeaf: 5 }, ids: 'none', vectors: null, bags: false },
  { kind: 'blend', params: BLEND, ids: 'both', vectors: null, bags: false },
  { kind: 'blend', params: BLEND_ENSEMBLE, ids: 'item', vectors: 'two-tower', bags: true },
  // an item vector column (a content embedding): the cosines both models read, the cvec_* only the DCN
  { kind: 'blend', params: BLEND, ids: 'none', vectors: null, bags: false, content: true },
] as const;

const TWO_TOWER = { kind: 'two-tower', params: { epochs: 1, validate: false, embeddingDim: 8, hidden: [16], dim: 8 } };

for (const rk of RANKERS) test(`train/serve parity (${rk.kind}, ids ${rk.ids}${rk.vectors ? `, ${rk.vectors} vectors` : ''}${rk.bags ? ', bags, two DCNs' : ''}${'content' in rk ? ', a content vector column' : ''}): the rows the trainer builds for a (user, time) equal, bit for bit, what a served request at that time builds, and so do the scores`, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-parity-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const content = 'content' in rk;
  const ds = fixtureDataset({ users: 90, items: 120, perUser: 14, seed: 11, ...(content ? { embedding: 6 } : {}) });
  // several sources (a view, a source that scores others' candidates, one that does not), sampled negatives
  const config = checkEngineConfig(
    {
      sources: [{ kind: 'ease', params: { lambda: 20 } }, { name: 'ease-h5', kind: 'ease', params: { base: 'ease', halfLife: 5 } }, { kind: 'itemknn', params: { neighbours: 30 } }, ...(rk.vectors ? [TWO_TOWER] : [])],
      fallbacks: [{ kind: 'popularity' }],
      candidates: 25,
      ranker: { kind: rk.kind, params: rk.params, features: { ids: rk.ids, ...(rk.vectors ? { vectors: rk.vectors, vectorDims: 5 } : {}), ...(rk.bags ? { bagSlots: 2, history: 3 } : {}), ...(content ? { contentRecent: 4, contentDims: 3 } : {}) }, training: { negativesPerPositive: 4 } },
    },
    registry,
  );
  const rows = await rankerTrainingRows(ds, config, registry, { seed: 7 });
  assert.ok(rows.train.nRows > 200, `rows ${rows.train.nRows}`);
  // the L1 model of the label window, with a ranker trained on these rows, written and served like any model
  const early = rows.early.model;
  const model = await registry.rankers.get(rk.kind)!.train({ train: rows.train, valid: null }, config.ranker!.params, { seed: 1, threads: 1, log: () => {} });
  early.ranker = new Ranker(rows.early.features, model, 3);
  early.manifest.config = config;
  early.manifest.ranker = { kind: rk.kind, path: 'ranker', features: [...rows.early.features.names], summary: {} };
  const dir = join(root, 'early');
  await writeModelDir(dir, early);
  const loaded = await readModelDir(dir, registry);
  const engine = new Engine(loaded);
  const set = rows.train;
  const W = set.nFeatures;
  assert.deepEqual(engine.featureNames, set.featureNames);
  if (rk.ids === 'both') assert.deepEqual(set.featureNames.slice(-2), ['id_user', 'id_item']);
  if (content) {
    assert.deepEqual(set.featureNames.slice(-3), ['cvec_emb_0', 'cvec_emb_1', 'cvec_emb_2']);
    assert.deepEqual(Array.from(set.embedOnly!.slice(-3)), [4, 4, 4]);
    const cos = set.featureNames.indexOf('x_emb_cos');
    assert.ok(cos > 0 && set.featureNames[cos + 1] === 'x_emb_max');
    let filled = 0;
    for (let r = 0; r < set.nRows; r++) if (Number.isFinite(set.features[r * W + cos])) filled++;
    assert.ok(filled > set.nRows / 2, `${filled} of ${set.nRows} rows have a content cosine`);
    assert.equal((model as unknown as { gbdt: { columns: { keep: Int32Array } } }).gbdt.columns.keep.length, W - 3, 'the GBDT reads the cosines, not the cvec_*');
  }
  if (rk.vectors) {
    const deep = ['id_item', 'bag_genre_0', 'bag_genre_1', 'ubag_genre_0', 'ubag_genre_1', 'hist_0', 'hist_1', 'hist_2', 'vec_0', 'vec_1', 'vec_2', 'vec_3', 'vec_4'];
    assert.deepEqual(set.featureNames.slice(-deep.length), deep);
    assert.deepEqual(Array.from(set.embedOnly!.slice(-deep.length)), [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    // the GBDT of the blend reads none of them; the DCN averages the bags
    assert.deepEqual((model as unknown as { gbdt: { columns: { keep: Int32Array } } }).gbdt.columns.keep.length, W - deep.length);
    const dcns = (model as unknown as { dcn: { members: { encoder: { spec: { inputs: unknown[] } } }[] } }).dcn.members;
    assert.equal(dcns.length, 2, 'two DCNs averaged');
    for (const d of dcns) assert.equal(d.encoder.spec.inputs.length, 5, 'u_country, id_item, the two genre bags and the history');
  }
  // the model read back from the directory scores the trained rows as the trained model does
  const served = new Float64Array(set.nRows);
  const trained = new Float64Array(set.nRows);
  model.predict(set.features, set.nRows, trained);
  loaded.ranker!.model.predict(set.features, set.nRows, served);
  assert.deepEqual(served, trained);
  let compared = 0;
  let withNaN = 0;
  for (let g = 0; g < set.groups.length - 1; g += 3) {
    const user = early.dataset.users.ids.values[set.groupUsers[g]];
    const trace = engine.trace({ user, k: 10 });
    assert.ok(trace.rows, 'the ranker ran');
    const at = new Map<number, number>();
    for (let c = 0; c < trace.candidates.count; c++) at.set(trace.candidates.items[c], c);
    for (let r = set.groups[g]; r < set.groups[g + 1]; r++) {
      const c = at.get(set.items[r]);
      assert.ok(c !== undefined, `user ${user}: the trained candidate ${set.items[r]} is among the served candidates`);
      for (let f = 0; f < W; f++) {
        const want = set.features[r * W + f];
        const got: number = trace.rows![c * W + f];
        if (!Object.is(want, got)) assert.fail(`user ${user}, item ${set.items[r]}, feature ${set.featureNames[f]}: trained ${want}, served ${got}`);
        if (Number.isNaN(want)) withNaN++;
      }
      compared++;
    }
  }
  assert.ok(compared > 100, `compared ${compared} rows`);
  assert.ok(withNaN > 0, 'missing values (NaN) were compared too');
  if (rk.vectors) {
    let finite = 0;
    for (let r = 0; r < set.nRows; r++) if (Number.isFinite(set.features[r * W + W - 1])) finite++;
    assert.equal(finite, set.nRows, 'every trained user and item has a vector');
  }
});
