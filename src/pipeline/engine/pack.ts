/**
 * Typed arrays to and from one binary file plus a JSON index, so model artifacts load with one read and
 * no parsing of numbers. Each array starts on an 8-byte boundary so it can be viewed in place.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Dataset, EntityTable, Vocabulary, type EventTypeSpec, type FeatureColumn, type Interactions, type TimeKind } from '../../data/index.ts';

/** Reads a file's bytes (the model loader passes one that checks each file against the manifest). */
export type ReadBytes = (path: string) => Promise<Uint8Array>;
const fsRead: ReadBytes = (p) => readFile(p);

export type PackedArray = Int32Array | Float32Array | Float64Array | Uint8Array;
type DType = 'i32' | 'f32' | 'f64' | 'u8';

export interface PackEntry {
  dtype: DType;
  offset: number;
  length: number;
}
export type PackIndex = Record<string, PackEntry>;

const CTORS = { i32: Int32Array, f32: Float32Array, f64: Float64Array, u8: Uint8Array } as const;

function dtypeOf(a: PackedArray): DType {
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Float64Array) return 'f64';
  return 'u8';
}

/** Concatenates `arrays` into one buffer (8-byte aligned) and returns it with its index. */
export function packArrays(arrays: Record<string, PackedArray>): { index: PackIndex; bytes: Uint8Array } {
  const index: PackIndex = {};
  let size = 0;
  for (const [name, a] of Object.entries(arrays)) {
    index[name] = { dtype: dtypeOf(a), offset: size, length: a.length };
    size += Math.ceil(a.byteLength / 8) * 8;
  }
  const bytes = new Uint8Array(size);
  for (const [name, a] of Object.entries(arrays)) bytes.set(new Uint8Array(a.buffer as ArrayBuffer, a.byteOffset, a.byteLength), index[name].offset);
  return { index, bytes };
}

/** Views the arrays of `index` in `bytes`; `what` names the file in errors. */
export function unpackArrays(index: PackIndex, bytes: Uint8Array, what: string): Record<string, PackedArray> {
  // copy once into an aligned buffer: a Buffer from readFile may sit at any offset of a shared pool
  const buf = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const out: Record<string, PackedArray> = {};
  for (const [name, e] of Object.entries(index)) {
    const C = CTORS[e.dtype];
    if (!C) throw new Error(`${what}: array '${name}' has unknown dtype '${e.dtype}'`);
    const end = e.offset + e.length * C.BYTES_PER_ELEMENT;
    if (!Number.isInteger(e.offset) || e.offset < 0 || e.offset % 8 !== 0 || !Number.isInteger(e.length) || e.length < 0 || end > buf.byteLength) {
      throw new Error(`${what}: array '${name}' (offset ${e.offset}, length ${e.length}) lies outside the file's ${buf.byteLength} bytes`);
    }
    out[name] = new C(buf.buffer as ArrayBuffer, buf.byteOffset + e.offset, e.length);
  }
  return out;
}

/** Writes `<base>.json` (index + `meta`) and `<base>.bin`. */
export async function writePack(base: string, arrays: Record<string, PackedArray>, meta: unknown): Promise<void> {
  const { index, bytes } = packArrays(arrays);
  await writeFile(`${base}.bin`, bytes);
  await writeFile(`${base}.json`, JSON.stringify({ meta, arrays: index }));
}

/** Reads what `writePack` wrote. */
export async function readPack(base: string, read: ReadBytes = fsRead): Promise<{ meta: unknown; arrays: Record<string, PackedArray> }> {
  const j = JSON.parse(Buffer.from(await read(`${base}.json`)).toString('utf8')) as { meta: unknown; arrays: PackIndex };
  if (!j || typeof j !== 'object' || !j.arrays) throw new Error(`${base}.json: not a Tandem array pack (no 'arrays')`);
  const bytes = await read(`${base}.bin`);
  return { meta: j.meta, arrays: unpackArrays(j.arrays, bytes, `${base}.bin`) };
}

interface ColumnMeta {
  kind: FeatureColumn['kind'];
  name: string;
  dim?: number;
  vocab?: { values: string[]; buckets: number };
}
interface TableMeta {
  ids: { values: string[]; buckets: number };
  columns: ColumnMeta[];
}

