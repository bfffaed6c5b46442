/**
 * `tandem bench experiments`: the experiment machinery against a click model with a known answer
 * (src/experiments/simulate.ts). Three checks, each over seeded repetitions:
 *   - A/B: a better arm (less ranking noise) against a worse one: how often the report ranks them as
 *     their true CTR does, and how often the difference is significant (power);
 *   - A/A: the same policy on both arms: how often the report finds no significant difference
 *     (the target is >= 90% at alpha 0.05; about 95% is expected), and how often the SRM check fires;
 *   - interleaving: team-draft of the two policies on small traffic: how often the better team wins.
 * With `--serve-model A --arm-model B` it also serves A with and without an experiment whose second arm
 * is B, back to back: the memory B added and the cost of an answer that logs its exposure.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/serve/index.ts';
import { resolveExperiment, simulateExperiment, type ExperimentReport } from '../src/experiments/index.ts';
import { parseArgs, UsageError, type Command, type OptionDefs } from '../src/schema/index.ts';
import { median } from './stats.ts';

const options = {
  'aa-reps': { type: 'number', description: 'A/A repetitions (seeds 1..N)', default: 100 },
  'ab-reps': { type: 'number', description: 'A/B repetitions', default: 20 },
  'interleave-reps': { type: 'number', description: 'interleaving repetitions', default: 20 },
  users: { type: 'number', description: 'users per A/B and A/A run', default: 2000 },
  'interleave-users': { type: 'number', description: 'users per interleaving run (small traffic)', default: 300 },
  visits: { type: 'number', description: 'visits (exposures) per user', default: 3 },
  better: { type: 'number', description: "the better policy's ranking noise (std added to true affinity)", default: 0.1 },
  worse: { type: 'number', description: "the worse policy's ranking noise", default: 0.25 },
  alpha: { type: 'number', description: 'significance level', default: 0.05 },
  json: { type: 'string', description: 'also write the figures as JSON to this file' },
  'serve-model': { type: 'string', description: 'a model directory to serve: measures the memory of an extra arm and the cost of exposures (with --arm-model)' },
  'arm-model': { type: 'string', description: "the experiment arm's model directory (with --serve-model)" },
  requests: { type: 'number', description: 'requests per round of the serve measurement', default: 300 },
  'user-prefix': { type: 'string', description: "the served model's user ids are this prefix and a number from 0 ('u': the synthetic data; '': MovieLens)", default: 'u' },
  rounds: { type: 'number', description: 'rounds of the serve measurement, alternating without and with the experiment', default: 4 },
  only: { type: 'string', description: "run only one part: 'simulation' or 'serve'", values: ['simulation', 'serve'] },
} satisfies OptionDefs;

/**
 * Serves `model` three ways side by side: with no experiment, with an A/A experiment on it (both arms the
 * served model: the cost of logging the exposure alone) and with one whose treatment arm is `arm`
 * (50/50). Alternating in `rounds`, each `requests` sequential GET recommendations over HTTP: medians
 * per configuration, the exposures logged, and the resident memory the arm model added at load.
 */
