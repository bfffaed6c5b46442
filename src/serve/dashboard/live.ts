/**
 * The live page's feed: events per second from the serving model's own counter and the latest stored
 * events, computed once per tick for every connected page (one ticker, however many pages watch).
 */
import type { Recommender } from '../../pipeline/index.ts';
import type { EventStore } from '../event-store.ts';

export interface LiveEvent {
  seq: number;
  received: number;
  user: string;
  item: string;
  type: string;
  value: number;
}

export interface LiveSnapshot {
  modelVersion: string;
  /** Server time of this snapshot (seconds). */
  now: number;
  /** Events applied to the serving model since it was loaded. */
  eventsApplied: number;
  /** Events per second over the last tick. */
  perSecond: number;
  /** The last `history` ticks: times (seconds) and rates. */
  series: { t: number[]; perSecond: number[] };
  latest: LiveEvent[];
  items: number;
  liveUsers: number;
}

const HISTORY = 120;
const LATEST = 20;

export class LiveFeed {
  private timer: NodeJS.Timeout | null = null;
  private readonly subs = new Set<(s: LiveSnapshot) => void>();
  private readonly t: number[] = [];
  private readonly rate: number[] = [];
  private latest: LiveEvent[] = [];
  private lastSeq = 0;
  private lastReceived: number;
  private lastApplied = -1;
  private lastRec: Recommender | null = null;
  private lastTick = 0;
  private perSecond = 0;

  constructor(
    private readonly current: () => Recommender,
    private readonly store: EventStore,
    private readonly intervalMs: number,
  ) {
    // only the last minute of the log at start: an old log may hold millions of rows
    this.lastReceived = Date.now() / 1000 - 60;
  }

  /** Calls `fn` with a snapshot every tick until the returned function is called. */
  subscribe(fn: (s: LiveSnapshot) => void): () => void {
    this.subs.add(fn);
    if (!this.timer) {
      this.timer = setInterval(() => {
        const s = this.tick();
        for (const f of this.subs) f(s);
      }, this.intervalMs);
      this.timer.unref();
    }
    return () => {
      this.subs.delete(fn);
      if (this.subs.size === 0) this.stop();
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The state now (also advances the counters: callable between ticks). */
  snapshot(): LiveSnapshot {
    return this.tick();
  }

  private tick(): LiveSnapshot {
    const rec = this.current();
    const now = Date.now() / 1000;
    const st = rec.stats();
    if (rec !== this.lastRec) {
      // a reload: the new model's counter starts over
      this.lastRec = rec;
      this.lastApplied = st.eventsApplied;
      this.lastTick = now;
    } else if (now - this.lastTick >= 0.2) {
      this.perSecond = (st.eventsApplied - this.lastApplied) / (now - this.lastTick);
      this.lastApplied = st.eventsApplied;
      this.lastTick = now;
      this.t.push(Math.round(now * 1000) / 1000);
      this.rate.push(Math.round(this.perSecond * 100) / 100);
      if (this.t.length > HISTORY) (this.t.shift(), this.rate.shift());
    }
    const fresh: LiveEvent[] = [];
    for (const e of this.store.since(this.lastReceived)) {
      if (e.seq <= this.lastSeq) continue;
      this.lastSeq = e.seq;
      this.lastReceived = e.received;
      if (e.kind === 'event') {
        fresh.push({ seq: e.seq, received: e.received, user: e.user, item: e.item, type: e.type, value: e.value });
        if (fresh.length > LATEST) fresh.shift();
      }
    }
    if (fresh.length) this.latest = fresh.reverse().concat(this.latest).slice(0, LATEST);
    return {
      modelVersion: rec.modelVersion,
      now,
      eventsApplied: st.eventsApplied,
      perSecond: Math.round(this.perSecond * 100) / 100,
      series: { t: this.t.slice(), perSecond: this.rate.slice() },
      latest: this.latest,
      items: st.items,
      liveUsers: st.liveUsers,
    };
  }
}
