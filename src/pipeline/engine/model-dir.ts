/**
 * The model directory: everything `serve` and `recommend` need, written whole or not at all.
 *
 *   DIR/manifest.json         versions, schema, parameters, metrics, data fingerprint, stages, file checksums
 *   DIR/data/{users,items,interactions}.{json,bin}   vocabularies, feature columns, training interactions
 *   DIR/data/segments.{json,bin}                     feature-segment popularity (cold-start fallback)
 *   DIR/stages/<name>/        each candidate source's own artifacts (CandidateSource.save)
 *   DIR/ranker/               the L2 ranker's artifacts, when there is one
 *
 * It is written under a temporary sibling name and renamed when complete, and the manifest lists every
 * file with its size and SHA-256, so a crash or a truncated copy is refused at load rather than served.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Dataset, Schema } from '../../data/index.ts';
import { readDataset, readPack, writeInteractions, writePack, writeTable } from './pack.ts';
import { segmentsFromArrays, segmentsToArrays, type Segments, type SegmentColumn } from './segments.ts';
import { DEFAULT_BUSINESS, type BusinessRules, type EngineSource, type Ranker, type StageRegistry } from './stages.ts';

export const MODEL_FORMAT = 'tandem-model';
export const MODEL_FORMAT_VERSION = 1;

export interface StageEntry {
  name: string;
  kind: string;
  path: string;
  /** Weight of this source in reciprocal-rank fusion. */
  weight: number;
  /** False for sources that ignore the query (popularity): skipped for similar items. */
  personalized: boolean;
  params: Record<string, unknown>;
}

export interface ModelManifest {
  format: typeof MODEL_FORMAT;
  formatVersion: number;
  tandemVersion: string;
  /** Unique per training run; the service reports it with every answer. */
  modelVersion: string;
  createdAt: string;
  schema: Schema;
  parameters: Record<string, unknown>;
  metrics: Record<string, number>;
  data: { name: string; fingerprint: string; users: number; items: number; interactions: number };
  stages: StageEntry[];
  ranker: { kind: string; path: string; params: Record<string, unknown> } | null;
  business: BusinessRules;
  /** Every other file of the directory: relative path -> size and SHA-256. */
  files: Record<string, { bytes: number; sha256: string }>;
}

/** A model directory in memory: what `writeModelDir` takes and `readModelDir` gives back. */
export interface Model {
  manifest: ModelManifest;
  dataset: Dataset;
  segments: Segments;
  sources: EngineSource[];
  ranker: Ranker | null;
}

/** A model directory that cannot be used: says which file and why. */
export class ModelDirError extends Error {
  override name = 'ModelDirError';
}

