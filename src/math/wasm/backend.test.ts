import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, gemmRef, getKernelBackend, jsBackend, spawnWorker, type KernelBackend } from '../index.ts';
import { createWasmBackend, fusedSelfCheck, loadKernelModule, type WasmKernelBackend } from './backend.ts';

// One backend for the whole file, as getKernelBackend() would make it; a second one checks that
// separate memories do not recognise each other's arrays.
const wasm = createWasmBackend();
const U = 2 ** -24; // float32 unit roundoff

/** Fills with values in [-1, 1) rounded to float32. */
function fill(r: Rng, x: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = r.next() * 2 - 1;
  return x;
}

/** A Float32Array either from the backend (read in place) or plain (copied), optionally a subarray at an offset. */
function place(be: KernelBackend, r: Rng, n: number, inside: boolean): Float32Array {
  const off = r.next() < 0.5 ? 0 : 1 + r.int(5);
  const base = inside ? be.alloc(n + off) : new Float32Array(n + off);
  return base.subarray(off, off + n);
}

interface Case {
  ta: boolean;
  tb: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  pad: [number, number, number]; // extra row stride of a, b, c
  inside: [boolean, boolean, boolean];
}

/**
 * Runs one gemm case on `be` and on gemmRef, and asserts every element of C agrees within the
 * float32 error bound of a length-k dot product, and that the gaps between rows of C are untouched.
 */
function checkGemm(be: KernelBackend, r: Rng, cs: Case): void {
  const { ta, tb, m, n, k, alpha, beta } = cs;
  const [aRows, aCols] = ta ? [k, m] : [m, k];
  const [bRows, bCols] = tb ? [n, k] : [k, n];
  const lda = aCols + cs.pad[0];
  const ldb = bCols + cs.pad[1];
  const ldc = n + cs.pad[2];
  const aLen = aRows === 0 ? 0 : (aRows - 1) * lda + aCols;
  const bLen = bRows === 0 ? 0 : (bRows - 1) * ldb + bCols;
  const cLen = (m - 1) * ldc + n;
  const a = fill(r, place(be, r, aLen, cs.inside[0]));
  const b = fill(r, place(be, r, bLen, cs.inside[1]));
  const c = fill(r, place(be, r, cLen, cs.inside[2]));
  const c0 = Float32Array.from(c);
  // BLAS: with beta == 0, C is not read, so garbage (NaN) in it must not leak into the result.
  if (beta === 0) for (let i = 0; i < m; i++) c[i * ldc] = NaN;
  const want = Float32Array.from(c0);
  gemmRef(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc);
  // Error bound from the same product on absolute values.
  const bound = Float32Array.from(c0, Math.abs);
  gemmRef(ta, tb, m, n, k, Math.abs(alpha), a.map(Math.abs), lda, b.map(Math.abs), ldb, Math.abs(beta), bound, ldc);
  be.gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  const tag = () => JSON.stringify(cs);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < ldc && i * ldc + j < cLen; j++) {
      const idx = i * ldc + j;
      // (messages built only on failure: this loop runs for every element)
      if (j >= n) {
        if (!Object.is(c[idx], c0[idx])) assert.fail(`gap C[${i},${j}] changed from ${c0[idx]} to ${c[idx]}: ${tag()}`);
        continue;
      }
      const tol = (k + 3) * U * 2 * bound[idx] + 1e-30;
      const err = Math.abs(c[idx] - want[idx]);
      if (!(err <= tol)) assert.fail(`C[${i},${j}] = ${c[idx]}, reference ${want[idx]}, |err| ${err} > ${tol}: ${tag()}`);
    }
  }
}

// Sizes around the kernel's blocking: micro-tile 4 x 8, KC 256, MC 128, NC 2048, SIMD width 4.
const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 33, 64, 65];

function randomCase(r: Rng, inside?: [boolean, boolean, boolean]): Case {
  const pick = <T>(xs: readonly T[]): T => xs[r.int(xs.length)];
  return {
    ta: r.next() < 0.5,
    tb: r.next() < 0.5,
    m: pick(SIZES),
    n: pick(SIZES),
    k: pick(SIZES),
    alpha: pick([1, -0.5, 2.25, 0]),
    beta: pick([0, 1, 0.3, -2]),
    pad: [r.next() < 0.5 ? 0 : 1 + r.int(6), r.next() < 0.5 ? 0 : 1 + r.int(6), r.next() < 0.5 ? 0 : 1 + r.int(6)],
    inside: inside ?? [r.next() < 0.7, r.next() < 0.7, r.next() < 0.7],
  };
}

