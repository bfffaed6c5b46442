/**
 * Training data from the live log: the base dataset (files, a preset or the synthetic data) plus every
 * entry logged since, read through `EventLog.scan` batch by batch. Logged events join the
 * interactions, item upserts join (or replace rows of) the item table with their features, deleted
 * items leave the catalog with every interaction on them, logged users join the user table. The log
 * is read once into compact columns (`readLogSnapshot`); datasets are then cut from it at any
 * sequence number (`datasetWithLog`), so `--promote` can fit on the log up to a cut and score on what
 * follows it without reading the log twice.
 */
import { resolve } from 'node:path';
import { DatasetBuilder, type Dataset, type EntityTable, type FeatureSpec, type TableBuilder } from '../../data/index.ts';
import { checkFeatureRow, type FeatureRow } from '../../features/index.ts';
import type { EventLog } from '../../store/index.ts';

/** A store URL as a manifest records it: no password; SQLite paths made absolute (the identity a server compares). */
export function storeIdentity(url: string): string {
  if (url === 'memory') return 'memory';
  const m = /^([A-Za-z][A-Za-z0-9+.-]+):(.*)$/s.exec(url);
  const scheme = m ? m[1].toLowerCase() : '';
  if (scheme === 'postgres' || scheme === 'postgresql') {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      // never quote the URL: it may carry a password
      throw new Error('--store: not a valid postgres:// URL');
    }
    u.password = '';
    for (const k of [...u.searchParams.keys()]) if (/pass/i.test(k)) u.searchParams.delete(k);
    u.searchParams.sort();
    return `postgres://${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}${u.search}`;
  }
  if (scheme === 'sqlite') {
    const rest = m![2].startsWith('//') ? m![2].slice(2) : m![2];
    return rest === ':memory:' ? 'sqlite::memory:' : `sqlite:${resolve(rest)}`;
  }
  if (scheme === '' || scheme.length < 2) return `sqlite:${resolve(url)}`;
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1@');
}

/** The logged entries, in seq order, in compact columns (strings interned). */
export interface LogSnapshot {
  /** storeIdentity of the URL read. */
  store: string;
  /** Highest seq read (the log's last seq when the read began; 0 for an empty log). */
  lastSeq: number;
  /** Entries read, by kind. */
  kinds: Record<string, number>;
  events: { seq: number[]; user: number[]; item: number[]; type: number[]; value: number[]; timestamp: number[] };
  /** Item upserts (features) and deletes (null), in seq order. */
  items: { seq: number; item: string; features: Record<string, unknown> | null }[];
  /** User upserts, in seq order. */
  users: { seq: number; user: string; features: Record<string, unknown> }[];
  /** Interned strings of the event columns. */
  userIds: string[];
  itemIds: string[];
  typeNames: string[];
}

function interner(list: string[]): (s: string) => number {
  const m = new Map<string, number>();
  return (s) => {
    let i = m.get(s);
    if (i === undefined) {
      i = list.length;
      list.push(s);
      m.set(s, i);
    }
    return i;
  };
}

/**
 * Reads everything logged after `after` up to the log's last seq at the start (appends made meanwhile
 * are left for the next run), `batch` entries at a time.
 * @example const snap = await readLogSnapshot(log, 'sqlite:events.db')
 */
