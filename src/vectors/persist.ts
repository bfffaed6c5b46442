import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import type { IndexKind, Metric } from './types.ts';

/**
 * How a loader reads its files. Plain `fs` by default; the model-directory loader passes one that
 * checks each file against its manifest (listed, size, SHA-256) and records it, so the bytes checked
 * are the bytes used and a listed file nobody read is noticed.
 */
export interface FileReader {
  /** The bytes of `path`. */
  read(path: string): Promise<Uint8Array>;
  /** For a file that native code reads by path (hnswlib): checks it and returns the path to hand over. */
  checked(path: string): Promise<string>;
}

/** Reads with node:fs, checking nothing. */
export const fsReader: FileReader = { read: (p) => readFile(p), checked: async (p) => p };

/** Version of the on-disk layout; bumped on incompatible change. */
export const INDEX_FORMAT = 'tandem.vector-index';
export const INDEX_FORMAT_VERSION = 1;

/**
 * manifest.json of a saved index. Binary files are raw little-endian arrays:
 * vectors.f32 (size x dim float32, normalised for cosine) and labels.i32 (size int32), plus
 * whatever the kind adds (HNSW: hnsw.bin, hnswlib's own format).
 */
export interface IndexManifest {
  format: typeof INDEX_FORMAT;
  version: number;
  kind: IndexKind;
  metric: Metric;
  dim: number;
  size: number;
  /** Kind-specific parameters (HNSW: M, efConstruction, efSearch, ...). */
  params: Record<string, number | string | boolean>;
}

function checkLittleEndian(): void {
  // Files are raw typed-array bytes; a big-endian host would need byte swapping we do not do.
  if (endianness() !== 'LE') throw new Error('vector index files are little-endian; this host is big-endian');
}

export async function writeManifest(dir: string, m: IndexManifest): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m, null, 2) + '\n');
}

/** Reads and checks manifest.json; errors name the file and the field. */
export async function readManifest(dir: string, files: FileReader = fsReader): Promise<IndexManifest> {
  const file = join(dir, 'manifest.json');
  let text: string;
  try {
    text = Buffer.from(await files.read(file)).toString('utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read the index manifest (${(e as Error).message})`);
  }
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const bad = (field: string, why: string): never => {
    throw new Error(`${file}: field '${field}' ${why}`);
  };
  if (m.format !== INDEX_FORMAT) bad('format', `must be '${INDEX_FORMAT}', got ${JSON.stringify(m.format)}`);
  if (m.version !== INDEX_FORMAT_VERSION) bad('version', `must be ${INDEX_FORMAT_VERSION}, got ${JSON.stringify(m.version)}`);
  if (m.kind !== 'exact' && m.kind !== 'hnsw') bad('kind', `must be 'exact' or 'hnsw', got ${JSON.stringify(m.kind)}`);
  if (m.metric !== 'ip' && m.metric !== 'cosine') bad('metric', `must be 'ip' or 'cosine', got ${JSON.stringify(m.metric)}`);
  if (!Number.isInteger(m.dim) || (m.dim as number) < 1) bad('dim', `must be a positive integer, got ${JSON.stringify(m.dim)}`);
  if (!Number.isInteger(m.size) || (m.size as number) < 0) bad('size', `must be a non-negative integer, got ${JSON.stringify(m.size)}`);
  if (typeof m.params !== 'object' || m.params === null) bad('params', 'must be an object');
  return m as unknown as IndexManifest;
}

export async function writeF32(path: string, a: Float32Array): Promise<void> {
  checkLittleEndian();
  await writeFile(path, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

export async function writeI32(path: string, a: Int32Array): Promise<void> {
  checkLittleEndian();
  await writeFile(path, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/** Reads `count` float32s from a raw file, checking its length. */
export async function readF32(path: string, count: number, files: FileReader = fsReader): Promise<Float32Array> {
  checkLittleEndian();
  const buf = await readExact(path, count * 4, files);
  const out = new Float32Array(count);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

export async function readI32(path: string, count: number, files: FileReader = fsReader): Promise<Int32Array> {
  checkLittleEndian();
  const buf = await readExact(path, count * 4, files);
  const out = new Int32Array(count);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

async function readExact(path: string, bytes: number, files: FileReader): Promise<Uint8Array> {
  let buf: Uint8Array;
  try {
    buf = await files.read(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  if (buf.length !== bytes) throw new Error(`${path}: has ${buf.length} bytes, the manifest implies ${bytes}`);
  return buf;
}
