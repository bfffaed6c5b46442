import type { Dataset } from '../data/index.ts';
import { firstNonFinite, followCounter, NO_PROGRESS, spawnWorker, TopK, type ProgressTask } from '../math/index.ts';
import { loadArrays, saveArrays } from './arrays-io.ts';
import type { FileReader } from '../vectors/index.ts';
import { balancedRanges, neighbourBlock, type KnnMatrix, type NeighbourBlock } from './itemknn-core.ts';
import { schema } from '../schema/index.ts';
import { defineSourceKind, noCandidates, type CandidateSource, type FitContext, type RequestContext, type ScoredItems, type UserQuery } from './source.ts';

/** How a user's repeated positive events on one item become one matrix value. */
export type KnnValue = 'sum' | 'log' | 'binary';

/** Item-kNN options. */
export interface ItemKnnOptions {
  /** Neighbours kept per item (the most similar). */
  neighbours: number;
  /** Shrinkage added to the cosine's denominator: damps similarities resting on few users. */
  shrink: number;
  /** Matrix value of (user, item): summed event weights, log(1 + sum), or 1. */
  value: KnnValue;
  /**
   * Recency of the history when scoring: the event k positions before the newest weighs
   * 0.5^(k / historyHalfLife); 0 = every event counts fully.
   */
  historyHalfLife: number;
  /** Source name, as candidates and features report it. */
  name: string;
  /** Run setting, not a hyperparameter: worker threads computing the neighbour lists (same result). */
  threads: number;
}

export const ITEMKNN_DEFAULTS: ItemKnnOptions = { neighbours: 400, shrink: 0, value: 'sum', historyHalfLife: 0, name: 'itemknn', threads: 1 };

const FORMAT_VERSION = 1;

/** Logs this long are fitted on worker threads (`threads`); shorter ones on the calling thread (start-up costs more than it saves). */
const PARALLEL_MIN_INTERACTIONS = 300_000;

/**
 * Item-to-item collaborative filtering. Fit: the user x item matrix R (value per the `value` option
 * over positive events), cosine similarity sim(i, j) = R_i . R_j / (|R_i| |R_j| + shrink) over
 * co-occurring users, the top `neighbours` kept per item in flat CSR arrays. Score of candidate j
 * for a history h: sum over the events whose item is among j's neighbours of w_e * sim(h_e, j), where
 * w_e is the event's signed weight (dislikes subtract). That is the classic item-kNN rule (each
 * candidate is judged by its own neighbourhood); on ML-100K it reaches recall@100 0.50 where summing
 * each history item's own neighbour list reaches 0.46. Items no neighbourhood reaches follow in
 * popularity order (score 0), and items with a negative score come last.
 * @example const knn = new ItemKnnSource({ neighbours: 200 }); knn.fit(train); knn.candidates(train.query(u), 100, seen)
 */
export class ItemKnnSource implements CandidateSource {
  readonly options: ItemKnnOptions;
  /** Neighbours of item i: nbrItems/nbrSims[nbrOffsets[i] .. nbrOffsets[i+1]), by descending similarity. */
  nbrOffsets: Int32Array = new Int32Array(1);
  nbrItems: Int32Array = new Int32Array(0);
  nbrSims: Float32Array = new Float32Array(0);
  /** The transpose, for scoring: the items j whose neighbours include i, at contribOffsets[i] .. [i+1]. */
  contribOffsets: Int32Array = new Int32Array(1);
  contribItems: Int32Array = new Int32Array(0);
  contribSims: Float32Array = new Float32Array(0);
  /** Items by descending training count: the order unreached items are filled in. */
  popOrder: Int32Array = new Int32Array(0);
  // per-query scratch, reused across requests
  private acc = new Float32Array(0);
  private touched = new Int32Array(0);
  private mark = new Uint8Array(0);
  private heap = new TopK(1);
  /** popPos[item] = its position in popOrder (for tie-breaking full-catalog scores) */
  private popPos: Int32Array = new Int32Array(0);

