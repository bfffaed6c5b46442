import { readFileSync } from 'node:fs';
import type { GbdtData } from './data.ts';

export interface LibsvmOptions {
  /** Name used in error messages. */
  file?: string;
  /** Columns of the result; by default 1 + the largest index seen. Larger indices are an error. */
  nFeatures?: number;
  /** Value of a feature absent from a line: 0 (sparse, the LibSVM convention) or NaN (missing). */
  absent?: 0 | 'nan';
  /** Index of the first column: 0 (as XGBoost and LightGBM read files, the default) or 1 (index i is column i-1). */
  indexBase?: 0 | 1;
}

/** A LibSVM problem: file, line and column of the offending text. */
export class LibsvmError extends Error {
  override name = 'LibsvmError';
  constructor(readonly file: string, readonly line: number, readonly column: number, message: string) {
    super(`${file}:${line}:${column}: ${message}`);
  }
}

/**
 * Parses LibSVM / SVMlight text: `label [qid:Q] index:value ...` per line, `#` comments. Indices are
 * column numbers as written (0-based, as XGBoost and LightGBM read them) unless `indexBase` is 1. Rows with the same qid must be
 * adjacent; they become one ranking group (offsets in `groups`). Values `nan` are missing.
 * @example const d = parseLibsvmData('1 qid:3 0:1.5 2:-1\n0 qid:3 1:2\n', { file: 'train.svm' });
 */
export function parseLibsvmData(text: string, opts: LibsvmOptions = {}): GbdtData {
  const file = opts.file ?? '<libsvm>';
  const base = opts.indexBase ?? 0;
  const labels: number[] = [];
  const rowPtr: number[] = [0];
  let cols: number[] = [];
  let vals: number[] = [];
  const qids: (number | null)[] = [];
  let maxIdx = -1;
  let lineNo = 0;
  let pos = 0;
  while (pos <= text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    const raw = text.slice(pos, eol);
    pos = eol + 1;
    lineNo++;
    const hash = raw.indexOf('#');
    const line = (hash >= 0 ? raw.slice(0, hash) : raw).replace(/\r$/, '');
    if (line.trim() === '') {
      if (eol >= text.length) break;
      continue;
    }
    const re = /\S+/g;
    let m: RegExpExecArray | null;
    let first = true;
    let qid: number | null = null;
    let lastIdx = -1;
    while ((m = re.exec(line))) {
      const tok = m[0];
      const col = m.index + 1;
      if (first) {
        const y = Number(tok);
        if (!Number.isFinite(y)) throw new LibsvmError(file, lineNo, col, `label '${tok}' is not a number`);
        labels.push(y);
        first = false;
        continue;
      }
      const colon = tok.indexOf(':');
      if (colon <= 0) throw new LibsvmError(file, lineNo, col, `expected index:value, got '${tok}'`);
      const key = tok.slice(0, colon);
      const valText = tok.slice(colon + 1);
      if (key === 'qid') {
        const q = Number(valText);
        if (!Number.isInteger(q)) throw new LibsvmError(file, lineNo, col, `qid '${valText}' is not an integer`);
        if (qid !== null || lastIdx >= 0) throw new LibsvmError(file, lineNo, col, 'qid must come once, right after the label');
        qid = q;
        continue;
      }
      if (!/^\d+$/.test(key)) throw new LibsvmError(file, lineNo, col, `feature index '${key}' is not a non-negative integer`);
      const idx = Number(key) - base;
      if (idx < 0) throw new LibsvmError(file, lineNo, col, `feature index ${key} is below the first index ${base}`);
      if (idx <= lastIdx) throw new LibsvmError(file, lineNo, col, `feature index ${key} after ${lastIdx + base}: indices must increase along a line`);
      if (opts.nFeatures !== undefined && idx >= opts.nFeatures) throw new LibsvmError(file, lineNo, col, `feature index ${key} is past the last of ${opts.nFeatures} columns`);
      const isNan = valText.toLowerCase() === 'nan';
      const v = isNan ? NaN : valText === '' ? NaN : Number(valText);
      if (!isNan && !Number.isFinite(v)) throw new LibsvmError(file, lineNo, col + colon + 1, `value '${valText}' is not a finite number`);
      lastIdx = idx;
      if (idx > maxIdx) maxIdx = idx;
      cols.push(idx);
      vals.push(v);
    }
    qids.push(qid);
    rowPtr.push(cols.length);
    if (eol >= text.length) break;
  }
  const nRows = labels.length;
  if (nRows === 0) throw new LibsvmError(file, 1, 1, 'no data rows');
  const nFeatures = opts.nFeatures ?? Math.max(1, maxIdx + 1);
  const features = new Float32Array(nRows * nFeatures);
  if (opts.absent === 'nan') features.fill(NaN);
  for (let r = 0; r < nRows; r++) {
    for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) features[r * nFeatures + cols[k]] = vals[k];
  }
  cols = [];
  vals = [];
  let groups: Int32Array | undefined;
  const withQid = qids.filter((q) => q !== null).length;
  if (withQid > 0) {
    if (withQid !== nRows) {
      const r = qids.findIndex((q) => q === null);
      throw new LibsvmError(file, dataLine(text, r), 1, 'this row has no qid while others have one');
    }
    const offsets = [0];
    const done = new Set<number>();
    for (let r = 1; r < nRows; r++) {
      if (qids[r] !== qids[r - 1]) {
        done.add(qids[r - 1]!);
        if (done.has(qids[r]!)) throw new LibsvmError(file, dataLine(text, r), 1, `qid ${qids[r]} appears again after other queries; rows of a query must be adjacent`);
        offsets.push(r);
      }
    }
    offsets.push(nRows);
    groups = Int32Array.from(offsets);
  }
  return { features, nRows, nFeatures, labels: Float32Array.from(labels), groups };
}

/** Line number of the r-th data row (for error messages; slow, only on errors). */
function dataLine(text: string, r: number): number {
  const lines = text.split('\n');
  let seen = -1;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].replace(/#.*/, '').trim();
    if (l !== '' && ++seen === r) return i + 1;
  }
  return lines.length;
}

/** Reads a LibSVM file; see parseLibsvmData. */
export function readLibsvmData(path: string, opts: Omit<LibsvmOptions, 'file'> = {}): GbdtData {
  return parseLibsvmData(readFileSync(path, 'utf8'), { ...opts, file: path });
}
