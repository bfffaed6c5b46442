// Retraining from the live log on MovieLens 100K, the figures docs/scale.md quotes:
//   npx tsx scripts/retrain-ml100k.ts [--store postgres://...] [--data DIR] [--bench DIR]
// Base data: the temporal benchmark's train-inner side. The log: its valid and test sides appended in
// time order as 'rating' events (batches of 500). The current model: EASE (+ popularity fallback)
// trained on the files alone, linked as models/current. Then `retrainFromLog --promote` with the same
// configuration (compared, promoted when not worse) and with popularity alone (compared, refused).
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadTrainTest, resolvePreset } from '../src/data/index.ts';
import { readLogSnapshot, retrainFromLog, trainModel } from '../src/pipeline/index.ts';
import { openEventLog, type LogRecord } from '../src/store/index.ts';

const { values: a } = parseArgs({ options: { store: { type: 'string' }, data: { type: 'string', default: '/work/shared/datasets/ml-100k' }, bench: { type: 'string', default: '/work/shared/benchmarks/ml-100k-temporal' } } });
const root = await mkdtemp(join(tmpdir(), 'tandem-retrain-ml100k-'));
const store = a.store ?? `sqlite:${join(root, 'events.db')}`;
const EASE = { sources: [{ kind: 'ease' }], fallbacks: [{ kind: 'popularity' }] };
const POPULARITY = { sources: [{ kind: 'popularity' }], fallbacks: [] };
const secs = (t0: number) => Math.round((performance.now() - t0) / 100) / 10;
try {
  const config = resolvePreset('movielens-100k', a.data!);
  const { train: base } = await loadTrainTest(config, join(a.bench!, 'train-inner.tsv'), join(a.bench!, 'train-inner.tsv'));
  const later = await loadTrainTest(config, join(a.bench!, "valid.tsv"), join(a.bench!, "test.tsv"));
  const records: LogRecord[] = [];
  for (const d of [later.train, later.test]) {
    const x = d.interactions;
    for (let r = 0; r < x.length; r++) records.push({ kind: 'event', user: d.users.ids.values[x.user[r]], item: d.items.ids.values[x.item[r]], type: 'rating', value: x.value[r], timestamp: x.timestamp[r] });
  }
  records.sort((p, q) => (p as { timestamp: number }).timestamp - (q as { timestamp: number }).timestamp);
  const log = await openEventLog(store);
  if ((await log.lastSeq()) !== 0) throw new Error(`${store}: not empty; give an empty log`);
  let t0 = performance.now();
  for (let i = 0; i < records.length; i += 500) await log.append(records.slice(i, i + 500));
  console.log(`log: ${records.length} events appended in ${secs(t0)} s; base (train-inner): ${base.interactions.length} interactions`);
  t0 = performance.now();
  const snap = await readLogSnapshot(log, store);
  console.log(`readLogSnapshot: ${snap.events.seq.length} events in ${secs(t0)} s`);
  await log.close();
  const models = join(root, 'models');
  await mkdir(models);
  t0 = performance.now();
  await trainModel(join(models, 'm0'), { dataset: base, config: EASE, holdout: 0 });
  console.log(`current: EASE on the files alone, ${secs(t0)} s`);
  await symlink('m0', join(models, 'current'));
  for (const [name, cfg] of [['EASE', EASE], ['popularity', POPULARITY]] as const) {
    t0 = performance.now();
    const r = await retrainFromLog(undefined, { base, config: cfg, store, promote: join(models, 'current'), holdout: 0 });
    const c = r.promotion!.comparison;
    console.log(`\ncandidate ${name}: ${secs(t0)} s (read, promotion check fit, final fit); ${r.log.eventsUsed} logged events used, trained through seq ${r.log.lastSeq}`);
    if (c && !('skipped' in c)) {
      console.log(`  ${c.rule}; ${c.users} users`);
      for (const k of ['ndcg@10', 'recall@10', 'recall@100']) console.log(`  ${k.padEnd(11)} new ${c.candidate[k]}  current ${c.current[k]}`);
    }
    console.log(`  ${r.promotion!.reason}`);
    // the next candidate faces the same files-only current model (the log has nothing newer)
    if (r.promotion!.promoted) {
      await rm(join(models, 'current'));
      await symlink('m0', join(models, 'current'));
    }
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
