// Compiles the AssemblyScript kernels (src/math/wasm/kernels.as) into two WebAssembly modules:
//   kernels.wasm      SIMD with separate multiply and add (runs on every Node >= 20)
//   kernels-fma.wasm  SIMD with relaxed (fused) multiply-add, used where the engine validates it
// Run by `npm run build:wasm` and by npm's `prepare` hook after `npm ci`. The outputs are build
// products (gitignored); the runtime falls back to the TypeScript kernels with a warning without them.
import asc from 'assemblyscript/asc';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../src/math/wasm/', import.meta.url));
const source = readFileSync(dir + 'kernels.as', 'utf8');

const common = {
  runtime: 'stub',
  importMemory: true,
  sharedMemory: true,
  initialMemory: 1,
  maximumMemory: 65536, // 4 GiB; the host creates the memory and sets its own limits
  optimizeLevel: 3,
  shrinkLevel: 0,
  converge: true,
  noAssert: true,
};

const variants = [
  { out: 'kernels.wasm', enable: ['simd', 'threads'], use: ['FMA=0'] },
  { out: 'kernels-fma.wasm', enable: ['simd', 'threads', 'relaxed-simd'], use: ['FMA=1'] },
];

for (const v of variants) {
  const t0 = Date.now();
  // asc wants a .ts entry name; the source keeps .as so that tsc leaves it alone.
  const r = await asc.compileString({ 'kernels.ts': source }, { ...common, enable: v.enable, use: v.use });
  if (r.error || !r.binary) {
    process.stderr.write(r.stderr.toString());
    console.error(`build-wasm: compiling ${v.out} failed: ${r.error?.message ?? 'no binary'}`);
    process.exit(1);
  }
  // Write then rename, so a concurrent reader never sees half a module.
  const tmp = `${dir}${v.out}.${process.pid}.tmp`;
  writeFileSync(tmp, r.binary);
  renameSync(tmp, dir + v.out);
  console.log(`build-wasm: ${v.out} (${r.binary.length} bytes) in ${Date.now() - t0} ms`);
}
