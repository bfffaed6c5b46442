/**
 * A simulated experiment with a known answer: users and items of the synthetic data carry true taste
 * vectors; each arm (a "policy") ranks a visit's candidates by true affinity plus Gaussian noise of its
 * own size (less noise, a better model); users click each shown item with a probability that falls with
 * its position and rises with its true affinity, and sometimes buy after a click. Exposures and events
 * go to a real EventLog and the report is read back from it by the same code `tandem experiment report`
 * runs, so assignment, logging, attribution and statistics are all exercised.
 */
import { AliasTable, Rng, hashString } from '../math/index.ts';
import { generateSyntheticWithTruth } from '../data/index.ts';
import { MemoryEventLog, type EventLog, type LogRecord } from '../store/index.ts';
import { assignArm, teamDraft } from './assign.ts';
import type { Experiment } from './definition.ts';
import { reportFromLog, type ExperimentReport } from './report.ts';

export interface SimulationOptions {
  /** The experiment; each arm's `model` (or interleave team) names a policy of `policies`. */
  experiment: Experiment;
  /** Policy name -> the standard deviation of the noise added to true affinity when it ranks. */
  policies: Record<string, number>;
  users?: number;
  items?: number;
  dim?: number;
  /** Visits per user (each visit: one exposure). */
  visits?: number;
  /** Items shown per exposure. */
  k?: number;
  /** Popularity-drawn candidates a policy ranks per visit. */
  candidates?: number;
  /** P(click) = positionBias(p) · sigmoid(clickScale · affinity + clickBias). */
  clickScale?: number;
  clickBias?: number;
  /** Share of clicks posted with their exposureId (the rest are attributed by the window). */
  withExposureId?: number;
  /** Seed of the data (the same users and items in every repetition). */
  dataSeed?: number;
  /** Seed of the traffic (clicks, candidates, noise). */
  seed?: number;
  /** Where exposures and events go (default: a new MemoryEventLog, closed at the end). */
  log?: EventLog;
}

export interface SimulationResult {
  report: ExperimentReport;
  /** Per arm: the mean true click probability of the items it showed (the arm's real CTR). */
  trueCtr: Record<string, number>;
  exposures: number;
  events: number;
}

const DAY = 86_400;

/** Runs the simulation; resolves with the report read back from the log and the arms' true CTR. */
export async function simulateExperiment(o: SimulationOptions): Promise<SimulationResult> {
  const users = o.users ?? 2000;
  const items = o.items ?? 500;
  const dim = o.dim ?? 16;
  const visits = o.visits ?? 3;
  const k = o.k ?? 10;
  const nc = o.candidates ?? 100;
  const a = o.clickScale ?? 4;
  const b = o.clickBias ?? -4;
  const withId = o.withExposureId ?? 0.5;
  const { truth } = generateSyntheticWithTruth({ users, items, dim, interactions: 0, seed: o.dataSeed ?? 42 });
  const pop = new AliasTable(truth.itemPopularity);
  const rng = new Rng(o.seed ?? 1);
  const e = o.experiment;
  for (const name of e.arms.flatMap((x) => (x.type === 'model' ? [x.model] : x.teams!))) {
    if (name === null || !(name in o.policies)) throw new Error(`simulateExperiment: arm model '${name}' names no policy (known: ${Object.keys(o.policies).join(', ')})`);
  }
  const log = o.log ?? new MemoryEventLog();
  const affinity = (u: number, j: number): number => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += truth.userTaste[u * dim + d] * truth.itemTaste[j * dim + d];
    return s;
  };
  const rank = (policy: string, u: number, cand: number[]): string[] => {
    const noise = o.policies[policy];
    const scored = cand.map((j) => ({ j, s: affinity(u, j) + noise * rng.normal() }));
    scored.sort((x, y) => y.s - x.s);
    return scored.slice(0, k).map((x) => `i${x.j}`);
  };
  const shown = e.arms.map(() => ({ p: 0, n: 0 }));
  let exposures = 0;
  let events = 0;
  let t = e.start + 60;
  for (let v = 0; v < visits; v++) {
    const batch: LogRecord[] = [];
    for (let u = 0; u < users; u++) {
      t += DAY / users;
      const user = `u${u}`;
      const arm = assignArm(e, user, t);
      if (arm < 0) continue;
      // a candidate pool drawn by popularity, without repeats
      const seen = new Set<number>();
      for (let tries = 0; seen.size < nc && tries < nc * 4; tries++) seen.add(pop.sample(rng));
      const cand = [...seen];
      const def = e.arms[arm];
      const id = `x${v}-${u}-${hashString(`${o.seed}:${v}:${u}`).toString(36)}`;
      let list: string[];
      let teams: number[] | undefined;
      if (def.type === 'interleave') {
        const r = teamDraft(rank(def.teams![0]!, u, cand), rank(def.teams![1]!, u, cand), k, hashString(id));
        list = r.items;
        teams = r.teams;
      } else list = rank(def.model!, u, cand);
      batch.push(teams ? { kind: 'exposure', id, user, experiment: e.name, arm: def.name, items: list, teams, timestamp: t } : { kind: 'exposure', id, user, experiment: e.name, arm: def.name, items: list, timestamp: t });
      exposures++;
      for (let p = 0; p < list.length; p++) {
        const j = Number(list[p].slice(1));
        const aff = affinity(u, j);
        const pc = (1 / Math.log2(p + 2)) * (1 / (1 + Math.exp(-(a * aff + b))));
        shown[arm].p += pc;
        shown[arm].n++;
        if (rng.next() >= pc) continue;
        const click: LogRecord = { kind: 'event', user, item: list[p], type: 'click', value: 1, timestamp: t + 30 + p };
        if (rng.next() < withId) click.exposureId = id;
        batch.push(click);
        events++;
        // a purchase after some clicks, more likely on a close match; its value is the item's price
        if (rng.next() < 0.25 / (1 + Math.exp(-(4 * aff - 1)))) {
          batch.push({ kind: 'event', user, item: list[p], type: 'purchase', value: 5 + (j % 40), timestamp: t + 600 });
          events++;
        }
      }
      // an event on an item no exposure showed: never attributed
      if (rng.next() < 0.2) batch.push({ kind: 'event', user, item: `i${rng.int(items)}`, type: 'view', value: 1, timestamp: t + 5 });
    }
    await log.append(batch);
  }
  const report = await reportFromLog(log, e);
  if (o.log === undefined) await log.close();
  const trueCtr: Record<string, number> = {};
  e.arms.forEach((x, i) => (trueCtr[x.name] = shown[i].n ? shown[i].p / shown[i].n : 0));
  return { report, trueCtr, exposures, events };
}
