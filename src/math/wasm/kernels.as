// Dense float32 kernels in AssemblyScript, compiled to WebAssembly SIMD by scripts/build-wasm.mjs.
// (Named .as rather than .ts so the project's tsc, which does not know AssemblyScript's types, skips it.)
//
// All pointers are byte offsets into the imported shared memory. Nothing here keeps state between
// calls and nothing allocates: every thread can run its own instance on the same memory, as long as
// each passes its own `work` area. FMA is a compile-time constant (--use FMA=0|1): with 1 the
// multiply-adds are relaxed_madd (fused where the CPU has it), with 0 a mul and an add.
//
// gemm follows the BLIS/GotoBLAS structure: op(B) is packed into KC x NR column panels and op(A) into
// MR x KC row panels (zero-padded at the edges, which makes every transpose case look the same to the
// micro-kernel), and an MR x NR micro-kernel keeps its block of C in registers across the k loop.

const MR: i32 = 4; // rows of C per micro-tile
const NR: i32 = 8; // columns of C per micro-tile (two f32x4)
const KC: i32 = 256; // k per packed block: an A micro-panel (4 KB) and a B micro-panel (8 KB) stay in L1
const MC: i32 = 128; // rows per packed A block (128 KB, L2)
const NC: i32 = 2048; // columns per packed B block (2 MB)

const PACK_A: i32 = MC * KC; // floats
const PACK_B: i32 = KC * NC;
const TILE: i32 = MR * NR;

/** Bytes of per-thread scratch that gemm needs at `work` (packed A, packed B, one edge tile). */
export function workBytes(): i32 {
  return (PACK_A + PACK_B + TILE) * 4;
}

/** First byte the kernels' own static data does not use: the host allocates from here up. */
export function heapBase(): usize {
  return __heap_base;
}

/** 1 if this build uses relaxed (fused) multiply-add. */
export function fused(): i32 {
  return FMA;
}

