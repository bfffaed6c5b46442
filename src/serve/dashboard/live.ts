/**
 * The live page's feed: events per second from the serving model's own counter and the latest stored
 * events, computed once per tick for every connected page (one ticker, however many pages watch).
 */
import type { Engine } from '../../pipeline/index.ts';
import type { EventLog, LiveState } from '../../store/index.ts';

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
  private lastSeq = -1;
  private lastApplied = -1;
  private lastEngine: Engine | null = null;
  private lastTick = 0;
  private perSecond = 0;

  constructor(
    private readonly current: () => { engine: Engine; state: LiveState },
    private readonly log: EventLog,
    private readonly intervalMs: number,
  ) {}

  /** Calls `fn` with a snapshot every tick until the returned function is called. */
  subscribe(fn: (s: LiveSnapshot) => void): () => void {
    this.subs.add(fn);
    if (!this.timer) {
      this.timer = setInterval(() => {
        void this.tick().then(
          (s) => {
            for (const f of this.subs) f(s);
          },
          () => {}, // a failed read skips a tick; the next one retries
        );
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
  snapshot(): Promise<LiveSnapshot> {
    return this.tick();
  }

  private async tick(): Promise<LiveSnapshot> {
    const { engine, state } = this.current();
    const now = Date.now() / 1000;
    const st = engine.stats();
    const ls = await state.stats();
    if (engine !== this.lastEngine) {
      // a reload: the new model's counter starts over
      this.lastEngine = engine;
      this.lastApplied = st.eventsObserved;
      this.lastTick = now;
    } else if (now - this.lastTick >= 0.2) {
      this.perSecond = (st.eventsObserved - this.lastApplied) / (now - this.lastTick);
      this.lastApplied = st.eventsObserved;
      this.lastTick = now;
      this.t.push(Math.round(now * 1000) / 1000);
      this.rate.push(Math.round(this.perSecond * 100) / 100);
      if (this.t.length > HISTORY) (this.t.shift(), this.rate.shift());
    }
    const fresh: LiveEvent[] = [];
    // only the tail of the log: an old or busy log may hold millions of rows
    const last = await this.log.lastSeq();
    const from = Math.max(this.lastSeq, last - 200, 0);
    for (const e of last > from ? await this.log.read(from, 1000) : []) {
      if (e.seq <= this.lastSeq) continue;
      this.lastSeq = e.seq;
      if (e.kind === 'event') {
        fresh.push({ seq: e.seq, received: e.received, user: e.user, item: e.item, type: e.type, value: e.value });
        if (fresh.length > LATEST) fresh.shift();
      }
    }
    if (fresh.length) this.latest = fresh.reverse().concat(this.latest).slice(0, LATEST);
    if (this.lastSeq < 0) this.lastSeq = last;
    return {
      modelVersion: engine.modelVersion,
      now,
      eventsApplied: st.eventsObserved,
      perSecond: Math.round(this.perSecond * 100) / 100,
      series: { t: this.t.slice(), perSecond: this.rate.slice() },
      latest: this.latest,
      items: st.items,
      liveUsers: ls.users,
    };
  }
}
