/**
 * `tandem bench log`: the event log's append rate when many callers each append one record (a service
 * answering one-event POSTs, or logging one exposure per recommendation), plain against group commit
 * (`GroupCommitLog`, the service's default), back to back on the same backend: appends per second and
 * CPU milliseconds per append.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroupCommitLog, openEventLog, type EventLog } from '../src/store/index.ts';
import { UsageError, parseArgs } from '../src/schema/index.ts';
import type { Command } from '../src/schema/index.ts';
import { ownSchema } from './namespace.ts';
import { median } from './stats.ts';

const options = {
  store: { type: 'list', of: 'string', default: ['sqlite'] as string[], description: "backends: 'sqlite' (a temporary file), 'memory', or postgres://USER@HOST:PORT/DB (a schema of its own per run, made and dropped, unless ?schema= is given)" },
  appends: { type: 'number', default: 5000, description: 'one-record appends per run' },
  concurrency: { type: 'number', default: 32, description: 'callers appending at once' },
  repeats: { type: 'number', default: 2, description: 'runs of each mode, alternating (medians reported)' },
  json: { type: 'string', description: 'write the figures to this JSON file' },
} as const;

interface Run {
  perSecond: number;
  cpuMsPerAppend: number;
  batches: number | null;
}

/** `appends` one-event appends from `concurrency` callers; the log's appends/s and process CPU per append. */
async function drive(log: EventLog, appends: number, concurrency: number): Promise<Run> {
  let next = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < appends) {
      const i = next++;
      await log.append([{ kind: 'event', user: `u${i % 500}`, item: `i${i}`, type: 'view', value: 1, timestamp: 1.7e9 + i }]);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  return { perSecond: Math.round(appends / seconds), cpuMsPerAppend: +((cpu.user + cpu.system) / 1000 / appends).toFixed(4), batches: log instanceof GroupCommitLog ? log.stats.batches : null };
}

export const logBench: Command = {
  name: 'log',
  summary: 'event log appends from many one-record callers: plain vs group commit, back to back (appends/s, CPU ms per append)',
  usage: 'tandem bench log [--store sqlite,postgres://postgres@127.0.0.1:5432/test] [--appends 5000] [--concurrency 32] [--repeats 2] [--json out.json]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    if (!(Number.isInteger(o.appends) && o.appends > 0)) throw new UsageError(`--appends: ${o.appends} is not a positive integer`);
    if (!(Number.isInteger(o.concurrency) && o.concurrency > 0)) throw new UsageError(`--concurrency: ${o.concurrency} is not a positive integer`);
    const rows: Record<string, unknown>[] = [];
    for (const store of o.store) {
      const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-log-'));
      const schemas: ReturnType<typeof ownSchema>[] = [];
      let runs = 0;
      // a fresh log per run: the same starting size for both modes
      const open = async (): Promise<EventLog> => {
        runs++;
        if (store === 'sqlite') return openEventLog(`sqlite:${join(dir, `log-${runs}.db`)}`);
        if (store === 'memory') return openEventLog('memory');
        if (store.startsWith('postgres://')) {
          const s = ownSchema(store);
          schemas.push(s);
          return openEventLog(s.url);
        }
        throw new UsageError(`--store: ${store} is not sqlite, memory or a postgres:// URL`);
      };
      const plain: Run[] = [];
      const grouped: Run[] = [];
      try {
        for (let r = 0; r < o.repeats; r++) {
          for (const group of [false, true]) {
            const inner = await open();
            const log = group ? new GroupCommitLog(inner) : inner;
            try {
              (group ? grouped : plain).push(await drive(log, o.appends, o.concurrency));
            } finally {
              await log.close();
            }
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
        for (const sc of schemas) await sc.drop();
      }
      const m = (xs: Run[], k: 'perSecond' | 'cpuMsPerAppend') => +median(xs.map((x) => x[k])).toPrecision(4);
      const row = {
        store: store.startsWith('postgres://') ? 'postgres' : store,
        appends: o.appends,
        concurrency: o.concurrency,
        plain: { perSecond: m(plain, 'perSecond'), cpuMsPerAppend: m(plain, 'cpuMsPerAppend') },
        groupCommit: { perSecond: m(grouped, 'perSecond'), cpuMsPerAppend: m(grouped, 'cpuMsPerAppend'), batches: grouped[0].batches },
        speedup: 0,
      };
      row.speedup = +(row.groupCommit.perSecond / row.plain.perSecond).toFixed(1);
      rows.push(row);
      console.log(`${row.store}: plain ${row.plain.perSecond} appends/s (${row.plain.cpuMsPerAppend} ms CPU each); group commit ${row.groupCommit.perSecond}/s (${row.groupCommit.cpuMsPerAppend} ms CPU each, ${row.groupCommit.batches} batches for ${o.appends} appends): ${row.speedup}x`);
    }
    if (o.json) writeFileSync(o.json, JSON.stringify({ rows }, null, 2));
    return 0;
  },
};

