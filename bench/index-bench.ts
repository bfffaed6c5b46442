/**
 * `tandem bench index`: exact and HNSW search over item embeddings. Speed (single-thread queries/s,
 * medians over repeats), quality (recall@k against exact search), build seconds and memory together.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Rng, TopK } from '../src/math/index.ts';
import { ExactIndex, HNSW_DEFAULTS, HnswIndex, clusteredVectors, plainSearch, randomVectors } from '../src/vectors/index.ts';
import type { Metric, SearchFilter, SearchResult } from '../src/vectors/index.ts';
import { UsageError, parseArgs } from '../src/schema/index.ts';
import type { OptionDefs } from '../src/schema/index.ts';
import type { Command } from '../src/schema/index.ts';
import { ensureTwoTowerEmbeddings } from './twotower-embeddings.ts';
import { median } from './stats.ts';

const options = {
  items: { type: 'number', default: 100_000, description: 'catalog size (random/clustered data; twotower: the synthetic catalog when no --embeddings)' },
  dim: { type: 'number', default: 64, description: 'embedding dimension (random/clustered data; twotower: the model output when no --embeddings)' },
  data: { type: 'string', default: 'clustered', description: 'random | clustered | twotower' },
  embeddings: { type: 'string', description: 'twotower: raw little-endian float32 n x dim item embeddings, with FILE.json = {"n","dim"}; default: train a two-tower on synthetic data of --items x --dim and embed every item (cached)' },
  'query-embeddings': { type: 'string', description: 'twotower: query (user) embeddings in the same format; default: the user embeddings written beside generated embeddings, else items plus noise' },
  center: { type: 'boolean', default: true, description: "twotower: subtract the items' mean vector before indexing (inner-product ranking is unchanged; the two-tower stage's HNSW does the same)" },
  'max-examples': { type: 'number', default: 1_000_000, description: 'twotower without --embeddings: train the synthetic two-tower on at most this many interactions (0: all)' },
  metric: { type: 'string', default: 'ip', description: 'ip | cosine' },
  kernel: { type: 'string', default: 'auto', description: "exact kernels: auto (the backend when it is SIMD, else JS) | js | backend" },
  queries: { type: 'number', default: 1000, description: 'queries for HNSW timing and recall' },
  'exact-queries': { type: 'number', default: 200, description: 'queries timed for exact search (one call each)' },
  'plain-queries': { type: 'number', default: 30, description: 'queries timed for the plain nested loop' },
  k: { type: 'number', default: 10, description: 'results per query (recall@k)' },
  M: { type: 'list', of: 'number', default: [16], description: 'HNSW M values to build' },
  'ef-construction': { type: 'list', of: 'number', default: [200], description: 'HNSW efConstruction values to build' },
  'mips-augment': { type: 'list', of: 'number', default: [0], description: 'HNSW on inner product: 1 = graph on MIPS-augmented vectors, 0 = raw (list to compare)' },
  'ef-search': { type: 'list', of: 'number', default: [16, 32, 64, 128, 256], description: 'HNSW efSearch values to measure' },
  repeats: { type: 'number', default: 3, description: 'timed repeats (medians reported)' },
  'no-hnsw': { type: 'boolean', description: 'skip HNSW' },
  filters: { type: 'boolean', default: true, description: 'also time filtered HNSW searches (seen items, 10% and 1% category masks) at the default efSearch' },
  seed: { type: 'number', default: 1, description: 'data seed' },
  clock: { type: 'string', default: 'cpu', description: "queries/s in the JSON and the x-plain ratios: cpu (this process's CPU time: one thread's speed even on a busy machine) | wall" },
  json: { type: 'string', description: 'write the figures to this JSON file' },
} satisfies OptionDefs;

interface HnswRow {
  M: number;
  efConstruction: number;
  efSearch: number;
  'recall@10': number;
  qps: number;
  buildSeconds: number;
  memoryMB: number;
}


/** Median queries/s of `run(q)` over `nq` queries, by wall clock and by this process's CPU time. */
function timeQueries(nq: number, repeats: number, run: (q: number) => void): { qps: number; cpuQps: number } {
  for (let q = 0; q < Math.min(nq, 20); q++) run(q); // warm-up: JIT, caches
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let q = 0; q < nq; q++) run(q);
    const t = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    wall.push(nq / t);
    cpu.push(nq / ((c.user + c.system) / 1e6));
  }
  return { qps: median(wall), cpuQps: median(cpu) };
}

