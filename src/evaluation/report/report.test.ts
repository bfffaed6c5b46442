import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSynthetic, parseSplit, splitDataset, type Dataset } from '../../data/index.ts';
import { evaluateRecommender, type Recommender } from '../protocol.ts';
import { barsSvg, gini, pipelineDetails, popularityRanks, renderReport } from './index.ts';

let cached: { train: Dataset; test: Dataset } | null = null;
function data(): { train: Dataset; test: Dataset } {
  cached ??= splitDataset(generateSynthetic({ users: 300, items: 240, interactions: 9000, seed: 3 }), parseSplit('user-temporal:0.2'));
  return cached;
}

/** Most popular first, skipping excluded items. */
function popular(train: Dataset): Recommender {
  const { rank } = popularityRanks(train);
  const order = Int32Array.from(rank.keys()).sort((a, b) => rank[a] - rank[b]);
  return (_q, n, ex) => {
    const out: number[] = [];
    for (let i = 0; i < order.length && out.length < n; i++) if (!ex.has(order[i])) out.push(order[i]);
    return Int32Array.from(out);
  };
}

/** Items in a per-user shuffled order (a seeded hash): a recommender with no popularity bias to speak of. */
function scrambled(ni: number): Recommender {
  return (q, n, ex) => {
    const keys = Array.from({ length: ni }, (_, it) => [((it + 1) * 2654435761 + q.user * 40503) % 1000003, it]).sort((a, b) => a[0] - b[0]);
    return Int32Array.from(keys.map((k) => k[1]).filter((it) => !ex.has(it)).slice(0, n));
  };
}

test('curves agree with the protocol at its cutoffs, with and without a user sample', () => {
  const { train, test: te } = data();
  for (const maxUsers of [undefined, 57]) {
    for (const rec of [popular(train), scrambled(train.numItems)]) {
      const ref = evaluateRecommender(train, te, rec, { ks: [1, 10, 20, 50, 100], maxUsers, seed: 9 });
      const d = pipelineDetails('p', train, te, rec, { maxUsers, seed: 9 });
      assert.equal(d.users, ref.users);
      assert.equal(d.curves.k.length, 100);
      for (const k of [1, 10, 20, 50, 100]) {
        assert.ok(Math.abs(d.curves.recall[k - 1] - ref.metrics[`recall@${k}`]) < 1e-6, `recall@${k}`);
        assert.ok(Math.abs(d.curves.ndcg[k - 1] - ref.metrics[`ndcg@${k}`]) < 1e-6, `ndcg@${k}`);
      }
      assert.ok(Math.abs(d.coverage['coverage@10'] - ref.metrics['coverage@10']) < 1e-6);
      // recall can only grow with K
      for (let i = 1; i < 100; i++) assert.ok(d.curves.recall[i] >= d.curves.recall[i - 1] - 1e-12);
    }
  }
});

test('activity groups partition the users by history length, and each group matches a protocol run on its users', () => {
  const { train, test: te } = data();
  const rec = popular(train);
  const d = pipelineDetails('pop', train, te, rec, { coldMax: 20 });
  assert.deepEqual(d.groups.map((g) => g.name), ['cold', 'light', 'heavy']);
  assert.equal(d.groups.reduce((s, g) => s + g.users, 0), d.users);
  const { offsets } = train.byUser();
  // the cold group's recall@10, recomputed by the protocol over only the cold users
  const coldOnly: Recommender = (q, n, ex) => rec(q, n, ex);
  const coldUsers = new Set<number>();
  for (let u = 0; u < train.numUsers; u++) if (offsets[u + 1] - offsets[u] <= 20) coldUsers.add(u);
  const coldTest = te.withInteractions(selectRows(te, (r) => coldUsers.has(te.interactions.user[r])));
  const ref = evaluateRecommender(train, coldTest, coldOnly, { ks: [10] });
  assert.equal(d.groups[0].users, ref.users);
  if (ref.users > 0) assert.ok(Math.abs(d.groups[0].metrics['recall@10'] - ref.metrics['recall@10']) < 1e-6);
});

function selectRows(ds: Dataset, keep: (r: number) => boolean) {
  const x = ds.interactions;
  const rows: number[] = [];
  for (let r = 0; r < x.length; r++) if (keep(r)) rows.push(r);
  return {
    length: rows.length,
    user: Int32Array.from(rows, (r) => x.user[r]),
    item: Int32Array.from(rows, (r) => x.item[r]),
    event: Uint8Array.from(rows, (r) => x.event[r]),
    value: Float32Array.from(rows, (r) => x.value[r]),
    timestamp: Float64Array.from(rows, (r) => x.timestamp[r]),
  };
}