  constructor(options: Partial<ItemKnnOptions> = {}) {
    this.options = { ...ITEMKNN_DEFAULTS, ...options };
    const o = this.options;
    if (!Number.isInteger(o.neighbours) || o.neighbours < 1) throw new Error(`ItemKnnSource: neighbours must be an integer >= 1, got ${o.neighbours}`);
    if (!(o.shrink >= 0) || !Number.isFinite(o.shrink)) throw new Error(`ItemKnnSource: shrink must be a finite number >= 0, got ${o.shrink}`);
    if (!['sum', 'log', 'binary'].includes(o.value)) throw new Error(`ItemKnnSource: value must be 'sum', 'log' or 'binary', got '${o.value}'`);
    if (!(o.historyHalfLife >= 0)) throw new Error(`ItemKnnSource: historyHalfLife must be >= 0, got ${o.historyHalfLife}`);
    if (!Number.isInteger(o.threads) || o.threads < 1) throw new Error(`ItemKnnSource: threads must be an integer >= 1, got ${o.threads}`);
  }

  get name(): string {
    return this.options.name;
  }

  get numItems(): number {
    return this.nbrOffsets.length - 1;
  }

  /**
   * Fits the neighbour lists. With `threads` > 1 the item rows are computed by that many worker
   * threads over shared copies of the matrix (and fit returns a promise); the result is identical.
   */
  fit(train: Dataset, ctx?: FitContext): void | Promise<void> {
    const m = knnMatrix(train, this.options.value);
    const T = this.options.threads;
    const task = (ctx?.progress ?? NO_PROGRESS).start('neighbour rows', m.numItems, 'items');
    if (T <= 1 || m.numItems < 2 * T) {
      this.install(train, [neighbourBlock(m, this.options.neighbours, this.options.shrink, 0, m.numItems, (n) => task.tick(n))]);
      task.finish();
      return;
    }
    return this.fitParallel(train, m, T, task);
  }

  private async fitParallel(train: Dataset, m: KnnMatrix, threads: number, task: ProgressTask): Promise<void> {
    const shared = shareMatrix(m);
    const bounds = balancedRanges(m, threads);
    const done = new Int32Array(new SharedArrayBuffer(4));
    const stop = followCounter(task, done);
    const blocks = await Promise.all(
      bounds.slice(0, -1).map(
        (from, p) =>
          new Promise<NeighbourBlock>((resolve, reject) => {
            const w = spawnWorker(new URL('./itemknn-worker.ts', import.meta.url), {
              matrix: shared,
              k: this.options.neighbours,
              shrink: this.options.shrink,
              from,
              to: bounds[p + 1],
              done,
            });
            w.once('message', (b: NeighbourBlock) => {
              resolve(b);
              void w.terminate();
            });
            w.once('error', reject);
            w.once('exit', (code) => {
              if (code !== 0) reject(new Error(`item-kNN worker ${p} exited with code ${code}`));
            });
          }),
      ),
    ).finally(() => {
      stop();
      task.finish();
    });
    this.install(train, blocks);
  }

  /** Concatenates per-range neighbour blocks (in item order) into the CSR arrays. */
  private install(train: Dataset, blocks: NeighbourBlock[]): void {
    const ni = train.numItems;
    const offsets = new Int32Array(ni + 1);
    let total = 0;
    for (const b of blocks) total += b.items.length;
    const items = new Int32Array(total);
    const sims = new Float32Array(total);
    let i = 0;
    let used = 0;
    for (const b of blocks) {
      for (let k = 0; k < b.counts.length; k++, i++) offsets[i + 1] = offsets[i] + b.counts[k];
      items.set(b.items, used);
      sims.set(b.sims, used);
      used += b.items.length;
    }
    if (i !== ni) throw new Error(`item-kNN: neighbour blocks cover ${i} of ${ni} items`);
    this.nbrOffsets = offsets;
    this.nbrItems = items;
    this.nbrSims = sims;
    this.transposeNeighbours();
    this.popOrder = popularityOrder(train.itemCounts());
    this.resetScratch();
  }

  private transposeNeighbours(): void {
    const ni = this.numItems;
    const off = new Int32Array(ni + 1);
    const src = this.nbrItems;
    for (let q = 0; q < src.length; q++) off[src[q] + 1]++;
    for (let i = 0; i < ni; i++) off[i + 1] += off[i];
    const fill = off.slice(0, ni);
    const items = new Int32Array(src.length);
    const sims = new Float32Array(src.length);
    for (let j = 0; j < ni; j++) {
      for (let q = this.nbrOffsets[j]; q < this.nbrOffsets[j + 1]; q++) {
        const p = fill[src[q]]++;
        items[p] = j;
        sims[p] = this.nbrSims[q];
      }
    }
    this.contribOffsets = off;
    this.contribItems = items;
    this.contribSims = sims;
  }