export async function readLogSnapshot(log: EventLog, url: string, opts: { after?: number; batch?: number } = {}): Promise<LogSnapshot> {
  const upTo = await log.lastSeq();
  const s: LogSnapshot = { store: storeIdentity(url), lastSeq: opts.after ?? 0, kinds: {}, events: { seq: [], user: [], item: [], type: [], value: [], timestamp: [] }, items: [], users: [], userIds: [], itemIds: [], typeNames: [] };
  const u = interner(s.userIds);
  const it = interner(s.itemIds);
  const ty = interner(s.typeNames);
  outer: for await (const batch of log.scan(opts.after ?? 0, opts.batch ?? 1000)) {
    for (const e of batch) {
      if (e.seq > upTo) break outer;
      s.lastSeq = e.seq;
      s.kinds[e.kind] = (s.kinds[e.kind] ?? 0) + 1;
      switch (e.kind) {
        case 'event':
          s.events.seq.push(e.seq);
          s.events.user.push(u(e.user));
          s.events.item.push(it(e.item));
          s.events.type.push(ty(e.type));
          s.events.value.push(e.value);
          s.events.timestamp.push(e.timestamp);
          break;
        case 'item':
          s.items.push({ seq: e.seq, item: e.item, features: e.features });
          break;
        case 'delete-item':
          s.items.push({ seq: e.seq, item: e.item, features: null });
          break;
        case 'user':
          s.users.push({ seq: e.seq, user: e.user, features: e.features });
          break;
        // exposures are what experiments showed: not training data
      }
    }
  }
  return s;
}

/** What a dataset cut from the log took and left. */
export interface LogDataReport {
  /** Entries up to this seq were used. */
  upTo: number;
  events: number;
  eventsUsed: number;
  itemsUpserted: number;
  itemsDeleted: number;
  usersUpserted: number;
  newUsers: number;
  newItems: number;
  /** Base interactions dropped because their item was deleted through the log. */
  baseInteractionsDropped: number;
  /** Logged events left out, by reason. */
  skipped: { deletedItem: number; unknownItem: number; unknownType: number; badFeatures: number };
}

/** The base table's specs with their hash bucket counts (so unseen values encode as before). */
function specsOf(t: EntityTable): FeatureSpec[] {
  return t.columns.map((c) => ({ name: c.name, kind: c.kind, ...(c.kind === 'vector' ? { dim: c.dim } : {}), ...('vocab' in c ? { buckets: c.vocab.buckets } : {}) }));
}

/** Copies row `r` of `t` into row `row` of `b` (missing values stay missing). */
function copyRow(t: EntityTable, r: number, b: TableBuilder, row: number): void {
  for (const c of t.columns) {
    switch (c.kind) {
      case 'categorical':
      case 'id':
        if (c.codes[r] >= 0 && c.codes[r] < c.vocab.size) b.set(row, c.name, c.vocab.values[c.codes[r]]);
        break;
      case 'multi-categorical':
      case 'text': {
        const parts = Array.from(c.codes.subarray(c.offsets[r], c.offsets[r + 1]), (x) => c.vocab.values[x]).filter((x) => x !== undefined);
        if (parts.length) b.set(row, c.name, parts);
        break;
      }
      case 'numeric':
        if (Number.isFinite(c.values[r])) b.set(row, c.name, c.values[r]);
        break;
      case 'vector': {
        const v = c.values.subarray(r * c.dim, (r + 1) * c.dim);
        if (v.every(Number.isFinite)) b.set(row, c.name, v);
        break;
      }
    }
  }
}

function setRow(b: TableBuilder, row: number, f: FeatureRow): void {
  for (const [k, v] of Object.entries(f)) b.set(row, k, v);
}

/**
 * The base dataset plus the snapshot's entries with seq <= `upTo` (default: all). The last change of
 * an item wins: deleted items (and every interaction on them, base or logged) are left out, upserted
 * ones carry their logged features (replacing the base row's), logged users join with their latest
 * features. Logged events count when their item is in the resulting catalog and their type is one
 * the base schema declares; the rest are skipped and counted. Entries whose features the base schema
 * refuses are skipped and counted too.
 * @example const { dataset, report } = datasetWithLog(base, snap)
 */
