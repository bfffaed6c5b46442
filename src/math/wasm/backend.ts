import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import type { DcnKernels, KernelBackend, TrainKernels } from '../gemm.ts';

// The parts of the WebAssembly JS API used here: the project's lib settings (ES2022, node types)
// do not declare the WebAssembly namespace, so it is typed locally and read off globalThis.
/** A WebAssembly.Memory. */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}
/** A compiled WebAssembly.Module (opaque; can be posted to workers). */
export type WasmModule = object;
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * The WebAssembly SIMD kernel backend: the AssemblyScript kernels in kernels.as, compiled by
 * scripts/build-wasm.mjs, running on one shared WebAssembly.Memory.
 *
 * Memory. The backend owns a shared memory (SharedArrayBuffer-backed, so views never detach when it
 * grows, and worker threads can attach the same memory with an instance of their own). A 64-byte
 * header after the kernels' static data holds the bump pointer; `alloc` bumps it atomically, so any
 * thread attached to the memory can allocate. A WebAssembly memory never shrinks, so what a thread
 * `free`s goes to that thread's own free list (best fit, neighbours merged) and its next allocations
 * reuse it: a server that loads and drops models (reload) stays at the size of two models instead of
 * growing by one model per load. Free only what this thread allocated, and only once nothing reads it.
 *
 * Arrays. The kernels read arrays that live in this memory in place. Any other Float32Array works
 * too: it is copied into a per-thread staging area (and C copied back), which is correct but slower.
 * A view of the memory that reached this thread through postMessage (a different SharedArrayBuffer
 * object over the same bytes) is recognised by a probe of the header and read in place as well.
 */
export interface WasmKernelBackend extends KernelBackend {
  /** The shared memory the kernels run on; post it to workers and attach with `createWasmBackend({ memory })`. */
  readonly memory: WasmMemory;
  /** The compiled module (postable to workers, which then skip compiling). */
  readonly module: WasmModule;
  /** True when multiply-adds are fused (relaxed SIMD available in this engine). */
  readonly fused: boolean;
  /** True if `arr` lies in this backend's memory, i.e. the kernels read it without copying. */
  owns(arr: Float32Array | Int32Array): boolean;
  readonly train: TrainKernels;
  readonly dcn: DcnKernels;
  /** A Float32Array over this memory at `byteOffset` (e.g. an offset another thread allocated). */
  view(byteOffset: number, length: number): Float32Array;
  /** Bytes this thread holds (allocated, not freed) and bytes on its free list, for tests and benchmarks. */
  usage(): { liveBytes: number; freeBytes: number; blocks: number };
}

export interface WasmBackendOptions {
  /** Attach to this memory (made by another backend, e.g. posted from the main thread) instead of a new one. */
  memory?: WasmMemory;
  /** A module compiled elsewhere; default: compile the built kernels file. When attaching, pass the
   * creator's `backend.module`: a fresh compile of a kernels.wasm rebuilt since then is refused. */
  module?: WasmModule;
  /** Use the fused multiply-add build when the engine supports it (default: true unless TANDEM_WASM_FMA=0).
   * On Node 20 this turns on V8's experimental relaxed SIMD (`--experimental-wasm-relaxed-simd`) to get it,
   * and keeps the plain build if the flag does not take or the fused module fails its self-check. */
  fma?: boolean;
  /** Initial size of a new memory in bytes (default 16 MiB); it grows on demand up to 4 GiB. */
  initialBytes?: number;
}

interface Exports {
  gemm(
    transA: number, transB: number, m: number, n: number, k: number,
    alpha: number, a: number, lda: number, b: number, ldb: number,
    beta: number, c: number, ldc: number, work: number,
  ): void;
  gemv(rows: number, cols: number, m: number, x: number, y: number): void;
  gemvx(rows: number, cols: number, m: number, ldm: number, x: number, alpha: number, beta: number, y: number): void;
  expArray(src: number, dst: number, n: number): void;
  softmaxXent(B: number, C: number, S: number, invTau: number, logQ: number, colItem: number, w: number, invB: number, dS: number, pos: number, lnCount: number): number;
  bagPool(offsets: number, indices: number, weights: number, B: number, table: number, dim: number, X: number, ldx: number, xOff: number): void;
  i32Range(p: number, n: number, out: number): void;
  allFinite(p: number, n: number): number;
  bagPoolAdd(offsets: number, indices: number, weights: number, B: number, table: number, dim: number, X: number, ldx: number, xOff: number): void;
  bagScatter(offsets: number, weights: number, dst: number, B: number, dim: number, dX: number, ldx: number, xOff: number, grads: number): void;
  bagSlots(offsets: number, indices: number, weights: number, B: number, slot: number, rows: number, n: number, cap: number, grads: number, dim: number, dst: number): number;
  adamDense(p: number, m: number, v: number, g: number, n: number, lr: number, b1: number, b2: number, eps: number, l2: number): void;
  adamRows(p: number, m: number, v: number, rows: number, nRows: number, dim: number, g: number, lr: number, b1: number, b2: number, eps: number, l2: number): void;
  emaUpdate(e: number, p: number, n: number, d: number): void;
  biasRows(Y: number, B: number, n: number, bias: number): void;
  relu(Y: number, n: number): void;
  reluBackward(Y: number, dY: number, n: number): void;
  colSumAdd(dY: number, B: number, n: number, db: number): void;
  l2Normalize(E: number, B: number, k: number, out: number, norms: number): void;
  l2NormalizeBackward(out: number, norms: number, dOut: number, B: number, k: number, dE: number): void;
  dcnPackedSize(nout: number, nin: number): number;
  dcnPack(w: number, b: number, nout: number, nin: number, dst: number): void;
  dcnDense(mode: number, B: number, nin: number, nout: number, x: number, ldx: number, packed: number, y: number, ldy: number, x0: number, work: number): void;
  dcnWorkBytes(nin: number): number;
  dcnEncode(x: number, F: number, B: number, N: number, cols: number, logs: number, miss: number, mean: number, invStd: number, nMissing: number, clip: number, T: number, tcols: number, vocab: number, tables: number, e: number, x0: number, d0: number, codes: number): void;
  workBytes(): number;
  heapBase(): number;
  fused(): number;
}

