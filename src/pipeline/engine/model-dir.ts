/**
 * The model directory: everything `serve`, `recommend` and `evaluate --model` need, written whole or
 * not at all.
 *
 *   DIR/manifest.json         versions, data schema, the complete engine configuration, parameters,
 *                             metrics, data fingerprint, stages, file checksums
 *   DIR/data/{users,items,interactions}.{json,bin}   vocabularies, feature columns, training interactions
 *   DIR/stages/<name>/        each stage's own artifacts (CandidateSource.save)
 *   DIR/ranker/               the L2 ranker model, when there is one
 *
 * It is written under a temporary sibling name and renamed when complete, and the manifest lists every
 * file with its size and SHA-256, so a crash or a truncated copy is refused at load rather than served.
 * The configuration in the manifest is checked on load against the engine schema and every stage's
 * parameters against their kind's schema: a hand-edited typo is refused naming the parameter.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Dataset, Schema as DataSchema } from '../../data/index.ts';
import { ItemCatalog } from '../../features/index.ts';
import { Ranker, RankerFeatures } from '../../ranking/index.ts';
import type { CandidateSource, StageContext } from '../../retrieval/index.ts';
import { ParamError, safeCheck, schema } from '../../schema/index.ts';
import { checkEngineConfig, type EngineConfig, type StageRegistry } from './config.ts';
import type { Model } from './engine.ts';
import { readDataset, writeInteractions, writeTable } from './pack.ts';

export const MODEL_FORMAT = 'tandem-model';
export const MODEL_FORMAT_VERSION = 2;

export interface StageEntry {
  name: string;
  kind: string;
  /** Its folder, relative to the model directory. */
  path: string;
  /** False for stages that ignore the query's items (popularity, segments): not asked for similar items. */
  personalized: boolean;
}

export interface ModelManifest {
  format: typeof MODEL_FORMAT;
  formatVersion: number;
  tandemVersion: string;
  /** Unique per training run; the service reports it with every answer. */
  modelVersion: string;
  createdAt: string;
  schema: DataSchema;
  /** The complete engine configuration (every default spelled out). */
  config: EngineConfig;
  /** The config's sources, then its fallbacks. */
  stages: StageEntry[];
  ranker: { kind: string; path: string; features: string[]; summary: Record<string, unknown> } | null;
  /** Run settings and what training chose (seed, threads, data source, training curves). */
  parameters: Record<string, unknown>;
  metrics: Record<string, number>;
  data: { name: string; fingerprint: string; users: number; items: number; interactions: number };
  /** Every other file of the directory: relative path -> size and SHA-256. */
  files: Record<string, { bytes: number; sha256: string }>;
}

/** The manifest's own schema (the engine configuration inside is checked by `checkEngineConfig`). */
const MANIFEST = schema({
  format: { type: 'string', required: true, values: [MODEL_FORMAT], description: 'always tandem-model' },
  formatVersion: { type: 'number', integer: true, required: true, description: 'layout version' },
  tandemVersion: { type: 'string', required: true, description: 'the Tandem that wrote it' },
  modelVersion: { type: 'string', required: true, description: 'unique per training run' },
  createdAt: { type: 'string', required: true, description: 'ISO time' },
  schema: { type: 'record', required: true, description: 'the data schema' },
  config: { type: 'record', required: true, description: 'the engine configuration' },
  stages: {
    type: 'array',
    description: 'stage folders',
    of: {
      name: { type: 'string', required: true, description: 'stage name' },
      kind: { type: 'string', required: true, description: 'source kind' },
      path: { type: 'string', required: true, description: 'folder' },
      personalized: { type: 'boolean', default: true, description: 'asked for similar items' },
    },
  },
  ranker: {
    type: 'object',
    nullable: true,
    defaultNull: true,
    description: 'the ranker model folder',
    fields: {
      kind: { type: 'string', required: true, description: 'ranker kind' },
      path: { type: 'string', required: true, description: 'folder' },
      features: { type: 'list', of: 'string', description: 'feature names, in column order' },
      summary: { type: 'record', description: 'what training chose' },
    },
  },
  parameters: { type: 'record', description: 'run settings' },
  metrics: { type: 'record', description: 'held-out metrics' },
  data: {
    type: 'object',
    description: 'the training data',
    fields: {
      name: { type: 'string', default: 'model', description: 'dataset name' },
      fingerprint: { type: 'string', required: true, description: 'SHA-256 of ids and interactions' },
      users: { type: 'number', integer: true, min: 0, required: true, description: 'users' },
      items: { type: 'number', integer: true, min: 0, required: true, description: 'items' },
      interactions: { type: 'number', integer: true, min: 0, required: true, description: 'interactions' },
    },
  },
  files: { type: 'record', description: 'file checksums' },
});

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

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes `model` to the new directory `out` (which must not exist): into a temporary sibling first,
 * renamed into place when every file and the manifest are written. Fills `manifest.files`.
 * @example await writeModelDir('models/2026-12-01', model)
 */
