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
 *
 * Integrity on load: the directory holds exactly the files the manifest lists (an unlisted file is
 * refused before anything is read), every loader reads its files through a reader that checks each one
 * against the manifest (listed, size, SHA-256) on the bytes it hands over and records it, and a listed
 * file that no loader read refuses the directory too. Tracking reads, rather than trusting each stage
 * to declare its files, makes the rule hold by construction: a stage cannot read a file the manifest
 * does not vouch for, the bytes hashed are the bytes parsed (no window between a check and a read),
 * and a stale declaration cannot drift from what the loader really opens. Only hnswlib reads its graph
 * file by path itself; that file is hashed just before.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { FEATURE_KINDS, type Dataset, type FeatureSpec, type Schema as DataSchema } from '../../data/index.ts';
import { ItemCatalog } from '../../features/index.ts';
import { Ranker, RankerFeatures } from '../../ranking/index.ts';
import type { CandidateSource, StageContext } from '../../retrieval/index.ts';
import type { FileReader } from '../../vectors/index.ts';
import { ParamError, safeCheck, schema } from '../../schema/index.ts';
import { checkEngineConfig, rankerSpace, type EngineConfig, type StageRegistry } from './config.ts';
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
  formatVersion: { type: 'number', integer: true, min: MODEL_FORMAT_VERSION, max: MODEL_FORMAT_VERSION, required: true, description: 'layout version (this Tandem reads 2)' },
  tandemVersion: { type: 'string', required: true, description: 'the Tandem that wrote it (MAJOR.MINOR.PATCH; a newer MAJOR.MINOR than the reader is refused)' },
  modelVersion: { type: 'string', required: true, description: 'unique per training run' },
  createdAt: { type: 'string', required: true, description: 'ISO time' },
  schema: { type: 'record', required: true, description: 'the data schema' },
  config: { type: 'record', required: true, description: 'the engine configuration' },
  stages: {
    type: 'array',
    minItems: 1,
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

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$/;

/**
 * Whether a model written by Tandem `written` can be read by Tandem `reader`: the same or an older
 * MAJOR.MINOR (the patch level never matters). A newer one may hold stages or fields this one would
 * misread, so it is refused; an older one is read when its formatVersion is one this Tandem reads.
 * @example checkTandemVersion('0.1.3', '0.1.0') // null; checkTandemVersion('0.2.0', '0.1.0') // the reason
 */
export function checkTandemVersion(written: string, reader: string): string | null {
  const w = SEMVER.exec(written);
  const r = SEMVER.exec(reader);
  if (!w) return `'${written}' is not a version (MAJOR.MINOR.PATCH)`;
  if (!r) return null;
  const [wM, wm] = [Number(w[1]), Number(w[2])];
  const [rM, rm] = [Number(r[1]), Number(r[2])];
  if (wM > rM || (wM === rM && wm > rm)) return `written by Tandem ${written}, newer than this Tandem ${reader}: models from a newer MAJOR.MINOR are refused (upgrade Tandem, or retrain with this one)`;
  return null;
}

/** A relative path that stays inside the directory (`stages/ease`), or a reason it does not. */
function insidePath(p: string): string | null {
  if (p === '' || isAbsolute(p) || p.includes('\\') || p.split('/').some((x) => x === '..' || x === '.' || x === '')) return `'${p}' must be a relative path inside the model directory (no '..', '.', empty or absolute parts)`;
  return null;
}

function checkFeatureSpecs(list: unknown, where: string): string | null {
  if (!Array.isArray(list)) return `${where}: must be a list of features`;
  for (let i = 0; i < list.length; i++) {
    const f = list[i] as Partial<FeatureSpec> | null;
    if (!f || typeof f !== 'object' || typeof f.name !== 'string' || f.name === '') return `${where}[${i}].name: must be a non-empty string`;
    if (!FEATURE_KINDS.includes(f.kind as FeatureSpec['kind'])) return `${where}[${i}].kind: unknown feature kind '${String(f.kind)}' (known: ${FEATURE_KINDS.join(', ')})`;
  }
  return null;
}

/** The manifest's data schema: known feature kinds, event types with a name and a finite weight. */
function checkDataSchema(s: DataSchema): string | null {
  const bad = checkFeatureSpecs(s.user, 'schema.user') ?? checkFeatureSpecs(s.item, 'schema.item');
  if (bad) return bad;
  if (!Array.isArray(s.eventTypes) || s.eventTypes.length === 0) return 'schema.eventTypes: must list at least one event type';
  for (let i = 0; i < s.eventTypes.length; i++) {
    const e = s.eventTypes[i];
    if (!e || typeof e.name !== 'string' || e.name === '' || typeof e.weight !== 'number' || !Number.isFinite(e.weight) || typeof e.negative !== 'boolean') return `schema.eventTypes[${i}]: needs a name, a finite weight and negative true or false`;
  }
  return null;
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
    // mkdtemp makes the directory private (0700); a plain mkdir follows the umask: give it that mode
    await chmod(tmp, (await stat(join(tmp, 'data'))).mode & 0o777);
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
  const versionProblem = checkTandemVersion(m.tandemVersion, await tandemVersion());
  if (versionProblem) throw new ModelDirError(`${path}: tandemVersion: ${versionProblem}`);
  const schemaProblem = checkDataSchema(m.schema as DataSchema);
  if (schemaProblem) throw new ModelDirError(`${path}: ${schemaProblem}`);
  for (const [i, st] of m.stages.entries()) {
    const bad = insidePath(st.path);
    if (bad) throw new ModelDirError(`${path}: stages[${i}].path: ${bad}`);
  }
  if (m.ranker) {
    const bad = insidePath(m.ranker.path);
    if (bad) throw new ModelDirError(`${path}: ranker.path: ${bad}`);
  }
  for (const [f, meta] of Object.entries(m.files)) {
    const bad = insidePath(f);
    if (bad) throw new ModelDirError(`${path}: files: ${bad}`);
    const e = meta as { bytes?: unknown; sha256?: unknown } | null;
    if (!e || typeof e !== 'object' || !Number.isInteger(e.bytes) || (e.bytes as number) < 0 || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) {
      throw new ModelDirError(`${path}: files['${f}']: needs bytes (an integer >= 0) and sha256 (64 hex digits)`);
    }
  }
  try {
    m.config = checkEngineConfig(m.config, registry, 'config');
  } catch (err) {
    if (err instanceof ParamError) throw new ModelDirError(`${path}: ${err.message}`);
    throw err;
  }
  const want = [...m.config.sources, ...m.config.fallbacks].map((s) => s.name);
  const got = m.stages.map((s) => s.name);
  if (want.join('\0') !== got.join('\0')) throw new ModelDirError(`${path}: stages [${got.join(', ')}] do not match the configuration's [${want.join(', ')}]`);
  const kinds = [...m.config.sources, ...m.config.fallbacks].map((s) => s.kind);
  m.stages.forEach((st, i) => {
    if (st.kind !== kinds[i]) throw new ModelDirError(`${path}: stages[${i}].kind: '${st.kind}', the configuration's stage '${st.name}' is of kind '${kinds[i]}'`);
  });
  if ((m.ranker === null) !== (m.config.ranker === null)) throw new ModelDirError(`${path}: 'ranker' and 'config.ranker' disagree`);
  return m;
}

/**
 * Reads a model directory's files through its manifest: each file must be listed, of the listed size
 * and SHA-256 (checked on the bytes handed over); every read is recorded so the loader can refuse
 * listed files nobody read.
 */
class ManifestReader implements FileReader {
  readonly seen = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly files: ModelManifest['files'],
  ) {}

  private entry(path: string): { abs: string; rel: string; meta: { bytes: number; sha256: string } } {
    const abs = resolve(path);
    const rel = relative(this.dir, abs).split(sep).join('/');
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new ModelDirError(`${abs}: outside the model directory ${this.dir}; a stage may read only its own files`);
    const meta = Object.hasOwn(this.files, rel) ? this.files[rel] : undefined;
    if (!meta) throw new ModelDirError(`${abs}: not listed in the manifest's files; every file the loader reads must be listed with its SHA-256`);
    return { abs, rel, meta };
  }

  private async size(abs: string, meta: { bytes: number }): Promise<void> {
    let size: number;
    try {
      size = (await stat(abs)).size;
    } catch {
      throw new ModelDirError(`${abs}: listed in the manifest but missing`);
    }
    if (size !== meta.bytes) throw new ModelDirError(`${abs}: ${size} bytes, the manifest says ${meta.bytes} (truncated or replaced)`);
  }

  async read(path: string): Promise<Uint8Array> {
    const { abs, rel, meta } = this.entry(path);
    await this.size(abs, meta);
    const bytes = await readFile(abs);
    if (bytes.byteLength !== meta.bytes) throw new ModelDirError(`${abs}: ${bytes.byteLength} bytes, the manifest says ${meta.bytes} (truncated or replaced)`);
    if (createHash('sha256').update(bytes).digest('hex') !== meta.sha256) throw new ModelDirError(`${abs}: checksum differs from the manifest (corrupted or replaced)`);
    this.seen.add(rel);
    return bytes;
  }

  async checked(path: string): Promise<string> {
    const { abs, rel, meta } = this.entry(path);
    await this.size(abs, meta);
    if ((await sha256File(abs)) !== meta.sha256) throw new ModelDirError(`${abs}: checksum differs from the manifest (corrupted or replaced)`);
    this.seen.add(rel);
    return abs;
  }
}