const PAGE = 65536;
const MAX_PAGES = 65536;
// The bump pointer is a u32; keep one page clear of 2^32 so it never wraps.
const MAX_BYTES = MAX_PAGES * PAGE - PAGE;
const ALIGN = 64;
const MAGIC = 0x4d444e54; // 'TNDM'
// Header words (u32) at the header's byte offset.
const H_BUMP = 0;
const H_MAGIC = 1;
const H_PROBE = 2; // two words

const dir = new URL('./', import.meta.url);
/** Paths of the built modules and their source, for messages and the staleness check. */
export const wasmFiles = {
  source: fileURLToPath(new URL('kernels.as', dir)),
  plain: fileURLToPath(new URL('kernels.wasm', dir)),
  fma: fileURLToPath(new URL('kernels-fma.wasm', dir)),
};

const compiled: { plain?: WasmModule; fma?: WasmModule | null } = {};

/**
 * Compiles (once per thread) the built kernels module. Throws an Error saying how to build it when
 * the file is missing, or that the engine lacks WebAssembly SIMD.
 * @example const { module, fused } = loadKernelModule();
 */
export function loadKernelModule(fma = true): { module: WasmModule; fused: boolean } {
  if (fma && compiled.fma === undefined) {
    compiled.fma = null;
    try {
      const bytes = readFileSync(wasmFiles.fma);
      // Relaxed SIMD ships in Node >= 22; Node 20 (V8 11.3) has it behind a V8 flag, which is set here
      // (the caller asked for the fused build: the default unless TANDEM_WASM_FMA=0). V8 reads wasm
      // feature flags when it validates and compiles, so setting it at run time works; if it does not
      // take (another engine, a V8 without the flag), the bytes do not validate and the plain build runs.
      if (!WA.validate(bytes)) setFlagsFromString('--experimental-wasm-relaxed-simd');
      if (WA.validate(bytes)) {
        const m = new WA.Module(bytes);
        // an experimental engine feature: use it only if it computes what the plain build computes
        if (fusedSelfCheck(m)) compiled.fma = m;
      }
    } catch {
      // missing, unsupported or failing its self-check: the plain build below
    }
  }
  if (fma && compiled.fma) return { module: compiled.fma, fused: true };
  if (!compiled.plain) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(wasmFiles.plain);
    } catch {
      throw new Error(`WebAssembly kernels not built (${wasmFiles.plain} missing): run 'npm run build:wasm'`);
    }
    if (!WA.validate(bytes)) throw new Error(`this engine cannot run ${wasmFiles.plain} (WebAssembly SIMD and threads needed)`);
    compiled.plain = new WA.Module(bytes);
  }
  return { module: compiled.plain, fused: false };
}

/**
 * Runs the fused module once on a scratch memory: a gemm (every transpose case) of small integers,
 * which any correct multiply-add, fused or not, computes exactly, must equal the plain loop's, and
 * the module must say it is the fused build. Guards the default use of an engine feature that is still
 * experimental on Node 20.
 */
export function fusedSelfCheck(module: WasmModule): boolean {
  try {
    const memory = new WA.Memory({ initial: 64, maximum: 64, shared: true });
    const ex = new WA.Instance(module, { env: { memory } }).exports as unknown as Exports;
    if (ex.fused() !== 1) return false;
    const base = (ex.heapBase() + 63) & ~63;
    const m = 7, n = 11, k = 9;
    const f = new Float32Array(memory.buffer);
    const a = base, b = a + m * k * 4, c = b + k * n * 4, work = c + m * n * 4;
    if (work + ex.workBytes() > memory.buffer.byteLength) return false;
    for (let i = 0; i < m * k; i++) f[a / 4 + i] = ((i * 7) % 9) - 4;
    for (let i = 0; i < k * n; i++) f[b / 4 + i] = ((i * 5) % 7) - 3;
    for (const [ta, tb] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
      for (let i = 0; i < m * n; i++) f[c / 4 + i] = i % 3;
      ex.gemm(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 1, c, n, work);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = (i * n + j) % 3;
          for (let p = 0; p < k; p++) s += f[a / 4 + (ta ? p * m + i : i * k + p)] * f[b / 4 + (tb ? j * k + p : p * n + j)];
          if (f[c / 4 + i * n + j] !== s) return false;
        }
      }
    }
    return true;
  } catch {
    return false;
  }
}

