/**
 * The report of one experiment from its tally: per arm users, exposures and, per event type, CTR
 * (events per item shown), conversion (share of users with one or more) and value per user, each with a
 * 95% interval; each arm's difference from the control (the first arm) with its p-value; interleaving
 * preference with its sign test; and the sample-ratio-mismatch check on users per arm.
 *
 * Intervals: CTR by the delta method with the user as the unit (Σevents / Σexposures over users);
 * conversion and value per user as means over users (normal approximation). Differences are z-tests of
 * independent arms.
 */
import { readFile } from 'node:fs/promises';
import type { EventLog } from '../store/index.ts';
import { parseExperiments, type Experiment } from './definition.ts';
import { chiSquareTest, difference, meanEstimate, ratioEstimate, signTestP, type Difference, type Estimate } from './stats.ts';
import { ExperimentTally } from './tally.ts';

export const REPORT_METHOD = 'delta method with the user as the unit for CTR (events / items shown); normal approximation of per-user means for conversion and value per user; two-sided z-test of the difference from the control; exact binomial sign test for interleaving; Pearson chi-square on users per arm for sample-ratio mismatch';

/** Below this p-value the users per arm do not match the shares: the assignment or logging is broken. */
export const SRM_ALPHA = 0.001;

export interface TypeMetrics {
  events: number;
  ctr: Estimate;
  conversion: Estimate;
  valuePerUser: Estimate;
}

export interface ArmReport {
  name: string;
  type: 'model' | 'interleave';
  model: string | null;
  teams: [string | null, string | null] | null;
  share: number;
  users: number;
  exposures: number;
  /** Items shown over all exposures (impressions: CTR's denominator). */
  shown: number;
  metrics: Record<string, TypeMetrics>;
}

export interface DifferenceReport extends Difference {
  arm: string;
  control: string;
  type: string;
  metric: 'ctr' | 'conversion' | 'valuePerUser';
}

export interface InterleavingReport {
  arm: string;
  teams: [string | null, string | null];
  type: string;
  exposures: number;
  wins: [number, number];
  ties: number;
  /** (wins B − wins A) / (wins A + wins B): > 0 prefers team B (the second). */
  preference: number;
  pValue: number;
  winner: 0 | 1 | null;
}

export interface ExperimentReport {
  experiment: string;
  control: string;
  start: string;
  stop: string | null;
  attributionHours: number;
  method: string;
  types: string[];
  arms: ArmReport[];
  differences: DifferenceReport[];
  interleaving: InterleavingReport[];
  srm: { observed: Record<string, number>; expected: Record<string, number>; chiSquare: number; df: number; pValue: number; mismatch: boolean };
  attribution: { attributed: number; unmatched: number; unknownArm: number };
}

/**
 * The report of a tally. `alpha` decides an interleaving winner (default 0.05).
 * @example const t = new ExperimentTally(exp); t.add(entries); buildReport(t).differences
 */
export function buildReport(t: ExperimentTally, alpha = 0.05): ExperimentReport {
  const e = t.experiment;
  const types = [...t.types].sort();
  const arms: ArmReport[] = e.arms.map((a, i) => {
    const users = [...t.arms[i].values()];
    const m = users.length;
    const shown = new Float64Array(m);
    let total = 0;
    let impressions = 0;
    users.forEach((u, j) => {
      shown[j] = u.shown;
      total += u.exposures;
      impressions += u.shown;
    });
    const metrics: Record<string, TypeMetrics> = {};
    for (const type of types) {
      const ev = new Float64Array(m);
      const conv = new Float64Array(m);
      const val = new Float64Array(m);
      let n = 0;
      users.forEach((u, j) => {
        const x = u.types.get(type);
        if (x === undefined) return;
        ev[j] = x.events;
        conv[j] = x.events > 0 ? 1 : 0;
        val[j] = x.value;
        n += x.events;
      });
      metrics[type] = { events: n, ctr: ratioEstimate(ev, shown), conversion: meanEstimate(conv), valuePerUser: meanEstimate(val) };
    }
    return { name: a.name, type: a.type, model: a.model, teams: a.teams, share: a.share, users: m, exposures: total, shown: impressions, metrics };
  });
  const control = arms[0];
  const differences: DifferenceReport[] = [];
  for (const a of arms.slice(1)) {
    for (const type of types) {
      for (const metric of ['ctr', 'conversion', 'valuePerUser'] as const) {
        differences.push({ arm: a.name, control: control.name, type, metric, ...difference(a.metrics[type][metric], control.metrics[type][metric]) });
      }
    }
  }
  const interleaving: InterleavingReport[] = [];
  e.arms.forEach((a, i) => {
    if (a.type !== 'interleave') return;
    for (const type of types) {
      const r = t.interleaving(i, type);
      const n = r.wins[0] + r.wins[1];
      const p = signTestP(r.wins[1], n);
      interleaving.push({ arm: a.name, teams: a.teams!, type, ...r, preference: n ? (r.wins[1] - r.wins[0]) / n : 0, pValue: p, winner: p < alpha ? (r.wins[1] > r.wins[0] ? 1 : 0) : null });
    }
  });
  const observed = arms.map((a) => a.users);
  const shares = e.arms.map((a) => a.share);
  const chi = chiSquareTest(observed, shares);
  const n = observed.reduce((x, y) => x + y, 0);
  return {
    experiment: e.name,
    control: control.name,
    start: new Date(e.start * 1000).toISOString(),
    stop: e.stop === null ? null : new Date(e.stop * 1000).toISOString(),
    attributionHours: e.attributionSeconds / 3600,
    method: REPORT_METHOD,
    types,
    arms,
    differences,
    interleaving,
    srm: {
      observed: Object.fromEntries(arms.map((a) => [a.name, a.users])),
      expected: Object.fromEntries(arms.map((a) => [a.name, n * a.share])),
      ...chi,
      mismatch: chi.pValue < SRM_ALPHA,
    },
    attribution: { attributed: t.attributed, unmatched: t.unmatched, unknownArm: t.unknownArm },
  };
}

