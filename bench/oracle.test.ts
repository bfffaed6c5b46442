import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSyntheticWithTruth } from '../src/data/index.ts';
import { auc } from '../src/ranking/index.ts';
import { ORACLE_PARTS, oracleModel } from './oracle.ts';

test("the synthetic oracle: the generator's choice model ranks each user's late choices above random items, drift and taste add to the category; rows need both id columns", () => {
  const { dataset: ds, truth } = generateSyntheticWithTruth({ users: 400, items: 300, interactions: 20000, seed: 5 });
  const x = ds.interactions;
  // per user, the items of their last 20% of events (time order within a user: the generator writes them so)
  const byUser = new Map<number, number[]>();
  for (let r = 0; r < x.length; r++) {
    if (x.event[r] === 3) continue; // dislikes
    const list = byUser.get(x.user[r]) ?? [];
    list.push(x.item[r]);
    byUser.set(x.user[r], list);
  }
  const rows: number[] = [];
  const labels: number[] = [];
  let k = 0;
  for (const [u, items] of byUser) {
    const late = items.slice(Math.floor(items.length * 0.8));
    for (const it of late) {
      rows.push(u, it);
      labels.push(1);
      rows.push(u, (it * 7919 + k++ * 104729) % ds.numItems);
      labels.push(0);
    }
  }
  const X = Float32Array.from(rows);
  const n = labels.length;
  const aucOf = (parts: (typeof ORACLE_PARTS)[number]) => {
    const m = oracleModel(truth, ds, ['id_user', 'id_item'], parts);
    const z = new Float64Array(n);
    m.margins!(X, n, z);
    const p = new Float64Array(n);
    m.predict(X, n, p);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(p[i] - Math.exp(z[i])) < 1e-12, 'predict is the probability of the margin');
    return auc(z, Float64Array.from(labels));
  };
  const full = aucOf('full');
  assert.ok(full > 0.85, `full ${full}`);
  assert.ok(aucOf('category') < full, 'the taste within the category adds');
  assert.ok(aucOf('no-drift') < full, 'the drifted taste is closer to late choices');
  assert.throws(() => oracleModel(truth, ds, ['id_item'], 'full'), /id_user and id_item/);
});