/** A warning text if kernels.wasm is older than kernels.as (edited but not rebuilt), else null. */
export function staleWarning(): string | null {
  try {
    if (statSync(wasmFiles.source).mtimeMs > statSync(wasmFiles.plain).mtimeMs + 1000) {
      return `${wasmFiles.plain} is older than kernels.as: run 'npm run build:wasm'`;
    }
  } catch {
    // no source (installed package) or no build: nothing to compare
  }
  return null;
}

/**
 * Creates a WebAssembly SIMD kernel backend: a new shared memory, or `memory` to attach to one that
 * another thread made (worker threads do this, each with its own instance and scratch).
 * Throws if the module is not built or cannot run; `getKernelBackend()` turns that into the JS fallback.
 * @example
 *   const be = createWasmBackend();                      // main thread
 *   const w = be.alloc(128 * 200);                        // weights in wasm memory
 *   spawnWorker(url, { memory: be.memory, module: be.module, w }); // worker: createWasmBackend({ memory, module })
 */
export function createWasmBackend(options: WasmBackendOptions = {}): WasmKernelBackend {
  const loaded = options.module ? { module: options.module, fused: false } : loadKernelModule(options.fma ?? process.env.TANDEM_WASM_FMA !== '0');
  const memory =
    options.memory ??
    new WA.Memory({
      initial: Math.max(1, Math.ceil((options.initialBytes ?? 16 << 20) / PAGE)),
      maximum: MAX_PAGES,
      shared: true,
    });
  if (!(memory.buffer instanceof SharedArrayBuffer)) throw new TypeError('createWasmBackend: memory must be shared (new WebAssembly.Memory({ shared: true, ... }))');
  // Instantiating writes the module's static data (active data segments) into the memory, on every
  // attach. A different build of the kernels (kernels.wasm rebuilt while this process ran, and a
  // worker compiling the new file) would overwrite the allocator header and the first allocations
  // with its own tables: check on a scratch memory first, and refuse before touching this one.
  const { headerAt, image } = staticImage(loaded.module);
  if (options.memory) checkAttach(memory, headerAt, image);
  const instance = new WA.Instance(loaded.module, { env: { memory } });
  const ex = instance.exports as unknown as Exports;
  const fused = ex.fused() === 1;

  if (memory.buffer.byteLength < headerAt + ALIGN) memory.grow(1);
  const hdr = new Uint32Array(memory.buffer, headerAt, ALIGN / 4);
  if (!options.memory) {
    Atomics.store(hdr, H_BUMP, headerAt + ALIGN);
    Atomics.store(hdr, H_MAGIC, MAGIC);
  }

  // SharedArrayBuffer objects known to be (or not to be) this memory.
  const known = new WeakSet<ArrayBufferLike>();
  const foreign = new WeakSet<ArrayBufferLike>();
  let heap: Float32Array = new Float32Array(memory.buffer);
  known.add(heap.buffer);
  const heapNow = (): Float32Array => {
    const buf = memory.buffer;
    if (buf !== heap.buffer) {
      heap = new Float32Array(buf);
      known.add(buf);
    }
    return heap;
  };

  const ensure = (end: number): void => {
    let len = memory.buffer.byteLength;
    while (len < end) {
      // Grow by what is needed, at least a quarter (capped), so many small allocs grow rarely.
      const want = Math.max(Math.ceil((end - len) / PAGE), Math.min(Math.ceil(len / PAGE / 4), 4096));
      const pages = Math.min(want, MAX_PAGES - len / PAGE);
      try {
        memory.grow(pages);
      } catch (err) {
        // Another thread may have grown it meanwhile; only fail if it is still too small.
        if (memory.buffer.byteLength < end) throw new RangeError(`kernel memory: cannot grow to ${end} bytes (${(err as Error).message})`);
      }
      len = memory.buffer.byteLength;
    }
  };

  // This thread's allocations (offset -> bytes) and its free blocks, sorted by offset, never adjacent.
  const held = new Map<number, number>();
  const freeOff: number[] = [];
  const freeSize: number[] = [];
  let liveBytes = 0;

  const bump = (size: number): number => {
    for (;;) {
      const off = Atomics.load(hdr, H_BUMP);
      const end = off + size;
      if (end > MAX_BYTES) throw new RangeError(`kernel memory exhausted: ${size} more bytes would pass the 4 GiB limit`);
      if (Atomics.compareExchange(hdr, H_BUMP, off, end) === off) {
        ensure(end);
        return off;
      }
    }
  };

  const allocBytes = (bytes: number): number => {
    const size = Math.ceil(Math.max(bytes, 1) / ALIGN) * ALIGN;
    // best fit among this thread's free blocks, else a fresh block from the shared bump pointer
    let best = -1;
    for (let i = 0; i < freeOff.length; i++) if (freeSize[i] >= size && (best < 0 || freeSize[i] < freeSize[best])) best = i;
    let off: number;
    if (best >= 0) {
      off = freeOff[best];
      if (freeSize[best] === size) {
        freeOff.splice(best, 1);
        freeSize.splice(best, 1);
      } else {
        freeOff[best] += size;
        freeSize[best] -= size;
      }
      // callers are promised zeroed memory, as fresh pages are
      new Uint8Array(memory.buffer, off, size).fill(0);
    } else off = bump(size);
    held.set(off, size);
    liveBytes += size;
    return off;
  };

  const freeBytes = (off: number, what: string): void => {
    const size = held.get(off);
    if (size === undefined) throw new RangeError(`free: ${what} at byte ${off} is not a live allocation of this thread's backend (freed twice, a subarray, or another thread's)`);
    held.delete(off);
    liveBytes -= size;
    // insert in offset order, merging with the neighbours it touches
    let i = 0;
    while (i < freeOff.length && freeOff[i] < off) i++;
    let start = off;
    let len = size;
    if (i > 0 && freeOff[i - 1] + freeSize[i - 1] === off) {
      i--;
      start = freeOff[i];
      len += freeSize[i];
      freeOff.splice(i, 1);
      freeSize.splice(i, 1);
    }
    if (i < freeOff.length && start + len === freeOff[i]) {
      len += freeSize[i];
      freeOff.splice(i, 1);
      freeSize.splice(i, 1);
    }
    // the block at the top of the memory goes back to the bump pointer (unless another thread bumped
    // meanwhile), zeroed first: bumped memory is handed out as fresh, zeroed pages are
    if (Atomics.load(hdr, H_BUMP) === start + len) {
      new Uint8Array(memory.buffer, start, len).fill(0);
      if (Atomics.compareExchange(hdr, H_BUMP, start + len, start) === start + len) return;
    }
    freeOff.splice(i, 0, start);
    freeSize.splice(i, 0, len);
  };

  const owns = (arr: Float32Array | Int32Array): boolean => {
    const buf = arr.buffer;
    if (known.has(buf)) return true;
    if (foreign.has(buf) || !(buf instanceof SharedArrayBuffer) || buf.byteLength < headerAt + ALIGN) return false;
    // Same bytes? Write a random nonce through our memory, read it back through `buf`. A concurrent
    // probe from another thread can overwrite it, hence the retries.
    const other = new Uint32Array(buf, headerAt, ALIGN / 4);
    for (let t = 0; t < 8; t++) {
      const n0 = (Math.random() * 0x100000000) >>> 0;
      const n1 = (Math.random() * 0x100000000) >>> 0;
      Atomics.store(hdr, H_PROBE, n0);
      Atomics.store(hdr, H_PROBE + 1, n1);
      if (Atomics.load(other, H_PROBE) === n0 && Atomics.load(other, H_PROBE + 1) === n1) {
        known.add(buf);
        return true;
      }
      if (Atomics.load(hdr, H_PROBE) === n0 && Atomics.load(hdr, H_PROBE + 1) === n1) break; // ours stands: not the same bytes
    }
    foreign.add(buf);
    return false;
  };

  // Per-thread scratch: gemm's packing work area (on first gemm) and a staging area for arrays that
  // live outside the memory (grown geometrically; the old one is abandoned, never reused by alloc).
  let work = -1;
  let stageAt = 0;
  let stageFloats = 0;
  const stage = (floats: number): number => {
    if (floats > stageFloats) {
      if (stageFloats > 0) freeBytes(stageAt, 'the staging area');
      stageFloats = Math.max(floats, stageFloats * 2, 1 << 16);
      stageAt = allocBytes(stageFloats * 4);
    }
    return stageAt;
  };

  // Training kernels read and write in place: an array outside the memory is a caller's mistake.
  const at = (fn: string, name: string, arr: Float32Array | Int32Array, need: number): number => {
    if (!owns(arr)) throw new RangeError(`${fn}: ${name} is not in the kernel memory (allocate it with the backend's alloc)`);
    if (arr.length < need) throw new RangeError(`${fn}: ${name} has ${arr.length} elements, needs ${need}`);
    return arr.byteOffset;
  };
  // the smallest and largest of n i32 at byte offset p (in the memory), by the kernel: the argument
  // checks of the bag and row kernels scan every index, which in JS cost ~4% of a training step
  let rangeAt = -1;
  const range = (p: number, n: number): [number, number] => {
    if (rangeAt < 0) rangeAt = allocBytes(8);
    ex.i32Range(p, n, rangeAt);
    const h = new Int32Array(heapNow().buffer, rangeAt, 2);
    return [h[0], h[1]];
  };
  const pool = (f: string, kernel: Exports['bagPool'], offsets: Int32Array, indices: Int32Array, weights: Float32Array, B: number, table: Float32Array, d: number, X: Float32Array, ldx: number, xOff: number): void => {
    dim(f, 'B', B);
    at(f, 'offsets', offsets, B + 1);
    const n = offsets[B];
    if (B > 0 && ldx < xOff + d) throw new RangeError(`${f}: ldx = ${ldx} is less than xOff + dim = ${xOff + d}`);
    const ip = at(f, 'indices', indices, n);
    const [lo, hi] = range(ip, n);
    if (lo < 0) {
      const e = firstBelow(indices, n, 0);
      throw new RangeError(`${f}: indices[${e}] = ${indices[e]} is negative`);
    }
    kernel(offsets.byteOffset, ip, at(f, 'weights', weights, n), B, at(f, 'table', table, (hi + 1) * d), d, at(f, 'X', X, B === 0 ? 0 : (B - 1) * ldx + xOff + d), ldx, xOff);
  };
  const train: TrainKernels = {
    expArray(src, dst, n) {
      dim('expArray', 'n', n);
      ex.expArray(at('expArray', 'src', src, n), at('expArray', 'dst', dst, n), n);
    },
    softmaxXent(B, C, S, invTau, logQ, colItem, w, invB, dS, pos = null, lnCount = null) {
      const f = 'softmaxXent';
      dim(f, 'B', B);
      dim(f, 'C', C);
      if (pos) {
        at(f, 'pos', pos, B);
        for (let i = 0; i < B; i++) if (!(pos[i] >= 0 && pos[i] < C)) throw new RangeError(`${f}: pos[${i}] = ${pos[i]} is outside the ${C} columns`);
      } else if (C < B) throw new RangeError(`${f}: C = ${C} is less than B = ${B}`);
      return ex.softmaxXent(B, C, at(f, 'S', S, B * C), invTau, logQ ? at(f, 'logQ', logQ, C) : 0, at(f, 'colItem', colItem, C), at(f, 'w', w, B), invB, at(f, 'dS', dS, B * C), pos ? pos.byteOffset : 0, lnCount ? at(f, 'lnCount', lnCount, C) : 0);
    },
    bagPool(offsets, indices, weights, B, table, d, X, ldx, xOff) {
      pool('bagPool', ex.bagPool, offsets, indices, weights, B, table, d, X, ldx, xOff);
    },
    bagPoolAdd(offsets, indices, weights, B, table, d, X, ldx, xOff) {
      pool('bagPoolAdd', ex.bagPoolAdd, offsets, indices, weights, B, table, d, X, ldx, xOff);
    },
    bagScatter(offsets, weights, dst, B, d, dX, ldx, xOff, grads) {
      const f = 'bagScatter';
      dim(f, 'B', B);
      at(f, 'offsets', offsets, B + 1);
      const n = offsets[B];
      const dp = at(f, 'dst', dst, n);
      const [lo, hi] = range(dp, n);
      if (lo < 0) {
        const e = firstBelow(dst, n, 0);
        throw new RangeError(`${f}: dst[${e}] = ${dst[e]} is negative`);
      }
      ex.bagScatter(offsets.byteOffset, at(f, 'weights', weights, n), dp, B, d, at(f, 'dX', dX, B === 0 ? 0 : (B - 1) * ldx + xOff + d), ldx, xOff, at(f, 'grads', grads, hi + d));
    },
    bagSlots(offsets, indices, weights, B, slot, rows, n, grads, d, dst) {
      const f = 'bagSlots';
      dim(f, 'B', B);
      dim(f, 'n', n);
      if (!Number.isInteger(d) || d < 1) throw new RangeError(`${f}: dim must be a positive integer, got ${d}`);
      at(f, 'offsets', offsets, B + 1);
      const ne = offsets[B];
      const [lo, hi] = range(at(f, 'indices', indices, ne), ne);
      if (lo < 0 || hi >= slot.length) {
        let e = 0;
        while (indices[e] >= 0 && indices[e] < slot.length) e++;
        throw new RangeError(`${f}: indices[${e}] = ${indices[e]} is outside the table's ${slot.length} rows`);
      }
      const cap = Math.min(rows.length, Math.floor(grads.length / d));
      if (n > cap) throw new RangeError(`${f}: n = ${n} is more than the ${cap} rows there is room for`);
      return ex.bagSlots(offsets.byteOffset, at(f, 'indices', indices, ne), at(f, 'weights', weights, ne), B, at(f, 'slot', slot, 0), at(f, 'rows', rows, 0), n, cap, at(f, 'grads', grads, 0), d, at(f, 'dst', dst, ne));
    },
    adamDense(p, m, v, g, n, lr, b1, b2, eps, l2) {
      const f = 'adamDense';
      dim(f, 'n', n);
      ex.adamDense(at(f, 'p', p, n), at(f, 'm', m, n), at(f, 'v', v, n), at(f, 'g', g, n), n, lr, b1, b2, eps, l2);
    },
    adamRows(p, m, v, rows, nRows, d, g, lr, b1, b2, eps, l2) {
      const f = 'adamRows';
      dim(f, 'nRows', nRows);
      const rp = at(f, 'rows', rows, nRows);
      const [lo, hi] = range(rp, nRows);
      if (lo < 0) {
        const r = firstBelow(rows, nRows, 0);
        throw new RangeError(`${f}: rows[${r}] = ${rows[r]} is negative`);
      }
      const need = (hi + 1) * d;
      ex.adamRows(at(f, 'p', p, need), at(f, 'm', m, need), at(f, 'v', v, need), rp, nRows, d, at(f, 'g', g, nRows * d), lr, b1, b2, eps, l2);
    },
    allFinite(x, n) {
      dim('allFinite', 'n', n);
      return ex.allFinite(at('allFinite', 'x', x, n), n) === 1;
    },
    emaUpdate(e, p, n, d) {
      dim('emaUpdate', 'n', n);
      ex.emaUpdate(at('emaUpdate', 'e', e, n), at('emaUpdate', 'p', p, n), n, d);
    },
    biasRows(Y, B, n, bias) {
      dim('biasRows', 'B', B);
      dim('biasRows', 'n', n);
      ex.biasRows(at('biasRows', 'Y', Y, B * n), B, n, at('biasRows', 'bias', bias, n));
    },
    relu(Y, n) {
      dim('relu', 'n', n);
      ex.relu(at('relu', 'Y', Y, n), n);
    },
    reluBackward(Y, dY, n) {
      dim('reluBackward', 'n', n);
      ex.reluBackward(at('reluBackward', 'Y', Y, n), at('reluBackward', 'dY', dY, n), n);
    },
    colSumAdd(dY, B, n, db) {
      dim('colSumAdd', 'B', B);
      dim('colSumAdd', 'n', n);
      ex.colSumAdd(at('colSumAdd', 'dY', dY, B * n), B, n, at('colSumAdd', 'db', db, n));
    },
    l2Normalize(E, B, k, out, norms) {
      const f = 'l2Normalize';
      dim(f, 'B', B);
      dim(f, 'k', k);
      ex.l2Normalize(at(f, 'E', E, B * k), B, k, at(f, 'out', out, B * k), at(f, 'norms', norms, B));
    },
    l2NormalizeBackward(out, norms, dOut, B, k, dE) {
      const f = 'l2NormalizeBackward';
      dim(f, 'B', B);
      dim(f, 'k', k);
      ex.l2NormalizeBackward(at(f, 'out', out, B * k), at(f, 'norms', norms, B), at(f, 'dOut', dOut, B * k), B, k, at(f, 'dE', dE, B * k));
    },
    allocInt32(n) {
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`allocInt32: n must be a non-negative integer, got ${n}`);
      const off = allocBytes(n * 4);
      return new Int32Array(heapNow().buffer, off, n);
    },
  };

  // dcnDense's scratch, grown to the widest layer seen
  let dcnWork = 0;
  let dcnWorkSize = 0;
  const dcn: DcnKernels = {
    packedSize: (nout, nin) => ex.dcnPackedSize(nout, nin),
    pack(W, b, nout, nin, dst) {
      const f = 'dcn.pack';
      dim(f, 'nout', nout);
      dim(f, 'nin', nin);
      ex.dcnPack(at(f, 'W', W, nout * nin), at(f, 'b', b, nout), nout, nin, at(f, 'dst', dst, ex.dcnPackedSize(nout, nin)));
    },
    dense(mode, B, nin, nout, X, ldx, packed, Y, ldy, X0) {
      const f = 'dcn.dense';
      dim(f, 'B', B);
      dim(f, 'nin', nin);
      dim(f, 'nout', nout);
      if (ldx < nin || ldy < nout) throw new RangeError(`${f}: row strides ${ldx}, ${ldy} are less than the widths ${nin}, ${nout}`);
      if (mode === 2 && (nout !== nin || !X0)) throw new RangeError(`${f}: a cross layer (mode 2) needs nout = nin and X0`);
      if (B === 0) return;
      const need = ex.dcnWorkBytes(nin);
      if (need > dcnWorkSize) {
        if (dcnWorkSize > 0) freeBytes(dcnWork, 'the dcn scratch');
        dcnWork = allocBytes(need);
        dcnWorkSize = need;
      }
      const x0 = mode === 2 ? at(f, 'X0', X0!, (B - 1) * ldx + nin) : 0;
      ex.dcnDense(mode, B, nin, nout, at(f, 'X', X, (B - 1) * ldx + nin), ldx, at(f, 'packed', packed, ex.dcnPackedSize(nout, nin)), at(f, 'Y', Y, (B - 1) * ldy + nout), ldy, x0, dcnWork);
    },
    encode(x, F, B, p, x0, d0, codes) {
      const f = 'dcn.encode';
      dim(f, 'B', B);
      if (d0 < p.N + p.nMissing + p.T * p.e) throw new RangeError(`${f}: d0 = ${d0} is less than the ${p.N + p.nMissing + p.T * p.e} encoded slots`);
      for (let k = 0; k < p.N; k++) if (!(p.cols[k] >= 0 && p.cols[k] < F)) throw new RangeError(`${f}: cols[${k}] = ${p.cols[k]} is outside 0..${F - 1}`);
      for (let t = 0; t < p.T; t++) if (!(p.tcols[t] >= 0 && p.tcols[t] < F)) throw new RangeError(`${f}: tcols[${t}] = ${p.tcols[t]} is outside 0..${F - 1}`);
      ex.dcnEncode(at(f, 'x', x, B * F), F, B, p.N, at(f, 'cols', p.cols, p.N), at(f, 'logs', p.logs, p.N), at(f, 'miss', p.miss, p.N), at(f, 'mean', p.mean, 2 * p.N), at(f, 'invStd', p.invStd, 2 * p.N), p.nMissing, p.clip, p.T, at(f, 'tcols', p.tcols, p.T), at(f, 'vocab', p.vocab, p.T), at(f, 'tables', p.tables, p.T), p.e, at(f, 'x0', x0, B * d0), d0, at(f, 'codes', codes, B * p.T));
    },
  };

  const backend: WasmKernelBackend = {
    train,
    dcn,
    name: fused ? 'wasm-simd-fma' : 'wasm-simd',
    memory,
    module: loaded.module,
    fused,
    owns,
    view(byteOffset, length) {
      if (byteOffset % 4 !== 0 || byteOffset < headerAt + ALIGN || byteOffset + length * 4 > memory.buffer.byteLength) {
        throw new RangeError(`view(${byteOffset}, ${length}): not an allocated range of the kernel memory`);
      }
      return new Float32Array(heapNow().buffer, byteOffset, length);
    },
    alloc(n) {
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`alloc: n must be a non-negative integer, got ${n}`);
      const off = allocBytes(n * 4);
      return new Float32Array(heapNow().buffer, off, n);
    },
    free(arr) {
      if (!owns(arr)) throw new RangeError('free: the array is not in the kernel memory (only what alloc or allocInt32 gave can be freed)');
      freeBytes(arr.byteOffset, 'the array');
    },
    usage() {
      let f = 0;
      for (const x of freeSize) f += x;
      return { liveBytes, freeBytes: f, blocks: held.size };
    },
    gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
      dim('gemm', 'm', m);
      dim('gemm', 'n', n);
      dim('gemm', 'k', k);
      dim('gemm', 'lda', lda);
      dim('gemm', 'ldb', ldb);
      dim('gemm', 'ldc', ldc);
      if (m === 0 || n === 0) return;
      // Stored shapes: A is m x k (k x m if transposed), B is k x n (n x k).
      const aExt = k === 0 ? 0 : extent('a', a, transA ? k : m, transA ? m : k, lda, 'lda');
      const bExt = k === 0 ? 0 : extent('b', b, transB ? n : k, transB ? k : n, ldb, 'ldb');
      const cExt = extent('c', c, m, n, ldc, 'ldc');
      const aIn = aExt === 0 || owns(a);
      const bIn = bExt === 0 || owns(b);
      const cIn = owns(c);
      if (work < 0) work = allocBytes(ex.workBytes());
      let pa = a.byteOffset;
      let pb = b.byteOffset;
      let pc = c.byteOffset;
      if (!(aIn && bIn && cIn)) {
        const base = stage((aIn ? 0 : aExt) + (bIn ? 0 : bExt) + (cIn ? 0 : cExt));
        const h = heapNow();
        let at = base >>> 2;
        if (!aIn) {
          h.set(a.subarray(0, aExt), at);
          pa = at * 4;
          at += aExt;
        }
        if (!bIn) {
          h.set(b.subarray(0, bExt), at);
          pb = at * 4;
          at += bExt;
        }
        if (!cIn) {
          // With beta = 0 and no gaps between rows the kernel overwrites all of it: no need to copy in.
          // Otherwise copy: beta reads it, and gaps (ldc > n) must come back unchanged.
          if (beta !== 0 || ldc !== n) h.set(c.subarray(0, cExt), at);
          pc = at * 4;
        }
      }
      if (m < 4 && transB && k > 0 && alpha !== 0 && (!transA || (m === 1 && lda === 1))) {
        // A row or three against a transposed B (x W^T, a few queries against item rows): a gemv over
        // B's rows per row of C beats packing B for a 4-row micro-tile that is mostly empty.
        for (let i = 0; i < m; i++) ex.gemvx(n, k, pb, ldb, pa + i * lda * 4, alpha, beta, pc + i * ldc * 4);
      } else {
        ex.gemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, work);
      }
      if (!cIn) c.set(heapNow().subarray(pc >>> 2, (pc >>> 2) + cExt));
    },
    gemv(rows, cols, m, x, y) {
      dim('gemv', 'rows', rows);
      dim('gemv', 'cols', cols);
      if (rows === 0) return;
      if (m.length < rows * cols) throw new RangeError(`gemv: m has ${m.length} elements, needs rows * cols = ${rows * cols}`);
      if (x.length < cols) throw new RangeError(`gemv: x has ${x.length} elements, needs cols = ${cols}`);
      if (y.length < rows) throw new RangeError(`gemv: y has ${y.length} elements, needs rows = ${rows}`);
      const mIn = owns(m);
      const xIn = owns(x);
      const yIn = owns(y);
      let pm = m.byteOffset;
      let px = x.byteOffset;
      let py = y.byteOffset;
      if (!(mIn && xIn && yIn)) {
        const h0 = stage((mIn ? 0 : rows * cols) + (xIn ? 0 : cols) + (yIn ? 0 : rows));
        const h = heapNow();
        let at = h0 >>> 2;
        if (!mIn) {
          h.set(m.subarray(0, rows * cols), at);
          pm = at * 4;
          at += rows * cols;
        }
        if (!xIn) {
          h.set(x.subarray(0, cols), at);
          px = at * 4;
          at += cols;
        }
        if (!yIn) py = at * 4;
      }
      ex.gemv(rows, cols, pm, px, py);
      if (!yIn) y.set(heapNow().subarray(py >>> 2, (py >>> 2) + rows));
    },
  };
  return backend;
}

