import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { RankerTrainingSet } from './training.ts';

/** Shortest text that reads back to the same float32 (9 significant digits suffice). */
export function formatFloat32(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(9)));
}

/**
 * One LibSVM line per row: `label qid:GROUP idx:value ...`, feature indices 1-based (feature k of
 * `featureNames` is index k+1), missing (NaN) values left out and zeros written, since XGBoost and
 * LightGBM read an absent entry as missing.
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
        if (v === v) line += ` ${f + 1}:${formatFloat32(v)}`;
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

/**
 * Reads LibSVM text with `qid:` groups back into flat arrays (rows of one qid must be contiguous).
 * Errors name the line and column. `minFeatures` widens the rows when trailing features are all missing.
 * @example const d = parseLibsvm(text, 'train.libsvm');
 */
export function parseLibsvm(text: string, file = 'libsvm', minFeatures = 0): { features: Float32Array; nRows: number; nFeatures: number; labels: Float32Array; groups: Int32Array } {
  const lines = text.split('\n');
  const rows: { label: number; qid: number; idx: number[]; val: number[] }[] = [];
  let maxIdx = minFeatures;
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln].trim();
    if (line === '' || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    const label = Number(parts[0]);
    if (!Number.isFinite(label)) throw new Error(`${file}:${ln + 1}:1: label '${parts[0]}' is not a number`);
    const row = { label, qid: -1, idx: [] as number[], val: [] as number[] };
    let col = parts[0].length + 2;
    for (let k = 1; k < parts.length; k++) {
      const p = parts[k];
      const c = p.indexOf(':');
      if (c < 0) throw new Error(`${file}:${ln + 1}:${col}: expected index:value, found '${p}'`);
      const key = p.slice(0, c);
      const v = Number(p.slice(c + 1));
      if (key === 'qid') {
        if (!Number.isInteger(v)) throw new Error(`${file}:${ln + 1}:${col}: qid '${p.slice(c + 1)}' is not an integer`);
        row.qid = v;
      } else {
        const i = Number(key);
        if (!Number.isInteger(i) || i < 1) throw new Error(`${file}:${ln + 1}:${col}: feature index '${key}' is not an integer >= 1`);
        if (!Number.isFinite(v)) throw new Error(`${file}:${ln + 1}:${col + c + 1}: value '${p.slice(c + 1)}' is not a finite number`);
        row.idx.push(i - 1);
        row.val.push(v);
        if (i > maxIdx) maxIdx = i;
      }
      col += p.length + 1;
    }
    rows.push(row);
  }
  const n = rows.length;
  const features = new Float32Array(n * maxIdx).fill(NaN);
  const labels = new Float32Array(n);
  const bounds: number[] = [0];
  const seenQid = new Set<number>();
  rows.forEach((r, k) => {
    labels[k] = r.label;
    for (let q = 0; q < r.idx.length; q++) features[k * maxIdx + r.idx[q]] = r.val[q];
    if (k > 0 && r.qid !== rows[k - 1].qid) {
      if (seenQid.has(r.qid)) throw new Error(`${file}: rows of qid ${r.qid} are not contiguous`);
      bounds.push(k);
    }
    seenQid.add(r.qid);
  });
  bounds.push(n);
  return { features, nRows: n, nFeatures: maxIdx, labels, groups: Int32Array.from(n === 0 ? [0] : bounds) };
}