/** Every entry of the directory (relative, '/'-separated); anything but files and folders is refused. */
async function listEntries(root: string, dir = root, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const rel = relative(root, p).split(sep).join('/');
    if (e.isDirectory()) await listEntries(root, p, out);
    else if (e.isFile()) out.push(rel);
    else throw new ModelDirError(`${p}: not a regular file (a symlink or device); a model directory holds only the files its manifest lists`);
  }
  return out.sort();
}

/**
 * Frees what a model holds outside the JS heap (kernel memory, native indexes) at once: call it when
 * the model is dropped (a reload swapped it out and no request still runs on it). Nothing of the model
 * may be used afterwards.
 * @example const old = current; current = next; disposeModel(old)
 */
export function disposeModel(model: Pick<Model, 'stages'> & Partial<Pick<Model, 'ranker'>>): void {
  for (const s of model.stages) s.dispose?.();
  model.ranker?.model.dispose?.();
}

/**
 * Loads and validates a model directory: the manifest, that the directory holds exactly the listed
 * files, the tables, each stage through `registry`, the ranker, every file read through its size and
 * checksum, and that every listed file was read. Throws ModelDirError naming the file and the problem;
 * never returns a partly loaded model (what was loaded is disposed).
 * @example const engine = new Engine(await readModelDir('models/latest', builtinRegistry()))
 */