/** The GBDT histogram kernels (kernels.as, '---- GBDT ----'); pointers are byte offsets into their memory. */
export interface GbdtKernels {
  gbdtHistRows(rowBins: number, F: number, idx: number, start: number, end: number, og: number, oh: number, direct: number, hb: number, nf: number): void;
  gbdtHistCols(bins: number, nRows: number, idx: number, start: number, end: number, og: number, oh: number, direct: number, hb: number, nf: number): void;
  gbdtSub(dst: number, src: number, n: number): void;
  gbdtPartition(idx: number, tmp: number, col: number, start: number, count: number, bin: number, missing: number, defLeft: number): number;
  gbdtPredict(nodes: number, roots: number, nT: number, leafValue: number, x: number, F: number, rows: number, from: number, to: number, out: number, nan: number): void;
  gbdtBestSplit(slot: number, binOffset: number, feats: number, nf: number, G: number, H: number, C: number, l1: number, l2: number, minC: number, minH: number, minGain: number, out: number): void;
}

/** GBDT kernels on one memory: `base` is the first byte free for the caller's arrays. */
export interface GbdtKernelSet {
  readonly kernels: GbdtKernels;
  readonly memory: WasmMemory;
  readonly module: WasmModule;
  readonly base: number;
}

/**
 * The GBDT kernels on a shared memory of their own: a new one of at least `bytes` free bytes (one training
 * run's bins, gradients and histograms, dropped with the run instead of growing the backend's heap for
 * good), or `memory` + `module` from another thread's set (worker threads). The caller lays out its
 * arrays from `base` up; nothing here allocates. Throws if the kernels are not built or cannot run.
 * @example const k = createGbdtKernels({ bytes: 1 << 20 }); const hist = new Float64Array(k.memory.buffer, k.base, 1024);
 */
