import { Rng } from '../math/index.ts';

/**
 * n x dim standard-normal vectors: the hardest case for a graph index (no structure to exploit).
 * @example const v = randomVectors(1000, 64, new Rng(1));
 */
export function randomVectors(n: number, dim: number, rng: Rng): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = rng.normal();
  return out;
}

/**
 * n x dim vectors around `clusters` random centres (centre ~ N(0, 1), offset ~ N(0, spread^2)): the shape
 * of learnt embeddings, where items form groups. Queries drawn with the same call (another Rng stream)
 * come from the same distribution when given the same `centreSeed`.
 * @example const items = clusteredVectors(100_000, 64, new Rng(1), { clusters: 256 });
 */
export function clusteredVectors(n: number, dim: number, rng: Rng, opts: { clusters?: number; spread?: number; centreSeed?: number } = {}): Float32Array {
  const clusters = Math.max(1, opts.clusters ?? Math.max(8, Math.round(Math.sqrt(n))));
  const spread = opts.spread ?? 0.35;
  const crng = new Rng(opts.centreSeed ?? 12345);
  const centres = randomVectors(clusters, dim, crng);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = rng.int(clusters) * dim;
    for (let j = 0; j < dim; j++) out[i * dim + j] = centres[c + j] + spread * rng.normal();
  }
  return out;
}
