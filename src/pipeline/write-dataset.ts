/**
 * Writes a Dataset as plain files plus the dataset config that reads them back: `events.tsv`,
 * `users.tsv`, `items.tsv` and `dataset.json`. `tandem generate` uses it to show the input format
 * on the synthetic shop; loading the config gives the same dataset again (tested).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Dataset, DatasetConfig, EntityTable, FeatureColumn } from '../data/index.ts';

/** A TSV field: quoted (RFC 4180 style) only when it holds a tab, a quote or a line break. */
function field(s: string): string {
  return /[\t"\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Shortest decimal that reads back to the same float64 (the numbers were float32 or float64 already). */
function num(v: number): string {
  return Number.isNaN(v) ? '' : String(v);
}

/** Shortest decimal that reads back to the same float32 (16.04, not 16.040000915527344). */
function num32(v: number): string {
  if (Number.isNaN(v)) return '';
  for (let p = 1; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(v);
}

function cell(c: FeatureColumn, row: number, sep: string): string {
  switch (c.kind) {
    case 'categorical':
    case 'id':
      return c.codes[row] >= 0 ? c.vocab.values[c.codes[row]] : '';
    case 'multi-categorical':
    case 'text':
      return Array.from(c.codes.subarray(c.offsets[row], c.offsets[row + 1]), (k) => c.vocab.values[k]).join(c.kind === 'text' ? ' ' : sep);
    case 'numeric':
      return num(c.values[row]);
    case 'vector': {
      const v = c.values.subarray(row * c.dim, row * c.dim + c.dim);
      return Number.isNaN(v[0]) ? '' : Array.from(v, num32).join(' ');
    }
  }
}

/** Writes lines through a stream (10M events do not fit one string). */
async function writeLines(path: string, lines: (emit: (line: string) => void) => void): Promise<void> {
  const out = createWriteStream(path, { encoding: 'utf8' });
  let buf: string[] = [];
  let size = 0;
  const flush = () => {
    if (buf.length) out.write(buf.join(''));
    buf = [];
    size = 0;
  };
  lines((line) => {
    buf.push(line, '\n');
    size += line.length;
    if (size > 1 << 20) flush();
  });
  flush();
  await new Promise<void>((res, rej) => {
    out.on('error', rej);
    out.end(res);
  });
}

async function writeTable(path: string, idName: string, t: EntityTable, tagSep: string): Promise<void> {
  for (const c of t.columns) if (c.name === idName) throw new Error(`feature '${c.name}' clashes with the id column's name`);
  await writeLines(path, (emit) => {
    emit([idName, ...t.columns.map((c) => c.name)].map(field).join('\t'));
    for (let r = 0; r < t.size; r++) emit([t.ids.values[r], ...t.columns.map((c) => cell(c, r, tagSep))].map(field).join('\t'));
  });
}

/**
 * Writes `ds` into `dir` (created) and returns the config's path.
 * @example const path = await writeDatasetFiles(generateSynthetic(), 'out/shop'); await loadConfigFile(path)
 */
export async function writeDatasetFiles(ds: Dataset, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const tagSep = '|';
  for (const t of [ds.users, ds.items]) {
    for (const c of t.columns) {
      if (c.kind === 'multi-categorical' && c.vocab.values.some((v) => v.includes(tagSep))) {
        throw new Error(`feature '${c.name}': a value contains '${tagSep}', the separator the files use`);
      }
    }
  }
  const x = ds.interactions;
  const { offsets, rows } = ds.byUser();
  // events grouped by user, in time order: the order a log usually has
  await writeLines(join(dir, 'events.tsv'), (emit) => {
    emit('user_id\titem_id\tevent\tvalue\ttimestamp');
    for (let u = 0; u < ds.numUsers; u++) {
      for (let k = offsets[u]; k < offsets[u + 1]; k++) {
        const r = rows[k];
        emit(`${field(ds.users.ids.values[x.user[r]])}\t${field(ds.items.ids.values[x.item[r]])}\t${field(ds.eventTypes[x.event[r]].name)}\t${num32(x.value[r])}\t${num(x.timestamp[r])}`);
      }
    }
  });
  await writeTable(join(dir, 'users.tsv'), 'user_id', ds.users, tagSep);
  await writeTable(join(dir, 'items.tsv'), 'item_id', ds.items, tagSep);
  const features = (t: EntityTable) =>
    t.columns.map((c) => ({ name: c.name, kind: c.kind, ...(c.kind === 'vector' ? { dim: c.dim } : {}), ...(c.kind === 'multi-categorical' ? { separator: tagSep } : {}) }));
  const config: DatasetConfig = {
    name: ds.name,
    eventTypes: ds.eventTypes.map((e) => ({ name: e.name, weight: e.weight, negative: e.negative })),
    interactions: { path: 'events.tsv', user: 'user_id', item: 'item_id', event: 'event', value: 'value', timestamp: 'timestamp', timestampFormat: 'unix-seconds' },
    users: { path: 'users.tsv', id: 'user_id', features: features(ds.users) },
    items: { path: 'items.tsv', id: 'item_id', features: features(ds.items) },
  };
  const path = join(dir, 'dataset.json');
  await writeFile(path, JSON.stringify(config, null, 2) + '\n');
  return path;
}
