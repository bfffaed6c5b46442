// tandem export-ranker-data end to end on a generated dataset (item chains, config file in a temp dir).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../math/index.ts';
import { readLibsvmData } from '../../ranking/index.ts';
import { exportRankerDataCommand } from './export-ranker-data.ts';

test('export-ranker-data writes LibSVM with qid groups, CSV with named columns, and a summary', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'export-ranker-'));
  const log = console.log;
  const err = console.error;
  try {
    const rng = new Rng(3);
    const rows = ['user,item,time'];
    for (let u = 0; u < 60; u++) {
      let it = rng.int(40);
      for (let k = 0; k < 15; k++) {
        rows.push(`u${u},i${it},${1_700_000_000 + u * 1000 + k * 60}`);
        it = (it + 1 + (rng.next() < 0.2 ? rng.int(5) : 0)) % 40;
      }
    }
    await writeFile(join(dir, 'events.csv'), rows.join('\n') + '\n');
    await writeFile(join(dir, 'items.csv'), 'item,genre\n' + Array.from({ length: 40 }, (_, i) => `i${i},g${i % 4}`).join('\n') + '\n');
    const config = {
      name: 'chains',
      interactions: { path: join(dir, 'events.csv'), user: 'user', item: 'item', timestamp: 'time', timestampFormat: 'unix-seconds' },
      items: { path: join(dir, 'items.csv'), id: 'item', features: [{ name: 'genre', kind: 'categorical' }] },
    };
    await writeFile(join(dir, 'chains.json'), JSON.stringify(config));
    const out = join(dir, 'out');
    const lines: string[] = [];
    console.log = (...a: unknown[]) => void lines.push(a.join(' '));
    console.error = () => {};
    const code = await exportRankerDataCommand.run(['--config', join(dir, 'chains.json'), '--out', out, '--param', 'sources=,validFraction=0.2', '--candidates', '20']);
    console.log = log;
    console.error = err;
    assert.equal(code, 0);
    assert.match(lines.join('\n'), /train rows .* valid rows .* features; L1 recall 0\.\d{4}/);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    const names = (await readFile(join(out, 'features.txt'), 'utf8')).trim().split('\n').map((l) => l.split('\t'));
    assert.equal(names.length, summary.features.length);
    assert.deepEqual(names[0], ['0', 'u_events']);
    const train = readLibsvmData(join(out, 'train.libsvm'), { absent: 'nan', nFeatures: names.length });
    assert.equal(train.nRows, summary.trainRows);
    assert.equal(train.groups!.length - 1, summary.trainGroups);
    const csv = (await readFile(join(out, 'train.csv'), 'utf8')).trim().split('\n');
    assert.equal(csv[0], ['qid', 'user', 'item', 'label', ...names.map((n) => n[1])].join(','));
    assert.equal(csv.length - 1, summary.trainRows);
    // the CSV and the LibSVM rows agree cell by cell (CSV empty cell = missing)
    const cells = csv[1].split(',');
    assert.equal(Number(cells[3]), train.labels[0]);
    for (let f = 0; f < names.length; f++) {
      const v = train.features[f];
      assert.equal(cells[4 + f], Number.isNaN(v) ? '' : String(Number(cells[4 + f])));
      if (!Number.isNaN(v)) assert.equal(Math.fround(Number(cells[4 + f])), v);
    }
    const valid = (await readFile(join(out, 'valid.libsvm'), 'utf8')).trim().split('\n');
    assert.equal(valid.length, summary.validRows);
    assert.match(valid[0], new RegExp(`^[01] qid:${summary.trainGroups} `), 'valid qids continue after train');
    await assert.rejects(exportRankerDataCommand.run(['--out', out]), /give exactly one of --config FILE, --dataset NAME --data DIR/);
  } finally {
    console.log = log;
    console.error = err;
    await rm(dir, { recursive: true, force: true });
  }
});
