import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEmbeddings } from './index-bench.ts';

test('bench index reads two-tower embeddings (raw float32 + FILE.json) and names what is wrong', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-emb-'));
  try {
    const file = join(dir, 'items.f32');
    assert.throws(() => readEmbeddings(file, '--embeddings'), /--embeddings .*items\.f32: no such file \(the two-tower training step writes/);
    const v = Float32Array.from([1, 2, 3, 4, 5, 6]);
    await writeFile(file, new Uint8Array(v.buffer));
    assert.throws(() => readEmbeddings(file, '--embeddings'), /sidecar .*items\.f32\.json with \{"n","dim"\} is missing/);
    await writeFile(`${file}.json`, JSON.stringify({ n: 2, dim: 4 }));
    assert.throws(() => readEmbeddings(file, '--embeddings'), /has 24 bytes, .* implies n x dim x 4 = 32/);
    await writeFile(`${file}.json`, JSON.stringify({ n: 2, dim: '3' }));
    assert.throws(() => readEmbeddings(file, '--embeddings'), /field 'dim' must be a positive integer, got "3"/);
    await writeFile(`${file}.json`, JSON.stringify({ n: 2, dim: 3 }));
    const e = readEmbeddings(file, '--embeddings');
    assert.equal(e.n, 2);
    assert.equal(e.dim, 3);
    assert.deepEqual(Array.from(e.v), [1, 2, 3, 4, 5, 6]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
