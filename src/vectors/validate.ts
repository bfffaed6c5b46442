import { firstNonFinite } from '../math/index.ts';
import { IndexArgumentError } from './types.ts';

/** Throws unless `dim` is a positive integer. */
export function checkDim(where: string, dim: number): void {
  if (!Number.isInteger(dim) || dim < 1) throw new IndexArgumentError(`${where}(dim)`, `must be a positive integer, got ${dim}`);
}

/** Throws unless `k` is a positive integer. */
export function checkK(where: string, k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new IndexArgumentError(`${where}(k)`, `must be a positive integer, got ${k}`);
}

/** Throws unless `query` is a Float32Array of `dim` finite numbers (query vectors are never NaN). */
export function checkQuery(where: string, query: Float32Array, dim: number, name = 'query'): void {
  if (!(query instanceof Float32Array)) throw new IndexArgumentError(`${where}(${name})`, `must be a Float32Array, got ${describe(query)}`);
  if (query.length !== dim) throw new IndexArgumentError(`${where}(${name})`, `length ${query.length} does not match the index dimension ${dim}`);
  const bad = firstNonFinite(query, 0, query.length);
  if (bad >= 0) throw new IndexArgumentError(`${where}(${name})`, `${name}[${bad}] is ${query[bad]}; queries must be finite`);
}

/** Throws unless `queries` holds a whole number of dim-length rows, all finite. Returns the row count. */
export function checkQueries(where: string, queries: Float32Array, dim: number): number {
  if (!(queries instanceof Float32Array)) throw new IndexArgumentError(`${where}(queries)`, `must be a Float32Array, got ${describe(queries)}`);
  if (queries.length % dim !== 0) throw new IndexArgumentError(`${where}(queries)`, `length ${queries.length} is not a multiple of the index dimension ${dim}`);
  const bad = firstNonFinite(queries, 0, queries.length);
  if (bad >= 0) throw new IndexArgumentError(`${where}(queries)`, `row ${Math.floor(bad / dim)}, column ${bad % dim} is ${queries[bad]}; queries must be finite`);
  return queries.length / dim;
}

/**
 * Throws unless vectors is n x dim finite values and labels are n distinct non-negative int32s.
 * Returns labels as an Int32Array.
 */
export function checkItems(where: string, vectors: Float32Array, labels: Int32Array | readonly number[], dim: number): Int32Array {
  if (!(vectors instanceof Float32Array)) throw new IndexArgumentError(`${where}(vectors)`, `must be a Float32Array, got ${describe(vectors)}`);
  const n = labels.length;
  if (vectors.length !== n * dim) {
    throw new IndexArgumentError(`${where}(vectors)`, `length ${vectors.length} is not labels.length (${n}) x dim (${dim}) = ${n * dim}`);
  }
  const bad = firstNonFinite(vectors, 0, vectors.length);
  if (bad >= 0) throw new IndexArgumentError(`${where}(vectors)`, `row ${Math.floor(bad / dim)}, column ${bad % dim} is ${vectors[bad]}; vectors must be finite`);
  const out = labels instanceof Int32Array ? labels : new Int32Array(n);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0 || l > 0x7fffffff) throw new IndexArgumentError(`${where}(labels)`, `labels[${i}] = ${l} is not a non-negative int32`);
    if (seen.has(l)) throw new IndexArgumentError(`${where}(labels)`, `labels[${i}] = ${l} appears twice`);
    seen.add(l);
    out[i] = l;
  }
  return out;
}


function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return (x as object).constructor?.name ?? 'object';
}
