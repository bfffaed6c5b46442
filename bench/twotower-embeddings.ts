/**
 * Real two-tower embeddings for `tandem bench index --data twotower`: a two-tower model trained on the
 * synthetic generator's data (the requested item count, a bounded number of training examples), then
 * every item embedded by the item tower and a sample of users by the user tower (features + history).
 * Written as raw little-endian float32 n x dim with a `FILE.json` sidecar {"n","dim",...}; the user
 * queries go to `FILE.queries.f32` (same format). Reused when the files exist with the same settings.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { generateSynthetic, selectInteractions } from '../src/data/index.ts';
import { Rng, getKernelBackend } from '../src/math/index.ts';
import { trainTwoTower, type TwoTowerConfig } from '../src/retrieval/index.ts';
import { UsageError, parseArgs } from '../src/schema/index.ts';
import type { OptionDefs } from '../src/schema/index.ts';
import type { Command } from '../src/schema/index.ts';

export interface TwoTowerEmbeddingOptions {
  items: number;
  /** Output dimension k. */
  dim: number;
  /** Synthetic users (default items / 5, at least 1,000). */
  users?: number;
  /** Synthetic interactions generated (default: the larger of 10 per user and maxExamples). */
  interactions?: number;
  /** Positives the model trains on, sampled uniformly from the log (0: all). */
  maxExamples?: number;
  epochs?: number;
  threads?: number;
  seed?: number;
  /** User embeddings to write as queries. */
  queries?: number;
  log?: (line: string) => void;
}

/** The files one setting writes; `meta` is what the sidecar must hold for the cache to be reused. */
export interface EmbeddingFiles {
  items: string;
  queries: string;
  meta: Record<string, number | string>;
}

function resolved(o: TwoTowerEmbeddingOptions): Required<Omit<TwoTowerEmbeddingOptions, 'log'>> {
  const users = o.users ?? Math.max(1000, Math.round(o.items / 5));
  return {
    items: o.items,
    dim: o.dim,
    users,
    interactions: o.interactions ?? Math.max(users * 10, o.maxExamples ?? 1_000_000),
    maxExamples: o.maxExamples ?? 1_000_000,
    epochs: o.epochs ?? 1,
    threads: o.threads ?? 2,
    seed: o.seed ?? 1,
    queries: o.queries ?? 1000,
  };
}

/**
 * The cache path for a setting (under the OS temp folder unless `file` is given).
 * @example embeddingFiles({ items: 100_000, dim: 64 }).items   // /tmp/tandem-bench/twotower-i100000-d64-....f32
 */
export function embeddingFiles(o: TwoTowerEmbeddingOptions, file?: string): EmbeddingFiles {
  const r = resolved(o);
  const meta = { source: 'two-tower on generateSynthetic', ...r };
  const items = file ?? join(tmpdir(), 'tandem-bench', `twotower-i${r.items}-d${r.dim}-u${r.users}-x${r.interactions}-m${r.maxExamples}-e${r.epochs}-s${r.seed}.f32`);
  return { items, queries: items.replace(/(\.f32)?$/, '.queries.f32'), meta };
}

function cached(f: EmbeddingFiles): boolean {
  if (!existsSync(f.items) || !existsSync(`${f.items}.json`) || !existsSync(f.queries) || !existsSync(`${f.queries}.json`)) return false;
  try {
    const side = JSON.parse(readFileSync(`${f.items}.json`, 'utf8')) as Record<string, unknown>;
    return Object.entries(f.meta).every(([k, v]) => side[k] === v);
  } catch {
    return false;
  }
}

function writeF32(file: string, v: Float32Array, n: number, dim: number, meta: Record<string, unknown>): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, new Uint8Array(v.buffer, v.byteOffset, n * dim * 4));
  writeFileSync(`${file}.json`, JSON.stringify({ ...meta, n, dim }, null, 2) + '\n');
}

/**
 * Trains the model and writes item and query embeddings (unless the same setting is cached).
 * @example const f = await ensureTwoTowerEmbeddings({ items: 100_000, dim: 64, maxExamples: 1e6 });
 */
