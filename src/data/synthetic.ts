/**
 * A seeded synthetic dataset whose signal is known: users and items carry latent taste vectors that
 * their features partly reveal, items have Zipf-like popularity and release dates, users' tastes drift
 * over their active window, and each interaction is a choice among a few popularity-drawn candidates
 * by softmax of taste affinity. So popularity is a fair baseline, co-occurrence (item-kNN) beats it,
 * and a model that also reads the features (category, tags, country, age) can beat both.
 *
 * The typed arrays are filled directly (no row-by-row builder), so 1M items and 10M interactions take
 * seconds, not minutes.
 */
import { AliasTable, Rng } from '../math/index.ts';
import { Dataset, EntityTable, type FeatureColumn, type Interactions } from './dataset.ts';
import type { EventTypeSpec } from './schema.ts';
import { Vocabulary } from './vocabulary.ts';

/** One option of the generator: default, allowed range and what it does (CLI flags and docs come from this). */
export interface SyntheticOptionDef {
  default: number;
  min: number;
  max: number;
  integer: boolean;
  description: string;
}

/** Every generator option, declared once. */
export const SYNTHETIC_OPTIONS = {
  users: { default: 5000, min: 1, max: 50_000_000, integer: true, description: 'number of users' },
  items: { default: 3000, min: 1, max: 50_000_000, integer: true, description: 'number of items' },
  interactions: { default: 250_000, min: 0, max: 2_000_000_000, integer: true, description: 'number of interaction rows' },
  dim: { default: 16, min: 2, max: 256, integer: true, description: 'latent taste dimension' },
  categories: { default: 24, min: 1, max: 10_000, integer: true, description: 'item categories' },
  tags: { default: 120, min: 1, max: 100_000, integer: true, description: 'distinct item tags' },
  countries: { default: 20, min: 1, max: 1000, integer: true, description: 'distinct user countries' },
  zipf: { default: 0.9, min: 0, max: 3, integer: false, description: 'Zipf exponent of item popularity' },
  candidates: { default: 8, min: 1, max: 1024, integer: true, description: 'popularity-drawn candidates per choice' },
  sharpness: { default: 8, min: 0, max: 100, integer: false, description: 'softmax inverse temperature over taste affinity' },
  focus: { default: 8, min: 0, max: 100, integer: false, description: 'how strongly taste picks the category of each choice' },
  drift: { default: 0.6, min: 0, max: 10, integer: false, description: 'how far a taste moves over a user\'s active window' },
  novelty: { default: 1.5, min: 0, max: 20, integer: false, description: 'logit boost of an item in its first weeks after release' },
  itemNoise: { default: 0.8, min: 0, max: 100, integer: false, description: 'length of the part of an item\'s taste its features do not show' },
  userNoise: { default: 0.7, min: 0, max: 100, integer: false, description: 'length of the part of a user\'s taste their features do not show' },
  titleTaste: { default: 0, min: 0, max: 1, integer: false, description: 'chance that each free title word is a taste word, the one of 32 drawn from 400 whose direction best matches the part of the item\'s taste no other feature shows (0: free words are random; the rest of the data is the same at every value)' },
  embedding: { default: 0, min: 0, max: 1024, integer: true, description: 'width of an item column `embedding` (kind vector) as a pretrained text or image model would give: a fixed random linear map of the item\'s whole taste (its private part too) plus noise, unit length, on its own stream (0: no such column; the rest of the data is the same at every value)' },
  embeddingNoise: { default: 0.5, min: 0, max: 100, integer: false, description: 'length of the noise added to each `embedding` vector before it is scaled to unit length (the map of the taste has length about 1)' },
  negativeRate: { default: 0.04, min: 0, max: 1, integer: false, description: 'share of events that are dislikes of a poorly matching candidate' },
  spanDays: { default: 180, min: 1, max: 100_000, integer: false, description: 'time span of the log in days' },
  start: { default: 1_704_067_200, min: 0, max: 1e11, integer: false, description: 'first timestamp (Unix seconds)' },
  seed: { default: 42, min: 0, max: 4294967295, integer: true, description: 'random seed' },
} satisfies Record<string, SyntheticOptionDef>;

export type SyntheticOptions = { [K in keyof typeof SYNTHETIC_OPTIONS]: number };

