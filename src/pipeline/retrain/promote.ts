/**
 * `--promote`: the new model against the one a `models/current` link points to, on the same most
 * recent logged events that neither was trained on, and the atomic repointing of the link.
 *
 * The held-out rule: of the logged events the current model has not seen (every event in the log when
 * it was trained from files or from another store; those after the seq its manifest records when it
 * was trained from this store), the last ceil(share * N) in seq order (log order, i.e. by time
 * received) are held out. The candidate for the comparison is the same configuration fitted on the
 * base data plus the log up to just before the first held-out event; the current model gets, as
 * serving would give it, the catalog changes and counters logged up to that point and each user's
 * logged events since its training as live history. Both answer every held-out user (known at the
 * cut) through `Engine.recommend` with the user's history up to the cut excluded, and are scored on
 * the held-out items (positive types, not already in that history, in the catalog at the cut) by the
 * evaluation protocol. The decision metric is ndcg@10: promote when candidate >= current.
 */
import { randomBytes } from 'node:crypto';
import { lstat, readlink, realpath, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Dataset, Interactions } from '../../data/index.ts';
import { evaluateRecommender, type Recommender } from '../../evaluation/index.ts';
import type { LogEntry } from '../../store/index.ts';
import type { EngineConfigInput, StageRegistry } from '../engine/config.ts';
import { Engine, type LiveEventInput } from '../engine/engine.ts';
import { fitEngine, type RunSettings } from '../engine/fit.ts';
import { disposeModel, readModelDir, type ModelManifest } from '../engine/model-dir.ts';
import { datasetWithLog, storeIdentity, type LogSnapshot } from './log-data.ts';

/** The metric the promotion decides on. */
export const PROMOTE_METRIC = 'ndcg@10';
export const PROMOTE_KS = [10, 100] as const;

/** What a model's manifest records of the log it was trained on (`parameters.log`). */
export interface TrainedLog {
  store: string;
  lastSeq: number;
}

/** The log a manifest says its model was trained on, or null (trained from files alone). */
export function trainedLog(manifest: Pick<ModelManifest, 'parameters'>): TrainedLog | null {
  const l = (manifest.parameters as { log?: Partial<TrainedLog> } | undefined)?.log;
  return l && typeof l.store === 'string' && typeof l.lastSeq === 'number' && Number.isInteger(l.lastSeq) && l.lastSeq >= 0 ? { store: l.store, lastSeq: l.lastSeq } : null;
}

/**
 * Where a server on `storeUrl` starts replaying the log for this model: after the last seq it was
 * trained on when it was trained from this very store (and the log still reaches that far), else null
 * (the caller replays from the model's creation time).
 */
export function replayStartOf(manifest: Pick<ModelManifest, 'parameters'>, storeUrl: string, logLastSeq: number): number | null {
  const t = trainedLog(manifest);
  if (!t) return null;
  let id: string;
  try {
    id = storeIdentity(storeUrl);
  } catch {
    return null;
  }
  return t.store === id && t.lastSeq <= logLastSeq ? t.lastSeq : null;
}

/** The held-out cut: entries after `after` and up to `cut` are training; events after `cut` are held out. */
export function heldOutCut(snap: LogSnapshot, after: number, share: number): { after: number; cut: number; unseen: number; heldOut: number } {
  if (!(share > 0 && share <= 1)) throw new Error(`the held-out share must be in (0, 1], got ${share}`);
  const seq = snap.events.seq;
  let first = 0;
  while (first < seq.length && seq[first] <= after) first++;
  const unseen = seq.length - first;
  const heldOut = unseen === 0 ? 0 : Math.max(1, Math.ceil(share * unseen));
  const cut = heldOut === 0 ? snap.lastSeq : seq[seq.length - heldOut] - 1;
  return { after, cut, unseen, heldOut };
}

