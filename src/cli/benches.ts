import type { Command } from './command.ts';

/** Benchmarks reachable as `tandem bench <name>`; each is a Command whose code lives under bench/. */
export const benches: Command[] = [];
