/**
 * Embedding bags for a batch of rows, as flat arrays: row r's entries are
 * indices/weights[offsets[r] .. offsets[r+1]). Grows only when a batch needs more room than any before,
 * so steady-state training allocates nothing.
 * @example const b = new BagBatch(); b.reset(); b.reserve(2); b.push(7, 1); b.push(9, 0.5); b.endRow();
 */
/** Where a BagBatch allocates its arrays (zero-filled), e.g. a kernel backend's memory. */
export interface BagAlloc {
  f32(n: number): Float32Array;
  i32(n: number): Int32Array;
}

export class BagBatch {
  offsets: Int32Array;
  indices: Int32Array;
  weights: Float32Array;
  /** Rows closed so far. */
  rows = 0;
  /** Entries written so far (the end of the open row). */
  size = 0;

  /**
   * `alloc` places the arrays (and their regrowths) in a kernel backend's memory, so WebAssembly
   * kernels read the bags in place; by default they are ordinary typed arrays.
   */
  constructor(
    rowCapacity = 64,
    entryCapacity = 256,
    readonly alloc: BagAlloc | null = null,
  ) {
    this.offsets = this.i32(rowCapacity + 1);
    this.indices = this.i32(Math.max(1, entryCapacity));
    this.weights = this.f32(Math.max(1, entryCapacity));
  }

  private i32(n: number): Int32Array {
    return this.alloc ? this.alloc.i32(n) : new Int32Array(n);
  }

  private f32(n: number): Float32Array {
    return this.alloc ? this.alloc.f32(n) : new Float32Array(n);
  }

  reset(): void {
    this.rows = 0;
    this.size = 0;
  }

  /** Makes room for `more` further entries. */
  reserve(more: number): void {
    const need = this.size + more;
    if (need <= this.indices.length) return;
    let cap = this.indices.length * 2;
    while (cap < need) cap *= 2;
    const ni = this.i32(cap);
    ni.set(this.indices);
    const nw = this.f32(cap);
    nw.set(this.weights);
    this.indices = ni;
    this.weights = nw;
  }

  /** Appends one entry to the open row. Call `reserve` first. */
  push(index: number, weight: number): void {
    const k = this.size++;
    this.indices[k] = index;
    this.weights[k] = weight;
  }

  /** Closes the open row. */
  endRow(): void {
    if (this.rows + 2 > this.offsets.length) {
      const no = this.i32(this.offsets.length * 2);
      no.set(this.offsets);
      this.offsets = no;
    }
    this.rows++;
    this.offsets[this.rows] = this.size;
  }

  /** Appends row `r` of a CSR bag (offsets/indices/weights) as one row. */
  appendCsr(offsets: Int32Array, indices: Int32Array, weights: Float32Array, r: number): void {
    const a = offsets[r];
    const b = offsets[r + 1];
    this.reserve(b - a);
    for (let k = a; k < b; k++) this.push(indices[k], weights[k]);
    this.endRow();
  }
}
