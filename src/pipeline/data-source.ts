/**
 * Where evaluation data comes from: a preset, a dataset config file or the synthetic generator; then
 * given train/test files or a split rule. The CLI's evaluate and demo commands go through here.
 */
import {
  formatLoadReport,
  generateSynthetic,
  loadConfigFile,
  loadDataset,
  loadTrainTest,
  parseSplit,
  resolvePreset,
  resolveSyntheticOptions,
  SPLIT_FORMATS,
  splitDataset,
  type Dataset,
  type DatasetConfig,
  type LoadReport,
  type SplitFormat,
  type SyntheticOptions,
  SYNTHETIC_OPTIONS,
} from '../data/index.ts';
import type { Progress } from '../math/index.ts';

import { keyValues, schema, UsageError } from '../schema/index.ts';

export { SYNTHETIC_OPTIONS, formatLoadReport, generateSynthetic as generateSyntheticDataset } from '../data/index.ts';
export type { SyntheticOptions } from '../data/index.ts';
export { DEFAULT_TABLE_METRICS, formatResultsTable, formatTable } from '../evaluation/index.ts';

/**
 * The command-line flags that name evaluation data (a preset, a config or the synthetic set; split
 * files or a rule): one declaration shared by `tandem evaluate`, `tandem demo` and the benchmarks.
 */
export const DATA_FLAGS = schema({
  dataset: { type: 'string', description: 'built-in dataset preset (movielens-100k, movielens-latest)' },
  data: { type: 'string', description: 'directory holding the preset\u2019s files' },
  config: { type: 'string', description: 'dataset config file (JSON) instead of a preset' },
  synthetic: { type: 'boolean', description: 'the built-in synthetic dataset (sizes: --users --items --interactions --dim)' },
  users: { type: 'number', description: 'synthetic users', default: SYNTHETIC_OPTIONS.users.default },
  items: { type: 'number', description: 'synthetic items', default: SYNTHETIC_OPTIONS.items.default },
  interactions: { type: 'number', description: 'synthetic interactions', default: SYNTHETIC_OPTIONS.interactions.default },
  dim: { type: 'number', description: 'synthetic latent dimension', default: SYNTHETIC_OPTIONS.dim.default },
  shape: { type: 'list', of: 'string', description: "the synthetic generator's other options as KEY=VALUE, comma-separated (itemNoise=1.2,titleTaste=1: docs/evaluation.md lists them)" },
  train: { type: 'string', description: 'train interactions file (with --test): user, item[, value, timestamp], separator and header detected' },
  test: { type: 'string', description: 'test interactions file' },
  'split-format': { type: 'string', description: 'how --train/--test files are read: auto (default), tsv, csv, tsv-header, csv-header, or config (the dataset\u2019s own interaction format)' },
  split: { type: 'string', description: 'split rule when no files are given: user-temporal:F, global-temporal:F, leave-last-out[:N] (default user-temporal:0.2)' },
  'skip-bad-rows': { type: 'boolean', description: 'skip and count malformed input rows instead of stopping at the first' },
});

/** The data source the flags name; exactly one of --dataset, --config, --synthetic. Throws UsageError. */
export function dataSourceFromFlags(o: { dataset?: string; data?: string; config?: string; synthetic: boolean; users: number; items: number; interactions: number; dim: number; seed: number; shape?: string[] }): DataSource {
  const chosen = [o.dataset !== undefined, o.config !== undefined, o.synthetic].filter(Boolean).length;
  if (chosen !== 1) throw new UsageError('give exactly one of --dataset NAME --data DIR, --config FILE, or --synthetic');
  if (o.shape !== undefined && o.shape.length > 0 && !o.synthetic) throw new UsageError('--shape sets options of the synthetic generator; give --synthetic too');
  if (o.synthetic) return { kind: 'synthetic', options: { ...syntheticShape(o.shape ?? []), users: o.users, items: o.items, interactions: o.interactions, dim: o.dim, seed: o.seed } };
  if (o.config !== undefined) return { kind: 'config', path: o.config };
  if (o.data === undefined) throw new UsageError('--dataset needs --data DIR (the directory holding its files)');
  return { kind: 'preset', name: o.dataset!, dir: o.data };
}