test('wasm gemm matches gemmRef on random shapes, all transposes, alpha/beta, strides, in and out of its memory', () => {
  const r = new Rng(11);
  for (let t = 0; t < 400; t++) checkGemm(wasm, r, randomCase(r));
});

test('wasm gemm matches gemmRef across block edges (k > KC, m > MC, n > NC) and k = 1', () => {
  const r = new Rng(12);
  const shapes: Array<[number, number, number]> = [
    [5, 7, 257],
    [9, 11, 600],
    [130, 9, 19],
    [261, 17, 3],
    [3, 2049, 5],
    [6, 4100, 2],
    [64, 64, 1],
    [1, 1, 1],
    [512, 128, 200], // the trainer's forward layer
    [1, 128, 200], // one embedding at serving time (x W^T goes through gemv)
    [1, 37, 5],
    [1, 3, 1],
    [2, 1000, 64], // a few queries against item rows (gemv per row)
    [3, 9, 7],
  ];
  for (const [m, n, k] of shapes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        for (const beta of [0, 0.5]) {
          checkGemm(wasm, r, { ta, tb, m, n, k, alpha: 1.5, beta, pad: [r.int(3), r.int(3), r.int(3)], inside: [true, r.next() < 0.5, true] });
        }
      }
    }
  }
});

