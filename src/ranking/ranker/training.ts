import { type Dataset, type UserQuery, selectInteractions } from '../../data/index.ts';
import type { CandidateBlock } from '../../features/index.ts';
import { NO_PROGRESS, Rng, type Progress } from '../../math/index.ts';
import type { EmbedGroups, RankerFeatures } from './features.ts';

/**
 * The ranker's training rows in flat arrays (the GBDT's data shape): one group per user, rows are that
 * user's L1 candidates, label 1 when the user interacted with the candidate in the label window.
 */
export interface RankerTrainingSet {
  features: Float32Array;
  nRows: number;
  nFeatures: number;
  labels: Float32Array;
  /** Group offsets, length groups+1. */
  groups: Int32Array;
  featureNames: string[];
  /** The user of each group. */
  groupUsers: Int32Array;
  /** The candidate item of each row. */
  items: Int32Array;
  /** Per column: the vocabulary size of a coded categorical column, 0 for a numeric one (`RankerFeatures.cardinalities`); absent: all numeric. */
  cardinalities?: Int32Array;
  /** Per column: 1 for an id code only embedding models read, 2 for a number only the deep ranker reads (`RankerFeatures.embedOnly`); absent: none. */
  embedOnly?: Uint8Array;
  /** Which coded columns are averaged into one embedded input and which share a table (`RankerFeatures.embedGroups`); absent: each alone. */
  embedGroups?: EmbedGroups;
}

/**
 * Splits every user's interactions in time: the last `fraction` of each user's events (ordered by
 * time, then item, as `byUser` orders them) go to `later`, the rest to `earlier`. A user with a single
 * event keeps it in `earlier`.
 * @example const { earlier, later } = splitUserTime(train, 0.2);
 */
export function splitUserTime(ds: Dataset, fraction: number): { earlier: Dataset; later: Dataset } {
  if (!(fraction > 0 && fraction < 1)) throw new Error(`splitUserTime: fraction must be in (0, 1), got ${fraction}`);
  const { offsets, rows } = ds.byUser();
  const early: number[] = [];
  const late: number[] = [];
  for (let u = 0; u < ds.numUsers; u++) {
    const a = offsets[u];
    const len = offsets[u + 1] - a;
    const nLate = len < 2 ? 0 : Math.min(len - 1, Math.max(1, Math.round(len * fraction)));
    for (let k = 0; k < len - nLate; k++) early.push(rows[a + k]);
    for (let k = len - nLate; k < len; k++) late.push(rows[a + k]);
  }
  const x = ds.interactions;
  return {
    earlier: ds.withInteractions(selectInteractions(x, early), `${ds.name}:earlier`),
    later: ds.withInteractions(selectInteractions(x, late), `${ds.name}:later`),
  };
}

export interface AssembleOptions {
  /** Fitted on the same interactions as L1 (the earlier part). */
  features: RankerFeatures;
  /** The interactions that label the candidates (the later part); never seen by L1 or the features. */
  labels: Dataset;
  /**
   * User u's request as serving makes it from the earlier part: the query the stages saw and the merged
   * candidates (the engine's own request path, so training rows are what serving builds).
   */
  requestOf: (u: number) => { query: UserQuery; block: CandidateBlock };
  /** Users to assemble (default: every user with a positive label event). */
  users?: ArrayLike<number>;
  /** Negatives kept per positive, sampled per user; 0 keeps every candidate. */
  negativesPerPositive: number;
  /** Keep users none of whose label items L1 found (pure negatives; useless to LambdaRank). */
  keepGroupsWithoutPositive: boolean;
  seed: number;
  /** Reports the users assembled (a task `users`). Default: none. */
  progress?: Progress;
}

/** What the assembly saw: L1 recall over the label items, and row counts. */
export interface AssembleReport {
  users: number;
  labelItems: number;
  labelItemsFound: number;
  /** Share of label interactions that some L1 source put among the candidates. */
  recall: number;
  rows: number;
  positives: number;
}

/**
 * Builds the ranker's training set without leakage: for each user, the candidates L1 (fitted on the
 * earlier part) finds from the earlier history, labelled by the later part; features from statistics
 * of the earlier part only.
 * @example const { set, report } = assembleRankerData({ features, labels: later, requestOf, negativesPerPositive: 0, keepGroupsWithoutPositive: true, seed: 1 });
 */