export function createGbdtKernels(options: { bytes: number } | { memory: WasmMemory; module: WasmModule }): GbdtKernelSet {
  // the plain build: these kernels have no multiply-add, and it needs no engine flag
  const module = 'module' in options ? options.module : loadKernelModule(false).module;
  const { headerAt } = staticImage(module);
  const base = headerAt + ALIGN;
  let memory: WasmMemory;
  if ('memory' in options) memory = options.memory;
  else {
    const pages = Math.ceil((base + options.bytes) / PAGE);
    if (pages > MAX_PAGES) throw new RangeError(`createGbdtKernels: ${options.bytes} bytes is more than a WebAssembly memory holds (4 GiB)`);
    memory = new WA.Memory({ initial: pages, maximum: pages, shared: true });
  }
  // instantiating writes the same static data below `base` on every attach: the caller's arrays are above it
  const ex = new WA.Instance(module, { env: { memory } }).exports as unknown as GbdtKernels & { gbdtPartition?: unknown };
  if (typeof ex.gbdtPartition !== 'function') throw new Error(`${wasmFiles.plain} has no GBDT kernels (built from an older kernels.as): run 'npm run build:wasm'`);
  return { kernels: ex, memory, module, base };
}

// Per module: where its allocator header goes and the bytes below it that instantiating writes.
const images = new WeakMap<WasmModule, { headerAt: number; image: Uint8Array }>();