let gcFn: (() => void) | undefined;
function gc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

function rssMB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

/** Reads raw float32 n x dim with its FILE.json sidecar {"n","dim"}. */
export function readEmbeddings(file: string, flag: string): { v: Float32Array; n: number; dim: number } {
  const side = `${file}.json`;
  if (!existsSync(file)) {
    throw new UsageError(`${flag} ${file}: no such file (the two-tower training step writes item embeddings as raw float32 n x dim with ${side})`);
  }
  if (!existsSync(side)) throw new UsageError(`${flag} ${file}: the sidecar ${side} with {"n","dim"} is missing`);
  let meta: { n?: unknown; dim?: unknown };
  try {
    meta = JSON.parse(readFileSync(side, 'utf8')) as { n?: unknown; dim?: unknown };
  } catch (e) {
    throw new UsageError(`${side}: not valid JSON (${(e as Error).message})`);
  }
  const n = meta.n;
  const dim = meta.dim;
  if (!Number.isInteger(n) || (n as number) < 1) throw new UsageError(`${side}: field 'n' must be a positive integer, got ${JSON.stringify(n)}`);
  if (!Number.isInteger(dim) || (dim as number) < 1) throw new UsageError(`${side}: field 'dim' must be a positive integer, got ${JSON.stringify(dim)}`);
  const buf = readFileSync(file);
  const want = (n as number) * (dim as number) * 4;
  if (buf.length !== want) throw new UsageError(`${file}: has ${buf.length} bytes, ${side} implies n x dim x 4 = ${want}`);
  const v = new Float32Array(want / 4);
  new Uint8Array(v.buffer).set(buf);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new UsageError(`${file}: value ${i} (row ${Math.floor(i / (dim as number))}) is ${v[i]}`);
  }
  return { v, n: n as number, dim: dim as number };
}

/**
 * Subtracts the rows' mean in place. q.(x - mu) = q.x - q.mu, and q.mu is one constant per query, so
 * every inner-product ranking stays the same; trained two-tower items sit in a narrow cone facing
 * away from the users, which a graph searches badly, and centring spreads them out.
 */
function centerRows(v: Float32Array, n: number, dim: number): void {
  const mu = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let c = 0; c < dim; c++) mu[c] += v[i * dim + c];
  for (let c = 0; c < dim; c++) mu[c] /= n;
  for (let i = 0; i < n; i++) for (let c = 0; c < dim; c++) v[i * dim + c] -= mu[c];
}

/** Queries near the items: a random item plus Gaussian noise at half the data's per-coordinate spread. */
function queriesNearItems(items: Float32Array, n: number, dim: number, nq: number, rng: Rng): Float32Array {
  let s2 = 0;
  const sample = Math.min(n, 10_000);
  for (let i = 0; i < sample * dim; i++) s2 += items[i] * items[i];
  const sd = Math.sqrt(s2 / (sample * dim));
  const q = new Float32Array(nq * dim);
  for (let j = 0; j < nq; j++) {
    const it = rng.int(n);
    for (let c = 0; c < dim; c++) q[j * dim + c] = items[it * dim + c] + 0.5 * sd * rng.normal();
  }
  return q;
}

function fmt(x: number, d = 0): string {
  return x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
}