/** The generator's defaults filled in and every value checked against its declared range. */
export function resolveSyntheticOptions(partial: Partial<SyntheticOptions> = {}): SyntheticOptions {
  const out = {} as SyntheticOptions;
  for (const [key, def] of Object.entries(SYNTHETIC_OPTIONS) as [keyof SyntheticOptions, SyntheticOptionDef][]) {
    const v = partial[key] ?? def.default;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < def.min || v > def.max || (def.integer && !Number.isInteger(v))) {
      throw new Error(`synthetic option '${key}': ${String(v)} is not ${def.integer ? 'an integer' : 'a number'} in [${def.min}, ${def.max}]`);
    }
    out[key] = v;
  }
  for (const key of Object.keys(partial)) {
    if (!(key in SYNTHETIC_OPTIONS)) throw new Error(`synthetic option '${key}' is unknown (known: ${Object.keys(SYNTHETIC_OPTIONS).join(', ')})`);
  }
  return out;
}

/** The event types of the synthetic log, in index order. */
export const SYNTHETIC_EVENTS: readonly EventTypeSpec[] = [
  { name: 'view', weight: 1, negative: false },
  { name: 'click', weight: 2, negative: false },
  { name: 'purchase', weight: 5, negative: false },
  { name: 'dislike', weight: 1, negative: true },
];
const VIEW = 0;
const CLICK = 1;
const PURCHASE = 2;
const DISLIKE = 3;

/** What generated the data: the latent vectors a perfect model would recover (for tests and oracles). */
export interface SyntheticTruth {
  dim: number;
  /** users x dim, unit length: the taste at the start of each user's window. */
  userTaste: Float32Array;
  /** users x dim: the direction the taste moves in, scaled by `drift`. */
  userDrift: Float32Array;
  /** users x 2: start and end (seconds) of each user's active window. */
  userWindow: Float64Array;
  /** items x dim, unit length. */
  itemTaste: Float32Array;
  /** items: release time (seconds). */
  itemRelease: Float64Array;
  /** items: relative popularity weight (Zipf). */
  itemPopularity: Float64Array;
  /** items: category index. */
  itemCategory: Int32Array;
  /** categories x dim: the category directions a choice's category is picked by. */
  categoryVectors: Float32Array;
  /** The options the choices were made with (a choice model: docs/evaluation.md). */
  sharpness: number;
  focus: number;
  novelty: number;
  /** The novelty boost's time constant (seconds): novelty * exp(-age / noveltySeconds) for 8 of them after release. */
  noveltySeconds: number;
}

const CATEGORY_NAMES = [
  'books', 'music', 'movies', 'games', 'garden', 'kitchen', 'sports', 'toys', 'beauty', 'fashion', 'electronics', 'travel',
  'pets', 'office', 'health', 'auto', 'baby', 'art', 'food', 'tools', 'outdoor', 'jewelry', 'software', 'photo',
];
const COUNTRY_CODES = ['us', 'gb', 'de', 'fr', 'es', 'it', 'nl', 'se', 'pl', 'br', 'mx', 'in', 'jp', 'kr', 'au', 'ca', 'ar', 'za', 'ng', 'tr'];
const PLANS = ['free', 'basic', 'premium'];
const PLAN_WEIGHTS = [0.6, 0.3, 0.1];
const PLAN_ACTIVITY = [1, 1.4, 2];
const PLAN_PURCHASE = [0.6, 1, 1.6];
const WORDS = [
  'red', 'quiet', 'golden', 'little', 'wild', 'silver', 'northern', 'hidden', 'bright', 'final', 'lost', 'modern', 'classic',
  'river', 'garden', 'city', 'storm', 'dream', 'shadow', 'light', 'journey', 'secret', 'ocean', 'forest', 'machine', 'story',
  'song', 'house', 'road', 'winter', 'summer', 'star', 'stone', 'fire', 'glass', 'paper', 'kitchen', 'tiger', 'falcon', 'echo',
];

/** Taste words of `titleTaste` (after WORDS in the title vocabulary), and how many are drawn per choice. */
const TASTE_WORDS = 400;
const TASTE_WORD_DRAWS = 32;

/** Taste word k: two of WORDS run together (stonefire), distinct for k < WORDS.length². */
function tasteWordName(k: number): string {
  return WORDS[Math.floor(k / WORDS.length) % WORDS.length] + WORDS[k % WORDS.length];
}

/**
 * The taste words' unit directions and a chooser: of TASTE_WORD_DRAWS words drawn at random, the one
 * whose direction has the largest dot product with `v` (an item's private taste). On its own stream.
 */
