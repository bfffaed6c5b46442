/**
 * A trained two-tower model: embeds users (known or new, from features and history) and items,
 * saves to and loads from a versioned binary file with a JSON manifest.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { firstNonFinite, getKernelBackend, type KernelBackend } from '../../math/index.ts';
import { fsReader, type FileReader } from '../../vectors/index.ts';
import { EntityTable, Vocabulary, type FeatureColumn } from '../../data/index.ts';
import { FeatureSpace, TowerBatch, type RawFeatures } from '../../features/index.ts';
import type { UserQuery } from '../source.ts';
import type { TwoTowerConfig } from './config.ts';
import { TowerScratch, TwoTowerNet } from './model.ts';

export const FORMAT_VERSION = 1;
const MANIFEST = 'two-tower.json';
const WEIGHTS = 'two-tower.bin';

/**
 * Embeds with fixed weights. Single-row calls reuse preallocated scratch: nothing is allocated per
 * call beyond the output (and not even that when `out` is passed).
 * @example const v = model.embedQuery(train.query(7)); const items = model.embedItems();
 */
export class TwoTowerModel {
  readonly net: TwoTowerNet;
  private readonly backend: KernelBackend;
  private readonly ub1: TowerBatch;
  private readonly ib1: TowerBatch;
  private readonly us1: TowerScratch;
  private readonly is1: TowerScratch;
  private static readonly CHUNK = 256;
  private readonly ubN: TowerBatch;
  private readonly ibN: TowerBatch;
  private readonly usN: TowerScratch;
  private readonly isN: TowerScratch;
  /** True when `params` is this model's own kernel memory (it was loaded, not handed over by training). */
  private ownsParams = false;
  private disposed = false;

  constructor(
    readonly features: FeatureSpace,
    readonly config: TwoTowerConfig,
    readonly params: Float32Array,
    readonly meta: Record<string, unknown> = {},
  ) {
    this.net = new TwoTowerNet(features, config.hidden, config.dim, config.normalize);
    if (params.length !== this.net.layout.total) throw new Error(`two-tower: ${params.length} parameters given, the layout needs ${this.net.layout.total}`);
    this.backend = getKernelBackend();
    const plain = (n: number) => new Float32Array(n);
    this.ub1 = new TowerBatch(features.user, 1);
    this.ib1 = new TowerBatch(features.item, 1);
    this.us1 = new TowerScratch(this.net.layout.user, 1, plain);
    this.is1 = new TowerScratch(this.net.layout.item, 1, plain);
    this.ubN = new TowerBatch(features.user, TwoTowerModel.CHUNK);
    this.ibN = new TowerBatch(features.item, TwoTowerModel.CHUNK);
    this.usN = new TowerScratch(this.net.layout.user, TwoTowerModel.CHUNK, this.backend.alloc);
    this.isN = new TowerScratch(this.net.layout.item, TwoTowerModel.CHUNK, this.backend.alloc);
  }

  /**
   * Gives the batched towers' scratch (and the weights, when this model loaded them) back to the
   * kernel memory, which never shrinks and otherwise grows by one model per reload. The model must
   * not be used afterwards; a second call does nothing.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const free = (a: Float32Array | Int32Array) => this.backend.free(a);
    this.usN.release(free);
    this.isN.release(free);
    if (this.ownsParams) free(this.params);
  }

  /** Output dimension k. */
  get dim(): number {
    return this.net.dim;
  }

  /** Every catalog item's embedding, row-major (numItems x dim). */
  embedItems(out: Float32Array = new Float32Array(this.features.numItems * this.dim)): Float32Array {
    const n = this.features.numItems;
    const k = this.dim;
    for (let a = 0; a < n; a += TwoTowerModel.CHUNK) {
      const b = Math.min(n, a + TwoTowerModel.CHUNK);
      this.ibN.reset();
      for (let i = a; i < b; i++) this.features.appendItem(this.ibN, i);
      const v = this.net.itemTower.forward(this.backend.gemm, this.params, this.ibN, this.isN);
      for (let j = 0; j < (b - a) * k; j++) out[a * k + j] = v[j];
    }
    return out;
  }

