/**
 * Train/test splits of one Dataset. Both sides share the dataset's tables; rows keep their original
 * order. Ties in time are broken by the original item id (numeric order when every id is a number),
 * never by dense index, which depends on load order.
 */
import { parseIsoTimestamp } from './load.ts';
import { groupByUser, selectInteractions, type Dataset } from './dataset.ts';
import type { Vocabulary } from './vocabulary.ts';

export type SplitSpec =
  | { kind: 'user-temporal'; fraction: number }
  | { kind: 'global-temporal'; fraction?: number; cut?: number }
  | { kind: 'leave-last-out'; n: number };

const FORMS = "user-temporal:FRACTION, global-temporal:FRACTION, global-temporal:@TIMESTAMP (unix seconds or ISO 8601), leave-last-out or leave-last-out:N";

function fraction(s: string, spec: string): number {
  const f = Number(s);
  if (s.trim() === '' || !(f > 0 && f < 1)) throw new Error(`split '${spec}': the fraction must be a number between 0 and 1 (exclusive), found '${s}'`);
  return f;
}

/**
 * Parses a split from its command-line form.
 * @example parseSplit('user-temporal:0.2'); parseSplit('global-temporal:@1700000000'); parseSplit('leave-last-out:2')
 */
export function parseSplit(s: string): SplitSpec {
  const colon = s.indexOf(':');
  const kind = colon < 0 ? s : s.slice(0, colon);
  const arg = colon < 0 ? undefined : s.slice(colon + 1);
  switch (kind) {
    case 'user-temporal':
      if (arg === undefined) throw new Error(`split '${s}' needs a fraction, as in user-temporal:0.2`);
      return { kind, fraction: fraction(arg, s) };
    case 'global-temporal': {
      if (arg === undefined) throw new Error(`split '${s}' needs a fraction or a time, as in global-temporal:0.2 or global-temporal:@1700000000`);
      if (!arg.startsWith('@')) return { kind, fraction: fraction(arg, s) };
      const t = arg.slice(1).trim();
      const cut = /^[+-]?\d+(\.\d+)?$/.test(t) ? Number(t) : parseIsoTimestamp(t);
      if (!Number.isFinite(cut)) throw new Error(`split '${s}': '${t}' is not a time (unix seconds or ISO 8601)`);
      return { kind, cut };
    }
    case 'leave-last-out': {
      if (arg === undefined) return { kind, n: 1 };
      const n = Number(arg);
      if (!Number.isInteger(n) || n < 1 || arg.trim() === '') throw new Error(`split '${s}': N must be a positive integer, found '${arg}'`);
      return { kind, n };
    }
    default:
      throw new Error(`unknown split '${s}'; expected one of ${FORMS}`);
  }
}

/**
 * Rank of each dense index in the original ids' order: numeric when every id is a number, else by
 * code units. Ties between equal numbers ("01" and "1") fall back to string order.
 * @example idOrder(ds.items)[i] < idOrder(ds.items)[j] when item i's id sorts before item j's
 */
export function idOrder(ids: Vocabulary): Int32Array {
  const v = ids.values;
  const n = v.length;
  const num = new Float64Array(n);
  let numeric = true;
  for (let k = 0; k < n; k++) {
    const s = v[k].trim();
    num[k] = s === '' ? NaN : Number(s);
    if (!Number.isFinite(num[k])) numeric = false;
  }
  const str = (a: number, b: number): number => (v[a] < v[b] ? -1 : v[a] > v[b] ? 1 : 0);
  const order = Int32Array.from({ length: n }, (_, k) => k);
  order.sort(numeric ? (a, b) => num[a] - num[b] || str(a, b) : str);
  const rank = new Int32Array(n);
  for (let k = 0; k < n; k++) rank[order[k]] = k;
  return rank;
}