function tasteWords(seed: number, d: number): { rng: Rng; pick: (v: Float64Array) => number } {
  const rng = new Rng((seed ^ 0x7a57e) >>> 0);
  const dirs = new Float32Array(TASTE_WORDS * d);
  for (let k = 0; k < TASTE_WORDS; k++) {
    normalRow(rng, dirs, k, d);
    normaliseRow(dirs, k, d);
  }
  const pick = (v: Float64Array): number => {
    let best = 0;
    let bestDot = -Infinity;
    for (let j = 0; j < TASTE_WORD_DRAWS; j++) {
      const k = rng.int(TASTE_WORDS);
      let dot = 0;
      for (let q = 0; q < d; q++) dot += dirs[k * d + q] * v[q];
      if (dot > bestDot) {
        bestDot = dot;
        best = k;
      }
    }
    return best;
  };
  return { rng, pick };
}

/**
 * The `embedding` column: item i's taste through a fixed random E x d map (entries N(0, 1/d), so the image
 * of a unit taste has length about 1), plus isotropic noise of length `noise`, scaled to unit length.
 * On its own stream, so no other column or event depends on it.
 */
function contentEmbedding(seed: number, d: number, E: number, noise: number, slotOf: Int32Array, tasteBySlot: Float32Array): Float32Array {
  const rng = new Rng((seed ^ 0xe3bed) >>> 0);
  const map = new Float64Array(E * d);
  for (let k = 0; k < map.length; k++) map[k] = rng.normal() / Math.sqrt(d);
  const ni = slotOf.length;
  const out = new Float32Array(ni * E);
  const row = new Float64Array(E);
  for (let i = 0; i < ni; i++) {
    const t = slotOf[i] * d;
    let norm = 0;
    for (let e = 0; e < E; e++) {
      let z = 0;
      for (let q = 0; q < d; q++) z += map[e * d + q] * tasteBySlot[t + q];
      z += (noise / Math.sqrt(E)) * rng.normal();
      row[e] = z;
      norm += z * z;
    }
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let e = 0; e < E; e++) out[i * E + e] = row[e] * inv;
  }
  return out;
}

function categoryName(k: number): string {
  return k < CATEGORY_NAMES.length ? CATEGORY_NAMES[k] : `category${k}`;
}
function countryName(k: number): string {
  return k < COUNTRY_CODES.length ? COUNTRY_CODES[k] : `country${k}`;
}

/** Fills row r of `m` (stride dim) with standard normals. */
function normalRow(rng: Rng, m: Float32Array, r: number, dim: number): void {
  for (let k = 0; k < dim; k++) m[r * dim + k] = rng.normal();
}

/** Scales row r of `m` to unit length (leaves a zero row alone). */
function normaliseRow(m: Float32Array, r: number, dim: number): void {
  let s = 0;
  for (let k = 0; k < dim; k++) s += m[r * dim + k] * m[r * dim + k];
  if (s === 0) return;
  const inv = 1 / Math.sqrt(s);
  for (let k = 0; k < dim; k++) m[r * dim + k] *= inv;
}

/**
 * Popularity ranks in [0, n) from the continuous Zipf law p(x) ~ x^-s on [1, n+1): its inverse CDF is
 * tabulated at 2^12 quantiles once and interpolated per draw (Math.pow per draw cost 100 ns), and the
 * table is small enough to stay in cache.
 */
const ZIPF_STEPS = 1 << 12;
function zipfQuantiles(n: number, s: number): Float64Array {
  const q = new Float64Array(ZIPF_STEPS + 1);
  const a = Math.pow(n + 1, 1 - s) - 1;
  for (let k = 0; k <= ZIPF_STEPS; k++) {
    const u = k / ZIPF_STEPS;
    q[k] = (s === 1 ? Math.pow(n + 1, u) : Math.pow(1 + u * a, 1 / (1 - s))) - 1;
  }
  return q;
}

function idVocabulary(prefix: string, n: number): Vocabulary {
  const v = new Vocabulary();
  for (let i = 0; i < n; i++) v.add(prefix + i);
  return v;
}

function namedVocabulary(names: (k: number) => string, n: number, buckets = 64): Vocabulary {
  const v = new Vocabulary(buckets);
  for (let k = 0; k < n; k++) v.add(names(k));
  return v;
}

/**
 * A synthetic dataset and the latent truth behind it.
 * @example const { dataset, truth } = generateSyntheticWithTruth({ users: 1000, items: 500, interactions: 20000 });
 */
