import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryEventLog, type LogRecord } from '../store/index.ts';
import {
  assignArm,
  bootstrapRatioSe,
  buildReport,
  chiSquareSf,
  chiSquareTest,
  ExperimentTally,
  formatReport,
  normalCdf,
  parseExperiments,
  ratioEstimate,
  reportFromLog,
  resolveExperiment,
  signTestP,
  simulateExperiment,
  teamDraft,
} from './index.ts';
import { Rng } from '../math/index.ts';

const START = '2026-01-01T00:00:00Z';
const T0 = Date.parse(START) / 1000;

test('normal and chi-square tails and the sign test match known values', () => {
  assert.ok(Math.abs(normalCdf(1.959963984540054) - 0.975) < 1e-7);
  assert.ok(Math.abs(normalCdf(-1) - 0.15865525393145707) < 1e-7);
  assert.ok(Math.abs(chiSquareSf(3.841458820694124, 1) - 0.05) < 1e-9);
  for (const x of [0.1, 1, 5, 30]) assert.ok(Math.abs(chiSquareSf(x, 2) - Math.exp(-x / 2)) < 1e-12, `df 2 at ${x}`);
  assert.ok(Math.abs(chiSquareSf(10, 5) - 0.07523524614651217) < 1e-10);
  // df 1 is a squared normal; a large df (continued fraction side) against the series side near a + 1
  for (const x of [0.5, 2, 9]) assert.ok(Math.abs(chiSquareSf(x, 1) - 2 * (1 - normalCdf(Math.sqrt(x)))) < 1e-6, `df 1 at ${x}`);
  assert.ok(Math.abs(chiSquareSf(81.999, 80) - chiSquareSf(82.001, 80)) < 1e-4, 'continuous where the method switches');
  assert.ok(Math.abs(signTestP(9, 10) - 0.021484375) < 1e-12);
  assert.equal(signTestP(5, 10), 1);
  // against the plain sum of binomial coefficients
  let c = 1;
  let tail = 0;
  for (let i = 0; i <= 11; i++) {
    tail += c;
    c = (c * (40 - i)) / (i + 1);
  }
  assert.ok(Math.abs(signTestP(29, 40) - (2 * tail) / 2 ** 40) < 1e-12);
});

test('the delta-method standard error of a ratio agrees with a per-user bootstrap (its slow reference)', () => {
  const rng = new Rng(5);
  const m = 800;
  const x = new Float64Array(m);
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    y[i] = 10 * (1 + rng.int(6));
    const p = 0.02 + 0.1 * rng.next();
    for (let j = 0; j < y[i]; j++) if (rng.next() < p) x[i]++;
  }
  const d = ratioEstimate(x, y);
  const b = bootstrapRatioSe(x, y, 2000, 9);
  assert.ok(Math.abs(d.se / b - 1) < 0.08, `delta ${d.se} vs bootstrap ${b}`);
  assert.ok(d.ci[0] < d.value && d.value < d.ci[1]);
});

test('assignment is deterministic, sticky and gives each arm its share over 100k ids', () => {
  const e = resolveExperiment({ name: 'shares', arms: [{ name: 'a', share: 1 }, { name: 'b', share: 3 }, { name: 'c', share: 6 }], start: START });
  const counts = [0, 0, 0];
  const n = 100_000;
  for (let i = 0; i < n; i++) counts[assignArm(e, `user-${i}`, T0 + 1)]++;
  const want = [0.1, 0.3, 0.6];
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(counts[i] / n - want[i]) < 0.006, `arm ${i}: ${counts[i] / n}`);
  // chi-square on the counts: uniform hashing passes at the usual level
  assert.ok(chiSquareTest(counts, want).pValue > 0.001);
  for (let i = 0; i < 100; i++) assert.equal(assignArm(e, `user-${i}`, T0 + 1), assignArm(e, `user-${i}`, T0 + 9999), 'sticky');
  // another experiment (or seed) shuffles users independently of this one
  const f = resolveExperiment({ name: 'other', arms: [{ name: 'a' }, { name: 'b' }], start: START });
  let both = 0;
  for (let i = 0; i < 20_000; i++) if (assignArm(e, `user-${i}`, T0 + 1) === 2 && assignArm(f, `user-${i}`, T0 + 1) === 1) both++;
  assert.ok(Math.abs(both / 20_000 - 0.3) < 0.015, `independent: ${both / 20_000}`);
  const stopped = resolveExperiment({ name: 's', arms: [{ name: 'a' }, { name: 'b' }], start: START, stop: '2026-01-02' });
  assert.equal(assignArm(stopped, 'u', T0 - 1), -1, 'not yet started');
  assert.equal(assignArm(stopped, 'u', T0 + 86_400), -1, 'stopped');
  assert.notEqual(assignArm(stopped, 'u', T0 + 10), -1);
});