export function assembleRankerData(o: AssembleOptions): { set: RankerTrainingSet; report: AssembleReport } {
  const lab = o.labels;
  const neg = lab.eventTypes.map((e) => e.negative);
  const { offsets, rows } = lab.byUser();
  const x = lab.interactions;
  let users: ArrayLike<number>;
  if (o.users) users = o.users;
  else {
    const list: number[] = [];
    for (let u = 0; u < lab.numUsers; u++) {
      for (let k = offsets[u]; k < offsets[u + 1]; k++) if (!neg[x.event[rows[k]]]) {
        list.push(u);
        break;
      }
    }
    users = list;
  }
  const W = o.features.width;
  const rng = new Rng(o.seed);
  const isLabel = new Uint8Array(lab.numItems);
  const chunks: Float32Array[] = [];
  const labelChunks: Float32Array[] = [];
  const itemChunks: Int32Array[] = [];
  const groupSizes: number[] = [];
  const groupUsers: number[] = [];
  let scratch = new Float32Array(W * 512);
  let labelItems = 0;
  let found = 0;
  let positives = 0;
  const task = (o.progress ?? NO_PROGRESS).start('users', users.length, 'users');
  for (let g = 0; g < users.length; g++) {
    // each user is a full L1 request: a tick every 32 is cheap and still frequent
    if ((g & 31) === 31) task.set(g + 1);
    const u = users[g];
    let nLabel = 0;
    for (let k = offsets[u]; k < offsets[u + 1]; k++) {
      const r = rows[k];
      if (neg[x.event[r]] || isLabel[x.item[r]]) continue;
      isLabel[x.item[r]] = 1;
      nLabel++;
    }
    const { query, block: l1 } = o.requestOf(u);
    const n = l1.count;
    let pos = 0;
    for (let c = 0; c < n; c++) pos += isLabel[l1.items[c]];
    labelItems += nLabel;
    found += pos;
    if (n > 0 && (pos > 0 || o.keepGroupsWithoutPositive)) {
      // choose the rows: every positive, and the sampled negatives
      let keep: Int32Array;
      if (o.negativesPerPositive > 0) {
        const negIdx: number[] = [];
        const posIdx: number[] = [];
        for (let c = 0; c < n; c++) (isLabel[l1.items[c]] ? posIdx : negIdx).push(c);
        const want = Math.min(negIdx.length, Math.max(1, pos) * o.negativesPerPositive);
        for (let i = 0; i < want; i++) {
          const j = i + rng.int(negIdx.length - i);
          const t = negIdx[i];
          negIdx[i] = negIdx[j];
          negIdx[j] = t;
        }
        keep = Int32Array.from(posIdx.concat(negIdx.slice(0, want))).sort();
      } else {
        keep = new Int32Array(n);
        for (let c = 0; c < n; c++) keep[c] = c;
      }
      if (scratch.length < n * W) scratch = new Float32Array(n * W);
      o.features.extract(query, l1, scratch, 0);
      const feats = new Float32Array(keep.length * W);
      const labels = new Float32Array(keep.length);
      const items = new Int32Array(keep.length);
      for (let k = 0; k < keep.length; k++) {
        const c = keep[k];
        feats.set(scratch.subarray(c * W, (c + 1) * W), k * W);
        labels[k] = isLabel[l1.items[c]];
        items[k] = l1.items[c];
      }
      chunks.push(feats);
      labelChunks.push(labels);
      itemChunks.push(items);
      groupSizes.push(keep.length);
      groupUsers.push(u);
      positives += pos;
    }
    for (let k = offsets[u]; k < offsets[u + 1]; k++) isLabel[x.item[rows[k]]] = 0;
  }
  task.set(users.length);
  task.finish();
  const nRows = groupSizes.reduce((s, v) => s + v, 0);
  const features = new Float32Array(nRows * W);
  const labels = new Float32Array(nRows);
  const items = new Int32Array(nRows);
  const groups = new Int32Array(groupSizes.length + 1);
  let r = 0;
  for (let g = 0; g < groupSizes.length; g++) {
    features.set(chunks[g], r * W);
    labels.set(labelChunks[g], r);
    items.set(itemChunks[g], r);
    r += groupSizes[g];
    groups[g + 1] = r;
  }
  const set: RankerTrainingSet = { features, nRows, nFeatures: W, labels, groups, featureNames: [...o.features.names], groupUsers: Int32Array.from(groupUsers), items, cardinalities: o.features.cardinalities.slice(), embedOnly: o.features.embedOnly.slice(), embedGroups: o.features.embedGroups };
  const report: AssembleReport = { users: users.length, labelItems, labelItemsFound: found, recall: labelItems > 0 ? found / labelItems : NaN, rows: nRows, positives };
  return { set, report };
}

/**
 * Splits a training set by user into train and validation parts, for early stopping: every group of a
 * validation user goes to the validation part (a user may have several groups, one per label window).
 * @example const { train, valid } = splitGroups(set, 0.1, 7);
 */
export function splitGroups(set: RankerTrainingSet, validFraction: number, seed: number): { train: RankerTrainingSet; valid: RankerTrainingSet } {
  const users = Int32Array.from(new Set(set.groupUsers)).sort();
  new Rng(seed).shuffle(users);
  const validUsers = new Set(users.subarray(0, Math.round(users.length * validFraction)));
  return partitionGroups(set, (g) => validUsers.has(set.groupUsers[g]));
}

/**
 * Splits a training set in time for early stopping: the `validFraction` share of groups whose label
 * window starts latest (`groupTimes[g]`, the group's first label event; ties: the later group) go to the
 * validation part, the rest to train, each part in the set's order. The models then stop on rows later
 * than the ones they learn from, as they will be used; a user may have groups on both sides (one per
 * label window).
 * @example const { train, valid } = splitGroupsByTime(set, times, 0.15);
 */