export function generateSyntheticWithTruth(partial: Partial<SyntheticOptions> = {}): { dataset: Dataset; truth: SyntheticTruth } {
  const o = resolveSyntheticOptions(partial);
  const { users: nu, items: ni, dim: d } = o;
  const rng = new Rng(o.seed);
  const span = o.spanDays * 86400;
  const nCat = o.categories;
  const nTag = o.tags;
  // per-coordinate noise whose vector length is the option's value, whatever the dimension
  const itemNoise = o.itemNoise / Math.sqrt(d);
  const userNoise = o.userNoise / Math.sqrt(d);

  // Category centroids and tag directions: the structure the item features reveal.
  const catVec = new Float32Array(nCat * d);
  for (let c = 0; c < nCat; c++) {
    normalRow(rng, catVec, c, d);
    normaliseRow(catVec, c, d);
  }
  const tagVec = new Float32Array(nTag * d);
  const tagHome = new Int32Array(nTag);
  for (let t = 0; t < nTag; t++) {
    tagHome[t] = t % nCat;
    normalRow(rng, tagVec, t, d);
    normaliseRow(tagVec, t, d);
    for (let k = 0; k < d; k++) tagVec[t * d + k] = 0.5 * tagVec[t * d + k] + catVec[tagHome[t] * d + k];
    normaliseRow(tagVec, t, d);
  }
  // tags of each category, for drawing an item's tags mostly from its own category
  const tagsOfCat: number[][] = Array.from({ length: nCat }, () => []);
  for (let t = 0; t < nTag; t++) tagsOfCat[tagHome[t]].push(t);

  // ---- items
  const catWeights = new Float64Array(nCat);
  for (let c = 0; c < nCat; c++) catWeights[c] = Math.pow(c + 1, -0.6);
  const catTable = new AliasTable(catWeights);
  const catPrice = new Float64Array(nCat);
  for (let c = 0; c < nCat; c++) catPrice[c] = 1.5 + 2.5 * rng.next();
  const itemCat = new Int32Array(ni);
  const itemTagOffsets = new Int32Array(ni + 1);
  const itemTagCodes = new Int32Array(ni * 4);
  const itemPrice = new Float64Array(ni);
  const titleOffsets = new Int32Array(ni + 1);
  const titleCodes = new Int32Array(ni * 3);
  for (let i = 0; i < ni; i++) itemCat[i] = catTable.sample(rng);
  // Latent rows live in "slots" ordered by (category, popularity rank within it): a choice draws its
  // candidates from one category, mostly its head, so those reads stay in cache. Which item holds a
  // slot is random, so item index order says nothing about popularity.
  const catOff = new Int32Array(nCat + 1);
  for (let i = 0; i < ni; i++) catOff[itemCat[i] + 1]++;
  for (let c = 0; c < nCat; c++) catOff[c + 1] += catOff[c];
  const perm = new Int32Array(ni);
  for (let i = 0; i < ni; i++) perm[i] = i;
  rng.shuffle(perm);
  const fill = catOff.slice(0, nCat);
  const slotOf = new Int32Array(ni);
  const itemBySlot = new Int32Array(ni);
  for (let k = 0; k < ni; k++) {
    const i = perm[k];
    const sl = fill[itemCat[i]]++;
    slotOf[i] = sl;
    itemBySlot[sl] = i;
  }
  const tasteBySlot = new Float32Array(ni * d);
  const releaseBySlot = new Float64Array(ni);
  const rowScratch = new Float32Array(d);
  // One packed row per slot: the release offset (float32 seconds) then the taste as int8. The event
  // loop's reads into a 1M-item catalog are cache misses, so one short row per candidate (not a
  // float32 taste plus a separate release array) is most of its speed.
  const rowWords = 1 + Math.ceil(d / 4);
  const packed = new ArrayBuffer(ni * rowWords * 4);
  const release32 = new Float32Array(packed);
  const taste8 = new Int8Array(packed);
  const mix = new Float32Array(d);
  const privateScratch = new Float64Array(d);
  // titleTaste > 0: taste words with their own directions, drawn (with the choices) from a second
  // stream, so the main stream and so every other column and event are the same at every titleTaste
  const titles = o.titleTaste > 0 ? tasteWords(o.seed, d) : null;
  let nTags = 0;
  let nWords = 0;
  for (let i = 0; i < ni; i++) {
    const c = itemCat[i];
    mix.fill(0);
    const k = 1 + rng.int(4);
    for (let j = 0; j < k; j++) {
      const own = tagsOfCat[c];
      const t = own.length > 0 && rng.next() < 0.75 ? own[rng.int(own.length)] : rng.int(nTag);
      let dup = false;
      for (let q = itemTagOffsets[i]; q < nTags; q++) if (itemTagCodes[q] === t) dup = true;
      if (dup) continue;
      itemTagCodes[nTags++] = t;
      for (let q = 0; q < d; q++) mix[q] += tagVec[t * d + q];
    }
    itemTagOffsets[i + 1] = nTags;
    const inv = 1 / (nTags - itemTagOffsets[i]);
    // taste = category + mean tag direction + a private part no feature shows
    const ri = slotOf[i];
    for (let q = 0; q < d; q++) privateScratch[q] = itemNoise * rng.normal();
    for (let q = 0; q < d; q++) rowScratch[q] = catVec[c * d + q] + 0.6 * mix[q] * inv + privateScratch[q];
    normaliseRow(rowScratch, 0, d);
    // quantised to 1/127 steps: the truth is the quantised vector, stored as int8 for the hot loop
    for (let q = 0; q < d; q++) {
      const v = Math.round(rowScratch[q] * 127);
      tasteBySlot[ri * d + q] = v / 127;
      taste8[ri * rowWords * 4 + 4 + q] = v;
    }
    itemPrice[i] = Math.round(Math.exp(catPrice[c] + 0.5 * rng.normal()) * 100) / 100;
    // title: a word tied to the category, then one or two free words
    titleCodes[nWords++] = (c * 7 + rng.int(3)) % WORDS.length;
    const w = 1 + rng.int(2);
    for (let j = 0; j < w; j++) {
      const free = rng.int(WORDS.length);
      titleCodes[nWords++] = titles && titles.rng.next() < o.titleTaste ? WORDS.length + titles.pick(privateScratch) : free;
    }
    titleOffsets[i + 1] = nWords;
    // a third of the catalog exists from the start; the rest is released over the span
    const rel = rng.next() < 0.35 ? 0 : Math.floor(rng.next() * span * 0.95);
    releaseBySlot[ri] = o.start + rel;
    release32[ri * rowWords] = rel;
  }

  // ---- users
  const countryWeights = new Float64Array(o.countries);
  for (let c = 0; c < o.countries; c++) countryWeights[c] = Math.pow(c + 1, -0.8);
  const countryTable = new AliasTable(countryWeights);
  // each country leans to two categories
  const countryVec = new Float32Array(o.countries * d);
  for (let c = 0; c < o.countries; c++) {
    const a = rng.int(nCat);
    const b = rng.int(nCat);
    for (let q = 0; q < d; q++) countryVec[c * d + q] = catVec[a * d + q] + 0.7 * catVec[b * d + q] + (0.5 / Math.sqrt(d)) * rng.normal();
    normaliseRow(countryVec, c, d);
  }
  const ageDir = new Float32Array(d);
  normalRow(rng, ageDir, 0, d);
  normaliseRow(ageDir, 0, d);
  const planTable = new AliasTable(PLAN_WEIGHTS);
  const userCountry = new Int32Array(nu);
  const userAge = new Float64Array(nu);
  const userPlan = new Int32Array(nu);
  const userTaste = new Float32Array(nu * d);
  const userDrift = new Float32Array(nu * d);
  const userWindow = new Float64Array(nu * 2);
  const activity = new Float64Array(nu);
  let activitySum = 0;
  for (let u = 0; u < nu; u++) {
    const c = countryTable.sample(rng);
    userCountry[u] = c;
    const age = Math.round(18 + 57 * rng.next());
    userAge[u] = age;
    const z = (age - 46) / 16;
    const p = planTable.sample(rng);
    userPlan[u] = p;
    const fav1 = catTable.sample(rng);
    const fav2 = rng.int(nCat);
    // taste = country lean + age direction + personal favourites + noise
    for (let q = 0; q < d; q++) {
      userTaste[u * d + q] =
        0.7 * countryVec[c * d + q] + 0.5 * z * ageDir[q] + catVec[fav1 * d + q] + 0.5 * catVec[fav2 * d + q] + userNoise * rng.normal();
    }
    normaliseRow(userTaste, u, d);
    // drift towards another category
    const to = rng.int(nCat);
    for (let q = 0; q < d; q++) userDrift[u * d + q] = catVec[to * d + q] + (0.5 / Math.sqrt(d)) * rng.normal();
    normaliseRow(userDrift, u, d);
    for (let q = 0; q < d; q++) userDrift[u * d + q] *= o.drift;
    const s = o.start + rng.next() * span * 0.8;
    const len = Math.min(o.start + span - s, span * (0.1 + 0.6 * rng.next()));
    userWindow[2 * u] = s;
    userWindow[2 * u + 1] = s + len;
    const a = Math.exp(rng.normal()) * PLAN_ACTIVITY[p];
    activity[u] = a;
    activitySum += a;
  }
  // interaction counts proportional to activity; the rounding remainder goes to random users
  const counts = new Int32Array(nu);
  let assigned = 0;
  for (let u = 0; u < nu; u++) {
    counts[u] = Math.floor((o.interactions * activity[u]) / activitySum);
    assigned += counts[u];
  }
  while (assigned < o.interactions) {
    counts[rng.int(nu)]++;
    assigned++;
  }

  // ---- interactions: per user, in time order
  const n = o.interactions;
  const x: Interactions = {
    length: n,
    user: new Int32Array(n),
    item: new Int32Array(n),
    event: new Uint8Array(n),
    value: new Float32Array(n),
    timestamp: new Float64Array(n),
  };
  // per category: the share of traffic it gets a priori, and its inverse-CDF table of local ranks
  const catLogShare = new Float64Array(nCat);
  const catQ = new Float64Array(nCat * (ZIPF_STEPS + 1));
  for (let c = 0; c < nCat; c++) {
    const size = catOff[c + 1] - catOff[c];
    catLogShare[c] = size > 0 ? Math.log(size) : -Infinity;
    if (size > 0) catQ.set(zipfQuantiles(size, o.zipf), c * (ZIPF_STEPS + 1));
  }
  const g: EventGen = {
    d,
    nCat,
    candidates: o.candidates,
    sharpness: o.sharpness,
    categorySharpness: o.focus,
    novelty: o.novelty,
    negativeRate: o.negativeRate,
    catVec,
    catLogShare,
    catOff,
    catQ,
    itemBySlot,
    rowWords,
    taste8,
    release32,
    start: o.start,
    itemPrice,
    userTaste,
    userDrift,
    userWindow,
    userPlan,
  };
  let row = 0;
  for (let u = 0; u < nu; u++) {
    if (counts[u] === 0) continue;
    userEvents(g, rng, u, row, counts[u], x);
    row += counts[u];
  }

  // ---- tables
  const userTable = new EntityTable(idVocabulary('u', nu), [
    { kind: 'numeric', name: 'age', values: userAge },
    { kind: 'categorical', name: 'country', vocab: namedVocabulary(countryName, o.countries), codes: userCountry },
    { kind: 'categorical', name: 'plan', vocab: namedVocabulary((k) => PLANS[k], PLANS.length), codes: userPlan },
  ] satisfies FeatureColumn[]);
  const wordVocab = new Vocabulary(64);
  for (const w of WORDS) wordVocab.add(w);
  if (titles) for (let k = 0; k < TASTE_WORDS; k++) wordVocab.add(tasteWordName(k));
  const itemTable = new EntityTable(idVocabulary('i', ni), [
    { kind: 'categorical', name: 'category', vocab: namedVocabulary(categoryName, nCat), codes: itemCat },
    {
      kind: 'multi-categorical',
      name: 'tags',
      vocab: namedVocabulary((k) => `t${k}`, nTag),
      offsets: itemTagOffsets,
      codes: itemTagCodes.slice(0, nTags),
    },
    { kind: 'numeric', name: 'price', values: itemPrice },
    { kind: 'text', name: 'title', vocab: wordVocab, offsets: titleOffsets, codes: titleCodes.slice(0, nWords) },
    ...(o.embedding > 0 ? [{ kind: 'vector' as const, name: 'embedding', dim: o.embedding, values: contentEmbedding(o.seed, d, o.embedding, o.embeddingNoise, slotOf, tasteBySlot) }] : []),
  ] satisfies FeatureColumn[]);
  const dataset = new Dataset(userTable, itemTable, x, SYNTHETIC_EVENTS.map((e) => ({ ...e })), 'synthetic');
  return {
    dataset,
    truth: {
      dim: d,
      userTaste,
      userDrift,
      userWindow,
      ...itemTruth(d, o.zipf, itemCat, catOff, slotOf, tasteBySlot, releaseBySlot),
      itemCategory: itemCat,
      categoryVectors: catVec,
      sharpness: o.sharpness,
      focus: o.focus,
      novelty: o.novelty,
      noveltySeconds: NOVELTY_SECONDS,
    },
  };
}