export function datasetWithLog(base: Dataset, snap: LogSnapshot, upTo = snap.lastSeq): { dataset: Dataset; report: LogDataReport } {
  const ev = snap.events;
  const report: LogDataReport = { upTo, events: 0, eventsUsed: 0, itemsUpserted: 0, itemsDeleted: 0, usersUpserted: 0, newUsers: 0, newItems: 0, baseInteractionsDropped: 0, skipped: { deletedItem: 0, unknownItem: 0, unknownType: 0, badFeatures: 0 } };
  for (let k = 0; k < ev.seq.length && ev.seq[k] <= upTo; k++) report.events++;
  if (base.timeKind !== 'seconds' && report.events > 0) throw new Error(`${base.name}: its timestamps are an order ("timestampFormat": "order"), not seconds; logged events (seconds since the epoch) cannot be placed among them`);
  const itemSpecs = specsOf(base.items);
  const userSpecs = specsOf(base.users);
  // the last change of each item and user up to the cut
  const itemState = new Map<string, FeatureRow | null>();
  for (const c of snap.items) {
    if (c.seq > upTo) break;
    if (c.features === null) itemState.set(c.item, null);
    else {
      try {
        itemState.set(c.item, checkFeatureRow(c.features, itemSpecs, `log entry ${c.seq} (item '${c.item}').features`));
      } catch {
        report.skipped.badFeatures++;
      }
    }
  }
  const userState = new Map<string, FeatureRow>();
  for (const c of snap.users) {
    if (c.seq > upTo) break;
    try {
      userState.set(c.user, checkFeatureRow(c.features, userSpecs, `log entry ${c.seq} (user '${c.user}').features`));
    } catch {
      report.skipped.badFeatures++;
    }
  }
  const b = new DatasetBuilder({ user: userSpecs, item: itemSpecs, eventTypes: base.eventTypes.map((e) => ({ ...e })) }, `${base.name}+log`);
  b.timeKind = base.timeKind;
  // items: the base ones not deleted (upserted features replace theirs), then the new ones
  const baseItem = new Int32Array(base.numItems).fill(-1);
  for (let i = 0; i < base.numItems; i++) {
    const id = base.items.ids.values[i];
    const st = itemState.get(id);
    if (st === null) {
      report.itemsDeleted++;
      continue;
    }
    const row = b.items.row(id);
    baseItem[i] = row;
    if (st) {
      setRow(b.items, row, st);
      report.itemsUpserted++;
    } else copyRow(base.items, i, b.items, row);
  }
  for (const [id, st] of itemState) {
    if (st === null) {
      if (base.items.ids.get(id) < 0) report.itemsDeleted++;
      continue;
    }
    if (base.items.ids.get(id) >= 0) continue;
    setRow(b.items, b.items.row(id), st);
    report.itemsUpserted++;
    report.newItems++;
  }
  // users: the base ones (logged features replace theirs), then the logged ones
  const baseUser = new Int32Array(base.numUsers);
  for (let u = 0; u < base.numUsers; u++) {
    const id = base.users.ids.values[u];
    const row = b.users.row(id);
    baseUser[u] = row;
    const st = userState.get(id);
    if (st) setRow(b.users, row, st);
    else copyRow(base.users, u, b.users, row);
  }
  for (const [id, st] of userState) setRow(b.users, b.users.row(id), st);
  report.usersUpserted = userState.size;
  // interactions: the base ones on items still there, then the logged events
  const x = base.interactions;
  for (let r = 0; r < x.length; r++) {
    const it = baseItem[x.item[r]];
    if (it < 0) {
      report.baseInteractionsDropped++;
      continue;
    }
    b.addInteraction(baseUser[x.user[r]], it, x.event[r], x.value[r], x.timestamp[r]);
  }
  const typeIndex = snap.typeNames.map((t) => b.eventType(t));
  const itemRow = snap.itemIds.map((id) => (itemState.get(id) === null ? -2 : b.items.ids.get(id)));
  for (let k = 0; k < report.events; k++) {
    const it = itemRow[ev.item[k]];
    const t = typeIndex[ev.type[k]];
    if (it === -2) report.skipped.deletedItem++;
    else if (it < 0) report.skipped.unknownItem++;
    else if (t < 0) report.skipped.unknownType++;
    else {
      b.addInteraction(b.users.row(snap.userIds[ev.user[k]]), it, t, ev.value[k], ev.timestamp[k]);
      report.eventsUsed++;
    }
  }
  report.newUsers = b.users.ids.size - base.numUsers;
  return { dataset: b.build(), report };
}