test('both builds pass the same differential tests: this process runs the default (fused), a child TANDEM_WASM_FMA=0 the plain one', (t) => {
  const child = process.env.TANDEM_BUILD_CHILD;
  if (child) {
    // This is the child: make sure the build asked for is what the tests here ran on.
    assert.equal(wasm.fused, child === 'fma', `TANDEM_WASM_FMA=${process.env.TANDEM_WASM_FMA} should give the ${child} build`);
    assert.equal(wasm.name, child === 'fma' ? 'wasm-simd-fma' : 'wasm-simd');
    return;
  }
  // the default is the fused build wherever the engine has relaxed SIMD (on Node 20 behind a flag that
  // the backend sets): the tests above ran on it; the child runs them on the other build
  const other = wasm.fused ? 'plain' : 'fma';
  if (other === 'fma' && process.env.TANDEM_WASM_FMA === '0') return t.skip('TANDEM_WASM_FMA=0: the plain build only');
  const file = fileURLToPath(import.meta.url);
  const env: Record<string, string | undefined> = { ...process.env, TANDEM_WASM_FMA: other === 'fma' ? '1' : '0', TANDEM_BUILD_CHILD: other };
  delete env.NODE_TEST_CONTEXT; // else the child's test runner defers to ours and runs nothing
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-name-pattern=random shapes|block edges|gemv matches|both builds', file],
    { env, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  for (const name of ['wasm gemm matches gemmRef on random shapes', 'wasm gemm matches gemmRef across block edges', 'wasm gemv matches the reference', 'both builds']) {
    assert.ok(r.stdout.includes(`✔ ${name}`), `the child did not pass '${name}':\n${r.stdout}`);
  }
});

test('the fused build is the default on this engine, and its load-time self-check accepts it and refuses the plain build', () => {
  if (process.env.TANDEM_WASM_FMA === '0') return;
  assert.equal(wasm.fused, true, 'the fused build should load by default (Node 20: --experimental-wasm-relaxed-simd set at run time)');
  assert.equal(fusedSelfCheck(wasm.module), true);
  assert.equal(fusedSelfCheck(loadKernelModule(false).module), false);
});

test('wasm gemm: zero sizes, k = 0 and alpha = 0 scale C by beta', () => {
  const c = wasm.alloc(6).fill(2);
  wasm.gemm(false, false, 2, 3, 0, 1, wasm.alloc(0), 1, wasm.alloc(0), 3, 0.5, c, 3);
  assert.deepEqual(Array.from(c), [1, 1, 1, 1, 1, 1]);
  const a = wasm.alloc(9).fill(NaN);
  wasm.gemm(false, false, 2, 3, 3, 1, a, 3, a, 3, 0, c, 3);
  assert.ok(c.every(Number.isNaN), 'NaN in A propagates like the reference');
  c.fill(3);
  wasm.gemm(false, false, 0, 3, 3, 1, a, 3, a, 3, 0, c, 3);
  wasm.gemm(false, false, 2, 0, 3, 1, a, 3, a, 3, 0, c, 3);
  assert.ok(c.every((v) => v === 3), 'm = 0 or n = 0 leaves C alone');
});

test('wasm gemm really runs in WebAssembly: C inside its memory is written by the kernel, not copied back', () => {
  assert.match(wasm.name, /^wasm-simd/);
  const a = wasm.alloc(4 * 3).fill(1);
  const b = wasm.alloc(3 * 2).fill(2);
  const c = wasm.alloc(4 * 2);
  assert.ok(wasm.owns(a) && wasm.owns(c));
  // A second, separate memory: its arrays are foreign here (so they get staged), and vice versa.
  const other = createWasmBackend({ initialBytes: 1 << 16 });
  assert.equal(wasm.owns(other.alloc(4)), false);
  assert.equal(other.owns(c), false);
  assert.equal(wasm.owns(new Float32Array(new SharedArrayBuffer(1 << 20))), false);
  assert.equal(wasm.owns(new Float32Array(8)), false);
  // C lives in the memory, so the wrapper copies nothing back: the result can only come from the kernel.
  wasm.gemm(false, false, 4, 2, 3, 1, a, 3, b, 2, 0, c, 2);
  assert.deepEqual(Array.from(c), Array(8).fill(6));
});

test('wasm gemv matches the reference on odd shapes, in and out of its memory', () => {
  const r = new Rng(13);
  for (let t = 0; t < 200; t++) {
    const rows = [1, 2, 3, 4, 5, 7, 9, 33, 100, 1001][r.int(10)];
    const cols = [1, 2, 3, 4, 5, 7, 8, 9, 17, 64, 67][r.int(11)];
    const m = fill(r, place(wasm, r, rows * cols, r.next() < 0.7));
    const x = fill(r, place(wasm, r, cols, r.next() < 0.7));
    const y = fill(r, place(wasm, r, rows, r.next() < 0.7));
    const want = new Float32Array(rows);
    jsBackend.gemv(rows, cols, m, x, want);
    const bound = new Float32Array(rows);
    jsBackend.gemv(rows, cols, m.map(Math.abs), x.map(Math.abs), bound);
    wasm.gemv(rows, cols, m, x, y);
    for (let i = 0; i < rows; i++) {
      const tol = (cols + 3) * U * 2 * bound[i] + 1e-30;
      assert.ok(Math.abs(y[i] - want[i]) <= tol, `y[${i}] = ${y[i]}, reference ${want[i]} (${rows} x ${cols})`);
    }
  }
});

test('bad arguments throw errors that name the argument', () => {
  const a = wasm.alloc(6);
  assert.throws(() => wasm.gemm(false, false, 2, 3, 3, 1, a, 3, a, 3, 0, a, 3), /b has 6 elements, needs 9/);
  assert.throws(() => wasm.gemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, a, 2), /lda = 2 is less than the 3 columns a stores/);
  assert.throws(() => wasm.gemm(false, false, -1, 2, 3, 1, a, 3, a, 2, 0, a, 2), /m must be a non-negative integer/);
  assert.throws(() => wasm.gemv(3, 3, a, a, a), /m has 6 elements, needs rows \* cols = 9/);
  assert.throws(() => wasm.alloc(1.5), /alloc: n must be a non-negative integer/);
});