/** The item side of the truth, back in item-index order; popularity is the category share times local Zipf. */
function itemTruth(
  d: number,
  zipf: number,
  itemCat: Int32Array,
  catOff: Int32Array,
  slotOf: Int32Array,
  tasteBySlot: Float32Array,
  releaseBySlot: Float64Array,
): { itemTaste: Float32Array; itemRelease: Float64Array; itemPopularity: Float64Array } {
  const n = slotOf.length;
  const nCat = catOff.length - 1;
  const norm = new Float64Array(nCat);
  for (let c = 0; c < nCat; c++) {
    const size = catOff[c + 1] - catOff[c];
    for (let r = 0; r < size; r++) norm[c] += Math.pow(r + 1, -zipf);
  }
  const itemTaste = new Float32Array(n * d);
  const itemRelease = new Float64Array(n);
  const itemPopularity = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const sl = slotOf[i];
    const c = itemCat[i];
    itemTaste.set(tasteBySlot.subarray(sl * d, sl * d + d), i * d);
    itemRelease[i] = releaseBySlot[sl];
    itemPopularity[i] = ((catOff[c + 1] - catOff[c]) / n) * (Math.pow(sl - catOff[c] + 1, -zipf) / norm[c]);
  }
  return { itemTaste, itemRelease, itemPopularity };
}

