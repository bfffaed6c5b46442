import { type GbdtKernelSet, createGbdtKernels } from '../../math/index.ts';

/** Bytes of a kernel memory that holds arrays of these byte sizes, each placed 16-byte aligned by a `KernelArena`. */
export function arenaBytes(sizes: readonly number[]): number {
  return sizes.reduce((a, b) => a + b + 16, 0);
}

/** Places arrays one after another in a kernel set's memory, from its base, 16-byte aligned. */
export class KernelArena {
  private at: number;

  constructor(readonly set: GbdtKernelSet) {
    this.at = set.base;
  }

  /** The byte offset of the next `bytes` bytes. */
  take(bytes: number): number {
    const o = this.at;
    this.at = (this.at + bytes + 15) & ~15;
    return o;
  }

  /** A typed array of `len` elements placed next. */
  view<T>(C: { new (b: ArrayBufferLike, o: number, len: number): T; BYTES_PER_ELEMENT: number }, len: number): T {
    return new C(this.set.memory.buffer, this.take(len * C.BYTES_PER_ELEMENT), len);
  }
}

/**
 * The GBDT kernels on a memory for arrays of `sizes` bytes, or null for the TypeScript loops: 'js' always,
 * 'auto' when TANDEM_KERNELS is 'js' or the kernels are not built; 'wasm' throws when they are not built.
 * `what` names the setting in the error about a bad mode.
 */
export function gbdtKernels(mode: 'auto' | 'wasm' | 'js', sizes: readonly number[], what = 'kernels'): KernelArena | null {
  if (mode !== 'auto' && mode !== 'wasm' && mode !== 'js') throw new Error(`${what} must be 'auto', 'wasm' or 'js', got ${String(mode)}`);
  if (mode === 'js' || (mode === 'auto' && process.env.TANDEM_KERNELS === 'js')) return null;
  try {
    return new KernelArena(createGbdtKernels({ bytes: arenaBytes(sizes) }));
  } catch (e) {
    if (mode === 'wasm') throw e;
    return null; // not built: the TypeScript loops, same results
  }
}