/** The Tandem version from package.json. */
export async function tandemVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** SHA-256 over the dataset's ids and interactions: two models trained on the same data share it. */
export function dataFingerprint(ds: Dataset): string {
  const h = createHash('sha256');
  const x = ds.interactions;
  for (const a of [x.user, x.item, x.event, x.value, x.timestamp]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  h.update(JSON.stringify(ds.users.ids.values));
  h.update(JSON.stringify(ds.items.ids.values));
  return h.digest('hex').slice(0, 32);
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function listFiles(root: string, dir = root, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await listFiles(root, p, out);
    else out.push(relative(root, p));
  }
  return out.sort();
}

/**
 * Writes `model` to the new directory `out` (which must not exist): into a temporary sibling first,
 * renamed into place when every file and the manifest are written. Fills `manifest.files`.
 * @example await writeModelDir('models/2026-12-01', { manifest, dataset, segments, sources, ranker: null })
 */
export async function writeModelDir(out: string, model: Model): Promise<void> {
  const target = resolve(out);
  if (await exists(target)) throw new ModelDirError(`${out}: already exists; a model directory is never modified in place (choose a new --out)`);
  await mkdir(dirname(target), { recursive: true });
  const tmp = await mkdtemp(join(dirname(target), `.${basename(target)}.tmp-`));
  try {
    const m = model.manifest;
    if (m.stages.length !== model.sources.length) throw new ModelDirError(`manifest lists ${m.stages.length} stages but ${model.sources.length} sources were given`);
    await mkdir(join(tmp, 'data'));
    await writeTable(join(tmp, 'data/users'), model.dataset.users);
    await writeTable(join(tmp, 'data/items'), model.dataset.items);
    await writeInteractions(join(tmp, 'data/interactions'), model.dataset.interactions, model.dataset.eventTypes);
    const seg = segmentsToArrays(model.segments);
    await writePack(join(tmp, 'data/segments'), seg.arrays, seg.meta);
    for (let s = 0; s < m.stages.length; s++) {
      const d = join(tmp, m.stages[s].path);
      await mkdir(d, { recursive: true });
      await model.sources[s].save(d);
    }
    if (model.ranker && m.ranker) {
      const d = join(tmp, m.ranker.path);
      await mkdir(d, { recursive: true });
      await model.ranker.save(d);
    }
    const files: ModelManifest['files'] = {};
    for (const f of await listFiles(tmp)) {
      const p = join(tmp, f);
      files[f] = { bytes: (await stat(p)).size, sha256: await sha256File(p) };
    }
    m.files = files;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(tmp, 'manifest.json'), JSON.stringify(m, null, 2) + '\n');
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Reads and checks `dir/manifest.json` alone (no artifacts loaded). */
export async function readManifest(dir: string): Promise<ModelManifest> {
  const path = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ModelDirError(`${path}: missing; '${dir}' is not a complete model directory`);
  }
  let m: ModelManifest;
  try {
    m = JSON.parse(text) as ModelManifest;
  } catch (err) {
    throw new ModelDirError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  const need = (cond: boolean, field: string, what: string): void => {
    if (!cond) throw new ModelDirError(`${path}: field '${field}' ${what}`);
  };
  need(m !== null && typeof m === 'object', '(root)', 'must be an object');
  need(m.format === MODEL_FORMAT, 'format', `must be '${MODEL_FORMAT}'`);
  need(m.formatVersion === MODEL_FORMAT_VERSION, 'formatVersion', `is ${m.formatVersion}; this Tandem reads version ${MODEL_FORMAT_VERSION}`);
  need(typeof m.modelVersion === 'string' && m.modelVersion !== '', 'modelVersion', 'must be a non-empty string');
  need(typeof m.createdAt === 'string' && !Number.isNaN(Date.parse(m.createdAt)), 'createdAt', 'must be an ISO date');
  need(m.schema && Array.isArray(m.schema.user) && Array.isArray(m.schema.item) && Array.isArray(m.schema.eventTypes), 'schema', 'must have user, item and eventTypes');
  need(Array.isArray(m.stages), 'stages', 'must be a list');
  need(m.files !== null && typeof m.files === 'object', 'files', 'must be an object');
  need(m.data && typeof m.data.fingerprint === 'string', 'data.fingerprint', 'must be a string');
  m.stages.forEach((s, i) => {
    need(typeof s.name === 'string' && typeof s.kind === 'string' && typeof s.path === 'string', `stages[${i}]`, 'needs name, kind and path');
    need(typeof s.weight === 'number' && s.weight >= 0, `stages[${i}].weight`, 'must be a number >= 0');
  });
  m.business = { ...DEFAULT_BUSINESS, ...(m.business ?? {}) };
  return m;
}

/**
 * Loads and validates a model directory: the manifest, every file's size and checksum (unless
 * `verify` is false), the tables, and each stage through `registry`. Throws ModelDirError naming the
 * file and the problem; never returns a partly loaded model.
 * @example const model = await readModelDir('models/latest', registry)
 */
export async function readModelDir(dir: string, registry: StageRegistry, opts: { verify?: boolean } = {}): Promise<Model> {
  const m = await readManifest(dir);
  for (const [f, meta] of Object.entries(m.files)) {
    const p = join(dir, f);
    let size: number;
    try {
      size = (await stat(p)).size;
    } catch {
      throw new ModelDirError(`${p}: listed in the manifest but missing`);
    }
    if (size !== meta.bytes) throw new ModelDirError(`${p}: ${size} bytes, the manifest says ${meta.bytes} (truncated or replaced)`);
    if (opts.verify !== false && (await sha256File(p)) !== meta.sha256) throw new ModelDirError(`${p}: checksum differs from the manifest (corrupted or replaced)`);
  }
  try {
    const dataset = await readDataset(join(dir, 'data'), m.data.name ?? 'model');
    if (dataset.numItems !== m.data.items || dataset.numUsers !== m.data.users || dataset.interactions.length !== m.data.interactions) {
      throw new ModelDirError(`${join(dir, 'data')}: holds ${dataset.numUsers} users, ${dataset.numItems} items, ${dataset.interactions.length} interactions; the manifest says ${m.data.users}, ${m.data.items}, ${m.data.interactions}`);
    }
    const sp = await readPack(join(dir, 'data/segments'));
    const segments = segmentsFromArrays(sp.arrays, sp.meta as { columns: SegmentColumn[] }, dataset.numItems, join(dir, 'data/segments.bin'));
    const sources: EngineSource[] = [];
    for (const s of m.stages) {
      const kind = registry.sources.get(s.kind);
      if (!kind) throw new ModelDirError(`${join(dir, 'manifest.json')}: stage '${s.name}' has kind '${s.kind}', which this Tandem does not know (known: ${[...registry.sources.keys()].join(', ') || 'none'})`);
      sources.push(await kind.load(join(dir, s.path), { dataset }));
    }
    let ranker: Ranker | null = null;
    if (m.ranker) {
      const kind = registry.rankers.get(m.ranker.kind);
      if (!kind) throw new ModelDirError(`${join(dir, 'manifest.json')}: ranker kind '${m.ranker.kind}' is not known to this Tandem`);
      ranker = await kind.load(join(dir, m.ranker.path), { dataset });
    }
    return { manifest: m, dataset, segments, sources, ranker };
  } catch (err) {
    if (err instanceof ModelDirError) throw err;
    throw new ModelDirError(`${dir}: ${(err as Error).message}`);
  }
}