/** Everything the per-event loop reads, flattened so the hot function sees only locals and typed arrays. */
interface EventGen {
  d: number;
  nCat: number;
  candidates: number;
  sharpness: number;
  categorySharpness: number;
  novelty: number;
  negativeRate: number;
  catVec: Float32Array;
  catLogShare: Float64Array;
  catOff: Int32Array;
  /** nCat x (ZIPF_STEPS+1) inverse-CDF tables of the local popularity rank */
  catQ: Float64Array;
  itemBySlot: Int32Array;
  /** 4-byte words per packed slot row: [release float32][d int8 taste bytes, padded] */
  rowWords: number;
  /** the packed rows as bytes: slot sl's taste (times 127) at sl * rowWords * 4 + 4 + q */
  taste8: Int8Array;
  /** the packed rows as float32: slot sl's release minus the log's start (seconds) at sl * rowWords */
  release32: Float32Array;
  start: number;
  itemPrice: Float64Array;
  userTaste: Float32Array;
  userDrift: Float32Array;
  userWindow: Float64Array;
  userPlan: Int32Array;
}

const NOVELTY_SECONDS = 14 * 86400;
const CAT_PHASES = 4;
let scratchLogit = new Float64Array(0);
let scratchCand = new Int32Array(0);
let scratchTaste = new Float64Array(0);
let scratchCat = new Float64Array(0);