test('team-draft interleaving: no repeats, teams balanced at every prefix, each team in its own order', () => {
  const rng = new Rng(3);
  for (let rep = 0; rep < 200; rep++) {
    const pool = Array.from({ length: 30 }, (_, i) => `i${i}`);
    const shuffle = (xs: string[]) => xs.map((x) => ({ x, r: rng.next() })).sort((p, q) => p.r - q.r).map((p) => p.x);
    const a = shuffle(pool).slice(0, 5 + rng.int(15));
    const b = shuffle(pool).slice(0, 5 + rng.int(15));
    const k = 1 + rng.int(20);
    const r = teamDraft(a, b, k, rep);
    assert.deepEqual(teamDraft(a, b, k, rep), r, 'the same seed interleaves the same way');
    assert.equal(new Set(r.items).size, r.items.length, 'no repeats');
    assert.equal(r.items.length, Math.min(k, new Set([...a, ...b]).size));
    const picks = [0, 0];
    const lists = [a, b];
    let exhausted = false;
    for (let p = 0; p < r.items.length; p++) {
      const t = r.teams[p];
      // the team's best item not yet shown
      const best = lists[t].find((x) => !r.items.slice(0, p).includes(x));
      assert.equal(r.items[p], best, `rep ${rep} position ${p}: team ${t} picks its best remaining item`);
      picks[t]++;
      if (lists[1 - t].every((x) => r.items.slice(0, p + 1).includes(x))) exhausted = true;
      if (!exhausted) assert.ok(Math.abs(picks[0] - picks[1]) <= 1, `rep ${rep}: teams balanced at ${p}`);
    }
  }
  const same = teamDraft(['a', 'b', 'c'], ['a', 'b', 'c'], 3, 1);
  assert.deepEqual(same.items, ['a', 'b', 'c'], 'identical lists interleave to the list itself');
});

test('definitions are checked, naming the field', () => {
  const bad: [unknown, RegExp][] = [
    [{ experiments: [{ name: 'x', arms: [{ name: 'a' }] }] }, /^experiments\[0\]\.arms: needs two or more arms/],
    [{ experiments: [{ name: 'x', arms: [{ name: 'a' }, { name: 'a' }] }] }, /^experiments\[0\]\.arms\[1\]\.name: 'a' names two arms/],
    [{ experiments: [{ name: 'x', arms: [{ name: 'a', share: 0 }, { name: 'b' }] }] }, /^experiments\[0\]\.arms\[0\]\.share/],
    [{ experiments: [{ name: 'x', arms: [{ name: 'a', interleave: ['m1'] }] }] }, /^experiments\[0\]\.arms\[0\]\.interleave: must name two/],
    [{ experiments: [{ name: 'x', arms: [{ name: 'a' }, { name: 'b' }], stop: 'soon' }] }, /^experiments\[0\]\.stop: must be an ISO 8601/],
    [{ experiments: [{ name: 'x y', arms: [{ name: 'a' }, { name: 'b' }] }] }, /^experiments\[0\]\.name: must be 1 to 64/],
    [{ experiments: [{ name: 'x', arms: [{ name: 'a' }, { name: 'b' }], windowHours: 3 }] }, /^experiments\[0\]\.windowHours: unknown parameter/],
    [{ experiments: [{ name: 'x', arms: [{ name: 'a' }, { name: 'b' }] }, { name: 'x', arms: [{ name: 'a' }, { name: 'b' }] }] }, /^experiments\[1\]\.name: 'x' names two experiments/],
  ];
  for (const [given, re] of bad) assert.throws(() => parseExperiments(given), (e: Error) => re.test(e.message), String(re));
  const [e] = parseExperiments({ experiments: [{ name: 'v2', arms: [{ name: 'control', share: 1 }, { name: 'v2', model: 'models/v2', share: 3 }], start: START, attributionHours: 2 }] });
  assert.deepEqual(e.arms.map((a) => a.share), [0.25, 0.75]);
  assert.equal(e.attributionSeconds, 7200);
  assert.equal(e.start, T0);
});

