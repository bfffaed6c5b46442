import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Barrier, BarrierAborted, spawnWorker } from './index.ts';

test('Barrier: one party passes at once; an aborted barrier throws instead of blocking', () => {
  const one = new Barrier(Barrier.create(), 1);
  for (let i = 0; i < 3; i++) one.wait();
  const two = new Barrier(Barrier.create(), 2);
  two.abort();
  assert.throws(() => two.wait(), BarrierAborted);
  assert.throws(() => new Barrier(new Int32Array(3), 2), /SharedArrayBuffer/);
});

test('Barrier: a worker and this thread meet at it, round after round', async () => {
  const state = Barrier.create();
  const log = new Int32Array(new SharedArrayBuffer(4 * 8));
  const w = spawnWorker(new URL('./barrier.fixture.ts', import.meta.url), { state, log });
  const b = new Barrier(state, 2);
  for (let round = 0; round < 4; round++) {
    b.wait();
    // the worker wrote this round's mark before the barrier
    assert.equal(Atomics.load(log, round), round + 1);
  }
  await w.terminate();
});
