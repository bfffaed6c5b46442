// The benchmarks' public surface: each is a Command that `tandem bench <name>` runs.
import type { Command } from '../src/schema/index.ts';
import { coldStartBench } from './cold-start.ts';
import { easeInverseBench } from './ease-inverse.ts';
import { experimentsBench } from './experiments.ts';
import { gbdtBench } from './gbdt.ts';
import { indexBench } from './index-bench.ts';
import { kernelsBench } from './kernels.ts';
import { logBench } from './log.ts';
import { rankerBench } from './ranker.ts';
import { reloadBench } from './reload.ts';
import { serveBench } from './serve.ts';
import { spreadBench } from './spread.ts';
import { syntheticBench } from './synthetic.ts';
import { trainBench } from './train.ts';
import { twoTowerEmbeddingsBench } from './twotower-embeddings.ts';

/** Benchmarks reachable as `tandem bench <name>`, in the order `--help` lists them. */
export const benches: Command[] = [trainBench, coldStartBench, kernelsBench, indexBench, serveBench, gbdtBench, rankerBench, syntheticBench, twoTowerEmbeddingsBench, spreadBench, reloadBench, experimentsBench, easeInverseBench, logBench];