/** Writes an entity table (ids, vocabularies, feature columns) as `<base>.json` + `<base>.bin`. */
export async function writeTable(base: string, t: EntityTable): Promise<void> {
  const arrays: Record<string, PackedArray> = {};
  const columns: ColumnMeta[] = t.columns.map((c, i) => {
    switch (c.kind) {
      case 'categorical':
      case 'id':
        arrays[`${i}.codes`] = c.codes;
        return { kind: c.kind, name: c.name, vocab: c.vocab.toJSON() };
      case 'multi-categorical':
      case 'text':
        arrays[`${i}.offsets`] = c.offsets;
        arrays[`${i}.codes`] = c.codes;
        return { kind: c.kind, name: c.name, vocab: c.vocab.toJSON() };
      case 'numeric':
        arrays[`${i}.values`] = c.values;
        return { kind: c.kind, name: c.name };
      case 'vector':
        arrays[`${i}.values`] = c.values;
        return { kind: c.kind, name: c.name, dim: c.dim };
    }
  });
  await writePack(base, arrays, { ids: t.ids.toJSON(), columns } satisfies TableMeta);
}

/** Reads a table written by `writeTable`, checking every array's type and length. */
export async function readTable(base: string, read: ReadBytes = fsRead): Promise<EntityTable> {
  const { meta, arrays } = await readPack(base, read);
  const m = meta as TableMeta;
  const what = `${base}.json`;
  if (!m || !m.ids || !Array.isArray(m.ids.values) || !Array.isArray(m.columns)) throw new Error(`${what}: not a Tandem table (needs 'ids' and 'columns')`);
  const ids = Vocabulary.fromJSON(m.ids);
  if (ids.size !== m.ids.values.length) throw new Error(`${what}: duplicate ids in 'ids.values'`);
  const need = <C extends PackedArray>(key: string, ctor: { new (n: number): C }): C => {
    const a = arrays[key];
    if (!(a instanceof ctor)) throw new Error(`${what}: array '${key}' is missing or of the wrong type`);
    return a as C;
  };
  const columns: FeatureColumn[] = m.columns.map((c, i) => {
    switch (c.kind) {
      case 'categorical':
      case 'id':
        return { kind: c.kind, name: c.name, vocab: Vocabulary.fromJSON(c.vocab!), codes: need(`${i}.codes`, Int32Array) };
      case 'multi-categorical':
      case 'text':
        return { kind: c.kind, name: c.name, vocab: Vocabulary.fromJSON(c.vocab!), offsets: need(`${i}.offsets`, Int32Array), codes: need(`${i}.codes`, Int32Array) };
      case 'numeric':
        return { kind: 'numeric', name: c.name, values: need(`${i}.values`, Float64Array) };
      case 'vector':
        return { kind: 'vector', name: c.name, dim: c.dim!, values: need(`${i}.values`, Float32Array) };
      default:
        throw new Error(`${what}: column ${i} has unknown kind '${(c as ColumnMeta).kind}'`);
    }
  });
  try {
    return new EntityTable(ids, columns);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
}

/** Writes the interaction log. */
export async function writeInteractions(base: string, x: Interactions, eventTypes: readonly EventTypeSpec[], timeKind: TimeKind = 'seconds'): Promise<void> {
  await writePack(base, { user: x.user, item: x.item, event: x.event, value: x.value, timestamp: x.timestamp }, { length: x.length, eventTypes, timeKind });
}

/** Reads the interaction log and joins it to its tables into a Dataset, checking every index is in range. */
export async function readDataset(dir: string, name: string, read: ReadBytes = fsRead): Promise<Dataset> {
  const users = await readTable(`${dir}/users`, read);
  const items = await readTable(`${dir}/items`, read);
  const { meta, arrays } = await readPack(`${dir}/interactions`, read);
  const m = meta as { length: number; eventTypes: EventTypeSpec[]; timeKind?: TimeKind };
  const what = `${dir}/interactions.json`;
  const n = m?.length;
  const x = { length: n, user: arrays.user, item: arrays.item, event: arrays.event, value: arrays.value, timestamp: arrays.timestamp } as Interactions;
  const types = [Int32Array, Int32Array, Uint8Array, Float32Array, Float64Array];
  (['user', 'item', 'event', 'value', 'timestamp'] as const).forEach((k, i) => {
    if (!(x[k] instanceof types[i]) || x[k].length !== n) throw new Error(`${what}: array '${k}' is missing, of the wrong type, or not of length ${n}`);
  });
  if (!Array.isArray(m.eventTypes) || m.eventTypes.length === 0) throw new Error(`${what}: 'eventTypes' is missing`);
  for (let r = 0; r < n; r++) {
    if (x.user[r] < 0 || x.user[r] >= users.size || x.item[r] < 0 || x.item[r] >= items.size || x.event[r] >= m.eventTypes.length) {
      throw new Error(`${what}: interaction ${r} refers to a user, item or event type out of range`);
    }
  }
  if (m.timeKind !== undefined && m.timeKind !== 'seconds' && m.timeKind !== 'order') throw new Error(`${what}: 'timeKind' must be 'seconds' or 'order'`);
  return new Dataset(users, items, x, m.eventTypes, name, m.timeKind ?? 'seconds');
}
