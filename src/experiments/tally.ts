/**
 * Attribution: reads the event log (in seq order) and credits each event to an exposure of an
 * experiment: the one it names (`exposureId`, when it showed the event's item), otherwise the user's
 * latest exposure of that item no longer ago than the attribution window. Per arm and user it keeps
 * exposures and, per event type, events and their summed value; for interleaved exposures, clicks per team.
 */
import type { LogEntry } from '../store/index.ts';
import type { Experiment } from './definition.ts';

/** Per event type, what one user did after exposures of one arm. */
export interface TypeTally {
  events: number;
  value: number;
}

export interface UserTally {
  exposures: number;
  /** Items shown over those exposures (impressions). */
  shown: number;
  types: Map<string, TypeTally>;
}

interface ExposureRecord {
  arm: number;
  user: string;
  timestamp: number;
  items: string[];
  teams: number[] | null;
  /** Per event type, attributed events per team (interleaved exposures only). */
  credit: Map<string, [number, number]> | null;
}

/** What the tally of one experiment holds: per arm, per user. */
export class ExperimentTally {
  /** arm -> user -> tally. */
  readonly arms: Map<string, UserTally>[];
  /** arm index -> exposure id -> the exposure (for interleaving credit and exposureId lookups). */
  private readonly exposures = new Map<string, ExposureRecord>();
  /** user \0 item -> the latest exposure id that showed it. */
  private readonly latest = new Map<string, string>();
  private readonly armIndex = new Map<string, number>();
  /** Exposures naming an arm the definition does not have (a renamed arm): counted, not used. */
  unknownArm = 0;
  /** Events naming an exposure of this experiment that is unknown or did not show the item. */
  unmatched = 0;
  /** Events attributed (by id or by window). */
  attributed = 0;
  /** Event types seen in attributed events, in order of first sight. */
  readonly types: string[] = [];

  constructor(readonly experiment: Experiment) {
    this.arms = experiment.arms.map(() => new Map());
    experiment.arms.forEach((a, i) => this.armIndex.set(a.name, i));
  }

  /** Takes entries in seq order (entries of other experiments and other kinds are passed over). */
  add(entries: readonly LogEntry[]): void {
    for (const e of entries) {
      if (e.kind === 'exposure') {
        if (e.experiment !== this.experiment.name) continue;
        const arm = this.armIndex.get(e.arm);
        if (arm === undefined) {
          this.unknownArm++;
          continue;
        }
        this.exposures.set(e.id, { arm, user: e.user, timestamp: e.timestamp, items: e.items, teams: e.teams ?? null, credit: e.teams ? new Map() : null });
        const u = this.userOf(arm, e.user);
        u.exposures++;
        u.shown += e.items.length;
        for (const item of e.items) this.latest.set(`${e.user}\u0000${item}`, e.id);
      } else if (e.kind === 'event') {
        let x: ExposureRecord | undefined;
        if (e.exposureId !== undefined) {
          x = this.exposures.get(e.exposureId);
          // an id of another experiment's exposure is not ours to count; one of ours that did not show the item is a client bug
          if (x === undefined || x.user !== e.user || !x.items.includes(e.item)) {
            if (x !== undefined) this.unmatched++;
            continue;
          }
        } else {
          const id = this.latest.get(`${e.user}\u0000${e.item}`);
          if (id === undefined) continue;
          x = this.exposures.get(id)!;
          const age = e.timestamp - x.timestamp;
          if (age < 0 || age > this.experiment.attributionSeconds) continue;
        }
        this.attributed++;
        const u = this.userOf(x.arm, x.user);
        let t = u.types.get(e.type);
        if (t === undefined) {
          u.types.set(e.type, (t = { events: 0, value: 0 }));
          if (!this.types.includes(e.type)) this.types.push(e.type);
        }
        t.events++;
        t.value += e.value;
        if (x.credit !== null) {
          let c = x.credit.get(e.type);
          if (c === undefined) x.credit.set(e.type, (c = [0, 0]));
          c[x.teams![x.items.indexOf(e.item)]]++;
        }
      }
    }
  }

  /**
   * Per interleaved arm: exposures, exposures won by each team (more attributed events of `type`
   * credited to it; ties and exposures without any are no one's), the ties.
   */
  interleaving(arm: number, type: string): { exposures: number; wins: [number, number]; ties: number } {
    let exposures = 0;
    const wins: [number, number] = [0, 0];
    let ties = 0;
    for (const x of this.exposures.values()) {
      if (x.arm !== arm || x.credit === null) continue;
      exposures++;
      const c = x.credit.get(type);
      if (c === undefined) continue;
      if (c[0] > c[1]) wins[0]++;
      else if (c[1] > c[0]) wins[1]++;
      else if (c[0] > 0) ties++;
    }
    return { exposures, wins, ties };
  }

  private userOf(arm: number, user: string): UserTally {
    let u = this.arms[arm].get(user);
    if (u === undefined) this.arms[arm].set(user, (u = { exposures: 0, shown: 0, types: new Map() }));
    return u;
  }
}