export async function readModelDir(dir: string, registry: StageRegistry): Promise<Model> {
  const root = resolve(dir);
  const m = await readManifest(root, registry);
  const present = (await listEntries(root)).filter((f) => f !== 'manifest.json');
  for (const f of present) if (!Object.hasOwn(m.files, f)) throw new ModelDirError(`${join(root, f)}: not listed in the manifest's files; a model directory holds only listed files (every one with its SHA-256)`);
  for (const f of Object.keys(m.files)) if (!present.includes(f)) throw new ModelDirError(`${join(root, f)}: listed in the manifest but missing`);
  const files = new ManifestReader(root, m.files);
  const stages: CandidateSource[] = [];
  try {
    const dataset = await readDataset(join(root, 'data'), m.data.name ?? 'model', (p) => files.read(p));
    if (dataset.numItems !== m.data.items || dataset.numUsers !== m.data.users || dataset.interactions.length !== m.data.interactions) {
      throw new ModelDirError(`${join(root, 'data')}: holds ${dataset.numUsers} users, ${dataset.numItems} items, ${dataset.interactions.length} interactions; the manifest says ${m.data.users}, ${m.data.items}, ${m.data.interactions}`);
    }
    checkSchemaAgrees(m.schema, dataset, join(root, 'manifest.json'));
    const catalog = new ItemCatalog(dataset.items);
    await loadStages(root, m, registry, dataset, catalog, files, stages);
    let ranker: Ranker | null = null;
    if (m.ranker && m.config.ranker) {
      const rc = m.config.ranker;
      const kind = registry.rankers.get(rc.kind)!;
      const model = await kind.load(join(root, m.ranker.path), rc.params, (p) => files.read(p));
      // the feature statistics are a pure function of the model's training data: recomputed, not stored
      const features = RankerFeatures.fit(dataset, m.config.sources.map((s) => s.name!), rc.features, rankerSpace(m.config, stages));
      if (features.names.join('\0') !== m.ranker.features.join('\0')) throw new ModelDirError(`${join(root, 'manifest.json')}: the ranker was trained on features [${m.ranker.features.join(', ')}], this data gives [${features.names.join(', ')}]`);
      ranker = new Ranker(features, model, rc.explainTop);
    }
    const unread = Object.keys(m.files).filter((f) => !files.seen.has(f));
    if (unread.length) throw new ModelDirError(`${join(root, unread[0])}: listed in the manifest but not read by any stage${unread.length > 1 ? ` (nor ${unread.length - 1} more: ${unread.slice(1, 4).join(', ')}${unread.length > 4 ? ', ...' : ''})` : ''}; this Tandem does not use it, so the directory is not what it says it is`);
    return { manifest: m, dataset, catalog, stages, ranker };
  } catch (err) {
    disposeModel({ stages });
    if (err instanceof ModelDirError) throw err;
    throw new ModelDirError(`${root}: ${(err as Error).message}`);
  }
}

/** The manifest's data schema must describe the tables it ships: the same features, kinds and event types. */
function checkSchemaAgrees(s: DataSchema, ds: Dataset, path: string): void {
  const line = (fs: readonly FeatureSpec[]) => fs.map((f) => `${f.name}:${f.kind}`).join(', ');
  for (const [side, spec, table] of [['user', s.user, ds.users.specs()], ['item', s.item, ds.items.specs()]] as const) {
    if (line(spec) !== line(table)) throw new ModelDirError(`${path}: schema.${side} [${line(spec)}] does not match the stored ${side} table [${line(table)}]`);
  }
  const ev = (e: readonly { name: string }[]) => e.map((x) => x.name).join(', ');
  if (ev(s.eventTypes) !== ev(ds.eventTypes)) throw new ModelDirError(`${path}: schema.eventTypes [${ev(s.eventTypes)}] does not match the stored interactions' [${ev(ds.eventTypes)}]`);
}

/** Loads every stage into `out` (so a failure part-way leaves the caller what to dispose). */
async function loadStages(dir: string, m: ModelManifest, registry: StageRegistry, dataset: Dataset, catalog: ItemCatalog, files: FileReader, out: CandidateSource[]): Promise<void> {
  const configs = [...m.config.sources, ...m.config.fallbacks];
  const byName = new Map<string, CandidateSource>();
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
      files,
    };
    const s = await kind.load(join(dir, m.stages[i].path), c.params, ctx);
    byName.set(c.name!, s);
    out.push(s);
  }
}
