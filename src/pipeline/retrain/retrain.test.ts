// Retraining from the live log (tandem train --store, --promote): logged events, upserts and deletes
// change the retrained model; --promote repoints models/current only when the new model is not worse,
// atomically; the manifest records the log position a server replays from.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readlink, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dataset } from '../../data/index.ts';
import { tableRow } from '../../features/index.ts';
import { openEventLog, type EventLog, type LogRecord } from '../../store/index.ts';
import { freshDatabase, serverMissing } from '../../store/test-fixture.ts';
import { builtinRegistry, disposeModel, Engine, fixtureDataset, readModelDir, trainModel } from '../index.ts';
import { datasetWithLog, heldOutCut, readLogSnapshot, replayStartOf, repointLink, retrainFromLog, storeIdentity } from './index.ts';

const EASE = { sources: [{ kind: 'ease', params: { lambda: 10 } }], fallbacks: [{ kind: 'popularity' }] };
const POPULARITY = { sources: [{ kind: 'popularity' }], fallbacks: [] };
const T1 = 1_700_100_000; // after the fixture's base interactions

/**
 * What the tests log: a new item `new1` in genre g0, viewed by ten genre-0 users; the base's most
 * popular genre-0 item deleted after some views; a new user `nu1` (country c0) with events; then, for
 * every base user, `perUser` more views of unseen items of their genre (the fixture's 90% rule).
 */
function logRecords(base: Dataset, perUser = 3): { records: LogRecord[]; deleted: string } {
  const counts = base.itemCounts();
  let top = 0;
  for (let i = 0; i < base.numItems; i += 4) if (counts[i] > counts[top]) top = i;
  const deleted = base.items.ids.values[top];
  const records: LogRecord[] = [{ kind: 'item', item: 'new1', features: { genre: ['g0'], price: 6 } }];
  let t = T1;
  for (let u = 0; u < 40; u += 4) records.push({ kind: 'event', user: `u${u}`, item: 'new1', type: 'view', value: 1, timestamp: t++ });
  records.push({ kind: 'event', user: 'u1', item: deleted, type: 'view', value: 1, timestamp: t++ });
  records.push({ kind: 'delete-item', item: deleted });
  records.push({ kind: 'user', user: 'nu1', features: { country: 'c0', age: 30 } });
  records.push({ kind: 'event', user: 'nu1', item: 'i4', type: 'view', value: 1, timestamp: t++ });
  records.push({ kind: 'event', user: 'nu1', item: 'new1', type: 'purchase', value: 1, timestamp: t++ });
  records.push({ kind: 'event', user: 'u2', item: 'nope', type: 'view', value: 1, timestamp: t++ });
  // later activity of every base user, in their genre
  const seen = new Set<string>();
  const x = base.interactions;
  for (let r = 0; r < x.length; r++) seen.add(`${x.user[r]}:${x.item[r]}`);
  for (let k = 0; k < perUser; k++)
    for (let u = 0; u < base.numUsers; u++) {
      const g = u % 4;
      for (let j = 0; j < 20; j++) {
        const i = g + 4 * ((u * 7 + k * 3 + j) % 20);
        const id = base.items.ids.values[i];
        if (id === deleted || seen.has(`${u}:${i}`)) continue;
        seen.add(`${u}:${i}`);
        records.push({ kind: 'event', user: `u${u}`, item: id, type: 'view', value: 1, timestamp: t++ });
        break;
      }
    }
  return { records, deleted };
}

async function fill(log: EventLog, records: LogRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += 100) await log.append(records.slice(i, i + 100));
}

/** Every user's top 10 through the model's request path. */
function answers(engine: Engine, users: string[]): Map<string, string[]> {
  return new Map(users.map((u) => [u, engine.recommend({ user: u, k: 10, explain: false }).items.map((x) => x.id)]));
}