/** `--shape KEY=VALUE,...`: the generator's options other than the sizes, dim and seed (their own flags), checked against its ranges. */
export function syntheticShape(list: readonly string[]): Partial<SyntheticOptions> {
  const out: Record<string, number> = {};
  for (const [key, text] of Object.entries(keyValues(list, '--shape'))) {
    if (['users', 'items', 'interactions', 'dim', 'seed'].includes(key)) throw new UsageError(`--shape ${key}: give it as --${key}`);
    const v = Number(text);
    if (String(text).trim() === '' || !Number.isFinite(v)) throw new UsageError(`--shape ${key}=${String(text)}: not a number`);
    out[key] = v;
  }
  try {
    resolveSyntheticOptions(out);
  } catch (e) {
    throw new UsageError(`--shape: ${(e as Error).message}`);
  }
  return out as Partial<SyntheticOptions>;
}

/** One of the three ways to name a dataset. */
export type DataSource =
  | { kind: 'preset'; name: string; dir: string }
  | { kind: 'config'; path: string }
  | { kind: 'synthetic'; options: Partial<SyntheticOptions> };

export interface EvaluationDataSpec {
  source: DataSource;
  /** Explicit train and test files; both or neither. */
  trainPath?: string;
  testPath?: string;
  /** How the train and test files are read (default 'auto': user, item[, value, timestamp] detected, or the config's own format). */
  splitFormat?: string;
  /** The split rule when no files are given (default user-temporal:0.2). */
  split?: string;
  skipBadRows?: boolean;
  log?: (msg: string) => void;
  /** Where loading reports each file's bytes read (default none). */
  progress?: Progress;
}

/** The default split of `tandem evaluate` and `tandem demo`: the benchmark's per-user temporal rule. */
export const DEFAULT_SPLIT = 'user-temporal:0.2';

/**
 * Train and test sides (sharing their tables) and, when files were read, the load report.
 * @example const { train, test } = await loadEvaluationData({ source: { kind: 'synthetic', options: { users: 1000 } } })
 */
export async function loadEvaluationData(spec: EvaluationDataSpec): Promise<{ train: Dataset; test: Dataset; report?: LoadReport }> {
  const log = spec.log ?? (() => {});
  if ((spec.trainPath === undefined) !== (spec.testPath === undefined)) throw new Error('give both a train file and a test file, or neither');
  if (spec.trainPath !== undefined && spec.split !== undefined) throw new Error('give either train/test files or a split rule, not both');
  if (spec.splitFormat !== undefined) {
    if (spec.trainPath === undefined) throw new Error('a split format says how to read train and test files; give them too (--train FILE --test FILE)');
    if (!(SPLIT_FORMATS as readonly string[]).includes(spec.splitFormat)) throw new Error(`unknown split format '${spec.splitFormat}'; expected one of ${SPLIT_FORMATS.join(', ')}`);
  }
  const t0 = performance.now();
  const src = spec.source;
  if (src.kind === 'synthetic') {
    if (spec.trainPath !== undefined) throw new Error('the synthetic dataset is split by a rule, not by files');
    const ds = generateSynthetic(src.options);
    log(`generated synthetic dataset: ${ds.numUsers} users, ${ds.numItems} items, ${ds.interactions.length} interactions (${secs(t0)} s)`);
    return splitLogged(ds, spec.split ?? DEFAULT_SPLIT, log);
  }
  const config: DatasetConfig = src.kind === 'config' ? await loadConfigFile(src.path) : resolvePreset(src.name, src.dir);
  const opts = { skipBadRows: spec.skipBadRows ?? false, progress: spec.progress };
  if (spec.trainPath !== undefined) {
    const { train, test, report } = await loadTrainTest(config, spec.trainPath, spec.testPath!, { ...opts, splitFormat: spec.splitFormat as SplitFormat | undefined });
    log(formatLoadReport(report));
    log(`loaded ${train.numUsers} users, ${train.numItems} items; train ${train.interactions.length}, test ${test.interactions.length} interactions (${secs(t0)} s)`);
    return { train, test, report };
  }
  const { dataset, report } = await loadDataset(config, opts);
  log(formatLoadReport(report));
  log(`loaded ${dataset.numUsers} users, ${dataset.numItems} items, ${dataset.interactions.length} interactions (${secs(t0)} s)`);
  return { ...splitLogged(dataset, spec.split ?? DEFAULT_SPLIT, log), report };
}

function splitLogged(ds: Dataset, rule: string, log: (msg: string) => void): { train: Dataset; test: Dataset } {
  const { train, test } = splitDataset(ds, parseSplit(rule));
  log(`split ${rule}: train ${train.interactions.length}, test ${test.interactions.length} interactions`);
  return { train, test };
}

function secs(t0: number): string {
  return ((performance.now() - t0) / 1000).toFixed(1);
}