test('attribution: by exposureId, else the latest exposure of the item within the window', () => {
  const e = resolveExperiment({ name: 'x', arms: [{ name: 'a' }, { name: 'b' }, { name: 'il', interleave: ['m1', 'm2'] }], start: START, attributionHours: 1 });
  const ev = (user: string, item: string, timestamp: number, exposureId?: string): LogRecord => ({ kind: 'event', user, item, type: 'click', value: 1, timestamp, ...(exposureId ? { exposureId } : {}) });
  const records: LogRecord[] = [
    { kind: 'exposure', id: 'e1', user: 'u1', experiment: 'x', arm: 'a', items: ['i1', 'i2'], timestamp: T0 },
    { kind: 'exposure', id: 'e2', user: 'u1', experiment: 'x', arm: 'a', items: ['i2', 'i3'], timestamp: T0 + 100 },
    { kind: 'exposure', id: 'o1', user: 'u2', experiment: 'other', arm: 'b', items: ['i1'], timestamp: T0 },
    { kind: 'exposure', id: 'e3', user: 'u2', experiment: 'x', arm: 'b', items: ['i1', 'i4'], timestamp: T0 },
    { kind: 'exposure', id: 'e4', user: 'u3', experiment: 'x', arm: 'il', items: ['i1', 'i2', 'i3'], teams: [1, 0, 1], timestamp: T0 },
    ev('u1', 'i2', T0 + 200), // latest exposure of i2: e2
    ev('u1', 'i1', T0 + 200, 'e1'), // named
    ev('u1', 'i3', T0 + 100 + 3601), // outside the hour
    ev('u1', 'i9', T0 + 200, 'e1'), // e1 did not show i9: unmatched
    ev('u2', 'i1', T0 + 10, 'o1'), // another experiment's exposure: not ours
    ev('u2', 'i4', T0 + 10),
    ev('u3', 'i1', T0 + 10),
    ev('u3', 'i3', T0 + 10),
    ev('u3', 'i2', T0 + 10),
    ev('u4', 'i1', T0 + 10), // never exposed
  ];
  const t = new ExperimentTally(e);
  t.add(records.map((r, i) => ({ ...r, seq: i + 1, received: T0 })));
  assert.equal(t.attributed, 6);
  assert.equal(t.unmatched, 1);
  assert.equal(t.arms[0].get('u1')!.exposures, 2);
  assert.equal(t.arms[0].get('u1')!.types.get('click')!.events, 2);
  assert.equal(t.arms[1].get('u2')!.types.get('click')!.events, 1);
  assert.deepEqual(t.interleaving(2, 'click'), { exposures: 1, wins: [0, 1], ties: 0 });
  const r = buildReport(t);
  assert.deepEqual(r.arms.map((a) => [a.users, a.exposures, a.shown]), [[1, 2, 4], [1, 1, 2], [1, 1, 3]]);
  assert.equal(r.arms[0].metrics.click.ctr.value, 2 / 4);
  assert.ok(formatReport(r).some((l) => l.includes('interleaving il')));
});