async function retrainedModelCase(url: string, root: string): Promise<void> {
  const base = fixtureDataset();
  const { records, deleted } = logRecords(base);
  const log = await openEventLog(url);
  try {
    await fill(log, records);
    const last = await log.lastSeq();
    // the dataset: the upsert joins with its features, the delete takes the item and its interactions out
    const snap = await readLogSnapshot(log, url, { batch: 7 });
    assert.equal(snap.lastSeq, last);
    const { dataset, report } = datasetWithLog(base, snap);
    assert.equal(dataset.items.ids.get(deleted), -1, 'the deleted item is not in the catalog');
    assert.ok(dataset.items.ids.get('new1') >= 0);
    assert.deepEqual(tableRow(dataset.items, dataset.items.ids.get('new1')), { genre: ['g0'], price: 6 }, 'with its logged features');
    assert.deepEqual(tableRow(dataset.users, dataset.users.ids.get('nu1')), { country: 'c0', age: 30 });
    assert.deepEqual(tableRow(dataset.items, dataset.items.ids.get('i5')), tableRow(base.items, base.items.ids.get('i5')), 'base rows copied as they were');
    assert.ok(dataset.users.ids.get('nu1') >= 0, 'a logged user joins');
    assert.equal(report.skipped.unknownItem, 1, "the event on 'nope'");
    assert.equal(report.skipped.deletedItem, 1, 'the event on the deleted item');
    const loggedEvents = records.filter((r) => r.kind === 'event').length;
    assert.equal(report.events, loggedEvents);
    assert.equal(report.eventsUsed, loggedEvents - 2);
    assert.equal(dataset.interactions.length, base.interactions.length - report.baseInteractionsDropped + report.eventsUsed);
    assert.ok(report.baseInteractionsDropped > 0);
    // an earlier cut leaves the later entries out
    const cut = heldOutCut(snap, 0, 0.5);
    const early = datasetWithLog(base, snap, cut.cut);
    assert.equal(early.report.eventsUsed + early.report.skipped.deletedItem + early.report.skipped.unknownItem, loggedEvents - cut.heldOut);

    // the model: trained on it, the manifest records the log; the deleted item is never answered, the new one is
    const out = join(root, 'm1');
    const res = await retrainFromLog(out, { base, config: EASE, store: url, holdout: 0 });
    assert.equal(res.log.lastSeq, last);
    const model = await readModelDir(out, builtinRegistry());
    try {
      const recorded = model.manifest.parameters.log as { store: string; lastSeq: number; eventsUsed: number };
      assert.equal(recorded.store, storeIdentity(url));
      assert.ok(!recorded.store.includes('secret'));
      assert.equal(recorded.lastSeq, last);
      assert.equal(replayStartOf(model.manifest, url, last), last, 'a server on this store replays from the last seq trained on');
      assert.equal(replayStartOf(model.manifest, 'sqlite:/elsewhere.db', last), null, 'another store: from the creation time');
      assert.equal(replayStartOf(model.manifest, url, last - 1), null, 'a log that does not reach that far: from the creation time');
      const engine = new Engine(model);
      const users = [...base.users.ids.values, 'nu1'];
      const all = answers(engine, users);
      for (const [u, items] of all) assert.ok(!items.includes(deleted), `user ${u} was offered the deleted item`);
      assert.ok(!engine.hasItem(deleted));
      const got = [...all].filter(([u, items]) => items.includes('new1') && Number(u.slice(1)) % 4 === 0).length;
      assert.ok(got >= 3, `the upserted item is recommended to genre-0 users who have not seen it (${got})`);
      assert.ok(engine.userIndexOf('nu1') >= 0);
    } finally {
      disposeModel(model);
    }
  } finally {
    await log.close();
  }
}