  private resetScratch(): void {
    const ni = this.numItems;
    this.acc = new Float32Array(ni);
    this.touched = new Int32Array(ni);
    this.mark = new Uint8Array(ni);
    this.popPos = new Int32Array(ni);
    for (let k = 0; k < this.popOrder.length; k++) this.popPos[this.popOrder[k]] = k;
  }

  /**
   * A score for every catalog item, consistent with `candidates`' order: the neighbourhood score, with
   * items no neighbourhood reaches (or scored exactly 0) just below 0 in popularity order (for AUC).
   * @example const s = knn.scoreAll(train.query(u)); // s.length === numItems
   */
  scoreAll(query: UserQuery, out = new Float32Array(this.numItems)): Float32Array {
    const ni = this.numItems;
    // below every positive score and above every negative one, in popularity order
    const tie = (j: number) => -1e-12 * (1 + this.popPos[j] / ni);
    for (let j = 0; j < ni; j++) out[j] = tie(j);
    const h = query.history;
    const hl = this.options.historyHalfLife;
    const reached = this.mark;
    for (let e = 0; e < h.length; e++) {
      const src = h[e];
      if (!(src >= 0 && src < ni)) continue;
      let w = query.weights ? query.weights[e] : 1;
      if (hl > 0) w *= Math.pow(0.5, (h.length - 1 - e) / hl);
      if (w === 0) continue;
      for (let k = this.contribOffsets[src]; k < this.contribOffsets[src + 1]; k++) {
        const j = this.contribItems[k];
        if (reached[j] === 0) {
          reached[j] = 1;
          out[j] = 0;
        }
        out[j] += w * this.contribSims[k];
      }
    }
    for (let e = 0; e < h.length; e++) {
      const src = h[e];
      if (!(src >= 0 && src < ni)) continue;
      for (let k = this.contribOffsets[src]; k < this.contribOffsets[src + 1]; k++) {
        const j = this.contribItems[k];
        reached[j] = 0;
        if (out[j] === 0) out[j] = tie(j);
      }
    }
    return out;
  }

  /** The `n` items most similar to `item`, best first (its stored neighbours). */
  similarItems(item: number, n: number): ScoredItems {
    if (!(item >= 0 && item < this.numItems)) return { items: new Int32Array(0), scores: new Float32Array(0) };
    const a = this.nbrOffsets[item];
    const b = Math.min(this.nbrOffsets[item + 1], a + n);
    return { items: this.nbrItems.slice(a, b), scores: this.nbrSims.slice(a, b) };
  }

  candidates(query: UserQuery, n: number, exclude?: ReadonlySet<number>, ctx?: RequestContext): ScoredItems {
    const ni = this.numItems;
    const acc = this.acc;
    const touched = this.touched;
    const h = query.history;
    const hl = this.options.historyHalfLife;
    const allow = ctx?.allow;
    let nt = 0;
    let known = 0;
    for (let e = 0; e < h.length; e++) {
      const src = h[e];
      if (!(src >= 0 && src < ni)) continue; // items unknown at fit time have no neighbours
      let w = query.weights ? query.weights[e] : 1;
      if (hl > 0) w *= Math.pow(0.5, (h.length - 1 - e) / hl);
      if (w === 0) continue;
      known++;
      for (let k = this.contribOffsets[src]; k < this.contribOffsets[src + 1]; k++) {
        const j = this.contribItems[k];
        if (this.mark[j] === 0) {
          this.mark[j] = 1;
          touched[nt++] = j;
        }
        acc[j] += w * this.contribSims[k];
      }
    }
    // no history item it knows: nothing to say (the engine's fallbacks answer)
    if (known === 0 || n <= 0) return noCandidates();
    const m = Math.min(n, ni);
    // the heap is sized to the request (callers ask for the same n again and again)
    if (this.heap.capacity !== Math.max(m, 1)) this.heap = new TopK(Math.max(m, 1));
    const heap = this.heap;
    heap.reset();
    for (let t = 0; t < nt; t++) {
      const j = touched[t];
      // only positive evidence ranks above the popularity fill
      if (acc[j] > 0 && !exclude?.has(j) && (!allow || allow[j] === 1)) heap.push(j, acc[j]);
    }
    const items = new Int32Array(m);
    const scores = new Float32Array(m);
    let k = m > 0 ? heap.drainSorted(items, scores) : 0;
    // mark[] still flags every touched item: a positive score was placed, a negative one comes last;
    // a score of exactly 0 (a like and a dislike cancelling) counts as unreached
    for (let j = 0; j < this.popOrder.length && k < m; j++) {
      const it = this.popOrder[j];
      if ((this.mark[it] !== 0 && acc[it] !== 0) || exclude?.has(it) || (allow && allow[it] !== 1)) continue;
      items[k] = it;
      scores[k++] = 0;
    }
    if (k < m) {
      // last, the items held back by negative evidence, least negative first (rare: dislikes dominate)
      const rest: number[] = [];
      for (let t = 0; t < nt; t++) if (acc[touched[t]] < 0 && !exclude?.has(touched[t]) && (!allow || allow[touched[t]] === 1)) rest.push(touched[t]);
      rest.sort((p, q) => acc[q] - acc[p] || p - q);
      for (let t = 0; t < rest.length && k < m; t++) {
        items[k] = rest[t];
        scores[k++] = acc[rest[t]];
      }
    }
    for (let t = 0; t < nt; t++) {
      acc[touched[t]] = 0;
      this.mark[touched[t]] = 0;
    }
    return { items: items.subarray(0, k), scores: scores.subarray(0, k) };
  }