// The behaviour every KernelBackend promises, run against each implementation.
for (const be of [jsBackend, wasm] as KernelBackend[]) {
  test(`${be.name}: alloc is zero-filled, SharedArrayBuffer-backed and does not overlap`, () => {
    const xs = [be.alloc(3), be.alloc(0), be.alloc(1000), be.alloc(17)];
    for (const x of xs) {
      assert.ok(x.buffer instanceof SharedArrayBuffer);
      assert.ok(x.every((v) => v === 0));
    }
    assert.equal(xs[2].length, 1000);
    xs[0].fill(1);
    xs[2].fill(2);
    xs[3].fill(3);
    assert.ok(xs[0].every((v) => v === 1) && xs[2].every((v) => v === 2) && xs[3].every((v) => v === 3));
  });
  test(`${be.name}: gemm computes a known product, also through detached methods`, () => {
    // Callers keep `const gemm = backend.gemm` and pass `backend.alloc` around: no `this` allowed.
    const { gemm, gemv, alloc } = be;
    // [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50]
    const a = Float32Array.of(1, 2, 3, 4);
    const b = alloc(4);
    b.set([5, 6, 7, 8]);
    const c = new Float32Array(4);
    gemm(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2);
    assert.deepEqual(Array.from(c), [19, 22, 43, 50]);
    gemm(true, true, 2, 2, 2, 1, a, 2, b, 2, 1, c, 2); // += A^T B^T = [23 31; 34 46]
    assert.deepEqual(Array.from(c), [42, 53, 77, 96]);
    const y = new Float32Array(2);
    gemv(2, 2, a, Float32Array.of(1, -1), y);
    assert.deepEqual(Array.from(y), [-1, -1]);
  });
}

test('alloc grows the shared memory without detaching earlier views', () => {
  const be = createWasmBackend({ initialBytes: 1 << 16 });
  const first = be.alloc(16).fill(7);
  const big = be.alloc(3 << 20); // 12 MB: several grows
  big[big.length - 1] = 1;
  assert.ok(first.every((v) => v === 7));
  assert.ok(be.owns(first) && be.owns(big));
  const c = be.alloc(4);
  be.gemm(false, false, 2, 2, 1, 1, first, 1, first, 2, 0, c, 2);
  assert.deepEqual(Array.from(c), [49, 49, 49, 49]);
});

