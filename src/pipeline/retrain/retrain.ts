/**
 * `tandem train --store URL [--promote LINK]`: a model trained on the base data plus everything
 * logged in the store, its manifest recording what was read (the store without its password, the last
 * seq included, counts) so a server replays the log only from there; with a link to promote, the
 * comparison against the linked model and the atomic repointing when the new one is not worse.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Dataset } from '../../data/index.ts';
import { openEventLog } from '../../store/index.ts';
import type { EngineConfigInput, StageRegistry } from '../engine/config.ts';
import { builtinRegistry } from '../engine/registry.ts';
import { trainModel, type TrainOptions, type TrainResult } from '../engine/train.ts';
import { datasetWithLog, readLogSnapshot, storeIdentity, type LogDataReport } from './log-data.ts';
import { compareOnLog, linkTarget, PROMOTE_METRIC, repointLink, type Comparison } from './promote.ts';

export interface RetrainOptions extends Omit<TrainOptions, 'dataset' | 'config' | 'registry'> {
  base: Dataset;
  config: EngineConfigInput;
  registry?: StageRegistry;
  /** The event log URL (sqlite:FILE, postgres://...). */
  store: string;
  /** A symlink (models/current) to compare with and repoint when the new model is not worse. */
  promote?: string;
  /** Share of the logged events the current model has not seen held out for the comparison (default 0.1). */
  promoteHoldout?: number;
}

export interface RetrainResult extends TrainResult {
  out: string;
  log: { store: string; lastSeq: number; entries: Record<string, number> } & LogDataReport;
  /** With `promote`: the comparison (or why none was made), whether the link now points at the new model. */
  promotion: { comparison: Comparison | { skipped: string } | null; promoted: boolean; link: string; previous: string | null; reason: string } | null;
}

/** A fresh directory name beside `link`: model-<UTC time>. */
export function versionDirBeside(link: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  let out = join(dirname(link), `model-${stamp}`);
  for (let i = 2; existsSync(out); i++) out = join(dirname(link), `model-${stamp}-${i}`);
  return out;
}

/**
 * @example await retrainFromLog('models/m2', { base, config, store: 'sqlite:events.db', promote: 'models/current' })
 */
export async function retrainFromLog(out: string | undefined, opts: RetrainOptions): Promise<RetrainResult> {
  const say = opts.log ?? (() => {});
  const registry = opts.registry ?? builtinRegistry();
  if (!out && !opts.promote) throw new Error('give a model directory to write, or a link to promote beside which to write it');
  const target = out ?? versionDirBeside(opts.promote!);
  const previous = opts.promote ? await linkTarget(opts.promote) : null;
  // opening a SQLite log creates it: a mistyped path would train on nothing logged without a word
  const id = storeIdentity(opts.store);
  if (id === 'memory' || id === 'sqlite::memory:') throw new Error(`--store ${opts.store}: an in-memory log holds nothing outside its own process; give the server's sqlite:FILE or postgres:// log`);
  if (id.startsWith('sqlite:') && !existsSync(id.slice('sqlite:'.length))) throw new Error(`--store ${opts.store}: no such SQLite log file (${id.slice('sqlite:'.length)}); give the file the server writes (tandem serve --store)`);
  const eventLog = await openEventLog(opts.store);
  let snap;
  try {
    snap = await readLogSnapshot(eventLog, opts.store);
  } finally {
    await eventLog.close();
  }
  const { dataset, report } = datasetWithLog(opts.base, snap);
  const logInfo = { store: snap.store, lastSeq: snap.lastSeq, entries: snap.kinds, ...report };
  say(`log ${snap.store}: ${Object.values(snap.kinds).reduce((a, b) => a + b, 0)} entries up to seq ${snap.lastSeq}; ${report.eventsUsed} of ${report.events} events used, ${report.itemsUpserted} items upserted, ${report.itemsDeleted} deleted, ${report.newUsers} new users`);
  let promotion: RetrainResult['promotion'] = null;
  if (opts.promote) {
    let comparison: Comparison | { skipped: string } | null = null;
    let promoted: boolean;
    let reason: string;
    if (previous === null) {
      promoted = true;
      reason = `${opts.promote} did not exist: the new model becomes current`;
    } else {
      comparison = await compareOnLog({ base: opts.base, snap, config: opts.config, registry, currentDir: previous, share: opts.promoteHoldout ?? 0.1, run: opts, maxUsers: opts.evalUsers });
      if ('skipped' in comparison) {
        promoted = false;
        reason = `no comparison (${comparison.skipped}): ${opts.promote} stays`;
      } else {
        promoted = comparison.notWorse;
        const c = comparison.candidate[PROMOTE_METRIC];
        const k = comparison.current[PROMOTE_METRIC];
        reason = promoted ? `new ${PROMOTE_METRIC} ${c} >= current ${k}: promoted` : `new ${PROMOTE_METRIC} ${c} < current ${k}: not promoted, ${opts.promote} stays`;
      }
    }
    promotion = { comparison, promoted, link: opts.promote, previous, reason };
    say(`promotion: ${reason}`);
  }
  const res = await trainModel(target, {
    ...opts,
    dataset,
    registry,
    parameters: { ...(opts.parameters ?? {}), log: logInfo, ...(promotion ? { promotion } : {}) },
  });
  if (promotion?.promoted) {
    await repointLink(promotion.link, target);
    say(`${promotion.link} -> ${target}`);
  }
  return { ...res, out: target, log: logInfo, promotion };
}
