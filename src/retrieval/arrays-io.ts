/**
 * Saving fitted state as one JSON manifest plus one raw binary file per typed array, so a loader maps
 * the bytes straight back into typed arrays (no per-element parsing). Byte order is the machine's
 * (little-endian on every platform Node supports); the manifest records it and loading checks it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsReader, type FileReader } from '../vectors/index.ts';

type Typed = Int32Array | Float32Array | Float64Array | Uint8Array;
const CTORS = { int32: Int32Array, float32: Float32Array, float64: Float64Array, uint8: Uint8Array } as const;
type DType = keyof typeof CTORS;

function dtypeOf(a: Typed): DType {
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  return 'uint8';
}

interface Manifest {
  kind: string;
  version: number;
  littleEndian: boolean;
  meta: unknown;
  arrays: Record<string, { file: string; dtype: DType; length: number }>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Writes `DIR/<kind>.json` and `DIR/<kind>-<array>.bin` for each array.
 * @example await saveArrays(dir, 'itemknn', 1, { options }, { offsets, items, sims })
 */
export async function saveArrays(dir: string, kind: string, version: number, meta: unknown, arrays: Record<string, Typed>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const m: Manifest = { kind, version, littleEndian: LITTLE_ENDIAN, meta, arrays: {} };
  for (const [name, a] of Object.entries(arrays)) {
    const file = `${kind}-${name}.bin`;
    m.arrays[name] = { file, dtype: dtypeOf(a), length: a.length };
    await writeFile(join(dir, file), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  await writeFile(join(dir, `${kind}.json`), JSON.stringify(m, null, 1));
}

/**
 * Reads what `saveArrays` wrote, checking kind, version, byte order and every file's length.
 * @example const { meta, arrays } = await loadArrays(dir, 'itemknn', 1)
 */
export async function loadArrays(dir: string, kind: string, version: number, files: FileReader = fsReader): Promise<{ meta: unknown; arrays: Record<string, Typed> }> {
  const path = join(dir, `${kind}.json`);
  let m: Manifest;
  try {
    m = JSON.parse(Buffer.from(await files.read(path)).toString('utf8')) as Manifest;
  } catch (err) {
    throw new Error(`${path}: cannot read the ${kind} manifest (${err instanceof Error ? err.message : String(err)})`);
  }
  if (m.kind !== kind) throw new Error(`${path}: kind is '${String(m.kind)}', expected '${kind}'`);
  if (m.version !== version) throw new Error(`${path}: format version ${String(m.version)}, this build reads ${version}`);
  if (m.littleEndian !== LITTLE_ENDIAN) throw new Error(`${path}: written on a machine of the other byte order`);
  const arrays: Record<string, Typed> = {};
  for (const [name, a] of Object.entries(m.arrays ?? {})) {
    const Ctor = CTORS[a.dtype];
    if (!Ctor) throw new Error(`${path}: array '${name}' has unknown dtype '${String(a.dtype)}'`);
    if (typeof a.file !== 'string' || a.file.includes('/') || a.file.includes('\\') || a.file.startsWith('.')) throw new Error(`${path}: array '${name}' names the file ${JSON.stringify(a.file)}; expected a file name in the same folder`);
    const buf = await files.read(join(dir, a.file));
    if (buf.byteLength !== a.length * Ctor.BYTES_PER_ELEMENT) {
      throw new Error(`${join(dir, a.file)}: ${buf.byteLength} bytes, the manifest says ${a.length} ${a.dtype} values`);
    }
    // copy into a fresh, aligned buffer (a Buffer's offset into its pool may be unaligned)
    const out = new Ctor(a.length);
    new Uint8Array(out.buffer).set(buf);
    arrays[name] = out;
  }
  return { meta: m.meta, arrays };
}
