/**
 * Who sees what: users are assigned to arms by a hash of (experiment, seed, user id), so the same user
 * always lands in the same arm (sticky, with no state to keep) and arms get their shares of users.
 */
import { hashString, Rng } from '../math/index.ts';
import type { Experiment } from './definition.ts';

/** A point in [0, 1) fixed by (experiment, seed, user). */
export function assignmentPoint(experiment: string, seed: number, user: string): number {
  return hashString(`${experiment}\u0000${user}`, seed) / 4294967296;
}

/**
 * The index of the arm `user` is in, or -1 when the experiment is not running at `now` (seconds).
 * @example assignArm(exp, 'u42') // 0 or 1, the same on every call and every replica
 */
export function assignArm(e: Experiment, user: string, now = Date.now() / 1000): number {
  if (now < e.start || (e.stop !== null && now >= e.stop)) return -1;
  const u = assignmentPoint(e.name, e.seed, user);
  let acc = 0;
  for (let i = 0; i < e.arms.length - 1; i++) {
    acc += e.arms[i].share;
    if (u < acc) return i;
  }
  return e.arms.length - 1;
}

/** An interleaved list: the items in order and which team (0 or 1) each position came from. */
export interface Interleaved {
  items: string[];
  teams: number[];
}

/**
 * Team-draft interleaving (Radlinski, Kurup & Joachims 2008): in each round the team with fewer picks so
 * far (a coin decides ties) adds its best item not yet in the list. `seed` fixes the coins (the exposure
 * id's hash: the same exposure interleaves the same way again).
 * @example teamDraft(['a', 'b', 'c'], ['b', 'd', 'a'], 4, 7) // { items: [...4 ids], teams: [0|1, ...] }
 */
export function teamDraft(a: readonly string[], b: readonly string[], k: number, seed: number): Interleaved {
  const rng = new Rng(seed);
  const taken = new Set<string>();
  const items: string[] = [];
  const teams: number[] = [];
  const lists = [a, b];
  const at = [0, 0];
  const picks = [0, 0];
  const next = (t: number): string | null => {
    const l = lists[t];
    while (at[t] < l.length && taken.has(l[at[t]])) at[t]++;
    return at[t] < l.length ? l[at[t]] : null;
  };
  while (items.length < k) {
    const na = next(0);
    const nb = next(1);
    if (na === null && nb === null) break;
    let t = picks[0] < picks[1] ? 0 : picks[1] < picks[0] ? 1 : rng.next() < 0.5 ? 0 : 1;
    if ((t === 0 ? na : nb) === null) t = 1 - t;
    const item = (t === 0 ? na : nb)!;
    taken.add(item);
    items.push(item);
    teams.push(t);
    picks[t]++;
  }
  return { items, teams };
}