/**
 * Reads the whole log (constant memory per batch; the tally grows with exposures) and reports `e`.
 * @example await reportFromLog(await openEventLog('sqlite:events.db'), exp)
 */
export async function reportFromLog(log: EventLog, e: Experiment): Promise<ExperimentReport> {
  const t = new ExperimentTally(e);
  for await (const batch of log.scan(0)) t.add(batch);
  return buildReport(t);
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const num = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(3));
const pv = (p: number) => (p < 1e-4 ? p.toExponential(1) : p.toFixed(4));

/** The report as text lines, for the terminal. */
export function formatReport(r: ExperimentReport): string[] {
  const out: string[] = [];
  out.push(`experiment ${r.experiment}: control '${r.control}', started ${r.start}${r.stop ? `, stops ${r.stop}` : ''}, attribution window ${r.attributionHours} h`);
  out.push(`  users per arm ${Object.entries(r.srm.observed).map(([k, v]) => `${k} ${v}`).join(', ')}; sample-ratio check chi2 ${r.srm.chiSquare.toFixed(2)} (df ${r.srm.df}) p ${pv(r.srm.pValue)}${r.srm.mismatch ? '  MISMATCH: users per arm do not match the shares; do not trust the differences' : ' ok'}`);
  for (const a of r.arms) {
    out.push(`  arm ${a.name} (${a.type === 'interleave' ? `interleave ${a.teams!.map((x) => x ?? 'served').join(' | ')}` : (a.model ?? 'served model')}, share ${pct(a.share)}): ${a.users} users, ${a.exposures} exposures`);
    for (const t of r.types) {
      const m = a.metrics[t];
      out.push(`    ${t.padEnd(10)} events ${String(m.events).padStart(7)}  CTR ${pct(m.ctr.value)} [${pct(m.ctr.ci[0])}, ${pct(m.ctr.ci[1])}]  conversion ${pct(m.conversion.value)} [${pct(m.conversion.ci[0])}, ${pct(m.conversion.ci[1])}]  value/user ${num(m.valuePerUser.value)} [${num(m.valuePerUser.ci[0])}, ${num(m.valuePerUser.ci[1])}]`);
    }
  }
  for (const d of r.differences) {
    const show = d.metric === 'valuePerUser' ? num : pct;
    out.push(`  ${d.arm} vs ${d.control}, ${d.type} ${d.metric}: ${d.diff >= 0 ? '+' : ''}${show(d.diff)} [${show(d.ci[0])}, ${show(d.ci[1])}]${d.relative === null ? '' : ` (${d.relative >= 0 ? '+' : ''}${(100 * d.relative).toFixed(1)}%)`} p ${pv(d.pValue)}`);
  }
  for (const i of r.interleaving) {
    out.push(`  interleaving ${i.arm}, ${i.type}: ${i.exposures} exposures, wins ${i.teams[0] ?? 'served'} ${i.wins[0]} / ${i.teams[1] ?? 'served'} ${i.wins[1]} (ties ${i.ties}), preference ${i.preference.toFixed(3)}, sign test p ${pv(i.pValue)}${i.winner === null ? '' : `: team ${i.teams[i.winner] ?? 'served'} wins`}`);
  }
  out.push(`  attribution: ${r.attribution.attributed} events attributed, ${r.attribution.unmatched} naming an exposure that did not show their item${r.attribution.unknownArm ? `, ${r.attribution.unknownArm} exposures of arms not in the definition` : ''}`);
  out.push(`  method: ${r.method}`);
  return out;
}

/**
 * Reads and checks an experiments file; a problem names the file and the field.
 * @example await loadExperimentsFile('experiments.json') // [{ name: 'v2', arms: [...] }]
 */
export async function loadExperimentsFile(path: string, now = Date.now() / 1000): Promise<Experiment[]> {
  const given = await readExperimentsFile(path);
  try {
    return parseExperiments(given, now);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}

async function readExperimentsFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read the experiments file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not JSON (${(err as Error).message})`);
  }
}