test('free: freed blocks are reused (zeroed), neighbours merge, the top goes back to the bump pointer, misuse is refused', () => {
  const be = createWasmBackend({ initialBytes: 1 << 20 });
  const base = be.usage();
  const a = be.alloc(1000).fill(1);
  const b = be.alloc(1000).fill(2);
  const c = be.alloc(1000).fill(3);
  const guard = be.alloc(16); // keeps a..c below the top
  be.free(b);
  assert.equal(be.usage().freeBytes, 4032, 'b is on the free list (rounded to 64 bytes)');
  const b2 = be.alloc(900);
  assert.equal(b2.byteOffset, b.byteOffset, 'best fit: the freed block is reused');
  assert.ok(b2.every((v) => v === 0), 'reused memory is zeroed, as fresh memory is');
  be.free(b2);
  be.free(a);
  be.free(c);
  const u = be.usage();
  assert.equal(u.freeBytes, 3 * 4032, 'a, b and c merged into one block');
  const big = be.alloc(3000);
  assert.equal(big.byteOffset, a.byteOffset, 'the merged block holds an allocation none of them could');
  big.fill(5);
  be.free(big);
  be.free(guard);
  assert.deepEqual(be.usage(), base, 'everything went back: the bump pointer is where it started');
  const again = be.alloc(16);
  assert.equal(again.byteOffset, a.byteOffset, 'the next allocation starts where the freed ones did');
  assert.ok(again.every((v) => v === 0), 'memory back under the bump pointer is handed out zeroed too');
  be.free(again);
  assert.throws(() => be.free(again), /not a live allocation of this thread's backend \(freed twice/);
  const x = be.alloc(64);
  assert.throws(() => be.free(x.subarray(1)), /not a live allocation/);
  assert.throws(() => be.free(new Float32Array(4)), /not in the kernel memory/);
  be.free(x);
  // allocating and freeing a model's worth over and over does not grow the memory
  const bytes = be.memory.buffer.byteLength;
  for (let i = 0; i < 200; i++) {
    const w = be.alloc(50_000 + (i % 3) * 1000);
    const s = be.train.allocInt32(1000);
    be.free(s);
    be.free(w);
  }
  assert.equal(be.memory.buffer.byteLength, bytes);
  assert.deepEqual(be.usage(), base);
});

async function workerComputes(be: WasmKernelBackend, auto: boolean): Promise<void> {
  const r = new Rng(14);
  const m = 37;
  const n = 21;
  const k = 70;
  const a = fill(r, be.alloc(m * k));
  const b = fill(r, be.alloc(n * k));
  const c = be.alloc(m * n);
  const data = auto ? { auto, a, b, c, m, n, k } : { auto, memory: be.memory, module: be.module, a, b, c, m, n, k };
  const w = spawnWorker(new URL('./backend.fixture.ts', import.meta.url), data);
  const msg = await new Promise<{ owns: boolean[]; name: string; offset: number; length: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  assert.match(msg.name, /^wasm-simd/);
  assert.deepEqual(msg.owns, [true, true, true], 'the posted views are recognised as the same memory');
  const want = new Float32Array(m * n);
  gemmRef(false, true, m, n, k, 1, a, k, b, k, 0, want, n);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(c[i] - want[i]) < 1e-4, `C[${i}] = ${c[i]} vs ${want[i]}`);
  // The worker allocated from the same bump pointer: its array is visible here and fresh.
  const theirs = be.view(msg.offset, msg.length);
  assert.ok(theirs.every((v, i) => v === i));
  const mine = be.alloc(4);
  assert.ok(mine.byteOffset >= msg.offset + msg.length * 4, 'allocations never overlap across threads');
}

test('a worker thread attaches the same memory (createWasmBackend({ memory })), reads arrays in place and computes on them', async () => {
  await workerComputes(wasm, false);
});

test('getKernelBackend() in a worker attaches to the memory of the thread that spawned it', async (t) => {
  const be = getKernelBackend();
  if (!be.name.startsWith('wasm')) return t.skip(`getKernelBackend() is '${be.name}' here (TANDEM_KERNELS=${process.env.TANDEM_KERNELS})`);
  await workerComputes(be as WasmKernelBackend, true);
});

test('two threads allocating at once get disjoint, intact ranges', async () => {
  const count = 20000;
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const theirs = new Float64Array(new SharedArrayBuffer(count * 8));
  const w = spawnWorker(new URL('./alloc.fixture.ts', import.meta.url), { memory: wasm.memory, flag, offsets: theirs, count });
  const failed = new Promise((_, reject) => w.once('error', reject));
  // Start together: wait (without blocking the event loop for long) until the worker is ready.
  while (Atomics.load(flag, 0) !== 1) await Promise.race([new Promise((r) => setTimeout(r, 5)), failed]);
  Atomics.store(flag, 1, 1);
  const mine: Float32Array[] = [];
  for (let i = 0; i < count; i++) mine.push(wasm.alloc(1 + (i % 5)).fill(-(i + 1)));
  while (Atomics.load(flag, 0) !== 2) await Promise.race([new Promise((r) => setTimeout(r, 5)), failed]);
  await w.terminate();
  const spans: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    spans.push([mine[i].byteOffset, mine[i].byteOffset + mine[i].byteLength]);
    assert.ok(mine[i].every((v) => v === -(i + 1)), `my array ${i} was overwritten`);
    const t = wasm.view(theirs[i], 1 + (i % 7));
    assert.ok(t.every((v) => v === i + 1), `the worker's array ${i} was overwritten`);
    spans.push([t.byteOffset, t.byteOffset + t.byteLength]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], `ranges overlap at ${spans[i][0]}`);
});

test('TANDEM_KERNELS=js selects the reference backend, and getKernelBackend picks wasm otherwise', () => {
  const script = "import { getKernelBackend } from './src/math/index.ts'; console.log(getKernelBackend().name);";
  const cwd = fileURLToPath(new URL('../../../', import.meta.url));
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd, env: { ...process.env, ...env }, encoding: 'utf8' });
  const js = run({ TANDEM_KERNELS: 'js' });
  assert.equal(js.stdout.trim(), 'js', js.stderr);
  const auto = run({ TANDEM_KERNELS: '' });
  assert.match(auto.stdout.trim(), /^wasm-simd/, auto.stderr);
  assert.equal(auto.stderr, '', 'no warning when the module is built and fresh');
});

