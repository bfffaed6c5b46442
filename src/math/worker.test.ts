import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnWorker } from './index.ts';

test('spawnWorker runs a TypeScript worker that shares memory with the parent', async () => {
  const shared = new Float32Array(new SharedArrayBuffer(16));
  const w = spawnWorker(new URL('./worker.fixture.ts', import.meta.url), { buffer: shared.buffer, x: 21 });
  const msg = await new Promise<{ y: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  assert.equal(msg.y, 42);
  assert.equal(shared[0], 42);
});
