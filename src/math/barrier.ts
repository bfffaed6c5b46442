/**
 * A reusable barrier for a fixed number of threads over a SharedArrayBuffer (Atomics.wait/notify).
 * Each `wait` returns once every party has arrived; `abort` releases every waiter with an error, so
 * one failing thread never leaves the others blocked.
 */

const COUNT = 0;
const GEN = 1;
const ABORT = 2;

/** Raised in the threads a barrier released because another party aborted it. */
export class BarrierAborted extends Error {
  override name = 'BarrierAborted';
}

export class Barrier {
  /** The barrier's shared state: post it to the workers and wrap it there with `new Barrier(state, parties)`. */
  readonly state: Int32Array;

  /**
   * @example const b = new Barrier(Barrier.create(), 2); worker: new Barrier(state, 2).wait();
   */
  constructor(
    state: Int32Array,
    readonly parties: number,
  ) {
    if (!(state.buffer instanceof SharedArrayBuffer) || state.length < 3) throw new TypeError('Barrier: state must be Barrier.create() (3 Int32 over a SharedArrayBuffer)');
    if (!Number.isInteger(parties) || parties < 1) throw new RangeError(`Barrier: parties must be a positive integer, got ${parties}`);
    this.state = state;
  }

  static create(): Int32Array {
    return new Int32Array(new SharedArrayBuffer(3 * 4));
  }

  /** Blocks until all parties have called `wait` (in this round). Throws BarrierAborted after `abort`. */
  wait(): void {
    const s = this.state;
    if (Atomics.load(s, ABORT) !== 0) throw new BarrierAborted('another thread failed');
    // the generation is read before arriving, so a round that completes meanwhile is never missed
    const gen = Atomics.load(s, GEN);
    if (Atomics.add(s, COUNT, 1) === this.parties - 1) {
      Atomics.store(s, COUNT, 0);
      Atomics.add(s, GEN, 1);
      Atomics.notify(s, GEN);
      return;
    }
    // no spinning: CPU time is what the benchmarks report on a shared machine
    while (Atomics.load(s, GEN) === gen) Atomics.wait(s, GEN, gen);
    if (Atomics.load(s, ABORT) !== 0) throw new BarrierAborted('another thread failed');
  }

  /** Releases every waiter, now and later, with BarrierAborted. */
  abort(): void {
    Atomics.store(this.state, ABORT, 1);
    Atomics.add(this.state, GEN, 1);
    Atomics.notify(this.state, GEN);
  }
}