export async function ensureTwoTowerEmbeddings(o: TwoTowerEmbeddingOptions, file?: string): Promise<EmbeddingFiles & { reused: boolean }> {
  const f = embeddingFiles(o, file);
  const log = o.log ?? ((l: string) => console.error(l));
  if (cached(f)) {
    log(`two-tower embeddings: reusing ${f.items}`);
    return { ...f, reused: true };
  }
  const r = resolved(o);
  const t0 = performance.now();
  let ds = generateSynthetic({ items: r.items, users: r.users, interactions: r.interactions, seed: r.seed });
  const total = ds.interactions.length;
  if (r.maxExamples > 0 && r.maxExamples < total) {
    // a uniform sample (sorted: the log stays in time order), so every part of the catalog is seen
    const rng = new Rng(r.seed).fork(7);
    const pick = new Uint8Array(total);
    let left = r.maxExamples;
    for (let i = 0; i < total && left > 0; i++) if (rng.next() * (total - i) < left) (pick[i] = 1), left--;
    const rows = new Int32Array(r.maxExamples);
    for (let i = 0, j = 0; i < total; i++) if (pick[i]) rows[j++] = i;
    ds = ds.withInteractions(selectInteractions(ds.interactions, rows));
  }
  log(`two-tower embeddings: ${r.items} items, ${r.users} users, training on ${ds.interactions.length} of ${total} interactions (${((performance.now() - t0) / 1000).toFixed(1)} s to generate); kernels ${getKernelBackend().name}`);
  const config: Partial<TwoTowerConfig> = { dim: r.dim, epochs: r.epochs };
  const t1 = performance.now();
  const res = await trainTwoTower(ds, config, { threads: r.threads, seed: r.seed, log });
  const trainSeconds = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const items = res.model.embedItems();
  const embedSeconds = (performance.now() - t2) / 1000;
  // queries: users with history in the training sample, spread evenly, embedded like serving does
  const { offsets } = ds.byUser();
  const active: number[] = [];
  for (let u = 0; u < ds.numUsers; u++) if (offsets[u + 1] > offsets[u]) active.push(u);
  const nq = Math.min(r.queries, active.length);
  const step = active.length / Math.max(1, nq);
  const queries = res.model.embedQueries(Array.from({ length: nq }, (_, j) => ds.query(active[Math.floor(j * step)])));
  const meta = { ...f.meta, trainSeconds: +trainSeconds.toFixed(1), embedSeconds: +embedSeconds.toFixed(1), trainedOn: ds.interactions.length };
  writeF32(f.items, items, r.items, r.dim, meta);
  writeF32(f.queries, queries, nq, r.dim, { ...meta, what: 'user embeddings (embedQuery) of users spread over the training sample' });
  log(`two-tower embeddings: trained in ${trainSeconds.toFixed(1)} s, embedded ${r.items} items in ${embedSeconds.toFixed(1)} s; wrote ${f.items} and ${f.queries}`);
  return { ...f, reused: false };
}

const options = {
  items: { type: 'number', default: 100_000, description: 'synthetic items (all embedded)' },
  dim: { type: 'number', default: 64, description: 'embedding dimension' },
  users: { type: 'number', description: 'synthetic users (default items / 5, at least 1,000)' },
  interactions: { type: 'number', description: 'synthetic interactions generated (default: the larger of 10 per user and --max-examples)' },
  'max-examples': { type: 'number', default: 1_000_000, description: 'train on at most this many interactions, sampled uniformly (0: all)' },
  epochs: { type: 'number', default: 1, description: 'training epochs' },
  threads: { type: 'number', default: 2, description: 'training threads' },
  queries: { type: 'number', default: 1000, description: 'user embeddings written as queries' },
  seed: { type: 'number', default: 1, description: 'data and training seed' },
  out: { type: 'string', description: 'item embeddings file (default: a cache path under the temp folder); queries go to OUT.queries.f32' },
} satisfies OptionDefs;

/** `tandem bench twotower-embeddings`: writes the files `tandem bench index --data twotower` reads. */
export const twoTowerEmbeddingsBench: Command = {
  name: 'twotower-embeddings',
  summary: 'train a two-tower on synthetic data and write item + user embeddings for the index benchmark',
  usage: 'tandem bench twotower-embeddings [--items N] [--dim D] [--max-examples N] [--out FILE]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    for (const k of ['items', 'dim', 'epochs', 'threads', 'queries'] as const) if (!Number.isInteger(o[k]) || o[k] < 1) throw new UsageError(`--${k} must be a positive integer, got ${o[k]}`);
    if (!Number.isInteger(o['max-examples']) || o['max-examples'] < 0) throw new UsageError(`--max-examples must be an integer >= 0, got ${o['max-examples']}`);
    const f = await ensureTwoTowerEmbeddings(
      { items: o.items, dim: o.dim, users: o.users, interactions: o.interactions, maxExamples: o['max-examples'], epochs: o.epochs, threads: o.threads, seed: o.seed, queries: o.queries, log: (l) => console.log(l) },
      o.out,
    );
    console.log(`items: ${f.items}\nqueries: ${f.queries}\nnext: tandem bench index --data twotower --embeddings ${f.items} --query-embeddings ${f.queries}`);
    return 0;
  },
};
