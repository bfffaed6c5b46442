import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSynthetic, generateSyntheticWithTruth, resolveSyntheticOptions, SYNTHETIC_OPTIONS } from './index.ts';

const small = { users: 300, items: 400, interactions: 12000, seed: 5 };

test('synthetic: seeded, sized as asked, features filled, events typed', () => {
  const a = generateSynthetic(small);
  const b = generateSynthetic(small);
  const c = generateSynthetic({ ...small, seed: 6 });
  assert.equal(a.numUsers, 300);
  assert.equal(a.numItems, 400);
  assert.equal(a.interactions.length, 12000);
  assert.deepEqual(a.interactions.item, b.interactions.item);
  assert.deepEqual(a.interactions.timestamp, b.interactions.timestamp);
  assert.notDeepEqual(a.interactions.item, c.interactions.item);
  assert.deepEqual(a.eventTypes.map((e) => e.name), ['view', 'click', 'purchase', 'dislike']);
  assert.equal(a.eventTypes[3].negative, true);
  const x = a.interactions;
  const perType = new Int32Array(4);
  const price = a.items.column('price');
  assert.ok(price?.kind === 'numeric');
  let bad = 0;
  for (let r = 0; r < x.length; r++) {
    perType[x.event[r]]++;
    if (!(x.user[r] >= 0 && x.user[r] < 300 && x.item[r] >= 0 && x.item[r] < 400)) bad++;
    // a purchase's value is the price paid
    if (x.event[r] === 2 && !(x.value[r] > 0 && x.value[r] === Math.fround(price.values[x.item[r]]))) bad++;
  }
  assert.equal(bad, 0);
  for (const n of perType) assert.ok(n > 0, `every event type occurs: ${perType.join(',')}`);
  // rows come grouped by user and ordered in time within the user
  for (let r = 1; r < x.length; r++) if (x.user[r] === x.user[r - 1]) assert.ok(x.timestamp[r] >= x.timestamp[r - 1]);
  const age = a.users.column('age');
  assert.ok(age?.kind === 'numeric' && age.values.every((v) => v >= 18 && v <= 75));
  const country = a.users.column('country');
  assert.ok(country?.kind === 'categorical' && country.codes.every((v) => v >= 0));
  const tags = a.items.column('tags');
  assert.ok(tags?.kind === 'multi-categorical');
  for (let i = 0; i < 400; i++) assert.ok(tags.offsets[i + 1] > tags.offsets[i], 'every item has a tag');
  const title = a.items.column('title');
  assert.ok(title?.kind === 'text' && title.codes.length >= 800);
  assert.deepEqual(a.items.specs().map((s) => s.name), ['category', 'tags', 'price', 'title']);
});

test('synthetic: Zipf-like popularity, timestamps inside each user window, features reveal the latent taste', () => {
  const { dataset, truth } = generateSyntheticWithTruth({ users: 1000, items: 1000, interactions: 40000, seed: 9 });
  const counts = Array.from(dataset.itemCounts()).sort((p, q) => q - p);
  const top = counts.slice(0, 50).reduce((s, v) => s + v, 0);
  // the top 5% of items take far more than 5% of the events
  assert.ok(top / 40000 > 0.2, `top 5% share ${top / 40000}`);
  const x = dataset.interactions;
  for (let r = 0; r < x.length; r++) {
    const u = x.user[r];
    assert.ok(x.timestamp[r] >= Math.floor(truth.userWindow[2 * u]) && x.timestamp[r] <= truth.userWindow[2 * u + 1]);
  }
  // items of one category are closer in taste than items of different categories
  const cat = dataset.items.column('category');
  assert.ok(cat?.kind === 'categorical');
  const d = truth.dim;
  let same = 0;
  let sameN = 0;
  let diff = 0;
  let diffN = 0;
  for (let i = 0; i < 300; i++) {
    for (let j = i + 1; j < 300; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += truth.itemTaste[i * d + k] * truth.itemTaste[j * d + k];
      if (cat.codes[i] === cat.codes[j]) (same += s), sameN++;
      else (diff += s), diffN++;
    }
  }
  assert.ok(same / sameN > diff / diffN + 0.3, `same-category ${same / sameN} vs ${diff / diffN}`);
  // the chosen items match the user's taste better than random items do
  let chosen = 0;
  let random = 0;
  for (let r = 0; r < x.length; r += 7) {
    if (x.event[r] === 3) continue;
    const u = x.user[r];
    const i = x.item[r];
    const j = (i * 7919 + 13) % 1000;
    for (let k = 0; k < d; k++) {
      chosen += truth.userTaste[u * d + k] * truth.itemTaste[i * d + k];
      random += truth.userTaste[u * d + k] * truth.itemTaste[j * d + k];
    }
  }
  assert.ok(chosen > random * 2 + 1, `chosen ${chosen} random ${random}`);
});