test('simulation (small, seeded): the report ranks a better arm first, an A/A test rarely differs, interleaving prefers the better team', async () => {
  const ab = resolveExperiment({ name: 'ab', arms: [{ name: 'control', model: 'worse' }, { name: 'treatment', model: 'better' }], start: START });
  const policies = { better: 0.05, worse: 0.3 };
  const r = await simulateExperiment({ experiment: ab, policies, users: 800, seed: 1 });
  const d = r.report.differences.find((x) => x.type === 'click' && x.metric === 'ctr')!;
  assert.ok(r.trueCtr.treatment > r.trueCtr.control, 'the better policy shows better items');
  assert.ok(d.diff > 0 && d.pValue < 0.05, `treatment ahead, significantly: ${JSON.stringify(d)}`);
  assert.equal(r.report.srm.mismatch, false);
  for (const a of r.report.arms) {
    const ci = a.metrics.click.ctr.ci;
    assert.ok(ci[0] - 0.005 < r.trueCtr[a.name] && r.trueCtr[a.name] < ci[1] + 0.005, `${a.name}: true CTR ${r.trueCtr[a.name]} near [${ci}]`);
  }
  // A/A: the same policy on both arms, 20 seeds; at 5% about one is "significant" by chance
  const aa = resolveExperiment({ name: 'aa', arms: [{ name: 'a', model: 'worse' }, { name: 'b', model: 'worse' }], start: START });
  let significant = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const x = await simulateExperiment({ experiment: aa, policies, users: 300, visits: 2, seed });
    if (x.report.differences.find((y) => y.type === 'click' && y.metric === 'ctr')!.pValue < 0.05) significant++;
  }
  assert.ok(significant <= 3, `A/A significant in ${significant} of 20`);
  const il = resolveExperiment({ name: 'il', arms: [{ name: 'mix', interleave: ['worse', 'better'] }], start: START });
  const log = new MemoryEventLog();
  const x = await simulateExperiment({ experiment: il, policies, users: 300, seed: 2, log });
  const click = x.report.interleaving.find((y) => y.type === 'click')!;
  assert.equal(click.winner, 1, `the better team wins: ${JSON.stringify(click)}`);
  assert.deepEqual(await reportFromLog(log, il), x.report, 'the report is a function of the log');
  await log.close();
});

test('the sample-ratio check flags users per arm that do not match the shares', () => {
  const e = resolveExperiment({ name: 'srm', arms: [{ name: 'a' }, { name: 'b' }], start: START });
  const entries = [];
  let seq = 0;
  // b lost a fifth of its users' exposures (a logging bug in one arm)
  for (let u = 0; u < 1000; u++) entries.push({ seq: ++seq, received: T0, kind: 'exposure' as const, id: `a${u}`, user: `ua${u}`, experiment: 'srm', arm: 'a', items: ['i1'], timestamp: T0 });
  for (let u = 0; u < 800; u++) entries.push({ seq: ++seq, received: T0, kind: 'exposure' as const, id: `b${u}`, user: `ub${u}`, experiment: 'srm', arm: 'b', items: ['i1'], timestamp: T0 });
  const t = new ExperimentTally(e);
  t.add(entries);
  const r = buildReport(t);
  // expected 900 each: (100² + 100²) / 900
  assert.ok(Math.abs(r.srm.chiSquare - (2 * 100 ** 2) / 900) < 1e-9, `chi2 ${r.srm.chiSquare}`);
  assert.equal(r.srm.mismatch, true);
  assert.ok(formatReport(r).some((l) => l.includes('MISMATCH')));
  const balanced = new ExperimentTally(e);
  balanced.add(entries.slice(0, 1000 + 800).filter((x) => x.arm === 'b' || Number(x.id.slice(1)) < 820));
  assert.equal(buildReport(balanced).srm.mismatch, false, '820 vs 800 is within chance');
});
