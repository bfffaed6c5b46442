import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DatasetBuilder, type Dataset } from '../../data/index.ts';
import { Rng } from '../../math/index.ts';
import { userQuery } from '../../retrieval/index.ts';
import { TwoStage } from './two-stage.ts';
import { twoStagePipeline } from './pipeline.ts';

/** Users walk item chains: after item i comes i+1 (mod 60) most of the time, so recent items predict the next. */
function chains(seed = 1): Dataset {
  const rng = new Rng(seed);
  const b = new DatasetBuilder({ user: [{ name: 'age', kind: 'numeric' }], item: [{ name: 'genre', kind: 'categorical' }, { name: 'price', kind: 'numeric' }], eventTypes: [] });
  for (let i = 0; i < 60; i++) {
    const r = b.items.row(`i${i}`);
    b.items.set(r, 'genre', `g${Math.floor(i / 10)}`);
    b.items.set(r, 'price', 1 + (i % 7));
  }
  for (let u = 0; u < 150; u++) {
    const r = b.users.row(`u${u}`);
    b.users.set(r, 'age', 18 + (u % 50));
    let it = rng.int(60);
    const seen = new Set<number>();
    const len = 12 + rng.int(12);
    for (let k = 0; k < len; k++) {
      if (!seen.has(it)) {
        seen.add(it);
        b.addInteraction(r, it, 0, 1, 1e9 + u * 1000 + k * 60);
      }
      it = rng.next() < 0.8 ? (it + 1) % 60 : rng.int(60);
    }
  }
  return b.build();
}

const small = { candidates: 30, extraSources: [], gbdt: { numRounds: 40, numLeaves: 8, minDataInLeaf: 5, earlyStoppingRounds: 10 }, features: { neighbours: 30 } };

test('two-stage fits without leakage, recommends unseen items with explanations, and is deterministic', async () => {
  const ds = chains();
  const lines: string[] = [];
  const ts = new TwoStage(small);
  const report = await ts.fit(ds, (l) => lines.push(l));
  assert.deepEqual(report.sources, ['ease', 'ease-h10']);
  assert.ok(report.assemble.recall > 0.3 && report.assemble.recall <= 1, `recall ${report.assemble.recall}`);
  assert.ok(report.trainRows > 0 && report.validRows > 0);
  assert.ok(report.bestIteration >= 1);
  assert.match(lines[0], /recall \d\.\d{4} at 30 per source/);
  const q = userQuery(ds, 3);
  const exclude = new Set([0, 1, 2]);
  const recs = ts.recommend(q, 10, exclude);
  assert.equal(recs.length, 10);
  assert.equal(new Set(recs).size, 10);
  for (const i of recs) assert.ok(!q.history.includes(i) && !exclude.has(i));
  // the chain's next item after the user's last one is usually ranked first
  let hits = 0;
  for (let u = 0; u < 40; u++) {
    const qu = userQuery(ds, u);
    const next = (qu.history[qu.history.length - 1] + 1) % 60;
    if (!qu.history.includes(next) && ts.recommend(qu, 3)[0] === next) hits++;
  }
  assert.ok(hits >= 20, `next item first for ${hits}/40 users`);
  const ex = ts.recommendExplained(q, 5, exclude);
  assert.deepEqual(Array.from(ex.items), Array.from(recs.subarray(0, 5)));
  for (const e of ex.explanations) assert.match(e.text, /^found by ease/);
  for (let k = 1; k < ex.scores.length; k++) assert.ok(ex.scores[k - 1] >= ex.scores[k]);
  const again = twoStagePipeline(small);
  await again.fit({ train: ds, seed: 1, threads: 1, log: () => {} });
  assert.deepEqual(Array.from(again.recommend(q, 10, exclude)), Array.from(recs));
});

test('two-stage business rules reach the final list: an expensive-item blend and a demotion', async () => {
  const ds = chains(2);
  const plain = new TwoStage(small);
  await plain.fit(ds);
  const q = userQuery(ds, 7);
  const base = plain.recommend(q, 10);
  const ts = new TwoStage({ ...small, business: { valueFeature: 'price', valueExponent: 3, boosts: [{ feature: 'genre', value: 'g0', factor: 0 }] } });
  await ts.fit(ds);
  const recs = ts.recommend(q, 10);
  const genre = ds.items.column('genre')!;
  if (genre.kind !== 'categorical') throw new Error('fixture');
  const isG0 = Array.from(recs, (i) => genre.vocab.values[genre.codes[i]] === 'g0');
  const firstG0 = isG0.indexOf(true);
  if (firstG0 >= 0) assert.ok(isG0.slice(firstG0).every(Boolean), 'a zero factor puts g0 items below every other candidate');
  const price = (i: number) => 1 + (i % 7);
  const mean = (xs: Int32Array) => xs.reduce((s, i) => s + price(i), 0) / xs.length;
  assert.ok(mean(recs) >= mean(base), `value blend favours expensive items: ${mean(recs)} vs ${mean(base)}`);
  assert.throws(() => new TwoStage({ candidates: 0 }), /candidates/);
  assert.throws(() => new TwoStage(small).recommend(q, 10), /call fit\(\)/);
});