test('synthetic options are validated and named', () => {
  assert.equal(resolveSyntheticOptions().users, SYNTHETIC_OPTIONS.users.default);
  assert.throws(() => resolveSyntheticOptions({ users: 0 }), /'users': 0 is not an integer in \[1,/);
  assert.throws(() => resolveSyntheticOptions({ zipf: Number.NaN }), /'zipf'/);
  assert.throws(() => resolveSyntheticOptions({ dim: 2.5 }), /'dim'/);
  assert.throws(() => resolveSyntheticOptions({ colour: 1 } as never), /'colour' is unknown/);
  // empty log and a one-item catalog still build
  assert.equal(generateSynthetic({ users: 3, items: 1, interactions: 0 }).interactions.length, 0);
  assert.equal(generateSynthetic({ users: 2, items: 1, interactions: 10, categories: 5 }).interactions.length, 10);
});

test('synthetic titleTaste: only the titles change, and items sharing a taste word are closer in taste than others of their category', () => {
  const opts = { users: 400, items: 1200, interactions: 15000, seed: 11 };
  const plain = generateSyntheticWithTruth(opts);
  const tasted = generateSyntheticWithTruth({ ...opts, titleTaste: 1 });
  // the main random stream is untouched: the same events, tags and tastes
  assert.deepEqual(tasted.dataset.interactions.item, plain.dataset.interactions.item);
  assert.deepEqual(tasted.dataset.interactions.timestamp, plain.dataset.interactions.timestamp);
  assert.deepEqual(tasted.truth.itemTaste, plain.truth.itemTaste);
  const t0 = plain.dataset.items.column('title');
  const t1 = tasted.dataset.items.column('title');
  assert.ok(t0?.kind === 'text' && t1?.kind === 'text');
  assert.deepEqual(t1.offsets, t0.offsets);
  const base = t0.vocab.size;
  assert.equal(t1.vocab.size, base + 400);
  // every title keeps its category word; every free word is now a taste word (codes past the plain ones)
  for (let i = 0; i < 1200; i++) {
    assert.equal(t1.codes[t1.offsets[i]], t0.codes[t0.offsets[i]]);
    for (let q = t1.offsets[i] + 1; q < t1.offsets[i + 1]; q++) assert.ok(t1.codes[q] >= base, `item ${i} word ${q}`);
  }
  // within a category, items sharing a taste word are closer in taste than those that do not
  const cat = tasted.dataset.items.column('category');
  assert.ok(cat?.kind === 'categorical');
  const d = tasted.truth.dim;
  const words = (i: number) => new Set(Array.from(t1.codes.subarray(t1.offsets[i] + 1, t1.offsets[i + 1])));
  let shared = 0;
  let sharedN = 0;
  let other = 0;
  let otherN = 0;
  for (let i = 0; i < 1200; i++) {
    const wi = words(i);
    for (let j = i + 1; j < 1200; j++) {
      if (cat.codes[i] !== cat.codes[j]) continue;
      let s = 0;
      for (let k = 0; k < d; k++) s += tasted.truth.itemTaste[i * d + k] * tasted.truth.itemTaste[j * d + k];
      if ([...words(j)].some((w) => wi.has(w))) (shared += s), sharedN++;
      else (other += s), otherN++;
    }
  }
  assert.ok(sharedN > 50, `${sharedN} pairs share a word`);
  assert.ok(shared / sharedN > other / otherN + 0.03, `sharing a taste word ${shared / sharedN} vs not ${other / otherN}`);
  assert.throws(() => resolveSyntheticOptions({ titleTaste: 1.5 }), /'titleTaste'/);
});

test('synthetic embedding: a unit vector column on its own stream whose cosines follow the item tastes', () => {
  const opts = { users: 300, items: 800, interactions: 8000, seed: 9 };
  const plain = generateSyntheticWithTruth(opts);
  const withEmb = generateSyntheticWithTruth({ ...opts, embedding: 24 });
  assert.equal(plain.dataset.items.column('embedding'), undefined);
  assert.deepEqual(withEmb.dataset.interactions.item, plain.dataset.interactions.item);
  assert.deepEqual(withEmb.truth.itemTaste, plain.truth.itemTaste);
  const col = withEmb.dataset.items.column('embedding');
  assert.ok(col?.kind === 'vector');
  assert.equal(col.dim, 24);
  assert.equal(col.values.length, 800 * 24);
  const E = 24;
  const d = withEmb.truth.dim;
  for (let i = 0; i < 800; i++) {
    let n = 0;
    for (let e = 0; e < E; e++) n += col.values[i * E + e] ** 2;
    assert.ok(Math.abs(n - 1) < 1e-4, `item ${i} length² ${n}`);
  }
  // pairs' embedding cosines track their taste cosines (a linear map plus noise)
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < 200; i++) {
    for (let j = i + 1; j < 200; j++) {
      let a = 0;
      let b = 0;
      for (let e = 0; e < E; e++) a += col.values[i * E + e] * col.values[j * E + e];
      for (let q = 0; q < d; q++) b += withEmb.truth.itemTaste[i * d + q] * withEmb.truth.itemTaste[j * d + q];
      xs.push(a);
      ys.push(b);
    }
  }
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const mx = mean(xs);
  const my = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let k = 0; k < xs.length; k++) {
    sxy += (xs[k] - mx) * (ys[k] - my);
    sxx += (xs[k] - mx) ** 2;
    syy += (ys[k] - my) ** 2;
  }
  const r = sxy / Math.sqrt(sxx * syy);
  assert.ok(r > 0.6, `correlation of embedding and taste cosines ${r}`);
  // seeded
  assert.deepEqual(generateSyntheticWithTruth({ ...opts, embedding: 24 }).dataset.items.column('embedding'), col);
});