export const indexBench: Command = {
  name: 'index',
  summary: 'exact and HNSW vector search: queries/s, recall@k, build time, memory',
  usage: 'tandem bench index [--items N] [--dim D] [--data random|clustered|twotower] [--embeddings FILE | --max-examples N] [--json out.json]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    if (!['random', 'clustered', 'twotower'].includes(o.data)) throw new UsageError(`--data must be random, clustered or twotower, got '${o.data}'`);
    if (o.metric !== 'ip' && o.metric !== 'cosine') throw new UsageError(`--metric must be ip or cosine, got '${o.metric}'`);
    const metric = o.metric as Metric;
    if (!['auto', 'js', 'backend'].includes(o.kernel)) throw new UsageError(`--kernel must be auto, js or backend, got '${o.kernel}'`);
    const kernel = o.kernel as 'auto' | 'js' | 'backend';
    if (o.clock !== 'cpu' && o.clock !== 'wall') throw new UsageError(`--clock must be cpu or wall, got '${o.clock}'`);
    const pick = (t: { qps: number; cpuQps: number }) => (o.clock === 'cpu' ? t.cpuQps : t.qps);
    const k = o.k;
    const rng = new Rng(o.seed);

    // ---- data
    let items: Float32Array;
    let n: number;
    let dim: number;
    let queries: Float32Array;
    const nq = o.queries;
    if (o.data === 'twotower') {
      let embFile = o.embeddings;
      let queryFile = o['query-embeddings'];
      if (!embFile) {
        // no file given: train the two-tower on synthetic data of this size (cached by setting)
        if (!Number.isInteger(o.items) || o.items < 1 || !Number.isInteger(o.dim) || o.dim < 1) throw new UsageError('--items and --dim must be positive integers');
        if (!Number.isInteger(o['max-examples']) || o['max-examples'] < 0) throw new UsageError(`--max-examples must be an integer >= 0, got ${o['max-examples']}`);
        const f = await ensureTwoTowerEmbeddings({ items: o.items, dim: o.dim, maxExamples: o['max-examples'], seed: o.seed, queries: nq, log: (l) => console.log(l) });
        embFile = f.items;
        queryFile ??= f.queries;
      }
      ({ v: items, n, dim } = readEmbeddings(embFile, '--embeddings'));
      if (o.center) centerRows(items, n, dim);
      if (queryFile) {
        const qe = readEmbeddings(queryFile, '--query-embeddings');
        if (qe.dim !== dim) throw new UsageError(`--query-embeddings has dim ${qe.dim}, the items have ${dim}`);
        queries = qe.v.subarray(0, Math.min(nq, qe.n) * dim);
      } else queries = queriesNearItems(items, n, dim, nq, rng.fork(2));
    } else {
      n = o.items;
      dim = o.dim;
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`--items must be a positive integer, got ${n}`);
      if (!Number.isInteger(dim) || dim < 1) throw new UsageError(`--dim must be a positive integer, got ${dim}`);
      const clusters = Math.max(16, Math.round(Math.sqrt(n)));
      items = o.data === 'random' ? randomVectors(n, dim, rng.fork(1)) : clusteredVectors(n, dim, rng.fork(1), { clusters });
      queries = o.data === 'random' ? randomVectors(nq, dim, rng.fork(2)) : clusteredVectors(nq, dim, rng.fork(2), { clusters });
    }
    const nQueries = queries.length / dim;
    const labels = Int32Array.from({ length: n }, (_, i) => i);
    const qv = (q: number) => queries.subarray((q % nQueries) * dim, ((q % nQueries) + 1) * dim);
    console.log(`tandem bench index: ${fmt(n)} items x ${dim} (${o.data}, ${metric}), ${nQueries} queries, k=${k}, ${o.repeats} repeats, medians`);

    // ---- exact
    const exact = new ExactIndex({ dim, metric, capacity: n, kernel });
    exact.add(items, labels);
    const truthT0 = performance.now();
    const truth = exact.searchBatch(queries, k);
    const truthSeconds = (performance.now() - truthT0) / 1000;
    const single = timeQueries(Math.min(o['exact-queries'], nQueries), o.repeats, (q) => exact.search(qv(q), k));
    const batchQ = Math.min(nQueries, Math.max(o['exact-queries'], 96));
    const batchQueries = queries.subarray(0, batchQ * dim);
    const batch = timeQueries(1, o.repeats, () => exact.searchBatch(batchQueries, k));
    const batchQps = batch.qps * batchQ;
    const batchCpuQps = batch.cpuQps * batchQ;
    // The plain loop sees the same stored rows (normalised for cosine) and normalised queries, copied
    // into ordinary memory (JIT code reads views on WebAssembly memory more slowly).
    const rows = exact.rows().slice();
    const rowLabels = exact.labels();
    const heap = new TopK(k);
    const nq1 = new Float32Array(dim);
    const plain = timeQueries(Math.min(o['plain-queries'], nQueries), o.repeats, (q) => {
      const x = qv(q);
      let s = 1;
      if (metric === 'cosine') s = 1 / Math.hypot(...x);
      for (let c = 0; c < dim; c++) nq1[c] = x[c] * s;
      plainSearch(rows, rowLabels, dim, nq1, k, heap);
    });
    console.log('');
    console.log(`exact (kernel: ${exact.kernelName})`);
    console.log(`  plain nested loop      ${fmt(plain.qps).padStart(8)} q/s   (cpu ${fmt(plain.cpuQps)} q/s)`);
    console.log(`  search, 1 query/call   ${fmt(single.qps).padStart(8)} q/s   (cpu ${fmt(single.cpuQps)} q/s)   ${fmt(pick(single) / pick(plain), 2)}x plain (${o.clock})`);
    console.log(`  searchBatch of ${String(batchQ).padEnd(6)}  ${fmt(batchQps).padStart(8)} q/s   (cpu ${fmt(batchCpuQps)} q/s)   ${fmt(pick({ qps: batchQps, cpuQps: batchCpuQps }) / pick(plain), 2)}x plain (${o.clock})`);
    console.log(`  ground truth for ${nQueries} queries in ${fmt(truthSeconds, 1)} s`);

    // ---- hnsw
    const hnswRows: HnswRow[] = [];
    if (!o['no-hnsw']) {
      console.log('');
      console.log('hnsw (hnswlib-node, one thread)');
      console.log(`  ${'M'.padStart(3)} ${'efC'.padStart(5)} ${'efS'.padStart(5)}  ${'recall@' + k}  ${'q/s'.padStart(8)}  ${'cpu q/s'.padStart(8)}  ${'build s'.padStart(8)}  ${'memory MB'.padStart(9)}`);
      for (const mipsAugment of o['mips-augment']) for (const M of o.M) {
        for (const efConstruction of o['ef-construction']) {
          gc();
          const rss0 = rssMB();
          const t0 = performance.now();
          const hn = new HnswIndex({ dim, metric, M, efConstruction, capacity: n, kernel, mipsAugment });
          if (o['mips-augment'].length > 1) console.log(`  mipsAugment=${mipsAugment}`);
          hn.add(items, labels);
          const buildSeconds = (performance.now() - t0) / 1000;
          gc();
          const memoryMB = rssMB() - rss0;
          for (const efSearch of o['ef-search']) {
            hn.setSearchEffort(efSearch);
            let hits = 0;
            for (let q = 0; q < nQueries; q++) {
              const r: SearchResult = hn.search(qv(q), k);
              const want = truth.ids.subarray(q * k, q * k + truth.counts[q]);
              for (let i = 0; i < r.ids.length; i++) if (want.includes(r.ids[i])) hits++;
            }
            let denom = 0;
            for (let q = 0; q < nQueries; q++) denom += truth.counts[q];
            const recall = hits / denom;
            const t = timeQueries(nQueries, o.repeats, (q) => hn.search(qv(q), k));
            hnswRows.push({ M, efConstruction, efSearch, 'recall@10': round(recall, 4), qps: Math.round(pick(t)), buildSeconds: round(buildSeconds, 2), memoryMB: Math.round(memoryMB) });
            console.log(
              `  ${String(M).padStart(3)} ${String(efConstruction).padStart(5)} ${String(efSearch).padStart(5)}  ${recall.toFixed(4).padStart(9)}  ${fmt(t.qps).padStart(8)}  ${fmt(t.cpuQps).padStart(8)}  ${fmt(buildSeconds, 1).padStart(8)}  ${fmt(memoryMB).padStart(9)}`,
            );
          }
          console.log(`      (estimated index memory ${fmt(hn.memoryBytes() / 2 ** 20)} MB, of which the exact copy ${fmt((n * dim * 4) / 2 ** 20)} MB)`);
          if (o.filters) filteredRuns(hn, exact, qv, Math.min(nQueries, 300), n, k, o.repeats, rng.fork(3));
        }
      }
      if (k !== 10) console.log(`  (the 'recall@10' column is recall@${k})`);
    }

    if (o.json) {
      // exact.qps is the one-query-per-call path (what serving does); searchBatch is in the table.
      const out = { exact: { qps: Math.round(pick(single)), plainLoopQps: Math.round(pick(plain)) }, hnsw: hnswRows };
      writeFileSync(o.json, JSON.stringify(out, null, 2) + '\n');
      console.log(`\nwrote ${o.json}`);
    }
    return 0;
  },
};

