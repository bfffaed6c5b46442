import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { RankerTrainingSet } from './training.ts';

/** Shortest text that reads back to the same float32 (9 significant digits suffice). */
export function formatFloat32(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(9)));
}

/**
 * One LibSVM line per row: `label qid:GROUP idx:value ...`, feature indices 0-based as XGBoost and
 * LightGBM read them (feature k of `featureNames` is index k), missing (NaN) values left out and zeros
 * written, since those tools read an absent entry as missing.
 * @example for (const line of libsvmLines(set)) out.write(line);
 */
export function* libsvmLines(set: RankerTrainingSet, qidBase = 0): Generator<string> {
  const W = set.nFeatures;
  const G = set.groups.length - 1;
  for (let g = 0; g < G; g++) {
    for (let r = set.groups[g]; r < set.groups[g + 1]; r++) {
      let line = `${formatFloat32(set.labels[r])} qid:${qidBase + g}`;
      const base = r * W;
      for (let f = 0; f < W; f++) {
        const v = set.features[base + f];
        if (v === v) line += ` ${f}:${formatFloat32(v)}`;
      }
      yield line + '\n';
    }
  }
}

/** CSV with a header: qid, user, item, label, then every feature by name; a missing value is an empty cell. */
export function* csvLines(set: RankerTrainingSet, qidBase = 0): Generator<string> {
  const W = set.nFeatures;
  yield ['qid', 'user', 'item', 'label', ...set.featureNames.map(csvName)].join(',') + '\n';
  const G = set.groups.length - 1;
  for (let g = 0; g < G; g++) {
    for (let r = set.groups[g]; r < set.groups[g + 1]; r++) {
      let line = `${qidBase + g},${set.groupUsers[g]},${set.items[r]},${formatFloat32(set.labels[r])}`;
      const base = r * W;
      for (let f = 0; f < W; f++) {
        const v = set.features[base + f];
        line += v === v ? `,${formatFloat32(v)}` : ',';
      }
      yield line + '\n';
    }
  }
}

function csvName(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Writes lines to `path`, honouring back-pressure. */
export async function writeLines(path: string, lines: Iterable<string>): Promise<void> {
  const out = createWriteStream(path);
  let buf = '';
  for (const line of lines) {
    buf += line;
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}