  /** Embeddings of many queries at once (rows x dim), in chunks through the batched tower. */
  embedQueries(queries: readonly UserQuery[], out: Float32Array = new Float32Array(queries.length * this.dim)): Float32Array {
    const k = this.dim;
    for (let a = 0; a < queries.length; a += TwoTowerModel.CHUNK) {
      const b = Math.min(queries.length, a + TwoTowerModel.CHUNK);
      this.ubN.reset();
      for (let r = a; r < b; r++) {
        const q = queries[r];
        this.features.appendUser(this.ubN, q.user, q.history, q.weights, 0, q.history.length);
      }
      const u = this.net.userTower.forward(this.backend.gemm, this.params, this.ubN, this.usN);
      for (let j = 0; j < (b - a) * k; j++) out[a * k + j] = u[j];
    }
    return out;
  }

  /** A user's embedding from their dense index (-1: unknown) and history (item indices, oldest first). */
  embedQuery(query: UserQuery, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    this.ub1.reset();
    this.features.appendUser(this.ub1, query.user, query.history, query.weights, 0, query.history.length);
    out.set(this.net.userTower.forward(this.backend.gemm, this.params, this.ub1, this.us1));
    return out;
  }

  /**
   * A user from raw features (a new user: unseen categories hash, missing ones use the missing row)
   * and a history of item indices, oldest first, with optional signed event weights.
   * @example model.embedUser({ age: 31, gender: 'F' }, new Int32Array([12, 40]))
   */
  embedUser(features: RawFeatures, history: Int32Array = EMPTY, weights?: Float32Array, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    this.ub1.reset();
    this.features.appendRawUser(this.ub1, features, history, weights, 0, history.length);
    out.set(this.net.userTower.forward(this.backend.gemm, this.params, this.ub1, this.us1));
    return out;
  }

  /**
   * An item's embedding: a catalog item by dense index, or a new item from raw features.
   * @example model.embedItem({ genres: ['Drama'], year: 1999 })
   */
  embedItem(item: number | RawFeatures, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    this.ib1.reset();
    if (typeof item === 'number') this.features.appendItem(this.ib1, item);
    else this.features.appendRawItem(this.ib1, item);
    out.set(this.net.itemTower.forward(this.backend.gemm, this.params, this.ib1, this.is1));
    return out;
  }