export function splitGroupsByTime(set: RankerTrainingSet, groupTimes: Float64Array, validFraction: number): { train: RankerTrainingSet; valid: RankerTrainingSet } {
  const G = set.groups.length - 1;
  if (groupTimes.length !== G) throw new Error(`splitGroupsByTime: ${groupTimes.length} group times for ${G} groups`);
  // a group without a time (NaN) counts as the earliest, so the order is total
  const t = (g: number) => (Number.isNaN(groupTimes[g]) ? -Infinity : groupTimes[g]);
  const order = Array.from({ length: G }, (_, g) => g).sort((a, b) => t(b) - t(a) || b - a);
  const inValid = new Uint8Array(G);
  for (const g of order.slice(0, Math.round(G * validFraction))) inValid[g] = 1;
  return partitionGroups(set, (g) => inValid[g] === 1);
}

/** The groups `isValid` picks as the validation part, the others as train, each in the set's order. */
function partitionGroups(set: RankerTrainingSet, isValid: (g: number) => boolean): { train: RankerTrainingSet; valid: RankerTrainingSet } {
  const tr: number[] = [];
  const va: number[] = [];
  for (let g = 0; g < set.groups.length - 1; g++) (isValid(g) ? va : tr).push(g);
  return { valid: pickGroups(set, va), train: pickGroups(set, tr) };
}

/**
 * When each user's label window starts: the first timestamp of `groupUsers[g]`'s events in `labels`
 * (NaN for a user with none there).
 */
export function labelWindowStarts(labels: Dataset, groupUsers: Int32Array): Float64Array {
  const { offsets, rows } = labels.byUser();
  const ts = labels.interactions.timestamp;
  return Float64Array.from(groupUsers, (u) => (offsets[u + 1] > offsets[u] ? ts[rows[offsets[u]]] : NaN));
}

/** The groups `gs` (in that order) of `set` as a new set. */
function pickGroups(set: RankerTrainingSet, gs: readonly number[]): RankerTrainingSet {
  let nRows = 0;
  for (const g of gs) nRows += set.groups[g + 1] - set.groups[g];
  const W = set.nFeatures;
  const features = new Float32Array(nRows * W);
  const labels = new Float32Array(nRows);
  const items = new Int32Array(nRows);
  const groups = new Int32Array(gs.length + 1);
  let r = 0;
  gs.forEach((g, k) => {
    const a = set.groups[g];
    const b = set.groups[g + 1];
    features.set(set.features.subarray(a * W, b * W), r * W);
    labels.set(set.labels.subarray(a, b), r);
    items.set(set.items.subarray(a, b), r);
    r += b - a;
    groups[k + 1] = r;
  });
  return { features, nRows, nFeatures: W, labels, groups, featureNames: set.featureNames, groupUsers: Int32Array.from(gs, (g) => set.groupUsers[g]), items, ...(set.cardinalities ? { cardinalities: set.cardinalities } : {}), ...(set.embedOnly ? { embedOnly: set.embedOnly } : {}), ...(set.embedGroups ? { embedGroups: set.embedGroups } : {}) };
}

/**
 * Several training sets with the same columns as one (groups kept apart), e.g. one per label window.
 * @example const all = concatSets([window0, window1]);
 */
export function concatSets(sets: readonly RankerTrainingSet[]): RankerTrainingSet {
  if (sets.length === 0) throw new Error('concatSets: no sets');
  const first = sets[0];
  for (const s of sets) {
    if (s.nFeatures !== first.nFeatures || s.featureNames.some((n, k) => n !== first.featureNames[k])) throw new Error('concatSets: the sets have different feature columns');
  }
  const nRows = sets.reduce((a, s) => a + s.nRows, 0);
  const nGroups = sets.reduce((a, s) => a + s.groups.length - 1, 0);
  const W = first.nFeatures;
  const out: RankerTrainingSet = {
    features: new Float32Array(nRows * W),
    nRows,
    nFeatures: W,
    labels: new Float32Array(nRows),
    groups: new Int32Array(nGroups + 1),
    featureNames: first.featureNames,
    groupUsers: new Int32Array(nGroups),
    items: new Int32Array(nRows),
    ...(first.cardinalities ? { cardinalities: first.cardinalities } : {}),
    ...(first.embedOnly ? { embedOnly: first.embedOnly } : {}),
    ...(first.embedGroups ? { embedGroups: first.embedGroups } : {}),
  };
  let r = 0;
  let g = 0;
  for (const s of sets) {
    out.features.set(s.features.subarray(0, s.nRows * W), r * W);
    out.labels.set(s.labels, r);
    out.items.set(s.items, r);
    out.groupUsers.set(s.groupUsers, g);
    for (let k = 1; k < s.groups.length; k++) out.groups[g + k] = r + s.groups[k];
    r += s.nRows;
    g += s.groups.length - 1;
  }
  return out;
}
