import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseExperiments, simulateExperiment } from '../../experiments/index.ts';
import { openEventLog } from '../../store/index.ts';
import { experimentCommand } from './experiment.ts';
import { runCaptured } from '../../math/console.fixture.ts';

const run = (argv: string[]) => runCaptured(experimentCommand, argv);

test('tandem experiment report NAME reads the log and writes the report as JSON', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-experiment-'));
  try {
    const file = join(dir, 'experiments.json');
    const def = { experiments: [{ name: 'ab', arms: [{ name: 'control', model: 'worse' }, { name: 'treatment', model: 'better' }], start: '2026-01-01' }] };
    await writeFile(file, JSON.stringify(def));
    const store = `sqlite:${join(dir, 'events.db')}`;
    const log = await openEventLog(store);
    const sim = await simulateExperiment({ experiment: parseExperiments(def)[0], policies: { better: 0.05, worse: 0.3 }, users: 200, visits: 2, seed: 4, log });
    await log.close();
    const { code, out } = await run(['report', 'ab', '--experiments', file, '--store', store, '--json', join(dir, 'r.json')]);
    assert.equal(code, 0, out);
    assert.match(out, /experiment ab: control 'control'/);
    assert.match(out, /treatment vs control, click ctr/);
    const r = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8'));
    assert.deepEqual(r, JSON.parse(JSON.stringify(sim.report)), 'the same report the simulation read back');
    await assert.rejects(run(['report', 'nope', '--experiments', file, '--store', store]), /experiments\.json: no experiment 'nope' \(known: ab\)/);
    await writeFile(file, JSON.stringify({ experiments: [{ name: 'ab', arms: [{ name: 'a' }] }] }));
    await assert.rejects(run(['report', 'ab', '--experiments', file, '--store', store]), /experiments\.json: experiments\[0\]\.arms: needs two or more arms/);
    await assert.rejects(run(['list']), /unknown subcommand 'list'/);
    await writeFile(file, JSON.stringify(def));
    await assert.rejects(run(['report', 'ab', '--experiments', file, '--store', `sqlite:${join(dir, 'none.db')}`]), /no event log at .*none\.db/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
