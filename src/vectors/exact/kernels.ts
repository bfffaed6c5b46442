/**
 * Scoring kernels for exact search: dot products of a block of item rows with one or more queries.
 *
 * A Scorer computes out[j*ldo + (r - r0)] = dot(M[r*dim ..], Q[qo + j*dim ..]) for every query j < nq and
 * row r0 <= r < r1 (M row-major with stride dim). The plain loop `scoreRef` is the reference; the fast
 * ones are generated once per (dim, nq) with the dimension unrolled:
 *  - one query: the query's components live in locals, so each product costs one load of M;
 *  - nq queries: each row's components are loaded (and widened to float64) once into locals and reused by
 *    all nq queries, which is where the time goes in plain JS (about 4x the plain loop at dim 64, nq 16).
 * Accumulation is float64 in every kernel; results are stored as float32.
 */
export type Scorer = (M: Float32Array, r0: number, r1: number, Q: Float32Array, qo: number, out: Float32Array, ldo: number) => void;

/** Plain nested loops: the reference every fast scorer is held to. */
export function scoreRef(dim: number, nq: number, M: Float32Array, r0: number, r1: number, Q: Float32Array, qo: number, out: Float32Array, ldo: number): void {
  for (let j = 0; j < nq; j++) {
    for (let r = r0; r < r1; r++) {
      let s = 0;
      for (let c = 0; c < dim; c++) s += M[r * dim + c] * Q[qo + j * dim + c];
      out[j * ldo + (r - r0)] = s;
    }
  }
}

/** Largest unrolled body we generate (products per row); V8 stops optimising far larger functions. */
const MAX_TERMS = 1024;
const MAX_UNROLLED_DIM = 512;

/** How many queries one pass of the batch scorer serves at this dimension. */
export function queriesPerPass(dim: number): number {
  if (dim > MAX_UNROLLED_DIM) return 1;
  return Math.max(1, Math.min(16, Math.floor(MAX_TERMS / dim)));
}

const cache = new Map<string, Scorer>();

/**
 * The fastest JS scorer for (dim, nq): generated and compiled once, then cached.
 * Falls back to a blocked loop kernel when the dimension is too large to unroll or code generation
 * from strings is disabled.
 * @example const s = scorer(64, 1); s(M, 0, 1024, q, 0, scores, 1024);
 */
export function scorer(dim: number, nq: number): Scorer {
  const key = `${dim}:${nq}`;
  let s = cache.get(key);
  if (s === undefined) {
    s = (dim <= MAX_UNROLLED_DIM && nq * dim <= MAX_TERMS && tryGenerate(dim, nq)) || loopScorer(dim, nq);
    cache.set(key, s);
  }
  return s;
}

/** Which implementation `scorer(dim, nq)` returns: 'unrolled' or 'loop'. */
export function scorerKind(dim: number, nq: number): 'unrolled' | 'loop' {
  return (scorer(dim, nq) as Scorer & { kind?: string }).kind === 'unrolled' ? 'unrolled' : 'loop';
}

function tryGenerate(dim: number, nq: number): Scorer | undefined {
  try {
    const f = new Function('M', 'r0', 'r1', 'Q', 'qo', 'out', 'ldo', nq === 1 ? singleSource(dim) : multiSource(dim, nq)) as Scorer;
    return Object.assign(f, { kind: 'unrolled' });
  } catch {
    return undefined; // e.g. --disallow-code-generation-from-strings
  }
}

/** Sum of terms split over `chains` partial sums, so the adds do not form one long dependency chain. */
function sumOf(terms: string[], chains: number): string {
  const parts: string[][] = Array.from({ length: Math.min(chains, terms.length) }, () => []);
  terms.forEach((t, i) => parts[i % parts.length].push(t));
  return parts.map((p) => `(${p.join('+')})`).join('+');
}

// The loop shapes below were picked by measurement: extra loop variables or per-query offset
// constants cost registers that the unrolled body needs (up to 2x slower).
function singleSource(dim: number): string {
  const lines: string[] = [];
  for (let c = 0; c < dim; c++) lines.push(`const q${c}=Q[qo+${c}];`);
  const terms: string[] = [];
  for (let c = 0; c < dim; c++) terms.push(`M[b+${c}]*q${c}`);
  lines.push(`for (let r=r0, b=r0*${dim}; r<r1; r++, b+=${dim}) out[r-r0]=${sumOf(terms, 4)};`);
  return lines.join('\n');
}

function multiSource(dim: number, nq: number): string {
  const lines: string[] = [];
  for (let j = 0; j < nq; j++) {
    for (let c = 0; c < dim; c++) lines.push(`const q${j}_${c}=Q[qo+${j * dim + c}];`);
  }
  lines.push(`for (let r=r0, b=r0*${dim}; r<r1; r++, b+=${dim}) {`);
  for (let c = 0; c < dim; c++) lines.push(`const m${c}=M[b+${c}];`);
  const chains = 2; // two partial sums per query: enough parallel work with nq queries in flight
  for (let j = 0; j < nq; j++) {
    const terms: string[] = [];
    for (let c = 0; c < dim; c++) terms.push(`m${c}*q${j}_${c}`);
    lines.push(`out[${j}*ldo+r-r0]=${sumOf(terms, chains)};`);
  }
  lines.push('}');
  return lines.join('\n');
}

/** Loop kernel for large dimensions: four rows at a time share each query load. */
function loopScorer(dim: number, nq: number): Scorer {
  const f: Scorer = (M, r0, r1, Q, qo, out, ldo) => {
    for (let j = 0; j < nq; j++) {
      const qb = qo + j * dim;
      const ob = j * ldo - r0;
      let r = r0;
      for (; r + 4 <= r1; r += 4) {
        const b0 = r * dim;
        const b1 = b0 + dim;
        const b2 = b1 + dim;
        const b3 = b2 + dim;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let c = 0; c < dim; c++) {
          const x = Q[qb + c];
          s0 += M[b0 + c] * x;
          s1 += M[b1 + c] * x;
          s2 += M[b2 + c] * x;
          s3 += M[b3 + c] * x;
        }
        out[ob + r] = s0;
        out[ob + r + 1] = s1;
        out[ob + r + 2] = s2;
        out[ob + r + 3] = s3;
      }
      for (; r < r1; r++) {
        const b = r * dim;
        let s = 0;
        for (let c = 0; c < dim; c++) s += M[b + c] * Q[qb + c];
        out[ob + r] = s;
      }
    }
  };
  return Object.assign(f, { kind: 'loop' });
}