  async save(dir: string): Promise<void> {
    await saveArrays(dir, 'itemknn', FORMAT_VERSION, { options: this.options }, {
      offsets: this.nbrOffsets,
      items: this.nbrItems,
      sims: this.nbrSims,
      popOrder: this.popOrder,
    });
  }

  /** Reads a source written by `save` (`name` renames it: the engine's stage name). */
  static async load(dir: string, name?: string, files?: FileReader): Promise<ItemKnnSource> {
    const { meta, arrays } = await loadArrays(dir, 'itemknn', FORMAT_VERSION, files);
    const s = new ItemKnnSource({ ...(meta as { options: ItemKnnOptions }).options, ...(name ? { name } : {}) });
    s.nbrOffsets = arrays.offsets as Int32Array;
    s.nbrItems = arrays.items as Int32Array;
    s.nbrSims = arrays.sims as Float32Array;
    s.popOrder = arrays.popOrder as Int32Array;
    const ni = s.numItems;
    if (s.popOrder.length !== ni || s.nbrOffsets[ni] !== s.nbrItems.length || s.nbrItems.length !== s.nbrSims.length) {
      throw new Error(`${dir}: itemknn arrays disagree in length`);
    }
    const bad = firstNonFinite(s.nbrSims);
    if (bad >= 0) throw new Error(`${dir}/itemknn-sims.bin: similarity ${bad} is ${s.nbrSims[bad]}; similarities must be finite (corrupted file?)`);
    s.transposeNeighbours();
    s.resetScratch();
    return s;
  }
}

/** The `itemknn` stage's parameters. */
export const ITEMKNN_PARAMS = schema({
  neighbours: { type: 'number', integer: true, min: 1, default: 400, description: 'neighbours kept per item' },
  shrink: { type: 'number', min: 0, default: 0, description: 'added to the cosine denominator (damps similarities resting on few users)' },
  value: { type: 'string', values: ['sum', 'log', 'binary'], default: 'sum', description: 'matrix value of a (user, item) pair: summed event weights, log(1 + sum), or 1' },
  historyHalfLife: { type: 'number', min: 0, default: 0, description: 'history recency: the event k steps back weighs 0.5^(k / this) (0: off)' },
});

/** Item-kNN as an engine stage. */
export const itemKnnKind = defineSourceKind({
  kind: 'itemknn',
  description: 'item-to-item cosine over co-occurrence, top neighbours per item, scored on the user history',
  params: ITEMKNN_PARAMS,
  personalized: true,
  // worker threads pay for their start-up on bigger logs only
  create: (p, ctx) => new ItemKnnSource({ ...p, name: ctx.name, threads: ctx.dataset.interactions.length >= PARALLEL_MIN_INTERACTIONS ? ctx.threads : 1 }),
  load: (dir, _p, ctx) => ItemKnnSource.load(dir, ctx.name, ctx.files),
});