  /**
   * Writes `two-tower.json` (format version, config, feature space, tensor table) and
   * `two-tower.bin` (every array, little-endian, 8-byte aligned) into `dir`.
   */
  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const arrays: Record<string, Int32Array | Float32Array | Uint8Array> = { params: this.params, ...this.features.arrays() };
    const tensors: { name: string; type: string; offset: number; length: number }[] = [];
    let off = 0;
    for (const [name, a] of Object.entries(arrays)) {
      tensors.push({ name, type: a.constructor.name, offset: off, length: a.length });
      off += Math.ceil(a.byteLength / 8) * 8;
    }
    const bin = new Uint8Array(off);
    for (const t of tensors) {
      const a = arrays[t.name];
      bin.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), t.offset);
    }
    const manifest = {
      format: 'tandem-two-tower',
      version: FORMAT_VERSION,
      config: this.config,
      features: this.features.toJSON(),
      vocabularies: { user: tableVocabs(this.features.userTable), item: tableVocabs(this.features.itemTable) },
      layout: this.net.layout,
      tensors,
      meta: this.meta,
    };
    if (!isLittleEndian()) throw new Error('two-tower: saving needs a little-endian machine');
    await writeFile(join(dir, WEIGHTS), bin);
    await writeFile(join(dir, MANIFEST), JSON.stringify(manifest));
  }

  /** Reads a model `save` wrote; checks the format, the version and that every weight is finite. */
  static async load(dir: string, files: FileReader = fsReader): Promise<TwoTowerModel> {
    const path = join(dir, MANIFEST);
    let m: {
      format: string;
      version: number;
      config: TwoTowerConfig;
      features: unknown;
      vocabularies: { user: SavedColumn[]; item: SavedColumn[] };
      tensors: { name: string; type: string; offset: number; length: number }[];
      meta: Record<string, unknown>;
    };
    try {
      m = JSON.parse(Buffer.from(await files.read(path)).toString('utf8'));
    } catch (e) {
      throw new Error(`two-tower: cannot read ${path}: ${(e as Error).message}`);
    }
    if (m.format !== 'tandem-two-tower') throw new Error(`two-tower: ${path} is not a two-tower manifest`);
    if (m.version !== FORMAT_VERSION) throw new Error(`two-tower: ${path} has format version ${m.version}; this build reads version ${FORMAT_VERSION}`);
    const raw = await files.read(join(dir, WEIGHTS));
    // a fresh, aligned copy (a Buffer may sit at any offset of a shared pool)
    const buf = new Uint8Array(raw).buffer;
    const arrays: Record<string, Int32Array | Float32Array | Uint8Array> = {};
    for (const t of m.tensors) {
      const Ctor = t.type === 'Int32Array' ? Int32Array : t.type === 'Uint8Array' ? Uint8Array : Float32Array;
      const bytes = t.length * Ctor.BYTES_PER_ELEMENT;
      if (t.offset + bytes > buf.byteLength) throw new Error(`two-tower: ${join(dir, WEIGHTS)} is truncated (tensor '${t.name}')`);
      arrays[t.name] = new Ctor(buf, t.offset, t.length);
    }
    if (!(arrays.params instanceof Float32Array)) throw new Error(`two-tower: ${join(dir, WEIGHTS)} has no float32 tensor 'params'`);
    for (const [name, a] of Object.entries(arrays)) {
      if (!(a instanceof Float32Array)) continue;
      const bad = firstNonFinite(a);
      if (bad >= 0) throw new Error(`two-tower: ${join(dir, WEIGHTS)}: tensor '${name}' holds ${a[bad]} at ${bad}; weights must be finite (corrupted file?)`);
    }
    const fs = FeatureSpace.fromState(m.features, arrays, vocabTable(m.vocabularies.user), vocabTable(m.vocabularies.item));
    const backend = getKernelBackend();
    const params = backend.alloc(arrays.params.length);
    params.set(arrays.params);
    let model: TwoTowerModel;
    try {
      model = new TwoTowerModel(fs, m.config, params, m.meta);
    } catch (e) {
      backend.free(params);
      throw e;
    }
    model.ownsParams = true;
    return model;
  }
}

const EMPTY = new Int32Array(0);

type SavedColumn = { name: string; kind: FeatureColumn['kind']; vocab?: { values: string[]; buckets: number }; dim?: number };

// Raw-feature encoding needs each column's kind and vocabulary, not its rows: save just those.
function tableVocabs(t: EntityTable | undefined): SavedColumn[] {
  if (!t) return [];
  return t.columns.map((c) => ('vocab' in c ? { name: c.name, kind: c.kind, vocab: c.vocab.toJSON() } : c.kind === 'vector' ? { name: c.name, kind: c.kind, dim: c.dim } : { name: c.name, kind: c.kind }));
}

function vocabTable(cols: SavedColumn[]): EntityTable {
  const columns: FeatureColumn[] = cols.map((c) => {
    switch (c.kind) {
      case 'id':
      case 'categorical':
        return { kind: c.kind, name: c.name, vocab: Vocabulary.fromJSON(c.vocab!), codes: new Int32Array(0) };
      case 'multi-categorical':
      case 'text':
        return { kind: c.kind, name: c.name, vocab: Vocabulary.fromJSON(c.vocab!), offsets: new Int32Array(1), codes: new Int32Array(0) };
      case 'numeric':
        return { kind: 'numeric', name: c.name, values: new Float64Array(0) };
      case 'vector':
        return { kind: 'vector', name: c.name, dim: c.dim!, values: new Float32Array(0) };
    }
  });
  return new EntityTable(new Vocabulary(), columns);
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