function staticImage(module: WasmModule): { headerAt: number; image: Uint8Array } {
  let r = images.get(module);
  if (!r) {
    const scratch = new WA.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    const ex = new WA.Instance(module, { env: { memory: scratch } }).exports as unknown as Exports;
    const base = ex.heapBase();
    const headerAt = (base + ALIGN - 1) & ~(ALIGN - 1);
    r = { headerAt, image: new Uint8Array(scratch.buffer, 0, base).slice() };
    images.set(module, r);
  }
  return r;
}

// Throws unless `memory` was made by a backend on a build of the kernels with the same static data
// (same header place, same tables), so that instantiating `image`'s module on it changes no byte.
function checkAttach(memory: WasmMemory, headerAt: number, image: Uint8Array): void {
  const buf = memory.buffer;
  if (buf.byteLength < headerAt + ALIGN || Atomics.load(new Uint32Array(buf, headerAt, ALIGN / 4), H_MAGIC) !== MAGIC) {
    throw new Error(
      'createWasmBackend: the memory given was not made by a kernel backend, or by one on another build of the kernels ' +
        "(kernels.wasm rebuilt while this process ran?): attach with the creator's module, createWasmBackend({ memory, module: backend.module })",
    );
  }
  const have = new Uint8Array(buf, 0, image.length);
  for (let i = 0; i < image.length; i++) {
    if (have[i] !== image[i]) {
      throw new Error(
        `createWasmBackend: the memory was made by another build of the kernels (static data differs at byte ${i}; kernels.wasm rebuilt while this process ran?): ` +
          "attach with the creator's module, createWasmBackend({ memory, module: backend.module })",
      );
    }
  }
}

// Index of the first of a[0 .. n) below `min` (an error message's; the checks find that one exists by the range kernel).
function firstBelow(a: Int32Array, n: number, min: number): number {
  let e = 0;
  while (e < n && a[e] >= min) e++;
  return e;
}

function dim(fn: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new RangeError(`${fn}: ${name} must be a non-negative integer, got ${v}`);
}

// Elements a row-major rows x cols matrix with row stride ld spans; checks the array holds them.
function extent(name: string, arr: Float32Array, rows: number, cols: number, ld: number, ldName: string): number {
  if (ld < Math.max(1, cols)) throw new RangeError(`gemm: ${ldName} = ${ld} is less than the ${cols} columns ${name} stores`);
  const ext = rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
  if (arr.length < ext) throw new RangeError(`gemm: ${name} has ${arr.length} elements, needs ${ext} (${rows} x ${cols}, ${ldName} = ${ld})`);
  return ext;
}