/** The snapshot's entries with after < seq <= to, in seq order, as log entries. */
function* entriesOf(snap: LogSnapshot, after: number, to: number): Generator<LogEntry> {
  const ev = snap.events;
  let a = 0;
  let b = 0;
  let c = 0;
  for (;;) {
    const sa = a < ev.seq.length ? ev.seq[a] : Infinity;
    const sb = b < snap.items.length ? snap.items[b].seq : Infinity;
    const sc = c < snap.users.length ? snap.users[c].seq : Infinity;
    const s = Math.min(sa, sb, sc);
    if (s === Infinity || s > to) return;
    if (s === sa) {
      if (s > after) yield { kind: 'event', seq: s, received: 0, user: snap.userIds[ev.user[a]], item: snap.itemIds[ev.item[a]], type: snap.typeNames[ev.type[a]], value: ev.value[a], timestamp: ev.timestamp[a] };
      a++;
    } else if (s === sb) {
      const x = snap.items[b++];
      if (s > after) yield x.features === null ? { kind: 'delete-item', seq: s, received: 0, item: x.item } : { kind: 'item', seq: s, received: 0, item: x.item, features: x.features };
    } else {
      const x = snap.users[c++];
      if (s > after) yield { kind: 'user', seq: s, received: 0, user: x.user, features: x.features };
    }
  }
}

/** The engine as the protocol's recommender over `data`'s indices, with the history excluded by id. */
function recommenderOf(engine: Engine, data: Dataset, live: (user: string) => LiveEventInput[] | null): Recommender {
  const users = data.users.ids.values;
  const items = data.items.ids.values;
  return (q, n, exclude) => {
    const id = users[q.user];
    const events = live(id);
    let r;
    try {
      r = engine.recommend({ user: id, k: Math.min(n, engine.maxK), explain: false, exclude: [...exclude].map((i) => items[i]), live: events ? { events, features: null } : null });
    } catch {
      return new Int32Array(0); // an answer the model cannot give is a miss
    }
    const out: number[] = [];
    const seen = new Set<number>();
    for (const it of r.items) {
      const i = data.items.ids.get(it.id);
      // items the data does not hold (added after the cut, or unknown) can only be misses
      if (i >= 0 && !exclude.has(i) && !seen.has(i)) {
        seen.add(i);
        out.push(i);
      }
    }
    return Int32Array.from(out);
  };
}

export interface Comparison {
  metric: string;
  rule: string;
  /** Seq after which the current model had not seen the log; the cut; logged events it had not seen; held out. */
  after: number;
  cut: number;
  unseenEvents: number;
  heldOutEvents: number;
  users: number;
  candidate: Record<string, number>;
  current: Record<string, number>;
  /** Whether the candidate is not worse on `metric`. */
  notWorse: boolean;
}

const round = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v * 1e4) / 1e4]));

/**
 * Fits `config` on the base data plus the log up to the cut and scores it and the model in
 * `currentDir` on the held-out events (see the file comment), or returns why it cannot.
 */