test('train --store (SQLite): logged events, upserts and deletes change the retrained model; the manifest records the log', async () => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-retrain-'));
  try {
    await retrainedModelCase(`sqlite:${join(root, 'events.db')}`, root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

const db = await freshDatabase();
if ('unavailable' in db) serverMissing('retrain (postgres)', db.unavailable, 'TANDEM_TEST_POSTGRES');
else {
  after(() => db.drop());
  const inSchema = (name: string) => `${db.url}${db.url.includes('?') ? '&' : '?'}schema=${name}`;
  test('train --store (PostgreSQL): the same, read from the PostgreSQL log', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tandem-retrain-pg-'));
    try {
      await retrainedModelCase(inSchema('retrain'), root);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
  test('--promote (PostgreSQL): the same promotion story on a PostgreSQL log', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tandem-promote-pg-'));
    try {
      await promoteCase(inSchema('promote'), root);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
}

test('train --store: a missing SQLite file or an in-memory log is refused, not trained on as an empty log', async () => {
  const base = fixtureDataset({ users: 10, items: 12 });
  await assert.rejects(retrainFromLog('/nonexistent/m', { base, config: POPULARITY, store: 'sqlite:/nonexistent/events.db' }), /--store sqlite:\/nonexistent\/events.db: no such SQLite log file/);
  await assert.rejects(retrainFromLog('/nonexistent/m', { base, config: POPULARITY, store: 'memory' }), /in-memory log holds nothing/);
});

test('storeIdentity: no password, SQLite paths absolute', () => {
  assert.equal(storeIdentity('postgres://app:secret@db:5432/shop?schema=x&password=y'), 'postgres://app@db:5432/shop?schema=x');
  assert.equal(storeIdentity('sqlite:/tmp/e.db'), 'sqlite:/tmp/e.db');
  assert.equal(storeIdentity('/tmp/e.db'), 'sqlite:/tmp/e.db');
  assert.equal(storeIdentity('sqlite:///tmp/e.db'), 'sqlite:/tmp/e.db');
});

/** The promotion story on the log at `url` (empty), in `root`. */
async function promoteCase(url: string, root: string): Promise<void> {
  const base = fixtureDataset();
  const log = await openEventLog(url);
  await fill(log, logRecords(base).records);
  await log.close();
  const models = join(root, 'models');
  await mkdir(models);
  const current = join(models, 'current');
  // no link yet: the new model becomes current, no comparison
  const other = join(models, 'other');
  const first = await retrainFromLog(undefined, { base, config: POPULARITY, store: url, promote: other, holdout: 0 });
  assert.equal(first.promotion!.promoted, true);
  assert.equal(first.promotion!.comparison, null);
  assert.equal(await realpath(other), await realpath(first.out));
  assert.ok(!(await readlink(other)).startsWith('/'), 'the link is relative (the directory beside it)');
  // the model current points to was trained from files alone (popularity): it has seen none of the log
  await trainModel(join(models, 'm0'), { dataset: base, config: POPULARITY, holdout: 0 });
  await symlink('m0', current);
  // EASE against the popularity model on the latest logged events: better, promoted
  const second = await retrainFromLog(undefined, { base, config: EASE, store: url, promote: current, promoteHoldout: 0.3, holdout: 0 });
  const c2 = second.promotion!.comparison as { candidate: Record<string, number>; current: Record<string, number>; heldOutEvents: number; after: number };
  assert.ok(!('skipped' in c2), JSON.stringify(second.promotion));
  assert.ok(c2.candidate['ndcg@10'] > c2.current['ndcg@10'], JSON.stringify(c2));
  assert.equal(second.promotion!.promoted, true);
  assert.equal(await realpath(current), await realpath(second.out));
  const m2 = await readModelDir(second.out, builtinRegistry());
  const recorded = m2.manifest.parameters.promotion as { comparison: { candidate: Record<string, number>; current: Record<string, number> }; promoted: boolean };
  assert.deepEqual(recorded.comparison.candidate, c2.candidate, 'both figures are in the new manifest');
  assert.deepEqual(recorded.comparison.current, c2.current);
  disposeModel(m2);
  // the current model (EASE, trained through the last seq) has not seen anything newer: no comparison, current stays
  const third = await retrainFromLog(undefined, { base, config: POPULARITY, store: url, promote: current, holdout: 0 });
  assert.equal(third.promotion!.promoted, false);
  assert.match(third.promotion!.reason, /no logged events after/);
  assert.equal(await realpath(current), await realpath(second.out));
  // new events arrive; a worse candidate (popularity) is compared and refused: current stays
  const more = await openEventLog(url);
  await fill(more, logRecords(base, 5).records.filter((r) => r.kind === 'event' && r.item !== 'nope' && r.user !== 'u1').slice(-200));
  await more.close();
  const fourth = await retrainFromLog(undefined, { base, config: POPULARITY, store: url, promote: current, promoteHoldout: 0.5, holdout: 0 });
  const c4 = fourth.promotion!.comparison as { candidate: Record<string, number>; current: Record<string, number>; after: number };
  assert.ok(!('skipped' in c4), JSON.stringify(fourth.promotion));
  assert.equal(c4.after, second.log.lastSeq, 'held out: only events after what the current model was trained on');
  assert.ok(c4.candidate['ndcg@10'] < c4.current['ndcg@10'], JSON.stringify(c4));
  assert.equal(fourth.promotion!.promoted, false);
  assert.equal(await realpath(current), await realpath(second.out), 'current still points at the EASE model');
  assert.ok((await lstat(fourth.out)).isDirectory(), 'the refused model is written beside it all the same');
  assert.deepEqual((await readdir(models)).filter((f) => f.startsWith('.')), [], 'no temporary link or directory left');
}

test('--promote (SQLite): a new link becomes current; a better model is promoted; a worse one leaves current as it was', async () => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-promote-'));
  try {
    await promoteCase(`sqlite:${join(root, 'events.db')}`, root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('repointLink: readers always find the link (a new link renamed over the old one)', async () => {
  const root = await mkdtemp(join(tmpdir(), 'tandem-link-'));
  try {
    await mkdir(join(root, 'a'));
    await mkdir(join(root, 'b'));
    const link = join(root, 'current');
    await symlink('a', link);
    let stop = false;
    let reads = 0;
    const reader = (async () => {
      while (!stop) {
        const t = await readlink(link); // throws ENOENT if the link were ever missing
        assert.ok(t === 'a' || t === 'b');
        reads++;
      }
    })();
    for (let i = 0; i < 300; i++) await repointLink(link, join(root, i % 2 ? 'a' : 'b'));
    stop = true;
    await reader;
    assert.ok(reads > 0);
    assert.equal(await readlink(link), 'a');
    assert.deepEqual((await readdir(root)).sort(), ['a', 'b', 'current']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