/**
 * Filtered searches at the default efSearch: the query's 50 best items excluded (the hardest "seen" list),
 * a 10% mask (the graph with hnswlib's filter callback) and a 1% mask (answered exactly). Recall is
 * against exact search with the same filter; every answer must hold k eligible items.
 */
function filteredRuns(hn: HnswIndex, exact: ExactIndex, qv: (q: number) => Float32Array, nq: number, n: number, k: number, repeats: number, rng: Rng): void {
  hn.setSearchEffort(HNSW_DEFAULTS.efSearch);
  const mask = (frac: number) => {
    const m = new Uint8Array(n);
    for (let i = 0; i < n; i++) if (rng.next() < frac) m[i] = 1;
    return m;
  };
  const seen = Array.from({ length: nq }, (_, q) => exact.search(qv(q), 50).ids);
  const cases: [string, (q: number) => SearchFilter][] = [
    ['exclude the 50 best', (q) => ({ exclude: seen[q] })],
    ['10% category mask', ((m) => () => ({ allow: m }))(mask(0.1))],
    ['1% category mask', ((m) => () => ({ allow: m }))(mask(0.01))],
  ];
  console.log(`      filtered, efSearch ${HNSW_DEFAULTS.efSearch}, ${nq} queries:`);
  for (const [name, filterOf] of cases) {
    let hits = 0;
    let total = 0;
    const paths = new Map<string, number>();
    for (let q = 0; q < nq; q++) {
      const f = filterOf(q);
      const got = hn.search(qv(q), k, f);
      paths.set(hn.lastPath, (paths.get(hn.lastPath) ?? 0) + 1);
      const want = exact.search(qv(q), k, f).ids;
      if (got.ids.length !== want.length) throw new Error(`filtered search '${name}' returned ${got.ids.length} items, ${want.length} eligible`);
      for (const id of got.ids) if (want.includes(id)) hits++;
      total += want.length;
    }
    const t = timeQueries(nq, repeats, (q) => hn.search(qv(q), k, filterOf(q)));
    const how = [...paths].map(([p, c]) => `${p} ${c}`).join(', ');
    console.log(`        ${name.padEnd(20)} recall@${k} ${(hits / total).toFixed(4)}  ${fmt(t.cpuQps).padStart(8)} cpu q/s  (${how})`);
  }
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}