export async function compareOnLog(opts: { base: Dataset; snap: LogSnapshot; config: EngineConfigInput; registry: StageRegistry; currentDir: string; share: number; run: RunSettings; maxUsers?: number }): Promise<Comparison | { skipped: string }> {
  const log = opts.run.log ?? (() => {});
  const current = await readModelDir(opts.currentDir, opts.registry);
  try {
    const t = trainedLog(current.manifest);
    const after = t && t.store === opts.snap.store ? t.lastSeq : 0;
    const split = heldOutCut(opts.snap, after, opts.share);
    if (split.heldOut === 0) return { skipped: `no logged events after the current model's training (seq ${after}) to compare on` };
    const { dataset: atCut } = datasetWithLog(opts.base, opts.snap, split.cut);
    // held-out events: users known at the cut, items in the catalog at the cut, declared types
    const ev = opts.snap.events;
    const rows: [number, number, number, number, number][] = [];
    for (let k = ev.seq.length - split.heldOut; k < ev.seq.length; k++) {
      const u = atCut.users.ids.get(opts.snap.userIds[ev.user[k]]);
      const i = atCut.items.ids.get(opts.snap.itemIds[ev.item[k]]);
      const e = atCut.eventTypes.findIndex((x) => x.name === opts.snap.typeNames[ev.type[k]]);
      if (u >= 0 && i >= 0 && e >= 0) rows.push([u, i, e, ev.value[k], ev.timestamp[k]]);
    }
    const x: Interactions = {
      length: rows.length,
      user: Int32Array.from(rows, (r) => r[0]),
      item: Int32Array.from(rows, (r) => r[1]),
      event: Uint8Array.from(rows, (r) => r[2]),
      value: Float32Array.from(rows, (r) => r[3]),
      timestamp: Float64Array.from(rows, (r) => r[4]),
    };
    const test = atCut.withInteractions(x, 'held-out log');
    // the current model as a server would hold it at the cut: the log since its training applied, users' events as live history
    const currentEngine = new Engine(current);
    const liveEvents = new Map<string, LiveEventInput[]>();
    let batch: LogEntry[] = [];
    for (const e of entriesOf(opts.snap, after, split.cut)) {
      batch.push(e);
      if (e.kind === 'event') {
        let l = liveEvents.get(e.user);
        if (!l) liveEvents.set(e.user, (l = []));
        l.push({ item: e.item, type: e.type, value: e.value, timestamp: e.timestamp });
      }
      if (batch.length === 1000) {
        currentEngine.applyEntries(batch);
        batch = [];
      }
    }
    currentEngine.applyEntries(batch);
    log(`promotion check: fitting the candidate on the data and the log up to seq ${split.cut}; ${split.heldOut} of ${split.unseen} logged events unseen by the current model held out`);
    const { model: candidate } = await fitEngine(atCut, opts.config, opts.registry, { ...opts.run, log: (l) => log(`  ${l}`), progress: opts.run.progress?.scope('promotion check') });
    try {
      const settings = { ks: PROMOTE_KS, maxUsers: opts.maxUsers, seed: opts.run.seed };
      const c = evaluateRecommender(atCut, test, recommenderOf(new Engine(candidate), atCut, () => null), settings);
      const k = evaluateRecommender(atCut, test, recommenderOf(currentEngine, atCut, (u) => liveEvents.get(u) ?? null), settings);
      if (c.users === 0) return { skipped: `none of the ${split.heldOut} held-out events is a new positive event of a user and an item known at the cut` };
      const cand = round(c.metrics);
      const cur = round(k.metrics);
      return {
        metric: PROMOTE_METRIC,
        rule: `the last ceil(${opts.share} x ${split.unseen}) = ${split.heldOut} logged events after seq ${after}, by seq; candidate fitted on the data and the log up to seq ${split.cut}`,
        after,
        cut: split.cut,
        unseenEvents: split.unseen,
        heldOutEvents: split.heldOut,
        users: c.users,
        candidate: cand,
        current: cur,
        notWorse: c.metrics[PROMOTE_METRIC] >= k.metrics[PROMOTE_METRIC],
      };
    } finally {
      disposeModel(candidate);
    }
  } finally {
    disposeModel(current);
  }
}

/** The directory `link` resolves to, or null when there is no such link; a non-link there is refused. */
export async function linkTarget(link: string): Promise<string | null> {
  try {
    const st = await lstat(link);
    if (!st.isSymbolicLink()) throw new Error(`--promote ${link}: exists and is not a symbolic link; --promote repoints a link (e.g. models/current -> models/<version>)`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return await realpath(link);
  } catch {
    throw new Error(`--promote ${link}: a broken link (to '${await readlink(link)}'); point it at a model directory or remove it`);
  }
}

/**
 * Points `link` at `target` atomically: a new link under a temporary name beside it, renamed over the
 * old one (readers see the old target or the new one, never no link). The link is relative when the
 * target lives in the same directory.
 * @example await repointLink('models/current', 'models/20261206T030000Z')
 */
export async function repointLink(link: string, target: string): Promise<void> {
  const dir = dirname(resolve(link));
  const rel = relative(dir, resolve(target));
  const tmp = join(dir, `.${basename(link)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await symlink(rel, tmp);
  try {
    await rename(tmp, resolve(link));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
