import type { Command } from './command.ts';
import { kernelsBench } from '../../bench/kernels.ts';
import { indexBench } from '../../bench/index-bench.ts';
import { serveBench } from '../../bench/serve.ts';
import { gbdtBench } from '../../bench/gbdt.ts';

/** Benchmarks reachable as `tandem bench <name>`; each is a Command whose code lives under bench/. */
export const benches: Command[] = [kernelsBench, indexBench, serveBench, gbdtBench];