/** Which rows go to test (1) under `spec`. */
function testMask(ds: Dataset, spec: SplitSpec): Uint8Array {
  const x = ds.interactions;
  const mask = new Uint8Array(x.length);
  if (spec.kind === 'global-temporal') {
    // positions of different users do not compare: user 1's 5th event is not later than user 2's 3rd
    if (ds.timeKind === 'order') throw new Error(`global-temporal split: ${ds.name}'s time is an order within each user (timestampFormat "order"), which does not compare across users; use user-temporal or leave-last-out`);
    if (spec.cut !== undefined) {
      for (let r = 0; r < x.length; r++) if (x.timestamp[r] >= spec.cut) mask[r] = 1;
      return mask;
    }
    const f = spec.fraction;
    if (f === undefined || !(f > 0 && f < 1)) throw new Error('global-temporal split: give a fraction in (0, 1) or a cut time');
    if (x.length === 0) return mask;
    const itemRank = idOrder(ds.items.ids);
    const userRank = idOrder(ds.users.ids);
    const order = Int32Array.from({ length: x.length }, (_, k) => k);
    order.sort((a, b) => x.timestamp[a] - x.timestamp[b] || userRank[x.user[a]] - userRank[x.user[b]] || itemRank[x.item[a]] - itemRank[x.item[b]] || a - b);
    const k = Math.max(1, Math.floor(f * x.length));
    for (let j = x.length - k; j < x.length; j++) mask[order[j]] = 1;
    return mask;
  }
  const { offsets, rows } = groupByUser(ds.interactions, ds.numUsers, idOrder(ds.items.ids));
  for (let u = 0; u < ds.numUsers; u++) {
    const n = offsets[u + 1] - offsets[u];
    if (n === 0) continue;
    let k: number;
    if (spec.kind === 'user-temporal') {
      if (!(spec.fraction > 0 && spec.fraction < 1)) throw new Error('user-temporal split: the fraction must be in (0, 1)');
      k = Math.max(1, Math.floor(spec.fraction * n));
    } else {
      if (!(Number.isInteger(spec.n) && spec.n >= 1)) throw new Error('leave-last-out split: n must be a positive integer');
      k = Math.min(spec.n, n - 1); // a user with n or fewer interactions keeps one for training
    }
    for (let j = offsets[u + 1] - k; j < offsets[u + 1]; j++) mask[rows[j]] = 1;
  }
  return mask;
}

/**
 * Splits a dataset's interactions into train and test. Both share the tables; rows keep their order.
 * - user-temporal: each user's last `max(1, floor(fraction * n))` interactions by (time, item id) go to test;
 * - global-temporal: interactions at or after `cut` (seconds), or the latest `fraction` of all, go to test;
 * - leave-last-out: each user's last `n` go to test, though a user always keeps one in train.
 * @example const { train, test } = splitDataset(dataset, parseSplit('user-temporal:0.2'));
 */
export function splitDataset(ds: Dataset, spec: SplitSpec): { train: Dataset; test: Dataset } {
  const mask = testMask(ds, spec);
  let nTest = 0;
  for (let r = 0; r < mask.length; r++) nTest += mask[r];
  const trainRows = new Int32Array(mask.length - nTest);
  const testRows = new Int32Array(nTest);
  let a = 0;
  let b = 0;
  for (let r = 0; r < mask.length; r++) {
    if (mask[r]) testRows[b++] = r;
    else trainRows[a++] = r;
  }
  return {
    train: ds.withInteractions(selectInteractions(ds.interactions, trainRows), `${ds.name}:train`),
    test: ds.withInteractions(selectInteractions(ds.interactions, testRows), `${ds.name}:test`),
  };
}

/**
 * The slow, obvious split: rows as objects, grouped in a Map, sorted by comparing id strings.
 * Returns the test rows' indices, ascending. Tests hold splitDataset to it.
 */
export function splitReferenceTestRows(ds: Dataset, spec: SplitSpec): number[] {
  const x = ds.interactions;
  const uid = ds.users.ids.values;
  const iid = ds.items.ids.values;
  const allNumeric = (vs: string[]): boolean => vs.every((s) => s.trim() !== '' && Number.isFinite(Number(s)));
  const cmpId = (numeric: boolean) => (a: string, b: string): number => {
    if (numeric && Number(a) !== Number(b)) return Number(a) - Number(b);
    return a < b ? -1 : a > b ? 1 : 0;
  };
  const cmpItem = cmpId(allNumeric(iid));
  const cmpUser = cmpId(allNumeric(uid));
  const recs = [];
  for (let r = 0; r < x.length; r++) recs.push({ r, user: uid[x.user[r]], item: iid[x.item[r]], t: x.timestamp[r] });
  const test: number[] = [];
  if (spec.kind === 'global-temporal') {
    if (spec.cut !== undefined) return recs.filter((o) => o.t >= spec.cut!).map((o) => o.r);
    recs.sort((a, b) => a.t - b.t || cmpUser(a.user, b.user) || cmpItem(a.item, b.item) || a.r - b.r);
    const k = Math.max(1, Math.floor(spec.fraction! * recs.length));
    for (const o of recs.slice(recs.length - k)) test.push(o.r);
  } else {
    const groups = new Map<string, typeof recs>();
    for (const o of recs) {
      const g = groups.get(o.user);
      if (g) g.push(o);
      else groups.set(o.user, [o]);
    }
    for (const g of groups.values()) {
      g.sort((a, b) => a.t - b.t || cmpItem(a.item, b.item) || a.r - b.r);
      const k = spec.kind === 'user-temporal' ? Math.max(1, Math.floor(spec.fraction * g.length)) : Math.min(spec.n, g.length - 1);
      for (const o of g.slice(g.length - k)) test.push(o.r);
    }
  }
  return test.sort((a, b) => a - b);
}
