/**
 * `tandem bench ease-inverse`: the O(items^3) part of an EASE fit, `invertSpd` (four rows per pass
 * over memory) against its row-by-row reference, back to back on the same EASE-like Gram matrix
 * (a binary user x item matrix's X^T X plus lambda), in CPU seconds and wall seconds; checks the two
 * results are the same to the bit.
 */
import { writeFileSync } from 'node:fs';
import { Rng } from '../src/math/index.ts';
import { invertSpd, invertSpdRowByRow } from '../src/retrieval/index.ts';
import { UsageError, parseArgs } from '../src/schema/index.ts';
import type { Command } from '../src/schema/index.ts';
import { median } from './stats.ts';

const options = {
  items: { type: 'list', of: 'number', default: [1000, 3000] as number[], description: 'matrix sizes (EASE items; the engine keeps at most 3000 by default)' },
  repeats: { type: 'number', default: 1, description: 'runs of each per size, alternating (medians reported)' },
  seed: { type: 'number', default: 1, description: 'random seed' },
  json: { type: 'string', description: 'write the figures to this JSON file' },
} as const;

/** An EASE Gram matrix: `4 n` users with 30 random items each, lambda 250 on the diagonal. */
function gram(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const a = new Float64Array(n * n);
  const items = new Int32Array(30);
  for (let u = 0; u < 4 * n; u++) {
    for (let k = 0; k < 30; k++) items[k] = rng.int(n);
    for (const i of items) for (const j of items) a[i * n + j] += 1;
  }
  for (let i = 0; i < n; i++) a[i * n + i] += 250;
  return a;
}


export const easeInverseBench: Command = {
  name: 'ease-inverse',
  summary: "EASE's O(items^3) inverse: four rows per pass vs row by row, same matrix, back to back (CPU and wall seconds)",
  usage: 'tandem bench ease-inverse [--items 1000,3000] [--repeats 1] [--json out.json]',
  options,
  async run(argv) {
    const { options: o } = parseArgs(argv, options);
    const rows: { items: number; refCpu: number; refWall: number; cpu: number; wall: number; speedupCpu: number; identical: boolean }[] = [];
    for (const n of o.items) {
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`--items: ${n} is not a positive integer`);
      const a = gram(n, o.seed);
      const ref: [number, number][] = [];
      const fast: [number, number][] = [];
      let identical = true;
      for (let rep = 0; rep < o.repeats; rep++) {
        const time = (f: () => Float64Array): [Float64Array, number, number] => {
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          const out = f();
          const c = process.cpuUsage(c0);
          return [out, (c.user + c.system) / 1e6, (performance.now() - t0) / 1000];
        };
        const [r, rc, rw] = time(() => invertSpdRowByRow(Float64Array.from(a), n));
        const [f, fc, fw] = time(() => invertSpd(Float64Array.from(a), n));
        ref.push([rc, rw]);
        fast.push([fc, fw]);
        for (let i = 0; i < r.length && identical; i++) identical = Object.is(r[i], f[i]);
      }
      const row = {
        items: n,
        refCpu: +median(ref.map((x) => x[0])).toFixed(2),
        refWall: +median(ref.map((x) => x[1])).toFixed(2),
        cpu: +median(fast.map((x) => x[0])).toFixed(2),
        wall: +median(fast.map((x) => x[1])).toFixed(2),
        speedupCpu: 0,
        identical,
      };
      row.speedupCpu = +(row.refCpu / row.cpu).toFixed(2);
      rows.push(row);
      console.log(`items ${n}: row by row ${row.refCpu} CPU s (${row.refWall} s wall); four rows ${row.cpu} CPU s (${row.wall} s wall): ${row.speedupCpu}x in CPU time; results identical: ${identical}`);
    }
    if (o.json) writeFileSync(o.json, JSON.stringify({ rows }, null, 2));
    return rows.every((r) => r.identical) ? 0 : 1;
  },
};
