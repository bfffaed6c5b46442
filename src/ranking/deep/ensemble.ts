/**
 * An ensemble of DCNs (`ensemble: n` of the dcn kind): n networks trained on the same rows at seeds
 * seed, seed + 1, ... (each its own initialisation, batch order and early stopping), their log-odds
 * averaged. Averaging takes out much of one network's seed-to-seed spread; it costs n times the training
 * and the scoring. The attributions of a mean of logits are the mean of each network's (gradient × input
 * is linear in the logit), so explanations stay exact.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { contributionsOfRow, sigmoidOfMargins, type RankerModel } from '../model/model.ts';
import type { DcnModel } from './model.ts';

export const DCN_ENSEMBLE_FILE = 'dcn-ensemble.json';
export const DCN_ENSEMBLE_FORMAT = 'tandem-dcn-ensemble';
export const DCN_ENSEMBLE_VERSION = 1;

/** Member k's directory inside the ensemble's. */
export function memberDir(dir: string, k: number): string {
  return join(dir, `net-${k}`);
}

/**
 * The mean log-odds of two or more DCNs over the same ranker columns.
 * @example const e = new DcnEnsemble([a, b]); e.margins(rows, n, out);
 */
export class DcnEnsemble implements RankerModel {
  readonly kind = 'dcn';
  private tmp = new Float64Array(0);
  private part: Float64Array;

  constructor(
    readonly members: DcnModel[],
    private readonly info: Record<string, unknown> = {},
  ) {
    if (members.length < 2) throw new Error(`dcn ensemble: needs two networks or more, got ${members.length}`);
    const F = members[0].nFeatures;
    members.forEach((m, k) => {
      if (m.nFeatures !== F) throw new Error(`dcn ensemble: network ${k} takes ${m.nFeatures} features, network 0 ${F}`);
    });
    this.part = new Float64Array(F + 1);
  }

  get nFeatures(): number {
    return this.members[0].nFeatures;
  }

  /** The members' mean logit of rows 0..n-1 (summed in member order, then divided). */
  margins(x: Float32Array, n: number, out: Float64Array): void {
    if (this.tmp.length < n) this.tmp = new Float64Array(n);
    const t = this.tmp;
    this.members[0].margins(x, n, out);
    for (let k = 1; k < this.members.length; k++) {
      this.members[k].margins(x, n, t);
      for (let i = 0; i < n; i++) out[i] += t[i];
    }
    const inv = 1 / this.members.length;
    for (let i = 0; i < n; i++) out[i] *= inv;
  }

  /** P(action) = sigmoid(mean logit). */
  predict(x: Float32Array, n: number, out: Float64Array): void {
    sigmoidOfMargins(this, x, n, out);
  }

  /** The mean of the members' attributions (they add up to the mean logit, as each member's add up to its own). */
  contributions(x: Float32Array, row: number, out: Float64Array): void {
    contributionsOfRow(this, x, row, out);
  }

  /** `contributions` of n rows, each member's batched. */
  contributionsOf(x: Float32Array, rows: Int32Array, n: number, out: Float64Array): void {
    const len = n * (this.nFeatures + 1);
    if (this.part.length < len) this.part = new Float64Array(len);
    out.fill(0, 0, len);
    for (const m of this.members) {
      m.contributionsOf(x, rows, n, this.part);
      for (let f = 0; f < len; f++) out[f] += this.part[f];
    }
    const inv = 1 / this.members.length;
    for (let f = 0; f < len; f++) out[f] *= inv;
  }

  dispose(): void {
    for (const m of this.members) m.dispose();
  }

  /** dcn-ensemble.json (the member count) and each member's files in net-0/, net-1/, ... */
  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, DCN_ENSEMBLE_FILE), JSON.stringify({ format: DCN_ENSEMBLE_FORMAT, version: DCN_ENSEMBLE_VERSION, members: this.members.length }));
    for (let k = 0; k < this.members.length; k++) await this.members[k].save(memberDir(dir, k));
  }

  /** Each member's summary, and as `bestEpoch` their rounded mean (what a refit on every row trains each for). */
  summary(): Record<string, unknown> {
    const each = this.members.map((m) => m.summary());
    const epochs = each.map((s) => (typeof s.bestEpoch === 'number' ? s.bestEpoch : 0));
    const parameters = each.reduce((s, m) => s + (m.parameters as number), 0);
    return { members: this.members.length, parameters, bestEpoch: Math.max(1, Math.round(epochs.reduce((a, b) => a + b, 0) / epochs.length)), bestEpochs: epochs, validMetrics: each.map((s) => s.validMetric ?? null), ...this.info };
  }

  /**
   * The ensemble `save(dir)` wrote, which must hold `members` networks (the trained parameters say how
   * many); every file through `read`. Errors name the file and field.
   */
  static async load(dir: string, members: number, loadMember: (dir: string) => Promise<DcnModel>, read: (path: string) => Promise<Uint8Array> = (p) => readFile(p)): Promise<DcnEnsemble> {
    const path = join(dir, DCN_ENSEMBLE_FILE);
    let f: { format?: unknown; version?: unknown; members?: unknown };
    try {
      f = JSON.parse(Buffer.from(await read(path)).toString('utf8')) as typeof f;
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
    if (f.format !== DCN_ENSEMBLE_FORMAT) throw new Error(`${path}: format: expected '${DCN_ENSEMBLE_FORMAT}', got ${JSON.stringify(f.format)}`);
    if (f.version !== DCN_ENSEMBLE_VERSION) throw new Error(`${path}: version: expected ${DCN_ENSEMBLE_VERSION}, got ${JSON.stringify(f.version)}`);
    if (f.members !== members) throw new Error(`${path}: members: the parameters say ${members} networks, the file ${JSON.stringify(f.members)}`);
    const nets: DcnModel[] = [];
    for (let k = 0; k < members; k++) nets.push(await loadMember(memberDir(dir, k)));
    return new DcnEnsemble(nets);
  }
}
