import type { Command } from '../schema/index.ts';
import { kernelsBench } from '../../bench/kernels.ts';
import { indexBench } from '../../bench/index-bench.ts';
import { serveBench } from '../../bench/serve.ts';
import { trainBench } from '../../bench/train.ts';
import { coldStartBench } from '../../bench/cold-start.ts';
import { gbdtBench } from '../../bench/gbdt.ts';
import { syntheticBench } from '../../bench/synthetic.ts';
import { twoTowerEmbeddingsBench } from '../../bench/twotower-embeddings.ts';

/** Benchmarks reachable as `tandem bench <name>`; each is a Command whose code lives under bench/. */
export const benches: Command[] = [trainBench, coldStartBench, kernelsBench, indexBench, serveBench, gbdtBench, syntheticBench, twoTowerEmbeddingsBench];
