import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic, loadConfigFile, loadDataset } from '../data/index.ts';
import { writeDatasetFiles } from './index.ts';

test('writeDatasetFiles: the config it writes loads the same dataset back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-gen-'));
  try {
    const ds = generateSynthetic({ users: 150, items: 90, interactions: 2500, seed: 4 });
    const path = await writeDatasetFiles(ds, dir);
    const { dataset: back, report } = await loadDataset(await loadConfigFile(path));
    assert.deepEqual(report.files.map((f) => f.skipped), [0, 0, 0]);
    assert.equal(back.numUsers, ds.numUsers);
    assert.equal(back.numItems, ds.numItems);
    assert.equal(back.interactions.length, ds.interactions.length);
    assert.deepEqual(back.eventTypes, ds.eventTypes);
    // rows were written grouped by user in time order; compare per user through the ids
    const a = ds.byUser();
    const b = back.byUser();
    for (let u = 0; u < ds.numUsers; u++) {
      const ub = back.users.ids.get(ds.users.ids.values[u]);
      assert.equal(b.offsets[ub + 1] - b.offsets[ub], a.offsets[u + 1] - a.offsets[u]);
      for (let k = 0; k < a.offsets[u + 1] - a.offsets[u]; k++) {
        const r1 = a.rows[a.offsets[u] + k];
        const r2 = b.rows[b.offsets[ub] + k];
        assert.equal(back.items.ids.values[back.interactions.item[r2]], ds.items.ids.values[ds.interactions.item[r1]]);
        assert.equal(back.interactions.event[r2], ds.interactions.event[r1]);
        assert.equal(back.interactions.value[r2], ds.interactions.value[r1]);
        assert.equal(back.interactions.timestamp[r2], ds.interactions.timestamp[r1]);
      }
    }
    for (const side of ['users', 'items'] as const) {
      for (const c of ds[side].columns) {
        const c2 = back[side].column(c.name)!;
        assert.equal(c2.kind, c.kind);
        for (let r = 0; r < ds[side].size; r++) {
          const r2 = back[side].ids.get(ds[side].ids.values[r]);
          if (c.kind === 'numeric' && c2.kind === 'numeric') assert.equal(c2.values[r2], c.values[r]);
          if (c.kind === 'categorical' && c2.kind === 'categorical') assert.equal(c2.vocab.values[c2.codes[r2]], c.vocab.values[c.codes[r]]);
          if ((c.kind === 'multi-categorical' || c.kind === 'text') && (c2.kind === 'multi-categorical' || c2.kind === 'text')) {
            const vals = (col: typeof c, row: number) => Array.from(col.codes.subarray(col.offsets[row], col.offsets[row + 1]), (k) => col.vocab.values[k]);
            assert.deepEqual(vals(c2, r2), vals(c, r));
          }
        }
      }
    }
    assert.match(await readFile(join(dir, 'events.tsv'), 'utf8'), /^user_id\titem_id\tevent\tvalue\ttimestamp\n/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