export async function writeModelDir(out: string, model: Model): Promise<void> {
  const target = resolve(out);
  if (await exists(target)) throw new ModelDirError(`${out}: already exists; a model directory is never modified in place (choose a new --out)`);
  await mkdir(dirname(target), { recursive: true });
  const tmp = await mkdtemp(join(dirname(target), `.${basename(target)}.tmp-`));
  try {
    const m = model.manifest;
    if (m.stages.length !== model.stages.length) throw new ModelDirError(`manifest lists ${m.stages.length} stages but ${model.stages.length} were given`);
    await mkdir(join(tmp, 'data'));
    await writeTable(join(tmp, 'data/users'), model.dataset.users);
    await writeTable(join(tmp, 'data/items'), model.dataset.items);
    await writeInteractions(join(tmp, 'data/interactions'), model.dataset.interactions, model.dataset.eventTypes, model.dataset.timeKind);
    for (let s = 0; s < m.stages.length; s++) {
      const d = join(tmp, m.stages[s].path);
      await mkdir(d, { recursive: true });
      await model.stages[s].save(d);
    }
    if (model.ranker && m.ranker) {
      const d = join(tmp, m.ranker.path);
      await mkdir(d, { recursive: true });
      await model.ranker.model.save(d);
    }
    const files: ModelManifest['files'] = {};
    for (const f of await listFiles(tmp)) {
      const p = join(tmp, f);
      files[f] = { bytes: (await stat(p)).size, sha256: await sha256File(p) };
    }
    m.files = files;
    await writeFile(join(tmp, 'manifest.json'), JSON.stringify(m, null, 2) + '\n');
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Reads and checks `dir/manifest.json` alone (no artifacts loaded); the configuration is checked against `registry`. */
export async function readManifest(dir: string, registry: StageRegistry): Promise<ModelManifest> {
  const path = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ModelDirError(`${path}: missing; '${dir}' is not a complete model directory`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelDirError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  const v = (raw ?? {}) as { formatVersion?: unknown };
  if (typeof v === 'object' && v.formatVersion !== undefined && v.formatVersion !== MODEL_FORMAT_VERSION) {
    throw new ModelDirError(`${path}: format version ${String(v.formatVersion)}; this Tandem reads version ${MODEL_FORMAT_VERSION} (retrain the model with this version's \`tandem train\`)`);
  }
  const r = safeCheck(MANIFEST, raw);
  if (!r.ok) throw new ModelDirError(`${path}: ${new ParamError(r.problems).message}`);
  const m = r.value as unknown as ModelManifest;
  if (Number.isNaN(Date.parse(m.createdAt))) throw new ModelDirError(`${path}: field 'createdAt' must be an ISO date`);
  try {
    m.config = checkEngineConfig(m.config, registry, 'config');
  } catch (err) {
    if (err instanceof ParamError) throw new ModelDirError(`${path}: ${err.message}`);
    throw err;
  }
  const want = [...m.config.sources, ...m.config.fallbacks].map((s) => s.name);
  const got = m.stages.map((s) => s.name);
  if (want.join('\0') !== got.join('\0')) throw new ModelDirError(`${path}: stages [${got.join(', ')}] do not match the configuration's [${want.join(', ')}]`);
  if ((m.ranker === null) !== (m.config.ranker === null)) throw new ModelDirError(`${path}: 'ranker' and 'config.ranker' disagree`);
  return m;
}

/**
 * Loads and validates a model directory: the manifest, every file's size and checksum (unless
 * `verify` is false), the tables, each stage through `registry`, the ranker. Throws ModelDirError
 * naming the file and the problem; never returns a partly loaded model.
 * @example const engine = new Engine(await readModelDir('models/latest', builtinRegistry()))
 */
export async function readModelDir(dir: string, registry: StageRegistry, opts: { verify?: boolean } = {}): Promise<Model> {
  const m = await readManifest(dir, registry);
  for (const [f, meta] of Object.entries(m.files as Record<string, { bytes: number; sha256: string }>)) {
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
    const catalog = new ItemCatalog(dataset.items);
    const stages = await loadStages(dir, m, registry, dataset, catalog);
    let ranker: Ranker | null = null;
    if (m.ranker && m.config.ranker) {
      const rc = m.config.ranker;
      const kind = registry.rankers.get(rc.kind)!;
      const model = await kind.load(join(dir, m.ranker.path), rc.params);
      // the feature statistics are a pure function of the model's training data: recomputed, not stored
      const features = RankerFeatures.fit(dataset, m.config.sources.map((s) => s.name!), rc.features);
      if (features.names.join('\0') !== m.ranker.features.join('\0')) throw new ModelDirError(`${join(dir, 'manifest.json')}: the ranker was trained on features [${m.ranker.features.join(', ')}], this data gives [${features.names.join(', ')}]`);
      ranker = new Ranker(features, model, rc.explainTop);
    }
    return { manifest: m, dataset, catalog, stages, ranker };
  } catch (err) {
    if (err instanceof ModelDirError) throw err;
    throw new ModelDirError(`${dir}: ${(err as Error).message}`);
  }
}

async function loadStages(dir: string, m: ModelManifest, registry: StageRegistry, dataset: Dataset, catalog: ItemCatalog): Promise<CandidateSource[]> {
  const configs = [...m.config.sources, ...m.config.fallbacks];
  const byName = new Map<string, CandidateSource>();
  const out: CandidateSource[] = [];
  for (let i = 0; i < configs.length; i++) {
    const c = configs[i];
    const kind = registry.sources.get(c.kind)!;
    const ctx: StageContext = {
      dataset,
      catalog,
      name: c.name!,
      stage: (name) => {
        const s = byName.get(name);
        if (!s) throw new ModelDirError(`${join(dir, 'manifest.json')}: stage '${c.name}' needs stage '${name}' before it`);
        return s;
      },
      seed: 1,
      threads: 1,
      log: () => {},
    };
    const s = await kind.load(join(dir, m.stages[i].path), c.params, ctx);
    byName.set(c.name!, s);
    out.push(s);
  }
  return out;
}