test('without the built module, getKernelBackend warns once and falls back to the TypeScript kernels', () => {
  // A copy of src/math without the .wasm files (the real ones stay: other tests run beside this one).
  const math = fileURLToPath(new URL('../', import.meta.url));
  const tmp = mkdtempSync(join(tmpdir(), 'tandem-kernels-'));
  try {
    cpSync(math, join(tmp, 'math'), { recursive: true, filter: (src) => !src.endsWith('.wasm') });
    writeFileSync(join(tmp, 'package.json'), '{ "type": "module" }');
    const script = `import { getKernelBackend } from ${JSON.stringify(join(tmp, 'math', 'index.ts'))};
      const be = getKernelBackend(); getKernelBackend();
      const c = new Float32Array(1); be.gemm(false, false, 1, 1, 1, 1, Float32Array.of(2), 1, Float32Array.of(3), 1, 0, c, 1);
      console.log(be.name, c[0]);`;
    const cwd = fileURLToPath(new URL('../../../', import.meta.url));
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd, env: { ...process.env, ...env }, encoding: 'utf8' });
    const r = run({ TANDEM_KERNELS: '' });
    assert.equal(r.stdout.trim(), 'js 6', r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /WebAssembly kernels not built .*kernels\.wasm missing.*npm run build:wasm.*using the slower TypeScript kernels/);
    const forced = run({ TANDEM_KERNELS: 'wasm' });
    assert.notEqual(forced.status, 0);
    assert.match(forced.stderr, /WebAssembly kernels not built/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

// A minimal module standing in for another build of the kernels: it imports the shared memory, has an
// active data segment of `fill` bytes at [at, at + len), and exports heapBase() = base and fused() = 0.
function otherBuild(base: number, at: number, len: number, fill: number): object {
  const u = (n: number): number[] => {
    const o: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      o.push(b);
    } while (n);
    return o;
  };
  const s = (n: number): number[] => {
    const o: number[] = [];
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...o, b];
      o.push(b | 0x80);
    }
  };
  const str = (t: string): number[] => [...u(t.length), ...Buffer.from(t)];
  const sec = (id: number, body: number[]): number[] => [id, ...u(body.length), ...body];
  const body = (code: number[]): number[] => [...u(code.length + 1), 0, ...code];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...sec(1, [1, 0x60, 0, 1, 0x7f]),
    ...sec(2, [1, ...str('env'), ...str('memory'), 2, 3, 1, ...u(65536)]),
    ...sec(3, [2, 0, 0]),
    ...sec(7, [2, ...str('heapBase'), 0, 0, ...str('fused'), 0, 1]),
    ...sec(10, [2, ...body([0x41, ...s(base), 0x0b]), ...body([0x41, 0, 0x0b])]),
    ...sec(11, [1, 0, 0x41, ...s(at), 0x0b, ...u(len), ...new Array(len).fill(fill)]),
  ];
  const WA = (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => object } }).WebAssembly;
  return new WA.Module(new Uint8Array(bytes));
}

test('attaching with another build of the kernels is refused before its static data can overwrite the allocator', () => {
  // The crash this guards against: kernels.wasm rebuilt while a process ran, a worker compiling the new
  // file and instantiating it on the shared memory wrote its tables over the header (bump pointer and
  // magic): a "not made by a kernel backend" warning in the worker, then "start offset of Float32Array
  // should be a multiple of 4" at the next alloc in the main thread.
  const be = createWasmBackend({ initialBytes: 1 << 20 });
  const first = be.alloc(5);
  const headerAt = first.byteOffset - 64;
  first.set([1, 2, 3, 4, 5]);
  const ints = be.train.allocInt32(3);
  ints.set([7, 8, 9]);
  const builds = [
    // bigger static data: the new header is at the old first allocation, its tables cover the old header
    otherBuild(headerAt + 1, headerAt - 64, 128, 1),
    // same header place, different tables (odd bytes over the bump pointer too)
    otherBuild(headerAt, 1024, headerAt - 1024 + 8, 3),
  ];
  for (const module of builds) {
    assert.throws(() => createWasmBackend({ memory: be.memory, module }), /another build of the kernels/);
    // nothing was written: the allocator still works and earlier arrays are intact
    const a = be.alloc(3);
    assert.equal(a.byteOffset % 64, 0);
    assert.equal(be.train.allocInt32(1).byteOffset % 64, 0);
    assert.deepEqual(Array.from(first), [1, 2, 3, 4, 5]);
    assert.deepEqual(Array.from(ints), [7, 8, 9]);
  }
  // the same build (the creator's module) still attaches, and allocates after the creator's arrays
  const same = createWasmBackend({ memory: be.memory, module: be.module });
  const b = same.alloc(1);
  assert.ok(b.byteOffset > ints.byteOffset && b.byteOffset % 64 === 0);
  assert.ok(be.owns(b));
});
