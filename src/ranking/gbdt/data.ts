/**
 * Training data in flat arrays, LightGBM style: a dense feature matrix plus labels, optional sample
 * weights and optional ranking groups given as offsets (group g is rows groups[g]..groups[g+1]).
 */
export interface GbdtData {
  /** nRows x nFeatures values; NaN means missing. */
  features: Float32Array | Float64Array;
  nRows: number;
  nFeatures: number;
  /** 'row' (default): value (r, f) at r*nFeatures+f; 'col': at f*nRows+r. */
  layout?: 'row' | 'col';
  labels: Float32Array | Float64Array;
  weights?: Float32Array | Float64Array;
  /** Ranking groups as offsets, length nGroups+1, from 0 to nRows; needed by lambdarank. */
  groups?: Int32Array;
  featureNames?: string[];
}

/** Reads value (r, f) of `d` whatever its layout (slow path: validation and binning only). */
export function valueAt(d: GbdtData, r: number, f: number): number {
  return d.layout === 'col' ? d.features[f * d.nRows + r] : d.features[r * d.nFeatures + f];
}

/** Checks shapes and values; throws naming the field (and row) at fault. */
export function validateData(d: GbdtData, what = 'data', needGroups = false): void {
  const { nRows, nFeatures } = d;
  if (!Number.isInteger(nRows) || nRows < 1) throw new Error(`${what}.nRows: must be a positive integer, got ${nRows}`);
  if (!Number.isInteger(nFeatures) || nFeatures < 1) throw new Error(`${what}.nFeatures: must be a positive integer, got ${nFeatures}`);
  if (d.features.length !== nRows * nFeatures) throw new Error(`${what}.features: length ${d.features.length} != nRows*nFeatures = ${nRows * nFeatures}`);
  if (d.labels.length !== nRows) throw new Error(`${what}.labels: length ${d.labels.length} != nRows = ${nRows}`);
  for (let r = 0; r < nRows; r++) if (!Number.isFinite(d.labels[r])) throw new Error(`${what}.labels[${r}]: ${d.labels[r]} is not finite`);
  for (let i = 0; i < d.features.length; i++) {
    const v = d.features[i];
    if (v === Infinity || v === -Infinity) {
      const r = d.layout === 'col' ? i % nRows : Math.floor(i / nFeatures);
      const f = d.layout === 'col' ? Math.floor(i / nRows) : i % nFeatures;
      throw new Error(`${what}.features: row ${r} feature ${f} is ${v}; use NaN for missing values`);
    }
  }
  if (d.weights) {
    if (d.weights.length !== nRows) throw new Error(`${what}.weights: length ${d.weights.length} != nRows = ${nRows}`);
    for (let r = 0; r < nRows; r++) if (!(d.weights[r] >= 0) || !Number.isFinite(d.weights[r])) throw new Error(`${what}.weights[${r}]: ${d.weights[r]} must be finite and >= 0`);
  }
  if (d.groups) {
    const g = d.groups;
    if (g.length < 2 || g[0] !== 0 || g[g.length - 1] !== nRows) throw new Error(`${what}.groups: offsets must start at 0 and end at nRows = ${nRows}`);
    for (let i = 1; i < g.length; i++) if (g[i] <= g[i - 1]) throw new Error(`${what}.groups[${i}]: offsets must increase strictly (${g[i - 1]} then ${g[i]})`);
  } else if (needGroups) {
    throw new Error(`${what}.groups: the lambdarank objective needs ranking groups (offsets)`);
  }
  if (d.featureNames && d.featureNames.length !== nFeatures) throw new Error(`${what}.featureNames: length ${d.featureNames.length} != nFeatures = ${nFeatures}`);
}