/**
 * Writes user u's `m` events into rows [row, row+m) of x, in time order. Each event: pick a category
 * by its traffic share and the (drifted) taste's affinity to it; draw a few released items from that
 * category by popularity; pick one by softmax of taste affinity plus a novelty boost. Or, at
 * `negativeRate`, a dislike of the worst-matching candidate.
 */
function userEvents(g: EventGen, rng: Rng, u: number, row: number, m: number, x: Interactions): void {
  const { d, nCat, candidates: C, sharpness, novelty, catQ, catOff, rowWords, taste8, release32 } = g;
  if (scratchLogit.length < C) {
    scratchLogit = new Float64Array(C);
    scratchCand = new Int32Array(C);
  }
  if (scratchTaste.length < d) scratchTaste = new Float64Array(d);
  if (scratchCat.length < CAT_PHASES * nCat) scratchCat = new Float64Array(CAT_PHASES * nCat);
  const logit = scratchLogit;
  const cand = scratchCand;
  const taste = scratchTaste;
  // category CDFs at CAT_PHASES points of the window (the drift moves them); an event uses its phase's
  const catCdf = scratchCat;
  const ts = x.timestamp;
  const s = g.userWindow[2 * u];
  const len = g.userWindow[2 * u + 1] - s;
  const ub = u * d;
  for (let c = 0; c < nCat; c++) {
    let a = 0;
    let b = 0;
    for (let q = 0; q < d; q++) {
      a += g.userTaste[ub + q] * g.catVec[c * d + q];
      b += g.userDrift[ub + q] * g.catVec[c * d + q];
    }
    // logit = share + beta * (taste0 . c + f * drift . c), at the phase's midpoint f
    for (let ph = 0; ph < CAT_PHASES; ph++) {
      catCdf[ph * nCat + c] = g.catLogShare[c] + g.categorySharpness * (a + ((ph + 0.5) / CAT_PHASES) * b);
    }
  }
  for (let ph = 0; ph < CAT_PHASES; ph++) {
    const o = ph * nCat;
    let mx = -Infinity;
    for (let c = 0; c < nCat; c++) if (catCdf[o + c] > mx) mx = catCdf[o + c];
    let z = 0;
    for (let c = 0; c < nCat; c++) {
      z += Math.exp(catCdf[o + c] - mx);
      catCdf[o + c] = z;
    }
    for (let c = 0; c < nCat; c++) catCdf[o + c] /= z;
  }
  // sorted uniform times from normalised exponential spacings (no sort needed)
  let acc = 0;
  for (let k = 0; k < m; k++) {
    acc -= Math.log(1 - rng.next());
    ts[row + k] = acc;
  }
  acc -= Math.log(1 - rng.next());
  const planBuy = PLAN_PURCHASE[g.userPlan[u]];
  const qStride = ZIPF_STEPS + 1;
  for (let k = 0; k < m; k++) {
    const r = row + k;
    const f = ts[r] / acc;
    const tAbs = Math.floor(s + f * len);
    ts[r] = tAbs;
    x.user[r] = u;
    const t = tAbs - g.start;
    for (let q = 0; q < d; q++) taste[q] = (g.userTaste[ub + q] + f * g.userDrift[ub + q]) / 127;
    // category from this phase's CDF (empty categories have zero mass, so are never picked)
    const co = Math.min(CAT_PHASES - 1, Math.floor(f * CAT_PHASES)) * nCat;
    const cu = rng.next();
    let cat = 0;
    while (cat < nCat - 1 && cu >= catCdf[co + cat]) cat++;
    const size = catOff[cat + 1] - catOff[cat];
    const qBase = cat * qStride;
    let best = -Infinity;
    let worst = Infinity;
    let worstK = 0;
    for (let j = 0; j < C; j++) {
      // a released item of the category, popularity-weighted; a few retries, else keep the last
      let sl = 0;
      for (let tries = 0; tries < 8; tries++) {
        const v = rng.next() * ZIPF_STEPS;
        const k0 = Math.floor(v);
        let lr = Math.floor(catQ[qBase + k0] + (v - k0) * (catQ[qBase + k0 + 1] - catQ[qBase + k0]));
        if (lr >= size) lr = size - 1;
        sl = catOff[cat] + lr;
        if (release32[sl * rowWords] <= t) break;
      }
      cand[j] = sl;
      let a = 0;
      const base = sl * rowWords * 4 + 4;
      for (let q = 0; q < d; q++) a += taste[q] * taste8[base + q];
      const age = t - release32[sl * rowWords];
      const l = sharpness * a + (age >= 0 && age < 8 * NOVELTY_SECONDS ? novelty * Math.exp(-age / NOVELTY_SECONDS) : 0);
      logit[j] = l;
      if (l > best) best = l;
      if (a < worst) {
        worst = a;
        worstK = j;
      }
    }
    if (rng.next() < g.negativeRate) {
      x.item[r] = g.itemBySlot[cand[worstK]];
      x.event[r] = DISLIKE;
      x.value[r] = 1;
      continue;
    }
    let z = 0;
    for (let j = 0; j < C; j++) {
      logit[j] = Math.exp(logit[j] - best);
      z += logit[j];
    }
    let pick = rng.next() * z;
    let j = 0;
    while (j < C - 1 && pick >= logit[j]) pick -= logit[j++];
    const sl = cand[j];
    const it = g.itemBySlot[sl];
    x.item[r] = it;
    // stronger affinity, more clicks and purchases
    let a = 0;
    for (let q = 0; q < d; q++) a += taste[q] * taste8[sl * rowWords * 4 + 4 + q];
    const e = rng.next();
    const pBuy = (0.12 * planBuy) / (1 + Math.exp(-6 * (a - 0.4)));
    if (e < pBuy) {
      x.event[r] = PURCHASE;
      x.value[r] = g.itemPrice[it];
    } else if (e < pBuy + 0.25) {
      x.event[r] = CLICK;
      x.value[r] = 1;
    } else {
      x.event[r] = VIEW;
      x.value[r] = 1;
    }
  }
}

/**
 * A seeded synthetic dataset (users with age, country, plan; items with category, tags, price, title;
 * view/click/purchase/dislike events over time). Same options, same dataset.
 * @example const ds = generateSynthetic({ users: 2000, items: 1000, interactions: 60000, seed: 7 });
 */
export function generateSynthetic(partial: Partial<SyntheticOptions> = {}): Dataset {
  return generateSyntheticWithTruth(partial).dataset;
}
