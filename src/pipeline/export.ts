import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/index.ts';
import type { Progress } from '../math/index.ts';
import { csvLines, libsvmLines, writeLines } from '../ranking/index.ts';
import { builtinRegistry, checkEngineConfig, rankerTrainingRows, type EngineConfigInput, type StageRegistry } from './engine/index.ts';

/** What `exportRankerData` wrote. */
export interface RankerExport {
  files: string[];
  features: string[];
  trainRows: number;
  trainGroups: number;
  validRows: number;
  validGroups: number;
  positives: number;
  /** L1 recall of the label items at the candidate count used. */
  recall: number;
  candidatesPerSource: number;
}

/**
 * Builds the ranker's training and validation sets of engine configuration `config` from `train`
 * exactly as fitting does (leakage-free, through the engine's request path), and writes them to `dir`:
 * train/valid .libsvm (qid groups, 0-based indices), train/valid .csv (named columns) and features.txt
 * (LibSVM index, name).
 * @example await exportRankerData(train, 'out/', defaultEngineConfig());
 */
export async function exportRankerData(train: Dataset, dir: string, config: EngineConfigInput, opts: { registry?: StageRegistry; seed?: number; threads?: number; log?: (line: string) => void; progress?: Progress } = {}): Promise<RankerExport> {
  const registry = opts.registry ?? builtinRegistry();
  const log = opts.log ?? (() => {});
  const checked = checkEngineConfig(config, registry);
  const data = await rankerTrainingRows(train, checked, registry, { seed: opts.seed, threads: opts.threads, log, progress: opts.progress });
  log(`export-ranker-data: L1 recall ${data.report.recall.toFixed(4)} at ${checked.candidates} per source; ${data.train.nRows} train rows, ${data.valid.nRows} valid rows`);
  const files = ['train.libsvm', 'valid.libsvm', 'train.csv', 'valid.csv', 'features.txt'];
  // valid groups continue the train qids, so the two files can be concatenated
  const validBase = data.train.groups.length - 1;
  await writeLines(join(dir, 'train.libsvm'), libsvmLines(data.train));
  await writeLines(join(dir, 'valid.libsvm'), libsvmLines(data.valid, validBase));
  await writeLines(join(dir, 'train.csv'), csvLines(data.train));
  await writeLines(join(dir, 'valid.csv'), csvLines(data.valid, validBase));
  await writeFile(join(dir, 'features.txt'), data.train.featureNames.map((n, k) => `${k}\t${n}`).join('\n') + '\n');
  return {
    files,
    features: data.train.featureNames,
    trainRows: data.train.nRows,
    trainGroups: data.train.groups.length - 1,
    validRows: data.valid.nRows,
    validGroups: data.valid.groups.length - 1,
    positives: data.report.positives,
    recall: data.report.recall,
    candidatesPerSource: checked.candidates,
  };
}