async function serveCost(model: string, arm: string, requests: number, rounds: number, prefix: string): Promise<{ memoryBytes: number; diskBytes: number; medianMsWithout: number; medianMsAA: number; medianMsWith: number; ratioAA: number; ratio: number; exposures: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-bench-exp-'));
  try {
    const file = join(dir, 'experiments.json');
    await writeFile(file, JSON.stringify({ experiments: [{ name: 'bench', arms: [{ name: 'control' }, { name: 'treatment', model: arm }], start: '2020-01-01' }] }));
    const aaFile = join(dir, 'aa.json');
    await writeFile(aaFile, JSON.stringify({ experiments: [{ name: 'aa', arms: [{ name: 'a' }, { name: 'b' }], start: '2020-01-01' }] }));
    const plain = await startServer({ model, port: 0, store: `sqlite:${join(dir, 'plain.db')}`, reloadOnSighup: false, log: () => {} });
    const aa = await startServer({ model, port: 0, store: `sqlite:${join(dir, 'aa.db')}`, experiments: aaFile, reloadOnSighup: false, log: () => {} });
    const withExp = await startServer({ model, port: 0, store: `sqlite:${join(dir, 'exp.db')}`, experiments: file, reloadOnSighup: false, log: () => {} });
    try {
      const listing = (await (await fetch(`${withExp.url}/v1/experiments`)).json()) as { models: { memoryBytes: number; diskBytes: number }[] };
      const times: number[][] = [[], [], []];
      for (let r = 0; r < rounds; r++) {
        for (const [i, s] of [plain, aa, withExp].entries()) {
          for (let q = 0; q < requests; q++) {
            const t = performance.now();
            const res = await fetch(`${s.url}/v1/users/${prefix}${(r * requests + q) % 900}/recommendations?k=10`);
            await res.arrayBuffer();
            times[i].push(performance.now() - t);
          }
        }
      }
      const exposures = (await withExp.service.log.counts()).entries;
      const m0 = median(times[0]);
      const ma = median(times[1]);
      const m1 = median(times[2]);
      return { memoryBytes: listing.models[0].memoryBytes, diskBytes: listing.models[0].diskBytes, medianMsWithout: m0, medianMsAA: ma, medianMsWith: m1, ratioAA: ma / m0, ratio: m1 / m0, exposures };
    } finally {
      await withExp.close();
      await aa.close();
      await plain.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const START = '2026-01-01T00:00:00Z';


const clickCtr = (r: ExperimentReport) => r.differences.find((d) => d.type === 'click' && d.metric === 'ctr')!;

export const experimentsBench: Command = {
  name: 'experiments',
  summary: 'online experiments against a synthetic click model: A/B ranking and power, A/A false positives, SRM, interleaving',
  usage: 'tandem bench experiments [--aa-reps 100] [--ab-reps 20] [--interleave-reps 20] [--users 2000] [--json FILE]',
  options,
  async run(argv) {
    const { options: o, positional } = parseArgs(argv, options);
    if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
    for (const k of ['aa-reps', 'ab-reps', 'interleave-reps', 'users', 'interleave-users', 'visits'] as const) {
      if (!(Number.isInteger(o[k]) && o[k] >= 1)) throw new UsageError(`--${k} must be a positive integer`);
    }
    if ((o['serve-model'] === undefined) !== (o['arm-model'] === undefined)) throw new UsageError('--serve-model and --arm-model go together');
    if (o.only === 'serve' && o['serve-model'] === undefined) throw new UsageError('--only serve needs --serve-model and --arm-model');
    let serveFig: Awaited<ReturnType<typeof serveCost>> | null = null;
    if (o['serve-model'] !== undefined && o['arm-model'] !== undefined && o.only !== 'simulation') {
      serveFig = await serveCost(o['serve-model'], o['arm-model'], o.requests, o.rounds, o['user-prefix']);
      console.log(`serve ${o['serve-model']} with an experiment arm on ${o['arm-model']}: the arm model added ${(serveFig.memoryBytes / 2 ** 20).toFixed(1)} MiB of resident memory (${(serveFig.diskBytes / 2 ** 20).toFixed(1)} MiB of files); median request ${serveFig.medianMsWithout.toFixed(2)} ms without an experiment, ${serveFig.medianMsAA.toFixed(2)} ms in an A/A experiment on it (the exposure logged to SQLite; ratio ${serveFig.ratioAA.toFixed(2)}), ${serveFig.medianMsWith.toFixed(2)} ms with half the users on the arm model (ratio ${serveFig.ratio.toFixed(2)}); ${o.rounds} alternating rounds of ${o.requests} requests each, ${serveFig.exposures} exposures logged by the last`);
      if (o.only === 'serve') {
        if (o.json) await writeFile(o.json, JSON.stringify({ serve: serveFig, command: `tandem bench experiments ${argv.join(' ')}` }, null, 2) + '\n');
        return 0;
      }
    }
    const policies = { better: o.better, worse: o.worse };
    const t0 = performance.now();
    console.log(`click model: P(click) = 1/log2(position + 2) * sigmoid(4 * true affinity - 4); policies rank 100 popularity-drawn candidates by true affinity + N(0, noise^2): better ${o.better}, worse ${o.worse}; ${o.visits} visits per user, 10 items per exposure`);

    const ab = resolveExperiment({ name: 'ab', arms: [{ name: 'control', model: 'worse' }, { name: 'treatment', model: 'better' }], start: START });
    let correct = 0;
    let significant = 0;
    const lifts: number[] = [];
    const ps: number[] = [];
    const trueLifts: number[] = [];
    for (let seed = 1; seed <= o['ab-reps']; seed++) {
      const r = await simulateExperiment({ experiment: ab, policies, users: o.users, visits: o.visits, seed });
      const d = clickCtr(r.report);
      const truth = Math.sign(r.trueCtr.treatment - r.trueCtr.control);
      if (Math.sign(d.diff) === truth) correct++;
      if (Math.sign(d.diff) === truth && d.pValue < o.alpha) significant++;
      lifts.push(d.relative ?? 0);
      ps.push(d.pValue);
      trueLifts.push(r.trueCtr.treatment / r.trueCtr.control - 1);
    }
    const abFig = { reps: o['ab-reps'], rankedCorrectly: correct / o['ab-reps'], significantAndCorrect: significant / o['ab-reps'], medianMeasuredLift: median(lifts), medianTrueLift: median(trueLifts), medianP: median(ps) };
    console.log(`A/B (better vs worse, ${o.users} users): ranked as the true CTR in ${correct}/${o['ab-reps']} runs, significant at ${o.alpha} in ${significant}/${o['ab-reps']}; median click-CTR lift measured ${(100 * abFig.medianMeasuredLift).toFixed(1)}% (true ${(100 * abFig.medianTrueLift).toFixed(1)}%), median p ${abFig.medianP.toExponential(1)}`);

    const aa = resolveExperiment({ name: 'aa', arms: [{ name: 'a', model: 'worse' }, { name: 'b', model: 'worse' }], start: START });
    let quiet = 0;
    let srm = 0;
    const aaP: number[] = [];
    for (let seed = 1; seed <= o['aa-reps']; seed++) {
      const r = await simulateExperiment({ experiment: aa, policies, users: o.users, visits: o.visits, seed });
      const p = clickCtr(r.report).pValue;
      aaP.push(p);
      if (p >= o.alpha) quiet++;
      if (r.report.srm.mismatch) srm++;
    }
    const aaFig = { reps: o['aa-reps'], noSignificantDifference: quiet / o['aa-reps'], srmAlarms: srm, pBelow: { '0.05': aaP.filter((p) => p < 0.05).length, '0.01': aaP.filter((p) => p < 0.01).length }, medianP: median(aaP) };
    console.log(`A/A (same policy, ${o.users} users): no significant click-CTR difference in ${quiet}/${o['aa-reps']} runs (${(100 * aaFig.noSignificantDifference).toFixed(0)}%; target >= 90%), p < 0.01 in ${aaFig.pBelow['0.01']}, median p ${aaFig.medianP.toFixed(3)}; sample-ratio alarms ${srm}/${o['aa-reps']}`);

    const il = resolveExperiment({ name: 'il', arms: [{ name: 'mix', interleave: ['worse', 'better'] }], start: START });
    let ilWins = 0;
    let ilCorrect = 0;
    const prefs: number[] = [];
    for (let seed = 1; seed <= o['interleave-reps']; seed++) {
      const r = await simulateExperiment({ experiment: il, policies, users: o['interleave-users'], visits: o.visits, seed });
      const x = r.report.interleaving.find((y) => y.type === 'click')!;
      if (x.winner === 1) ilWins++;
      if (x.preference > 0) ilCorrect++;
      prefs.push(x.preference);
    }
    const ilFig = { reps: o['interleave-reps'], users: o['interleave-users'], betterPreferred: ilCorrect / o['interleave-reps'], betterWinsSignificantly: ilWins / o['interleave-reps'], medianPreference: median(prefs) };
    console.log(`interleaving (team draft, ${o['interleave-users']} users): better team preferred in ${ilCorrect}/${o['interleave-reps']} runs, significant (sign test) in ${ilWins}/${o['interleave-reps']}; median preference ${abFig && ilFig.medianPreference.toFixed(3)}`);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`${o['ab-reps'] + o['aa-reps'] + o['interleave-reps']} simulated experiments in ${seconds.toFixed(1)} s`);
    const pass = abFig.rankedCorrectly === 1 && aaFig.noSignificantDifference >= 0.9 && ilFig.betterPreferred === 1;
    console.log(pass ? 'PASS: every A/B run ranked correctly, A/A >= 90% not significant, interleaving preferred the better team every time' : 'FAIL: see the figures above');
    if (o.json) {
      await writeFile(o.json, JSON.stringify({ ab: abFig, aa: aaFig, interleaving: ilFig, serve: serveFig, seconds, pass, command: `tandem bench experiments ${argv.join(' ')}` }, null, 2) + '\n');
      console.error(`wrote ${o.json}`);
    }
    return pass ? 0 : 1;
  },
};