/** The user x item matrix, its transpose and the item norms. */
function knnMatrix(train: Dataset, value: KnnValue): KnnMatrix {
  const ni = train.numItems;
  const { userOff, userItems, userVals } = userItemMatrix(train, value);
  const { itemOff, itemUsers, itemVals } = transpose(userOff, userItems, userVals, ni);
  const norm = new Float64Array(ni);
  for (let i = 0; i < ni; i++) {
    let s = 0;
    for (let k = itemOff[i]; k < itemOff[i + 1]; k++) s += itemVals[k] * itemVals[k];
    norm[i] = Math.sqrt(s);
  }
  return { numItems: ni, userOff, userItems, userVals, itemOff, itemUsers, itemVals, norm };
}

/** The matrix copied into SharedArrayBuffers, so workers read it without a copy each. */
function shareMatrix(m: KnnMatrix): KnnMatrix {
  const share = <T extends Int32Array | Float32Array | Float64Array>(a: T, make: (b: SharedArrayBuffer) => T): T => {
    const out = make(new SharedArrayBuffer(a.byteLength));
    out.set(a as never);
    return out;
  };
  return {
    numItems: m.numItems,
    userOff: share(m.userOff, (b) => new Int32Array(b)),
    userItems: share(m.userItems, (b) => new Int32Array(b)),
    userVals: share(m.userVals, (b) => new Float32Array(b)),
    itemOff: share(m.itemOff, (b) => new Int32Array(b)),
    itemUsers: share(m.itemUsers, (b) => new Int32Array(b)),
    itemVals: share(m.itemVals, (b) => new Float32Array(b)),
    norm: share(m.norm, (b) => new Float64Array(b)),
  };
}

/** Items by descending count, ties by index. */
function popularityOrder(counts: Int32Array): Int32Array {
  const order = new Int32Array(counts.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => counts[b] - counts[a] || a - b);
}

/**
 * The user x item matrix in CSR over positive events: one entry per distinct (user, item) pair with
 * value sum of event weights, log(1 + sum), or 1.
 */
export function userItemMatrix(train: Dataset, value: KnnValue): { userOff: Int32Array; userItems: Int32Array; userVals: Float32Array } {
  const nu = train.numUsers;
  const x = train.interactions;
  const w = new Float64Array(train.eventTypes.length);
  train.eventTypes.forEach((e, k) => (w[k] = e.negative ? 0 : e.weight));
  const { offsets, rows } = train.byUser();
  const userOff = new Int32Array(nu + 1);
  const userItems = new Int32Array(x.length);
  const userVals = new Float32Array(x.length);
  // slot[item] = position of the item in the current user's row, valid when owner[item] === u
  const slot = new Int32Array(train.numItems);
  const owner = new Int32Array(train.numItems).fill(-1);
  let n = 0;
  for (let u = 0; u < nu; u++) {
    for (let k = offsets[u]; k < offsets[u + 1]; k++) {
      const r = rows[k];
      const wr = w[x.event[r]];
      if (wr === 0) continue;
      const it = x.item[r];
      if (owner[it] !== u) {
        owner[it] = u;
        slot[it] = n;
        userItems[n] = it;
        userVals[n++] = wr;
      } else userVals[slot[it]] += wr;
    }
    userOff[u + 1] = n;
  }
  if (value !== 'sum') for (let k = 0; k < n; k++) userVals[k] = value === 'binary' ? 1 : Math.log1p(userVals[k]);
  return { userOff, userItems: userItems.slice(0, n), userVals: userVals.slice(0, n) };
}

/** CSR transpose: the item x user view of a user x item matrix. */
function transpose(
  userOff: Int32Array,
  userItems: Int32Array,
  userVals: Float32Array,
  ni: number,
): { itemOff: Int32Array; itemUsers: Int32Array; itemVals: Float32Array } {
  const itemOff = new Int32Array(ni + 1);
  for (let k = 0; k < userItems.length; k++) itemOff[userItems[k] + 1]++;
  for (let i = 0; i < ni; i++) itemOff[i + 1] += itemOff[i];
  const fill = itemOff.slice(0, ni);
  const itemUsers = new Int32Array(userItems.length);
  const itemVals = new Float32Array(userItems.length);
  for (let u = 0; u + 1 < userOff.length; u++) {
    for (let k = userOff[u]; k < userOff[u + 1]; k++) {
      const p = fill[userItems[k]]++;
      itemUsers[p] = u;
      itemVals[p] = userVals[k];
    }
  }
  return { itemOff, itemUsers, itemVals };
}