// acc + a * b
function madd(a: v128, b: v128, acc: v128): v128 {
  if (FMA) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

// ---------------------------------------------------------------------------------------------
// Packing

// op(A)[i0 .. i0+mc, p0 .. p0+kc] into MR-row micro-panels: dst[panel][p][r].
function packA(transA: i32, a: usize, lda: usize, i0: i32, mc: i32, p0: i32, kc: i32, dst: usize): void {
  for (let ir: i32 = 0; ir < mc; ir += MR) {
    const rows = min(MR, mc - ir);
    const panel = dst + (<usize>ir * <usize>kc << 2);
    const i = <usize>(i0 + ir);
    if (rows == MR) {
      if (transA) {
        // A stored k x m: the MR values of one p are contiguous.
        for (let p: i32 = 0; p < kc; p++) {
          v128.store(panel + (<usize>p << 4), v128.load(a + ((<usize>(p0 + p) * lda + i) << 2)));
        }
      } else {
        // A stored m x k: read 4 rows x 4 p and transpose in registers.
        const r0 = a + ((i * lda + <usize>p0) << 2);
        const r1 = r0 + (lda << 2);
        const r2 = r1 + (lda << 2);
        const r3 = r2 + (lda << 2);
        let p: i32 = 0;
        for (; p + 4 <= kc; p += 4) {
          const off = <usize>p << 2;
          const x0 = v128.load(r0 + off);
          const x1 = v128.load(r1 + off);
          const x2 = v128.load(r2 + off);
          const x3 = v128.load(r3 + off);
          const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
          const t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
          const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
          const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
          const d = panel + (<usize>p << 4);
          v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
          v128.store(d, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 16);
          v128.store(d, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 32);
          v128.store(d, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 48);
        }
        for (; p < kc; p++) {
          const off = <usize>p << 2;
          const d = panel + (<usize>p << 4);
          store<f32>(d, load<f32>(r0 + off));
          store<f32>(d, load<f32>(r1 + off), 4);
          store<f32>(d, load<f32>(r2 + off), 8);
          store<f32>(d, load<f32>(r3 + off), 12);
        }
      }
    } else {
      for (let p: i32 = 0; p < kc; p++) {
        const d = panel + (<usize>p << 4);
        const pp = <usize>(p0 + p);
        for (let r: i32 = 0; r < MR; r++) {
          let v: f32 = 0;
          if (r < rows) {
            const ii = i + <usize>r;
            v = transA ? load<f32>(a + ((pp * lda + ii) << 2)) : load<f32>(a + ((ii * lda + pp) << 2));
          }
          store<f32>(d + (<usize>r << 2), v);
        }
      }
    }
  }
}

// op(B)[p0 .. p0+kc, j0 .. j0+nc] into NR-column micro-panels: dst[panel][p][j].
function packB(transB: i32, b: usize, ldb: usize, p0: i32, kc: i32, j0: i32, nc: i32, dst: usize): void {
  for (let jr: i32 = 0; jr < nc; jr += NR) {
    const cols = min(NR, nc - jr);
    const panel = dst + (<usize>jr * <usize>kc << 2);
    const j = <usize>(j0 + jr);
    if (cols == NR) {
      if (!transB) {
        // B stored k x n: the NR values of one p are contiguous.
        for (let p: i32 = 0; p < kc; p++) {
          const s = b + ((<usize>(p0 + p) * ldb + j) << 2);
          const d = panel + (<usize>p << 5);
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
        }
      } else {
        // B stored n x k: 8 rows x 4 p, two 4x4 transposes per step.
        const s0 = b + ((j * ldb + <usize>p0) << 2);
        const step = ldb << 2;
        let p: i32 = 0;
        for (; p + 4 <= kc; p += 4) {
          const off = <usize>p << 2;
          const d = panel + (<usize>p << 5);
          for (let h: i32 = 0; h < 2; h++) {
            const r0 = s0 + <usize>(h * 4) * step + off;
            const x0 = v128.load(r0);
            const x1 = v128.load(r0 + step);
            const x2 = v128.load(r0 + 2 * step);
            const x3 = v128.load(r0 + 3 * step);
            const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
            const t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
            const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
            const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
            const dh = d + <usize>(h << 4);
            v128.store(dh, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
            v128.store(dh, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 32);
            v128.store(dh, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 64);
            v128.store(dh, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 96);
          }
        }
        for (; p < kc; p++) {
          const d = panel + (<usize>p << 5);
          const s = s0 + (<usize>p << 2);
          for (let c: i32 = 0; c < NR; c++) store<f32>(d + (<usize>c << 2), load<f32>(s + <usize>c * step));
        }
      }
    } else {
      for (let p: i32 = 0; p < kc; p++) {
        const d = panel + (<usize>p << 5);
        const pp = <usize>(p0 + p);
        for (let c: i32 = 0; c < NR; c++) {
          let v: f32 = 0;
          if (c < cols) {
            const jj = j + <usize>c;
            v = transB ? load<f32>(b + ((jj * ldb + pp) << 2)) : load<f32>(b + ((pp * ldb + jj) << 2));
          }
          store<f32>(d + (<usize>c << 2), v);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Micro-kernel: C[0..rows, 0..cols] = alpha * Ap * Bp + beta * C, with Ap an MR x kc panel and Bp a
// kc x NR panel. beta == 0 never reads C (BLAS: C may hold garbage, even NaN).

function micro(kc: i32, ap: usize, bp: usize, c: usize, ldc: usize, alpha: f32, beta: f32, rows: i32, cols: i32, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  // Not unrolled: measured faster than unrolling by 2 under V8 (fewer live registers, no spills).
  for (let p: i32 = 0; p < kc; p++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    ap += 16;
    bp += 32;
  }
  const va = f32x4.splat(alpha);
  if (rows == MR && cols == NR) {
    const r1 = c + (ldc << 2);
    const r2 = r1 + (ldc << 2);
    const r3 = r2 + (ldc << 2);
    if (beta == 0) {
      v128.store(c, f32x4.mul(c00, va)); v128.store(c, f32x4.mul(c01, va), 16);
      v128.store(r1, f32x4.mul(c10, va)); v128.store(r1, f32x4.mul(c11, va), 16);
      v128.store(r2, f32x4.mul(c20, va)); v128.store(r2, f32x4.mul(c21, va), 16);
      v128.store(r3, f32x4.mul(c30, va)); v128.store(r3, f32x4.mul(c31, va), 16);
    } else if (beta == 1) {
      v128.store(c, madd(c00, va, v128.load(c))); v128.store(c, madd(c01, va, v128.load(c, 16)), 16);
      v128.store(r1, madd(c10, va, v128.load(r1))); v128.store(r1, madd(c11, va, v128.load(r1, 16)), 16);
      v128.store(r2, madd(c20, va, v128.load(r2))); v128.store(r2, madd(c21, va, v128.load(r2, 16)), 16);
      v128.store(r3, madd(c30, va, v128.load(r3))); v128.store(r3, madd(c31, va, v128.load(r3, 16)), 16);
    } else {
      const vb = f32x4.splat(beta);
      v128.store(c, madd(c00, va, f32x4.mul(v128.load(c), vb)));
      v128.store(c, madd(c01, va, f32x4.mul(v128.load(c, 16), vb)), 16);
      v128.store(r1, madd(c10, va, f32x4.mul(v128.load(r1), vb)));
      v128.store(r1, madd(c11, va, f32x4.mul(v128.load(r1, 16), vb)), 16);
      v128.store(r2, madd(c20, va, f32x4.mul(v128.load(r2), vb)));
      v128.store(r2, madd(c21, va, f32x4.mul(v128.load(r2, 16), vb)), 16);
      v128.store(r3, madd(c30, va, f32x4.mul(v128.load(r3), vb)));
      v128.store(r3, madd(c31, va, f32x4.mul(v128.load(r3, 16), vb)), 16);
    }
    return;
  }
  // Edge tile: spill the accumulators and write only the cells inside C.
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
  for (let r: i32 = 0; r < rows; r++) {
    const row = c + ((<usize>r * ldc) << 2);
    const t = tile + (<usize>(r * NR) << 2);
    for (let j: i32 = 0; j < cols; j++) {
      const dst = row + (<usize>j << 2);
      const v = alpha * load<f32>(t + (<usize>j << 2));
      store<f32>(dst, beta == 0 ? v : v + beta * load<f32>(dst));
    }
  }
}

// C = beta * C over an m x n block (k == 0 or alpha == 0).
function scaleC(m: i32, n: i32, beta: f32, c: usize, ldc: usize): void {
  for (let i: i32 = 0; i < m; i++) {
    const row = c + ((<usize>i * ldc) << 2);
    for (let j: i32 = 0; j < n; j++) {
      const d = row + (<usize>j << 2);
      store<f32>(d, beta == 0 ? 0 : beta * load<f32>(d));
    }
  }
}

/**
 * C = alpha * op(A) op(B) + beta * C, row-major, BLAS semantics. op(A) is m x k, op(B) is k x n.
 * a, b, c are byte offsets; lda, ldb, ldc row strides in floats; work is workBytes() of scratch.
 */
export function gemm(
  transA: i32, transB: i32, m: i32, n: i32, k: i32,
  alpha: f32, a: usize, lda: i32, b: usize, ldb: i32,
  beta: f32, c: usize, ldc: i32, work: usize,
): void {
  if (m <= 0 || n <= 0) return;
  const ldcU = <usize>ldc;
  if (k <= 0 || alpha == 0) {
    scaleC(m, n, beta, c, ldcU);
    return;
  }
  const packedA = work;
  const packedB = work + (<usize>PACK_A << 2);
  const tile = packedB + (<usize>PACK_B << 2);
  const ldaU = <usize>lda;
  const ldbU = <usize>ldb;
  for (let jc: i32 = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc: i32 = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      // Later k blocks accumulate onto what the first one wrote.
      const bet: f32 = pc == 0 ? beta : 1;
      packB(transB, b, ldbU, pc, kc, jc, nc, packedB);
      for (let ic: i32 = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        packA(transA, a, ldaU, ic, mc, pc, kc, packedA);
        for (let jr: i32 = 0; jr < nc; jr += NR) {
          const bp = packedB + (<usize>jr * <usize>kc << 2);
          const cols = min(NR, nc - jr);
          for (let ir: i32 = 0; ir < mc; ir += MR) {
            const ap = packedA + (<usize>ir * <usize>kc << 2);
            const cp = c + (((<usize>(ic + ir)) * ldcU + <usize>(jc + jr)) << 2);
            micro(kc, ap, bp, cp, ldcU, alpha, bet, min(MR, mc - ir), cols, tile);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// gemv: y = M x, M row-major rows x cols. Four rows at a time, each a dot product vectorised along
// the row; the four partial vectors are reduced with shuffles into one f32x4 of results.

function hsum4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const t0 = f32x4.add(v128.shuffle<f32>(s0, s1, 0, 4, 1, 5), v128.shuffle<f32>(s0, s1, 2, 6, 3, 7));
  const t1 = f32x4.add(v128.shuffle<f32>(s2, s3, 0, 4, 1, 5), v128.shuffle<f32>(s2, s3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
}

function hsum(s: v128): f32 {
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

/** y[r] = sum_c M[r*cols + c] * x[c]; m, x, y are byte offsets. */
export function gemv(rows: i32, cols: i32, m: usize, x: usize, y: usize): void {
  gemvx(rows, cols, m, cols, x, 1, 0, y);
}

/**
 * y = alpha * M x + beta * y with row stride ldm: gemv with BLAS-style scaling, which also serves a
 * single-row gemm against a transposed B (x W^T, one embedding at serving time). beta == 0 never reads y.
 */
export function gemvx(rows: i32, cols: i32, m: usize, ldm: i32, x: usize, alpha: f32, beta: f32, y: usize): void {
  const stride = <usize>ldm << 2;
  const cv = cols & ~3;
  const va = f32x4.splat(alpha);
  const vb = f32x4.splat(beta);
  let r: i32 = 0;
  for (; r + 4 <= rows; r += 4) {
    const m0 = m + <usize>r * stride;
    const m1 = m0 + stride;
    const m2 = m1 + stride;
    const m3 = m2 + stride;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let c: i32 = 0;
    for (; c < cv; c += 4) {
      const off = <usize>c << 2;
      const xv = v128.load(x + off);
      s0 = madd(v128.load(m0 + off), xv, s0);
      s1 = madd(v128.load(m1 + off), xv, s1);
      s2 = madd(v128.load(m2 + off), xv, s2);
      s3 = madd(v128.load(m3 + off), xv, s3);
    }
    let out = hsum4(s0, s1, s2, s3);
    if (c < cols) {
      let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
      for (; c < cols; c++) {
        const off = <usize>c << 2;
        const xv = load<f32>(x + off);
        t0 += load<f32>(m0 + off) * xv;
        t1 += load<f32>(m1 + off) * xv;
        t2 += load<f32>(m2 + off) * xv;
        t3 += load<f32>(m3 + off) * xv;
      }
      out = f32x4.add(out, f32x4(t0, t1, t2, t3));
    }
    const yp = y + (<usize>r << 2);
    v128.store(yp, beta == 0 ? f32x4.mul(out, va) : madd(out, va, f32x4.mul(v128.load(yp), vb)));
  }
  for (; r < rows; r++) {
    const mr = m + <usize>r * stride;
    let s = f32x4.splat(0);
    let c: i32 = 0;
    for (; c < cv; c += 4) {
      const off = <usize>c << 2;
      s = madd(v128.load(mr + off), v128.load(x + off), s);
    }
    let t = hsum(s);
    for (; c < cols; c++) t += load<f32>(mr + (<usize>c << 2)) * load<f32>(x + (<usize>c << 2));
    const yp = y + (<usize>r << 2);
    store<f32>(yp, beta == 0 ? alpha * t : alpha * t + beta * load<f32>(yp));
  }
}

// ---------------------------------------------------------------------------------------------
// Training kernels: the in-batch softmax loss, embedding-bag pooling (gather and scatter), the
// lazy Adam row update and the weights' moving average. Each has a plain TypeScript reference in
// the two-tower (loss.ts, layers.ts) or math (optim.ts) code, held to it by differential tests.

// exp(x) on four lanes, Cephes' expf scheme: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two
// parts so n ln2 is exact), a degree-7 polynomial for e^r (relative error ~1e-7), times 2^n built
// in the exponent bits. Below -87.33 (where 2^n would leave the normal range) the result is 0, so
// a masked -inf logit gives exactly 0; above 88.37 it saturates at exp(88.37) (callers subtract the max first).
const EXP_LO: f32 = -87.33654;
const EXP_HI: f32 = 88.37; // n = 127 at most: 2^n stays a normal float

// @ts-ignore: decorator
@inline
function expv(x: v128): v128 {
  const keep = f32x4.ge(x, f32x4.splat(EXP_LO));
  // pmin/pmax are one instruction each on x64 (min/max are several, for NaN and -0 semantics); a NaN
  // x gives keep = false, hence 0, either way
  const xc = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  // round to nearest by the shifter 1.5 * 2^23: t's low mantissa bits hold n (|n| <= 127), so 2^n's
  // exponent bits come from t's bits by an integer add, without a float -> int conversion
  const t = f32x4.add(f32x4.mul(xc, f32x4.splat(1.44269504088896341)), f32x4.splat(12582912.0));
  const n = f32x4.sub(t, f32x4.splat(12582912.0));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.add(r, f32x4.mul(n, f32x4.splat(2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = madd(p, r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  p = madd(p, f32x4.mul(r, r), f32x4.add(r, f32x4.splat(1)));
  const pow2 = i32x4.shl(i32x4.sub(t, i32x4.splat(0x4b400000 - 127)), 23);
  return v128.and(f32x4.mul(p, pow2), keep);
}

/** dst[i] = exp(src[i]) for n floats (src may equal dst). */
export function expArray(src: usize, dst: usize, n: i32): void {
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dst + o, expv(v128.load(src + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, f32x4.extract_lane(expv(f32x4.splat(load<f32>(src + o))), 0));
  }
}

/**
 * In-batch sampled softmax over the rows i < B of S (B x C, row stride C) whose weight w[i] >= 0
 * (rows with w[i] < 0 are left to the caller, dS untouched). Row i's positive is column p_i = pos[i]
 * (pos = 0: p_i = i, the diagonal). Logits z_ij = S_ij invTau - logQ_j + lnCount_j (logQ = 0, lnCount
 * = 0: none); columns j != p_i with colItem[j] == colItem[p_i] are masked; the positive's own logit
 * takes no lnCount (a column standing for c copies of an item counts c times as a negative, once as
 * the positive, whose copies are masked). Writes dS_ij = w_i (p_ij - [j = p_i]) invTau invB and
 * returns sum_i w_i (logsumexp_j z_ij - z_ip_i).
 */
export function softmaxXent(B: i32, C: i32, S: usize, invTau: f32, logQ: usize, colItem: usize, w: usize, invB: f32, dS: usize, pos: usize, lnCount: usize): f64 {
  let total: f64 = 0;
  const vt = f32x4.splat(invTau);
  const ninf = f32x4.splat(-Infinity);
  const lane = i32x4(0, 1, 2, 3);
  const cv = C & ~3;
  for (let i: i32 = 0; i < B; i++) {
    const wi = load<f32>(w + (<usize>i << 2));
    if (wi < 0) continue;
    const row = <usize>i * <usize>C << 2;
    const s = S + row;
    const d = dS + row;
    const pi: i32 = pos ? load<i32>(pos + (<usize>i << 2)) : i;
    const io = <usize>pi << 2;
    const ownItem = load<i32>(colItem + io);
    const own = i32x4.splat(ownItem);
    // with multiplicities the positive's column is masked in pass 1 too, and its logit set after
    const vi = i32x4.splat(lnCount ? -1 : pi);
    // pass 1: logits (masked at -inf) into dS, and their max
    // pmax is one instruction (max is several, for NaN semantics): a NaN score is tracked apart, so
    // that it still makes the loss NaN (the trainer then names the non-finite tensor)
    let vmax = ninf;
    let vnan = f32x4.splat(0);
    let j: i32 = 0;
    for (; j < cv; j += 4) {
      const o = <usize>j << 2;
      let z = f32x4.mul(v128.load(s + o), vt);
      if (logQ) z = f32x4.sub(z, v128.load(logQ + o));
      if (lnCount) z = f32x4.add(z, v128.load(lnCount + o));
      const masked = v128.and(i32x4.eq(v128.load(colItem + o), own), i32x4.ne(i32x4.add(lane, i32x4.splat(j)), vi));
      z = v128.bitselect(ninf, z, masked);
      v128.store(d + o, z);
      vmax = f32x4.pmax(vmax, z);
      vnan = v128.or(vnan, f32x4.ne(z, z));
    }
    let zmax: f32 = max(max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
    if (v128.any_true(vnan)) zmax = NaN;
    for (; j < C; j++) {
      const o = <usize>j << 2;
      let z: f32 = load<f32>(s + o) * invTau;
      if (logQ) z -= load<f32>(logQ + o);
      if (lnCount) z += load<f32>(lnCount + o);
      if ((j != pi || lnCount) && load<i32>(colItem + o) == ownItem) z = -Infinity;
      store<f32>(d + o, z);
      if (z > zmax || z != z) zmax = z;
    }
    if (lnCount) {
      // the positive's logit, without its column's multiplicity
      let zo: f32 = load<f32>(s + io) * invTau;
      if (logQ) zo -= load<f32>(logQ + io);
      store<f32>(d + io, zo);
      if (zo > zmax) zmax = zo;
    }
    // pass 2: exp(z - max) and the partition sum (masked columns give exactly 0)
    const vm = f32x4.splat(zmax);
    let vs = f32x4.splat(0);
    for (j = 0; j < cv; j += 4) {
      const o = <usize>j << 2;
      const e = expv(f32x4.sub(v128.load(d + o), vm));
      v128.store(d + o, e);
      vs = f32x4.add(vs, e);
    }
    let sum: f64 = <f64>f32x4.extract_lane(vs, 0) + <f64>f32x4.extract_lane(vs, 1) + <f64>f32x4.extract_lane(vs, 2) + <f64>f32x4.extract_lane(vs, 3);
    for (; j < C; j++) {
      const o = <usize>j << 2;
      const e = f32x4.extract_lane(expv(f32x4.splat(load<f32>(d + o) - zmax)), 0);
      store<f32>(d + o, e);
      sum += <f64>e;
    }
    const zi: f64 = <f64>load<f32>(s + io) * <f64>invTau - (logQ ? <f64>load<f32>(logQ + io) : 0);
    total += <f64>wi * (Math.log(sum) + <f64>zmax - zi);
    // pass 3: d/dS_ij = w_i (p_ij - [j = p_i]) / (tau B)
    const scale = <f32>(<f64>wi * <f64>invTau * <f64>invB / sum);
    const vsc = f32x4.splat(scale);
    for (j = 0; j < cv; j += 4) {
      const o = <usize>j << 2;
      v128.store(d + o, f32x4.mul(v128.load(d + o), vsc));
    }
    for (; j < C; j++) {
      const o = <usize>j << 2;
      store<f32>(d + o, load<f32>(d + o) * scale);
    }
    store<f32>(d + io, load<f32>(d + io) - wi * invTau * invB);
  }
  return total;
}

/** The smallest and largest of n i32 at p, stored at out and out + 4 ((0, -1) for n = 0): argument checks of the host. */
export function i32Range(p: usize, n: i32, out: usize): void {
  let vlo = i32x4.splat(0x7fffffff);
  let vhi = i32x4.splat(-0x80000000);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(p + (<usize>i << 2));
    vlo = i32x4.min_s(vlo, v);
    vhi = i32x4.max_s(vhi, v);
  }
  let lo = min(min(i32x4.extract_lane(vlo, 0), i32x4.extract_lane(vlo, 1)), min(i32x4.extract_lane(vlo, 2), i32x4.extract_lane(vlo, 3)));
  let hi = max(max(i32x4.extract_lane(vhi, 0), i32x4.extract_lane(vhi, 1)), max(i32x4.extract_lane(vhi, 2), i32x4.extract_lane(vhi, 3)));
  for (; i < n; i++) {
    const v = load<i32>(p + (<usize>i << 2));
    lo = min(lo, v);
    hi = max(hi, v);
  }
  if (n <= 0) {
    lo = 0;
    hi = -1;
  }
  store<i32>(out, lo);
  store<i32>(out, hi, 4);
}

/** 1 if all n floats at p are finite, else 0 (x - x is 0 for a finite x, NaN for an infinity or a NaN). */
export function allFinite(p: usize, n: i32): i32 {
  let acc = f32x4.splat(0);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(p + (<usize>i << 2));
    acc = f32x4.add(acc, f32x4.sub(v, v));
  }
  let t: f32 = 0;
  for (; i < n; i++) {
    const v = load<f32>(p + (<usize>i << 2));
    t += v - v;
  }
  return i32x4.all_true(f32x4.eq(acc, f32x4.splat(0))) && t == 0 ? 1 : 0;
}

/**
 * Weighted mean-pooling of embedding rows (table at byte offset `table`, `dim` floats per row):
 * X[r*ldx + xOff ..][0 .. dim) = sum_e w_e T[idx_e] / sum_e |w_e| over r's entries
 * offsets[r] .. offsets[r+1] (zeros for an empty bag). Sixteen columns at a time in registers.
 */
export function bagPool(offsets: usize, indices: usize, weights: usize, B: i32, table: usize, dim: i32, X: usize, ldx: i32, xOff: i32): void {
  pool(offsets, indices, weights, B, table, dim, X, ldx, xOff, false);
}

/** bagPool, adding into X instead of writing it (X += the pooled rows; an empty bag adds nothing). */
export function bagPoolAdd(offsets: usize, indices: usize, weights: usize, B: i32, table: usize, dim: i32, X: usize, ldx: i32, xOff: i32): void {
  pool(offsets, indices, weights, B, table, dim, X, ldx, xOff, true);
}

// @ts-ignore: decorator
@inline
function pool(offsets: usize, indices: usize, weights: usize, B: i32, table: usize, dim: i32, X: usize, ldx: i32, xOff: i32, add: bool): void {
  const rowBytes = <usize>dim << 2;
  for (let r: i32 = 0; r < B; r++) {
    const a = load<i32>(offsets + (<usize>r << 2));
    const b = load<i32>(offsets + (<usize>(r + 1) << 2));
    let z: f32 = 0;
    for (let e = a; e < b; e++) z += abs<f32>(load<f32>(weights + (<usize>e << 2)));
    const inv: f32 = z == 0 ? 0 : 1 / z;
    const x = X + ((<usize>r * <usize>ldx + <usize>xOff) << 2);
    let j: i32 = 0;
    for (; j + 16 <= dim; j += 16) {
      const jo = <usize>j << 2;
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      for (let e = a; e < b; e++) {
        const eo = <usize>e << 2;
        const vw = f32x4.splat(load<f32>(weights + eo));
        const t = table + <usize>load<i32>(indices + eo) * rowBytes + jo;
        s0 = madd(vw, v128.load(t), s0);
        s1 = madd(vw, v128.load(t, 16), s1);
        s2 = madd(vw, v128.load(t, 32), s2);
        s3 = madd(vw, v128.load(t, 48), s3);
      }
      const vi = f32x4.splat(inv);
      if (add) {
        v128.store(x + jo, madd(s0, vi, v128.load(x + jo)));
        v128.store(x + jo, madd(s1, vi, v128.load(x + jo, 16)), 16);
        v128.store(x + jo, madd(s2, vi, v128.load(x + jo, 32)), 32);
        v128.store(x + jo, madd(s3, vi, v128.load(x + jo, 48)), 48);
      } else {
        v128.store(x + jo, f32x4.mul(s0, vi));
        v128.store(x + jo, f32x4.mul(s1, vi), 16);
        v128.store(x + jo, f32x4.mul(s2, vi), 32);
        v128.store(x + jo, f32x4.mul(s3, vi), 48);
      }
    }
    for (; j < dim; j++) {
      let s: f32 = 0;
      for (let e = a; e < b; e++) {
        const eo = <usize>e << 2;
        s += load<f32>(weights + eo) * load<f32>(table + <usize>load<i32>(indices + eo) * rowBytes + (<usize>j << 2));
      }
      const xo = x + (<usize>j << 2);
      store<f32>(xo, add ? load<f32>(xo) + s * inv : s * inv);
    }
  }
}

/**
 * The pooling's backward pass as a scatter-add: for each row r with sum_e |w_e| = z > 0, adds
 * w_e dX[r] / z into the gradient row at element dst[e] of grads (the caller maps table rows to
 * compact gradient rows). Rows with z = 0 are skipped.
 */
export function bagScatter(offsets: usize, weights: usize, dst: usize, B: i32, dim: i32, dX: usize, ldx: i32, xOff: i32, grads: usize): void {
  for (let r: i32 = 0; r < B; r++) {
    const a = load<i32>(offsets + (<usize>r << 2));
    const b = load<i32>(offsets + (<usize>(r + 1) << 2));
    let z: f32 = 0;
    for (let e = a; e < b; e++) z += abs<f32>(load<f32>(weights + (<usize>e << 2)));
    if (z == 0) continue;
    const inv: f32 = 1 / z;
    const x = dX + ((<usize>r * <usize>ldx + <usize>xOff) << 2);
    let j: i32 = 0;
    for (; j + 16 <= dim; j += 16) {
      const jo = <usize>j << 2;
      const vi = f32x4.splat(inv);
      const d0 = f32x4.mul(v128.load(x + jo), vi);
      const d1 = f32x4.mul(v128.load(x + jo, 16), vi);
      const d2 = f32x4.mul(v128.load(x + jo, 32), vi);
      const d3 = f32x4.mul(v128.load(x + jo, 48), vi);
      for (let e = a; e < b; e++) {
        const eo = <usize>e << 2;
        const vw = f32x4.splat(load<f32>(weights + eo));
        const g = grads + (<usize>load<i32>(dst + eo) << 2) + jo;
        v128.store(g, madd(vw, d0, v128.load(g)));
        v128.store(g, madd(vw, d1, v128.load(g, 16)), 16);
        v128.store(g, madd(vw, d2, v128.load(g, 32)), 32);
        v128.store(g, madd(vw, d3, v128.load(g, 48)), 48);
      }
    }
    for (; j < dim; j++) {
      const dj = load<f32>(x + (<usize>j << 2)) * inv;
      for (let e = a; e < b; e++) {
        const eo = <usize>e << 2;
        const g = grads + (<usize>load<i32>(dst + eo) << 2) + (<usize>j << 2);
        store<f32>(g, load<f32>(g) + load<f32>(weights + eo) * dj);
      }
    }
  }
}

// Adam on n contiguous floats: g' = g + l2 p; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
// p -= lr m / (sqrt v + eps).
// @ts-ignore: decorator
@inline
function adamSpan(p: usize, m: usize, v: usize, g: usize, n: i32, lr: f32, b1: f32, c1: f32, b2: f32, c2: f32, eps: f32, l2: f32): void {
  const vb1 = f32x4.splat(b1), vc1 = f32x4.splat(c1), vb2 = f32x4.splat(b2), vc2 = f32x4.splat(c2);
  const vlr = f32x4.splat(lr), veps = f32x4.splat(eps), vl2 = f32x4.splat(l2);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const pv = v128.load(p + o);
    const gv = madd(vl2, pv, v128.load(g + o));
    const mi = madd(vc1, gv, f32x4.mul(vb1, v128.load(m + o)));
    const vi = madd(vc2, f32x4.mul(gv, gv), f32x4.mul(vb2, v128.load(v + o)));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    v128.store(p + o, f32x4.sub(pv, f32x4.div(f32x4.mul(vlr, mi), f32x4.add(f32x4.sqrt(vi), veps))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const pv = load<f32>(p + o);
    const gv = load<f32>(g + o) + l2 * pv;
    const mi = b1 * load<f32>(m + o) + c1 * gv;
    const vi = b2 * load<f32>(v + o) + c2 * gv * gv;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    store<f32>(p + o, pv - (lr * mi) / (sqrt<f32>(vi) + eps));
  }
}

/** Adam over params p, moments m and v (byte offsets of element 0 of each) for n floats from gradient g. */
// b1 and b2 come in as f64 so that 1 - b is taken before rounding (1 - f32(0.999) is 1e-5 off).
export function adamDense(p: usize, m: usize, v: usize, g: usize, n: i32, lr: f32, b1: f64, b2: f64, eps: f32, l2: f32): void {
  adamSpan(p, m, v, g, n, lr, <f32>b1, <f32>(1 - b1), <f32>b2, <f32>(1 - b2), eps, l2);
}

/**
 * Lazy Adam on the rows of a table: row rows[r] (i32) of `dim` floats, at params/moments byte
 * offsets p, m, v of the table's element 0, takes gradient row r of g, for r < nRows.
 */
export function adamRows(p: usize, m: usize, v: usize, rows: usize, nRows: i32, dim: i32, g: usize, lr: f32, b1: f64, b2: f64, eps: f32, l2: f32): void {
  const rowBytes = <usize>dim << 2;
  const f1 = <f32>b1, c1 = <f32>(1 - b1), f2 = <f32>b2, c2 = <f32>(1 - b2);
  for (let r: i32 = 0; r < nRows; r++) {
    const o = <usize>load<i32>(rows + (<usize>r << 2)) * rowBytes;
    adamSpan(p + o, m + o, v + o, g + <usize>r * rowBytes, dim, lr, f1, c1, f2, c2, eps, l2);
  }
}

/** e = d e + (1 - d) p over n floats: the weights' exponential moving average. */
export function emaUpdate(e: usize, p: usize, n: i32, d: f32): void {
  const c: f32 = 1 - d;
  const vd = f32x4.splat(d), vc = f32x4.splat(c);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(e + o, madd(vc, v128.load(p + o), f32x4.mul(vd, v128.load(e + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(e + o, d * load<f32>(e + o) + c * load<f32>(p + o));
  }
}

// ---------------------------------------------------------------------------------------------
// Dense layers' element-wise passes (one SIMD pass each over rows x n, row-major, contiguous).

/** Y[r*n + j] = bias[j] for r < B. */
export function biasRows(Y: usize, B: i32, n: i32, bias: usize): void {
  const rowBytes = <usize>n << 2;
  for (let r: i32 = 0; r < B; r++) memory.copy(Y + <usize>r * rowBytes, bias, rowBytes);
}

/** y = max(0, y) over n floats. */
export function relu(Y: usize, n: i32): void {
  const z = f32x4.splat(0);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(Y + o, f32x4.max(v128.load(Y + o), z));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    if (load<f32>(Y + o) < 0) store<f32>(Y + o, 0);
  }
}

/** dY = 0 where Y <= 0 (the ReLU's output), over n floats. */
export function reluBackward(Y: usize, dY: usize, n: i32): void {
  const z = f32x4.splat(0);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dY + o, v128.and(v128.load(dY + o), f32x4.gt(v128.load(Y + o), z)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    if (load<f32>(Y + o) <= 0) store<f32>(dY + o, 0);
  }
}

/** db[j] += sum_r dY[r*n + j] for r < B, rows added in order. */
export function colSumAdd(dY: usize, B: i32, n: i32, db: usize): void {
  const rowBytes = <usize>n << 2;
  let j: i32 = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    let s = v128.load(db + o);
    for (let r: i32 = 0; r < B; r++) s = f32x4.add(s, v128.load(dY + <usize>r * rowBytes + o));
    v128.store(db + o, s);
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    let s = load<f32>(db + o);
    for (let r: i32 = 0; r < B; r++) s += load<f32>(dY + <usize>r * rowBytes + o);
    store<f32>(db + o, s);
  }
}

// sum of the four lanes
// @ts-ignore: decorator
@inline
function lanes(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** out[r] = E[r] / n_r, n_r = sqrt(|E[r]|^2 + 1e-6), norms[r] = n_r; rows of k floats. */
export function l2Normalize(E: usize, B: i32, k: i32, out: usize, norms: usize): void {
  const rowBytes = <usize>k << 2;
  for (let r: i32 = 0; r < B; r++) {
    const e = E + <usize>r * rowBytes;
    const o = out + <usize>r * rowBytes;
    let sv = f32x4.splat(0);
    let j: i32 = 0;
    for (; j + 4 <= k; j += 4) {
      const x = v128.load(e + (<usize>j << 2));
      sv = madd(x, x, sv);
    }
    let s = lanes(sv);
    for (; j < k; j++) {
      const x = load<f32>(e + (<usize>j << 2));
      s += x * x;
    }
    const nr = sqrt<f32>(s + 1e-6);
    store<f32>(norms + (<usize>r << 2), nr);
    const inv: f32 = 1 / nr;
    const vi = f32x4.splat(inv);
    for (j = 0; j + 4 <= k; j += 4) v128.store(o + (<usize>j << 2), f32x4.mul(v128.load(e + (<usize>j << 2)), vi));
    for (; j < k; j++) store<f32>(o + (<usize>j << 2), load<f32>(e + (<usize>j << 2)) * inv);
  }
}

/** dE[r] = (dOut[r] - out[r] (out[r] . dOut[r])) / norms[r]. */
export function l2NormalizeBackward(out: usize, norms: usize, dOut: usize, B: i32, k: i32, dE: usize): void {
  const rowBytes = <usize>k << 2;
  for (let r: i32 = 0; r < B; r++) {
    const base = <usize>r * rowBytes;
    const o = out + base;
    const g = dOut + base;
    const d = dE + base;
    let sv = f32x4.splat(0);
    let j: i32 = 0;
    for (; j + 4 <= k; j += 4) sv = madd(v128.load(o + (<usize>j << 2)), v128.load(g + (<usize>j << 2)), sv);
    let s = lanes(sv);
    for (; j < k; j++) s += load<f32>(o + (<usize>j << 2)) * load<f32>(g + (<usize>j << 2));
    const inv: f32 = 1 / load<f32>(norms + (<usize>r << 2));
    const vs = f32x4.splat(s), vi = f32x4.splat(inv);
    for (j = 0; j + 4 <= k; j += 4) {
      const jo = <usize>j << 2;
      v128.store(d + jo, f32x4.mul(f32x4.sub(v128.load(g + jo), f32x4.mul(v128.load(o + jo), vs)), vi));
    }
    for (; j < k; j++) {
      const jo = <usize>j << 2;
      store<f32>(d + jo, (load<f32>(g + jo) - load<f32>(o + jo) * s) * inv);
    }
  }
}

/**
 * The slot map of bagScatter: for each entry e of a row whose weights are not all 0, dst[e] = the
 * element offset in grads of its table row's compact gradient row, taking a new one (rows[n] = row,
 * slot[row] = n, gradient zeroed) the first time a row is seen; other rows' entries get 0.
 * Returns the new count n, or -(n + 1) when cap rows are not enough (grow, then call again: the rows
 * already mapped keep their slots, so a second call continues where the first stopped).
 */
export function bagSlots(offsets: usize, indices: usize, weights: usize, B: i32, slot: usize, rows: usize, n: i32, cap: i32, grads: usize, dim: i32, dst: usize): i32 {
  const rowBytes = <usize>dim << 2;
  for (let r: i32 = 0; r < B; r++) {
    const a = load<i32>(offsets + (<usize>r << 2));
    const b = load<i32>(offsets + (<usize>(r + 1) << 2));
    let any = false;
    for (let e = a; e < b; e++) {
      if (load<f32>(weights + (<usize>e << 2)) != 0) {
        any = true;
        break;
      }
    }
    for (let e = a; e < b; e++) {
      const eo = <usize>e << 2;
      if (!any) {
        store<i32>(dst + eo, 0);
        continue;
      }
      const row = load<i32>(indices + eo);
      const sp = slot + (<usize>row << 2);
      let s = load<i32>(sp);
      if (s < 0) {
        if (n >= cap) return -(n + 1);
        s = n++;
        store<i32>(sp, s);
        store<i32>(rows + (<usize>s << 2), row);
        memory.fill(grads + <usize>s * rowBytes, 0, rowBytes);
      }
      store<i32>(dst + eo, s * dim);
    }
  }
  return n;
}

// ---- GBDT ----
// Gradient histograms of the GBDT learner. Each is held bit for bit to the TypeScript loops of
// src/ranking/gbdt/histogram.ts (the same float64 adds in the same order: a bin's (gradient, hessian)
// pair is one f64x2 lane pair, and lanes add independently). `hb` lists the job's features as i32
// pairs: the feature, then the absolute byte address of its bin 0 in the histogram slot (16 bytes per bin).

/**
 * Row-wise: for i in [start, end), row r = idx[i] adds (og[j], oh[j]) (j = r if direct, else i) to the
 * bin rowBins[r*F + f] of each feature f in hb[0..nf).
 */
export function gbdtHistRows(rowBins: usize, F: i32, idx: usize, start: i32, end: i32, og: usize, oh: usize, direct: i32, hb: usize, nf: i32): void {
  const n4 = nf & ~3;
  for (let i = start; i < end; i++) {
    const r = load<i32>(idx + (<usize>i << 2));
    const j = <usize>(direct ? r : i) << 3;
    const gh = f64x2.replace_lane(f64x2.splat(load<f64>(og + j)), 1, load<f64>(oh + j));
    const row = rowBins + <usize>r * <usize>F;
    let k: i32 = 0;
    for (; k < n4; k += 4) {
      const p = hb + (<usize>k << 3);
      // four features have disjoint bins: load all four, then store
      const a0 = <usize>load<i32>(p, 4) + (<usize>load<u8>(row + <usize>load<i32>(p)) << 4);
      const a1 = <usize>load<i32>(p, 12) + (<usize>load<u8>(row + <usize>load<i32>(p, 8)) << 4);
      const a2 = <usize>load<i32>(p, 20) + (<usize>load<u8>(row + <usize>load<i32>(p, 16)) << 4);
      const a3 = <usize>load<i32>(p, 28) + (<usize>load<u8>(row + <usize>load<i32>(p, 24)) << 4);
      const v0 = f64x2.add(v128.load(a0), gh);
      const v1 = f64x2.add(v128.load(a1), gh);
      const v2 = f64x2.add(v128.load(a2), gh);
      const v3 = f64x2.add(v128.load(a3), gh);
      v128.store(a0, v0);
      v128.store(a1, v1);
      v128.store(a2, v2);
      v128.store(a3, v3);
    }
    for (; k < nf; k++) {
      const p = hb + (<usize>k << 3);
      const a = <usize>load<i32>(p, 4) + (<usize>load<u8>(row + <usize>load<i32>(p)) << 4);
      v128.store(a, f64x2.add(v128.load(a), gh));
    }
  }
}

/** Column-wise: as gbdtHistRows, the bin of (r, f) read at bins[f*nRows + r]. One feature per pass. */
export function gbdtHistCols(bins: usize, nRows: i32, idx: usize, start: i32, end: i32, og: usize, oh: usize, direct: i32, hb: usize, nf: i32): void {
  for (let k: i32 = 0; k < nf; k++) {
    const p = hb + (<usize>k << 3);
    const col = bins + <usize>load<i32>(p) * <usize>nRows;
    const h0 = <usize>load<i32>(p, 4);
    for (let i = start; i < end; i++) {
      const r = load<i32>(idx + (<usize>i << 2));
      const j = <usize>(direct ? r : i) << 3;
      const a = h0 + (<usize>load<u8>(col + <usize>r) << 4);
      v128.store(a, f64x2.add(v128.load(a), f64x2.replace_lane(f64x2.splat(load<f64>(og + j)), 1, load<f64>(oh + j))));
    }
  }
}

/** dst[i] -= src[i] for n float64s (the sibling's histogram from the parent's). */
export function gbdtSub(dst: usize, src: usize, n: i32): void {
  let i: i32 = 0;
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i << 3;
    v128.store(dst + o, f64x2.sub(v128.load(dst + o), v128.load(src + o)));
  }
  if (i < n) {
    const o = <usize>i << 3;
    store<f64>(dst + o, load<f64>(dst + o) - load<f64>(src + o));
  }
}

// Math.round of JavaScript (halves go up): x - floor(x) is exact for a double.
// @ts-ignore: decorator
@inline
function roundHalfUp(x: f64): f64 {
  const f = floor(x);
  return x - f >= 0.5 ? f + 1 : f;
}

// leafScore of histogram.ts on two (g, h) lanes at once: T(g)^2 / (h + l2), T the L1 soft threshold,
// 0 where h + l2 <= 0. Lane for lane the same operations, so the same doubles.
// @ts-ignore: decorator
@inline
function leafScores(g: v128, h: v128, l1: v128, nl1: v128, l2: v128, noL1: bool): v128 {
  // without L1, T(g) = g but for g = +-0, where T = +0: T(g)^2 = g^2 either way (for finite sums)
  const t = noL1 ? g : v128.bitselect(f64x2.sub(g, l1), v128.and(f64x2.add(g, l1), f64x2.lt(g, nl1)), f64x2.gt(g, l1));
  const d = f64x2.add(h, l2);
  return v128.and(f64x2.div(f64x2.mul(t, t), d), f64x2.gt(d, f64x2.splat(0)));
}

/**
 * Best split of one leaf whose histogram slot starts at byte `slot`, over features feats[0..nf) (i32s;
 * feature f has bins binOffset[f] .. binOffset[f+1]-1, the last one its missing values), as
 * findBestSplit in histogram.ts, which it matches bit for bit (it only skips bins that cannot change the
 * answer). Writes six f64 to out: gain (-Infinity
 * when no split qualifies), feature, bin, default-left, left gradient sum, left hessian sum.
 */
export function gbdtBestSplit(slot: usize, binOffset: usize, feats: usize, nf: i32, G: f64, H: f64, C: f64, l1: f64, l2: f64, minC: f64, minH: f64, minGain: f64, out: usize): void {
  if (l1 == 0) bestSplit(slot, binOffset, feats, nf, G, H, C, l1, l2, minC, minH, minGain, out, true);
  else bestSplit(slot, binOffset, feats, nf, G, H, C, l1, l2, minC, minH, minGain, out, false);
}

// @ts-ignore: decorator
@inline
function bestSplit(slot: usize, binOffset: usize, feats: usize, nf: i32, G: f64, H: f64, C: f64, l1: f64, l2: f64, minC: f64, minH: f64, minGain: f64, out: usize, noL1: bool): void {
  const vl1 = f64x2.splat(l1);
  const vnl1 = f64x2.splat(-l1);
  const vl2 = f64x2.splat(l2);
  const parentScore = f64x2.extract_lane(leafScores(f64x2.splat(G), f64x2.splat(H), vl1, vnl1, vl2, noL1), 0);
  const cntFactor = H > 0 ? C / H : 0;
  let bestGain = minGain;
  let bf: i32 = -1;
  let bb: i32 = 0;
  let bdl: i32 = 0;
  let blg: f64 = 0;
  let blh: f64 = 0;
  for (let k: i32 = 0; k < nf; k++) {
    const f = load<i32>(feats + (<usize>k << 2));
    const b0 = load<i32>(binOffset + (<usize>f << 2));
    const nv = load<i32>(binOffset + (<usize>(f + 1) << 2)) - b0 - 1;
    const o0 = slot + (<usize>b0 << 4);
    const m = v128.load(o0 + (<usize>nv << 4));
    const mg = f64x2.extract_lane(m, 0);
    const mh = f64x2.extract_lane(m, 1);
    const hasMissing = mh > 0 || mg != 0;
    // pass 1: missing values right; pass 2 (with missing values): missing values left
    const passes: i32 = hasMissing ? 2 : 1;
    for (let pass: i32 = 0; pass < passes; pass++) {
      let lgh = pass == 0 ? f64x2.splat(0) : m;
      const last = pass == 0 && hasMissing ? nv : nv - 1;
      for (let t: i32 = 0; t < last; t++) {
        const bin = v128.load(o0 + (<usize>t << 4));
        // an empty bin (all bits 0) after the first leaves the sums, hence every test and the gain, as
        // the bin before it had them: that one did not beat bestGain, so neither can this (most bins of a
        // small leaf are empty, and this skips their divisions)
        if (t > 0 && !v128.any_true(bin)) continue;
        lgh = f64x2.add(lgh, bin);
        const lh = f64x2.extract_lane(lgh, 1);
        const lc = roundHalfUp(lh * cntFactor);
        if (lh < minH || lc < minC) continue;
        const rh = H - lh;
        if (rh < minH || C - lc < minC) break;
        const lg = f64x2.extract_lane(lgh, 0);
        // lanes: (left, right) gradient sums and hessian sums
        const s = leafScores(f64x2.replace_lane(f64x2.splat(lg), 1, G - lg), f64x2.replace_lane(f64x2.splat(lh), 1, rh), vl1, vnl1, vl2, noL1);
        const gain = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1) - parentScore;
        if (gain > bestGain) {
          bestGain = gain;
          bf = f;
          bb = t;
          // no missing values in training: missing go to the side with more hessian
          bdl = pass == 1 ? 1 : hasMissing ? 0 : lh >= rh ? 1 : 0;
          blg = lg;
          blh = lh;
        }
      }
    }
  }
  store<f64>(out, bf >= 0 && bestGain > 0 ? bestGain : -Infinity);
  store<f64>(out, <f64>bf, 8);
  store<f64>(out, <f64>bb, 16);
  store<f64>(out, <f64>bdl, 24);
  store<f64>(out, blg, 32);
  store<f64>(out, blh, 40);
}

// One step of a row down a flat tree (tree.ts, FlatForest): node byte offset a (from `nodes`) -> its
// child's; 16-byte nodes (feature, float32 threshold, first child, flags: 1 missing goes right, 2 leaf).
// A leaf is its own child with a NaN threshold, so stepping from a leaf stays there.
// @ts-ignore: decorator
@inline
function treeStep(nodes: usize, a: usize, row: usize, nan: bool): usize {
  const p = nodes + a;
  const v = load<f32>(row + (<usize>load<i32>(p) << 2));
  let right = <i32>(v >= load<f32>(p, 4));
  if (nan) right |= <i32>(v != v) & load<i32>(p, 12);
  return <usize>(load<i32>(p, 8) + right) << 4;
}

// @ts-ignore: decorator
@inline
function isLeaf(nodes: usize, a: usize): i32 {
  return load<i32>(nodes + a, 12) & 2;
}

/**
 * out[r] += the leaf value of each tree t < nT, trees in order, for the rows r = rows[i], from <= i < to,
 * of the row-major float32 rows x (F per row): FlatForest's walk32 (nan = 1) and walk32NoNaN (nan = 0)
 * of tree.ts, bit for bit. Trees are the outer loop (a tree's nodes stay in cache), eight rows walk in
 * lockstep (eight independent chains of loads in flight). nodes: the forest's node words; roots: i32 root node per tree; leafValue: f64 per node.
 */
export function gbdtPredict(nodes: usize, roots: usize, nT: i32, leafValue: usize, x: usize, F: i32, rows: usize, from: i32, to: i32, out: usize, nan: i32): void {
  if (nan) predictRows(nodes, roots, nT, leafValue, x, F, rows, from, to, out, true);
  else predictRows(nodes, roots, nT, leafValue, x, F, rows, from, to, out, false);
}

// @ts-ignore: decorator
@inline
function addLeaf(out: usize, leafValue: usize, r: usize, a: usize): void {
  store<f64>(out + (r << 3), load<f64>(out + (r << 3)) + load<f64>(leafValue + (a >> 1)));
}

// @ts-ignore: decorator
@inline
function predictRows(nodes: usize, roots: usize, nT: i32, leafValue: usize, x: usize, F: i32, rows: usize, from: i32, to: i32, out: usize, nan: bool): void {
  const rowBytes = <usize>F << 2;
  const n8 = from + ((to - from) & ~7);
  for (let t: i32 = 0; t < nT; t++) {
    const root = <usize>load<i32>(roots + (<usize>t << 2)) << 4;
    let i = from;
    for (; i < n8; i += 8) {
      const p = rows + (<usize>i << 2);
      const x0 = x + <usize>load<i32>(p) * rowBytes;
      const x1 = x + <usize>load<i32>(p, 4) * rowBytes;
      const x2 = x + <usize>load<i32>(p, 8) * rowBytes;
      const x3 = x + <usize>load<i32>(p, 12) * rowBytes;
      const x4 = x + <usize>load<i32>(p, 16) * rowBytes;
      const x5 = x + <usize>load<i32>(p, 20) * rowBytes;
      const x6 = x + <usize>load<i32>(p, 24) * rowBytes;
      const x7 = x + <usize>load<i32>(p, 28) * rowBytes;
      let a0 = root, a1 = root, a2 = root, a3 = root, a4 = root, a5 = root, a6 = root, a7 = root;
      while ((isLeaf(nodes, a0) & isLeaf(nodes, a1) & isLeaf(nodes, a2) & isLeaf(nodes, a3) & isLeaf(nodes, a4) & isLeaf(nodes, a5) & isLeaf(nodes, a6) & isLeaf(nodes, a7)) == 0) {
        a0 = treeStep(nodes, a0, x0, nan);
        a1 = treeStep(nodes, a1, x1, nan);
        a2 = treeStep(nodes, a2, x2, nan);
        a3 = treeStep(nodes, a3, x3, nan);
        a4 = treeStep(nodes, a4, x4, nan);
        a5 = treeStep(nodes, a5, x5, nan);
        a6 = treeStep(nodes, a6, x6, nan);
        a7 = treeStep(nodes, a7, x7, nan);
      }
      addLeaf(out, leafValue, <usize>load<i32>(p), a0);
      addLeaf(out, leafValue, <usize>load<i32>(p, 4), a1);
      addLeaf(out, leafValue, <usize>load<i32>(p, 8), a2);
      addLeaf(out, leafValue, <usize>load<i32>(p, 12), a3);
      addLeaf(out, leafValue, <usize>load<i32>(p, 16), a4);
      addLeaf(out, leafValue, <usize>load<i32>(p, 20), a5);
      addLeaf(out, leafValue, <usize>load<i32>(p, 24), a6);
      addLeaf(out, leafValue, <usize>load<i32>(p, 28), a7);
    }
    for (; i < to; i++) {
      const r = <usize>load<i32>(rows + (<usize>i << 2));
      const xr = x + r * rowBytes;
      let a = root;
      while (isLeaf(nodes, a) == 0) a = treeStep(nodes, a, xr, nan);
      addLeaf(out, leafValue, r, a);
    }
  }
}

/**
 * Stable partition of the rows idx[start .. start+count) of a leaf by a split on the column-major bins
 * col (bin of row r at col[r]): rows with bin <= bin (or, when defLeft, the missing bin) first, in order,
 * then the others, in order (through tmp). Returns how many go left. Branch-free: each row is written to
 * both places and the counters advance by the test (the test is a coin toss for a good split, which a
 * branch mispredicts half the time). Same result as TreeLearner.partition in learner.ts.
 */
export function gbdtPartition(idx: usize, tmp: usize, col: usize, start: i32, count: i32, bin: i32, missing: i32, defLeft: i32): i32 {
  const base = idx + (<usize>start << 2);
  let nl: usize = 0;
  let nr: usize = 0;
  for (let i: i32 = 0; i < count; i++) {
    const r = load<i32>(base + (<usize>i << 2));
    const b = <i32>load<u8>(col + <usize>r);
    const left = <usize>(b == missing ? defLeft : <i32>(b <= bin));
    store<i32>(base + (nl << 2), r);
    store<i32>(tmp + (nr << 2), r);
    nl += left;
    nr += 1 - left;
  }
  memory.copy(base + (nl << 2), tmp, nr << 2);
  return <i32>nl;
}

// ---- DCN ----
// Scoring kernels of the DCN ranker (src/ranking/deep): the encoder's gather / normalise / embedding
// copy in one pass, and dense layers from weights packed once at load, with the bias, the ReLU or the
// cross layer's x0 ⊙ u + x_l fused into the micro-kernel's store (no bias fill, no second pass).

/** Floats of a packed dense layer (nout x nin): NR-column panels of W^T, then the bias, padded to NR. */
export function dcnPackedSize(nout: i32, nin: i32): i32 {
  const npad = (nout + NR - 1) / NR * NR;
  return npad * nin + npad;
}

/** Packs W (nout x nin, row-major) and b into dst: dst[panel][p][c] = W[panel*NR + c][p] (0 past nout), then b. */
export function dcnPack(w: usize, b: usize, nout: i32, nin: i32, dst: usize): void {
  const npad = (nout + NR - 1) / NR * NR;
  for (let j: i32 = 0; j < npad; j += NR) {
    const panel = dst + (<usize>j * <usize>nin << 2);
    for (let p: i32 = 0; p < nin; p++) {
      for (let c: i32 = 0; c < NR; c++) {
        const jj = j + c;
        store<f32>(panel + (<usize>(p * NR + c) << 2), jj < nout ? load<f32>(w + ((<usize>jj * <usize>nin + <usize>p) << 2)) : 0);
      }
    }
  }
  const bias = dst + (<usize>npad * <usize>nin << 2);
  for (let j: i32 = 0; j < npad; j++) store<f32>(bias + (<usize>j << 2), j < nout ? load<f32>(b + (<usize>j << 2)) : 0);
}

// the fused store of one row's 4 lanes: mode 0 u, mode 1 relu(u) (u < 0 ? 0 : u, as the plain loop), mode 2 x0 ⊙ u + x_l
@inline
function dcnOut(mode: i32, u: v128, x0: usize, xl: usize): v128 {
  if (mode == 1) return f32x4.pmax(u, f32x4.splat(0));
  if (mode == 2) return f32x4.add(f32x4.mul(v128.load(x0), u), v128.load(xl));
  return u;
}

/** Rows per block of dcnDense: the block's packed X (DCN_RB x nin floats) stays in L2 while every weight panel passes over it. */
const DCN_RB: i32 = 64;

/** Bytes of scratch dcnDense needs for layers of nin inputs (a packed row block and an edge tile). */
export function dcnWorkBytes(nin: i32): i32 {
  return (DCN_RB * nin + TILE) * 4;
}

/**
 * One dense layer over B rows from a packed layer (dcnPack): U = X W^T + b (X is B x nin, row stride
 * ldx), then Y (row stride ldy) = U (mode 0), relu(U) (mode 1), or X0 ⊙ U + X (mode 2, a cross layer:
 * nout == nin, X0 with row stride ldx; Y must not overlap X). work: dcnWorkBytes(nin) of scratch.
 */
export function dcnDense(mode: i32, B: i32, nin: i32, nout: i32, x: usize, ldx: i32, packed: usize, y: usize, ldy: i32, x0: usize, work: usize): void {
  if (B <= 0 || nout <= 0) return;
  const npad = (nout + NR - 1) / NR * NR;
  const bias = packed + (<usize>npad * <usize>nin << 2);
  const sx = <usize>ldx << 2;
  const sy = <usize>ldy << 2;
  const tile = work + (<usize>(DCN_RB * nin) << 2);
  for (let i0: i32 = 0; i0 < B; i0 += DCN_RB) {
    const i1 = min(B, i0 + DCN_RB);
    // the block's rows as MR-row panels, p-major (a short last panel repeats its last row)
    for (let i: i32 = i0; i < i1; i += MR) {
      const panel = work + (<usize>(i - i0) * <usize>nin << 2);
      const r0 = x + <usize>i * sx;
      const r1 = x + <usize>min(i + 1, B - 1) * sx;
      const r2 = x + <usize>min(i + 2, B - 1) * sx;
      const r3 = x + <usize>min(i + 3, B - 1) * sx;
      for (let p: i32 = 0; p < nin; p++) {
        const off = <usize>p << 2;
        v128.store(panel + (off << 2), f32x4(load<f32>(r0 + off), load<f32>(r1 + off), load<f32>(r2 + off), load<f32>(r3 + off)));
      }
    }
    for (let j: i32 = 0; j < npad; j += NR) {
      const wp = packed + (<usize>j * <usize>nin << 2);
      const bj = bias + (<usize>j << 2);
      const cols = min(NR, nout - j);
      for (let i: i32 = i0; i < i1; i += MR) {
        const rows = min(MR, B - i);
        const b0 = v128.load(bj);
        const b1 = v128.load(bj, 16);
        let c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1;
        let ap = work + (<usize>(i - i0) * <usize>nin << 2);
        let bp = wp;
        for (let p: i32 = 0; p < nin; p++) {
          const w0 = v128.load(bp);
          const w1 = v128.load(bp, 16);
          let a = v128.load32_splat(ap);
          c00 = madd(a, w0, c00); c01 = madd(a, w1, c01);
          a = v128.load32_splat(ap, 4);
          c10 = madd(a, w0, c10); c11 = madd(a, w1, c11);
          a = v128.load32_splat(ap, 8);
          c20 = madd(a, w0, c20); c21 = madd(a, w1, c21);
          a = v128.load32_splat(ap, 12);
          c30 = madd(a, w0, c30); c31 = madd(a, w1, c31);
          ap += 16;
          bp += 32;
        }
        const jo = <usize>j << 2;
        if (rows == MR && cols == NR) {
          const y0 = y + <usize>i * sy + jo;
          const q0 = <usize>i * sx + jo;
          v128.store(y0, dcnOut(mode, c00, x0 + q0, x + q0));
          v128.store(y0 + 16, dcnOut(mode, c01, x0 + q0 + 16, x + q0 + 16));
          v128.store(y0 + sy, dcnOut(mode, c10, x0 + q0 + sx, x + q0 + sx));
          v128.store(y0 + sy + 16, dcnOut(mode, c11, x0 + q0 + sx + 16, x + q0 + sx + 16));
          v128.store(y0 + 2 * sy, dcnOut(mode, c20, x0 + q0 + 2 * sx, x + q0 + 2 * sx));
          v128.store(y0 + 2 * sy + 16, dcnOut(mode, c21, x0 + q0 + 2 * sx + 16, x + q0 + 2 * sx + 16));
          v128.store(y0 + 3 * sy, dcnOut(mode, c30, x0 + q0 + 3 * sx, x + q0 + 3 * sx));
          v128.store(y0 + 3 * sy + 16, dcnOut(mode, c31, x0 + q0 + 3 * sx + 16, x + q0 + 3 * sx + 16));
          continue;
        }
        // edge tile: spill, then only the cells inside Y (the fused op per cell)
        v128.store(tile, c00); v128.store(tile, c01, 16);
        v128.store(tile, c10, 32); v128.store(tile, c11, 48);
        v128.store(tile, c20, 64); v128.store(tile, c21, 80);
        v128.store(tile, c30, 96); v128.store(tile, c31, 112);
        for (let r: i32 = 0; r < rows; r++) {
          for (let c: i32 = 0; c < cols; c++) {
            let u = load<f32>(tile + (<usize>(r * NR + c) << 2));
            const q = <usize>(i + r) * sx + (<usize>(j + c) << 2);
            if (mode == 1) u = u < 0 ? 0 : u;
            else if (mode == 2) u = load<f32>(x0 + q) * u + load<f32>(x + q);
            store<f32>(y + <usize>(i + r) * sy + (<usize>(j + c) << 2), u);
          }
        }
      }
    }
  }
}

/**
 * The DCN encoder over B rows of raw features x (B x F): per numeric slot k (column cols[k]) a finite
 * value v becomes clip((t - mean[k]) invStd[k]) with t = sign(v) log1p(|v|) when logs[k], else v, in
 * double; a missing one (NaN, ±Infinity) 0 with its indicator (slot N + miss[k], when miss[k] >= 0) 1.
 * Each table t's code (column tcols[t]; vocab[t], the extra row for anything else) goes to codes and its
 * embedding row (e floats at byte address tables[t] + code * e * 4) to x0 at column N + nMissing + t e.
 */
export function dcnEncode(x: usize, F: i32, B: i32, N: i32, cols: usize, logs: usize, miss: usize, mean: usize, invStd: usize, nMissing: i32, clip: f64, T: i32, tcols: usize, vocab: usize, tables: usize, e: i32, x0: usize, d0: i32, codes: usize): void {
  const embedCol = N + nMissing;
  const rowBytes = <usize>e << 2;
  for (let r: i32 = 0; r < B; r++) {
    const src = x + (<usize>r * <usize>F << 2);
    const o = x0 + (<usize>r * <usize>d0 << 2);
    for (let m: i32 = 0; m < nMissing; m++) store<f32>(o + (<usize>(N + m) << 2), 0);
    for (let k: i32 = 0; k < N; k++) {
      const ko = <usize>k << 2;
      const v = <f64>load<f32>(src + (<usize>load<i32>(cols + ko) << 2));
      if (v - v != 0) {
        store<f32>(o + ko, 0);
        const m = load<i32>(miss + ko);
        if (m >= 0) store<f32>(o + (<usize>(N + m) << 2), 1);
        continue;
      }
      const t = load<i32>(logs + ko) ? (v >= 0 ? Math.log1p(v) : -Math.log1p(-v)) : v;
      let z = (t - load<f64>(mean + (ko << 1))) * load<f64>(invStd + (ko << 1));
      if (z > clip) z = clip;
      else if (z < -clip) z = -clip;
      store<f32>(o + ko, <f32>z);
    }
    for (let t: i32 = 0; t < T; t++) {
      const to = <usize>t << 2;
      const c = load<f32>(src + (<usize>load<i32>(tcols + to) << 2));
      const V = load<i32>(vocab + to);
      const code: i32 = c >= 0 && c < <f32>V && c == Mathf.floor(c) ? <i32>c : V;
      store<i32>(codes + (<usize>(r * T + t) << 2), code);
      memory.copy(o + (<usize>(embedCol + t * e) << 2), <usize>load<i32>(tables + to) + <usize>code * rowBytes, rowBytes);
    }
  }
}
