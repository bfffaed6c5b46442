import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry, fixtureDataset, trainModel } from '../src/pipeline/index.ts';
import { experimentsBench } from './experiments.ts';
import { runCaptured } from '../src/math/console.fixture.ts';

const run = (argv: string[]) => runCaptured(experimentsBench, argv);

test('tandem bench experiments (a few small runs): prints and writes its figures; the serve part measures an extra arm', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-bench-exp-'));
  try {
    const { code, out } = await run(['--aa-reps', '10', '--ab-reps', '2', '--interleave-reps', '2', '--users', '400', '--json', join(dir, 'x.json')]);
    assert.equal(code, 0, out);
    assert.match(out, /A\/B \(better vs worse, 400 users\): ranked as the true CTR in 2\/2 runs/);
    assert.match(out, /A\/A \(same policy, 400 users\): no significant click-CTR difference in \d+\/10 runs/);
    const fig = JSON.parse(await readFile(join(dir, 'x.json'), 'utf8'));
    assert.equal(fig.ab.rankedCorrectly, 1);
    assert.equal(fig.pass, true);
    const registry = builtinRegistry();
    const dataset = fixtureDataset();
    for (const [name, lambda] of [['a', 10], ['b', 100]] as const) await trainModel(join(dir, name), { dataset, registry, config: { sources: [{ kind: 'ease', params: { lambda } }], fallbacks: [{ kind: 'popularity' }] }, holdout: 0 });
    const s = await run(['--only', 'serve', '--serve-model', join(dir, 'a'), '--arm-model', join(dir, 'b'), '--requests', '20', '--rounds', '2', '--json', join(dir, 's.json')]);
    assert.equal(s.code, 0, s.out);
    const sf = JSON.parse(await readFile(join(dir, 's.json'), 'utf8'));
    assert.equal(sf.serve.exposures, 40, 'every answer with the experiment logged its exposure');
    assert.ok(sf.serve.diskBytes > 0 && sf.serve.medianMsWith > 0 && sf.serve.medianMsWithout > 0);
    assert.match(s.out, /the arm model added [\d.]+ MiB of resident memory/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