test('popularity bias: a most-popular recommender sits in the head, a scrambled one does not', () => {
  const { train, test: te } = data();
  const pop = pipelineDetails('pop', train, te, popular(train)).popularity;
  const scr = pipelineDetails('scr', train, te, scrambled(train.numItems)).popularity;
  assert.ok(pop.meanPercentile > 90, `popular: ${pop.meanPercentile}`);
  assert.ok(pop.headShare > 0.9);
  assert.ok(scr.meanPercentile < 65 && scr.meanPercentile > 35, `scrambled: ${scr.meanPercentile}`);
  assert.ok(scr.headShare < 0.3);
  assert.ok(pop.gini > scr.gini);
  for (const p of [pop, scr]) {
    assert.equal(p.deciles.length, 10);
    assert.ok(Math.abs(p.deciles.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    assert.ok(Math.abs(p.testDeciles.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  }
});

test('gini agrees with the mean-absolute-difference definition', () => {
  assert.equal(gini([3, 3, 3, 3]), 0);
  assert.ok(Math.abs(gini([0, 0, 0, 1]) - 0.75) < 1e-12);
  let s = 12345;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let t = 0; t < 20; t++) {
    const v = Array.from({ length: 1 + (t % 13) }, () => Math.floor(rnd() * 10));
    let mad = 0;
    for (const a of v) for (const b of v) mad += Math.abs(a - b);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const ref = mean === 0 ? 0 : mad / (2 * v.length * v.length * mean);
    assert.ok(Math.abs(gini(v) - ref) < 1e-12, `${v}`);
  }
});

test('the report is one self-contained file: uPlot, data and page script inlined, nothing fetched', () => {
  const { train, test: te } = data();
  const details = [pipelineDetails('popularity</script><b>', train, te, popular(train)), pipelineDetails('scrambled', train, te, scrambled(train.numItems))];
  const html = renderReport({
    summary: {
      dataset: { name: 'synthetic', users: 300, items: 240, interactions: 9000, trainInteractions: train.interactions.length, testInteractions: te.interactions.length, evalUsers: details[0].users },
      results: details.map((d) => ({ pipeline: d.pipeline, metrics: { 'ndcg@10': d.curves.ndcg[9], 'recall@10': d.curves.recall[9] }, trainSeconds: 0.1, evalSeconds: 0.2, users: d.users, fit: { l1: { fitSeconds: 1.5 }, seconds: { gbdt: 2.25 }, epochs: [{ seconds: 9 }], params: { neighbours: 400 }, labelItems: 12 } })),
    },
    details,
    createdAt: '2026-01-01T00:00:00Z',
  });
  assert.match(html, /^<!doctype html>/);
  assert.ok(html.includes('uPlot'), 'uPlot inlined');
  assert.doesNotMatch(html, /<script[^>]+src=/i);
  assert.doesNotMatch(html, /<link[^>]+href=/i);
  assert.doesNotMatch(html, /(src|href)\s*=\s*["']?https?:|url\(\s*["']?https?:|fetch\(/i, 'nothing loaded from the network');
  // a hostile pipeline name neither closes a script element nor becomes markup
  assert.equal(html.split('</script>').length - 1, 3);
  assert.ok(!html.includes('<b>popularity') && html.includes('popularity&lt;/script&gt;'));
  const json = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html)![1];
  const payload = JSON.parse(json);
  assert.equal(payload.pipelines[0], 'popularity</script><b>');
  assert.equal(payload.recall[1].length, 100);
  for (const id of ['metrics', 'groups', 'popularity', 'timing', 'chart-recall', 'chart-ndcg', 'chart-deciles']) assert.ok(html.includes(`id="${id}"`), id);
  assert.ok(html.includes('l1.fitSeconds 1.500') && html.includes('seconds.gbdt 2.250'), 'stage timings from the fit report');
  assert.ok(!html.includes('epochs.0'), 'arrays are not timings');
  assert.ok(!html.includes('params.neighbours') && !html.includes('labelItems'), 'names merely ending in ms are not timings');
});

test('bars: one path per finite value, scaled to the largest', () => {
  const svg = barsSvg(['a', 'b'], [{ name: 's', values: [1, NaN] }, { name: 't', values: [0.5, 2] }], 'y');
  assert.equal(svg.match(/<path /g)!.length, 3);
  assert.ok(svg.includes('s a: 1.0000') && svg.includes('t b: 2.0000'));
});
