import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getKernelBackend } from '../../math/index.ts';
import { trainTwoTower } from './train.ts';
import { tinyDataset } from './test-fixture.ts';

const SMALL = { embeddingDim: 8, hidden: [16], dim: 8, batchSize: 16, epochs: 2, warmupSteps: 2, temperature: 0.2 };

test('a threaded two-tower fitted three times in one process, with odd-sized allocations between', async () => {
  // Regression: the second threaded fit of `tandem evaluate` crashed with "start offset of Float32Array
  // should be a multiple of 4" after its workers failed to attach to the kernel memory. Workers now
  // attach with the main thread's compiled module (never a recompile of kernels.wasm), and an attach
  // that would overwrite the allocator is refused before it writes anything.
  const ds = tinyDataset(40, 48, 10, 2);
  const be = getKernelBackend();
  const warnings: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (String(chunk).includes('kernel')) warnings.push(String(chunk));
    return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    for (let fit = 0; fit < 3; fit++) {
      const r = await trainTwoTower(ds, SMALL, { threads: 2, seed: fit + 1, log: () => {} });
      assert.equal(r.epochs.length, SMALL.epochs);
      for (const e of r.epochs) assert.ok(Number.isFinite(e.loss) && e.loss > 0, `fit ${fit}: loss ${e.loss}`);
      assert.ok(r.model.params.every(Number.isFinite));
      // odd sizes between fits: the allocator stays aligned and the next fit's workers still attach
      const odd = [be.alloc(1), be.alloc(3 + fit * 1001), be.train?.allocInt32(5 + fit) ?? be.alloc(5)];
      for (const a of odd) assert.equal(a.byteOffset % 4, 0);
      if (be.name.startsWith('wasm')) for (const a of odd) assert.equal(a.byteOffset % 64, 0);
    }
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(warnings, []);
});
