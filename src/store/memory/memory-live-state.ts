/**
 * LiveState in this process's memory: per user a ring of the latest events and the latest features,
 * and the catalog changes in the order of their last change. Everything it hands out is frozen and
 * shared, so a request reads a user without copying each event.
 */
import type { CatalogChange, LiveEvent, LiveState, LiveUser, LogEntry } from '../types.ts';
import { StoreError } from '../types.ts';
import { validateEntries } from '../validate.ts';

export interface MemoryLiveStateOptions {
  /** Events kept per user, the latest ones (default 1000). */
  maxEventsPerUser?: number;
}

export const MEMORY_LIVE_STATE_DEFAULTS: Required<MemoryLiveStateOptions> = { maxEventsPerUser: 1000 };

/** One user's events as a ring: once full, `head` is the oldest and the next write replaces it. */
interface UserSlot {
  events: LiveEvent[];
  head: number;
  features: Record<string, unknown> | null;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** A private, frozen copy of validated JSON features (JSON.parse keeps a '__proto__' key as data). */
function frozenFeatures(f: Record<string, unknown>): Record<string, unknown> {
  return deepFreeze(JSON.parse(JSON.stringify(f)) as Record<string, unknown>);
}

/**
 * @example
 *   const live = new MemoryLiveState({ maxEventsPerUser: 200 });
 *   await live.apply(await log.read(0));
 *   (await live.user('u1'))?.events.at(-1); // the user's latest event
 */
export class MemoryLiveState implements LiveState {
  readonly kind = 'memory';
  readonly maxEventsPerUser: number;
  private pos = 0;
  private readonly slots = new Map<string, UserSlot>();
  // re-inserted on every change, so iteration order is the seq order of each item's last change
  private readonly items = new Map<string, CatalogChange>();
  // item -> event type -> events applied (null-prototype records: a type may be named '__proto__')
  private readonly counts = new Map<string, Record<string, number>>();
  private held = 0;
  private closed = false;

  constructor(opts: MemoryLiveStateOptions = {}) {
    const max = opts.maxEventsPerUser ?? MEMORY_LIVE_STATE_DEFAULTS.maxEventsPerUser;
    if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) throw new StoreError('invalid', `must be a positive integer (got ${String(max)})`, 'opts.maxEventsPerUser');
    this.maxEventsPerUser = max;
  }

  async apply(entries: readonly LogEntry[]): Promise<void> {
    this.check();
    // the whole batch is checked before any of it is applied
    validateEntries(entries);
    for (const e of entries) {
      if (e.seq <= this.pos) continue;
      switch (e.kind) {
        case 'event': {
          this.push(this.slot(e.user), Object.freeze({ seq: e.seq, item: e.item, type: e.type, value: e.value, timestamp: e.timestamp }));
          let c = this.counts.get(e.item);
          if (c === undefined) this.counts.set(e.item, (c = Object.create(null) as Record<string, number>));
          c[e.type] = (c[e.type] ?? 0) + 1;
          break;
        }
        case 'user':
          this.slot(e.user).features = frozenFeatures(e.features);
          break;
        case 'item':
          this.items.delete(e.item);
          this.items.set(e.item, Object.freeze({ item: e.item, seq: e.seq, deleted: false, features: frozenFeatures(e.features) }));
          break;
        case 'delete-item':
          this.items.delete(e.item);
          this.items.set(e.item, Object.freeze({ item: e.item, seq: e.seq, deleted: true, features: null }));
          break;
      }
      this.pos = e.seq;
    }
  }

  async position(): Promise<number> {
    this.check();
    return this.pos;
  }

  async user(id: string): Promise<LiveUser | null> {
    this.check();
    if (typeof id !== 'string') throw new StoreError('invalid', 'must be a string', 'id');
    return this.view(id);
  }

  async users(ids: readonly string[]): Promise<(LiveUser | null)[]> {
    this.check();
    if (!Array.isArray(ids)) throw new StoreError('invalid', 'must be an array of strings', 'ids');
    const out = new Array<LiveUser | null>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      if (typeof ids[i] !== 'string') throw new StoreError('invalid', 'must be a string', `ids[${i}]`);
      out[i] = this.view(ids[i]);
    }
    return out;
  }

  async catalog(): Promise<CatalogChange[]> {
    this.check();
    return Array.from(this.items.values());
  }

  async itemCounts(items: readonly string[]): Promise<Record<string, number>[]> {
    this.check();
    if (!Array.isArray(items)) throw new StoreError('invalid', 'must be an array of strings', 'items');
    const out = new Array<Record<string, number>>(items.length);
    for (let i = 0; i < items.length; i++) {
      if (typeof items[i] !== 'string') throw new StoreError('invalid', 'must be a string', `items[${i}]`);
      // a plain copy: the counts go on changing
      out[i] = { ...this.counts.get(items[i]) };
    }
    return out;
  }

  async stats(): Promise<{ users: number; events: number; items: number }> {
    this.check();
    return { users: this.slots.size, events: this.held, items: this.items.size };
  }

  async clear(): Promise<void> {
    this.check();
    this.reset();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reset();
  }

  private reset(): void {
    this.slots.clear();
    this.items.clear();
    this.counts.clear();
    this.held = 0;
    this.pos = 0;
  }

  private slot(user: string): UserSlot {
    let s = this.slots.get(user);
    if (s === undefined) {
      s = { events: [], head: 0, features: null };
      this.slots.set(user, s);
    }
    return s;
  }

  private push(s: UserSlot, e: LiveEvent): void {
    if (s.events.length < this.maxEventsPerUser) {
      s.events.push(e);
      this.held++;
      return;
    }
    // full: the oldest gives way
    s.events[s.head] = e;
    s.head = s.head + 1 === s.events.length ? 0 : s.head + 1;
  }

  /** The user's events oldest first (a new array of the shared, frozen events). */
  private view(id: string): LiveUser | null {
    const s = this.slots.get(id);
    if (s === undefined) return null;
    const n = s.events.length;
    const events = new Array<LiveEvent>(n);
    for (let i = 0, j = s.head; i < n; i++, j = j + 1 === n ? 0 : j + 1) events[i] = s.events[j];
    return { events, features: s.features };
  }

  private check(): void {
    if (this.closed) throw new StoreError('closed', 'the memory live state is closed');
  }
}
