/**
 * The retrieval side of `tandem bench train --recall-users N`: hold out the latest interaction of N
 * users (spread evenly over the users with at least two), train on everything else, build the item
 * index the engine builds (TwoTowerSource: HNSW above 20,000 items, items centred), and measure
 * recall@K of the held-out items: through the index, by an exact scan of the whole catalog, and for
 * the popularity ranking as a floor. On synthetic data the held-out items were drawn by the
 * generator's latent truth, so this is recall on the truth's next choices.
 */
import { selectInteractions, type Dataset } from '../src/data/index.ts';
import { TwoTowerSource, type TwoTowerModel } from '../src/retrieval/index.ts';

export interface HoldOut {
  train: Dataset;
  test: Dataset;
  /** the users held out, ascending */
  users: Int32Array;
}

/**
 * Splits off the latest interaction (in `byUser()` order, which is time order) of `n` users spread
 * evenly over those with two or more interactions; the rest is the training set.
 * @example const { train, test, users } = holdOutLatest(ds, 2000);
 */
export function holdOutLatest(ds: Dataset, n: number): HoldOut {
  const { offsets, rows } = ds.byUser();
  const eligible: number[] = [];
  for (let u = 0; u < ds.numUsers; u++) if (offsets[u + 1] - offsets[u] >= 2) eligible.push(u);
  const m = Math.min(n, eligible.length);
  if (m < 1) throw new Error('recall: no user has two interactions to hold one out');
  const users = new Int32Array(m);
  const step = eligible.length / m;
  for (let j = 0; j < m; j++) users[j] = eligible[Math.floor(j * step)];
  const total = ds.interactions.length;
  const out = new Uint8Array(total);
  const testRows = new Int32Array(m);
  for (let j = 0; j < m; j++) {
    const r = rows[offsets[users[j] + 1] - 1];
    out[r] = 1;
    testRows[j] = r;
  }
  testRows.sort();
  const trainRows = new Int32Array(total - m);
  for (let r = 0, k = 0; r < total; r++) if (!out[r]) trainRows[k++] = r;
  return {
    train: ds.withInteractions(selectInteractions(ds.interactions, trainRows)),
    test: ds.withInteractions(selectInteractions(ds.interactions, testRows)),
    users,
  };
}

export interface RecallFigures {
  k: number;
  users: number;
  indexKind: string;
  indexBuildSeconds: number;
  indexBuildCpuSeconds: number;
  /** recall@k of the held-out item through the engine's index (training items excluded) */
  indexRecall: number;
  /** the same by an exact scan of every item */
  exactRecall: number;
  /** the same for the most popular items of the training set */
  popularityRecall: number;
  /** mean share of the exact top-k that the index returned */
  indexOverlap: number;
  peakRssMB: number;
}

/** Builds the index over the trained model's items and scores the held-out items (see the file comment). */
export function measureRecall(model: TwoTowerModel, h: HoldOut, k = 100, log: (l: string) => void = () => {}): RecallFigures {
  const src = new TwoTowerSource({ log }).use(model);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const index = src.vectorIndex();
  const indexBuildSeconds = (performance.now() - t0) / 1000;
  const cu = process.cpuUsage(c0);
  const indexBuildCpuSeconds = (cu.user + cu.system) / 1e6;
  log(`index: ${index.kind} over ${model.features.numItems} items built in ${indexBuildSeconds.toFixed(1)} s (${indexBuildCpuSeconds.toFixed(1)} CPU s), peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`);
  // the held-out item of each user
  const tx = h.test.interactions;
  const target = new Map<number, number>();
  for (let r = 0; r < tx.length; r++) target.set(tx.user[r], tx.item[r]);
  // popularity on the training set
  const counts = new Float64Array(h.train.numItems);
  const x = h.train.interactions;
  for (let r = 0; r < x.length; r++) counts[x.item[r]]++;
  const popOrder = Int32Array.from({ length: counts.length }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
  let hitsIndex = 0;
  let hitsExact = 0;
  let hitsPop = 0;
  let overlap = 0;
  const exactTop = exactTopK(model, h, k);
  for (let j = 0; j < h.users.length; j++) {
    const u = h.users[j];
    const q = h.train.query(u);
    const seen = new Set<number>(q.history);
    const got = src.candidates(q, k, seen).items;
    const want = target.get(u)!;
    if (got.includes(want)) hitsIndex++;
    const ex = new Set(exactTop[j]);
    if (ex.has(want)) hitsExact++;
    let o = 0;
    for (const i of got) if (ex.has(i)) o++;
    overlap += o / Math.max(1, ex.size);
    if (popularTop(popOrder, seen, k).has(want)) hitsPop++;
  }
  const n = h.users.length;
  return {
    k,
    users: n,
    indexKind: index.kind,
    indexBuildSeconds: +indexBuildSeconds.toFixed(1),
    indexBuildCpuSeconds: +indexBuildCpuSeconds.toFixed(1),
    indexRecall: +(hitsIndex / n).toFixed(4),
    exactRecall: +(hitsExact / n).toFixed(4),
    popularityRecall: +(hitsPop / n).toFixed(4),
    indexOverlap: +(overlap / n).toFixed(4),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

/** The exact top-k of each held-out user over the whole catalog, training items excluded (one scan per user). */
function exactTopK(model: TwoTowerModel, h: HoldOut, k: number): Int32Array[] {
  const src = new TwoTowerSource({ index: { kind: 'exact' } }).use(model);
  const out: Int32Array[] = [];
  for (let j = 0; j < h.users.length; j++) {
    const q = h.train.query(h.users[j]);
    out.push(src.candidates(q, k, new Set<number>(q.history)).items);
  }
  return out;
}

/** The k most popular items (popOrder: most popular first) not in `seen`. */
function popularTop(popOrder: Int32Array, seen: ReadonlySet<number>, k: number): Set<number> {
  const top = new Set<number>();
  for (let j = 0; j < popOrder.length && top.size < k; j++) if (!seen.has(popOrder[j])) top.add(popOrder[j]);
  return top;
}
