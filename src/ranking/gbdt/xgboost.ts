import { readFileSync } from 'node:fs';
import { GbdtModel } from './model.ts';
import type { ObjectiveName } from './options.ts';
import type { Tree } from './tree.ts';

/** XGBoost objectives we can serve, and ours that matches each (same gradient, same output transform). */
const OBJECTIVES: Record<string, ObjectiveName> = {
  'binary:logistic': 'binary',
  'reg:logistic': 'binary',
  'reg:squarederror': 'regression',
  'reg:linear': 'regression',
  'rank:ndcg': 'lambdarank',
  'rank:pairwise': 'lambdarank',
  'rank:map': 'lambdarank',
};

/**
 * Imports a model written by XGBoost's `save_model("m.json")` (gbtree booster; binary:logistic,
 * reg:squarederror, rank:ndcg, rank:pairwise and their aliases). Split tests are XGBoost's
 * `x < split_condition`, missing values follow default_left, and base_score becomes the raw base score
 * (through the logit for logistic objectives). XGBoost compares in float32: give predictRaw a
 * Float32Array to get its decisions exactly.
 * @example const m = importXgboostJson(JSON.parse(readFileSync('m.json', 'utf8')));
 */
export function importXgboostJson(json: unknown, what = 'xgboost model'): GbdtModel {
  const root = obj(json, what);
  const learner = obj(root.learner, `${what}: learner`);
  const objName = obj(learner.objective, `${what}: learner.objective`).name;
  const objective = OBJECTIVES[objName as string];
  if (!objective) throw new Error(`${what}: learner.objective.name '${String(objName)}' is not supported; supported: ${Object.keys(OBJECTIVES).join(', ')}`);
  const gb = obj(learner.gradient_booster, `${what}: learner.gradient_booster`);
  if (gb.name !== 'gbtree') throw new Error(`${what}: learner.gradient_booster.name '${String(gb.name)}' is not supported; only gbtree`);
  const mp = obj(learner.learner_model_param, `${what}: learner.learner_model_param`);
  const nFeatures = Number(mp.num_feature);
  if (!Number.isInteger(nFeatures) || nFeatures < 1) throw new Error(`${what}: learner.learner_model_param.num_feature '${String(mp.num_feature)}' is not a positive integer`);
  const numClass = Number(mp.num_class ?? 0);
  if (numClass > 1) throw new Error(`${what}: multi-class models (num_class ${numClass}) are not supported`);
  if (Number(mp.num_target ?? 1) > 1) throw new Error(`${what}: multi-target models are not supported`);
  // XGBoost 1.x writes "5E-1"; 2.x may write "[5E-1]"
  const bs = Number(String(mp.base_score ?? '0.5').replace(/[[\]]/g, ''));
  if (!Number.isFinite(bs)) throw new Error(`${what}: learner.learner_model_param.base_score '${String(mp.base_score)}' is not a number`);
  let baseScore = bs;
  if (objective === 'binary') {
    if (!(bs > 0 && bs < 1)) throw new Error(`${what}: base_score ${bs} must be in (0, 1) for ${String(objName)}`);
    baseScore = Math.log(bs / (1 - bs));
  }
  const types = learner.feature_types;
  if (Array.isArray(types)) {
    const c = types.findIndex((t) => t === 'c');
    if (c >= 0) throw new Error(`${what}: feature ${c} is categorical; categorical splits are not supported`);
  }
  const model = obj(gb.model, `${what}: learner.gradient_booster.model`);
  const mparam = obj(model.gbtree_model_param ?? {}, `${what}: gbtree_model_param`);
  if (Number(mparam.num_parallel_tree ?? 1) !== 1) throw new Error(`${what}: num_parallel_tree ${String(mparam.num_parallel_tree)} (random forests) is not supported`);
  if (!Array.isArray(model.trees)) throw new Error(`${what}: learner.gradient_booster.model.trees is not an array`);
  const trees = model.trees.map((t: unknown, i: number) => convertTree(obj(t, `${what}: trees[${i}]`), nFeatures, `${what}: trees[${i}]`));
  const names = Array.isArray(learner.feature_names) && learner.feature_names.length === nFeatures ? (learner.feature_names as string[]) : undefined;
  return new GbdtModel({ objective, nFeatures, baseScore, trees, featureNames: names, source: 'xgboost' });
}

/** Reads an XGBoost JSON model file; see importXgboostJson. */
export function loadXgboostModel(path: string): GbdtModel {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message} (only XGBoost's JSON format is read, not UBJSON or the binary format)`);
  }
  return importXgboostJson(json, path);
}

function convertTree(t: Record<string, any>, nFeatures: number, what: string): Tree {
  const arr = (k: string): number[] => {
    const a = t[k];
    if (!Array.isArray(a)) throw new Error(`${what}.${k}: expected an array`);
    return a as number[];
  };
  const lc = arr('left_children');
  const rc = arr('right_children');
  const cond = arr('split_conditions');
  const feat = arr('split_indices');
  const dl = arr('default_left');
  const gainA = arr('loss_changes');
  const hessA = arr('sum_hessian');
  const bw = Array.isArray(t.base_weights) ? (t.base_weights as number[]) : null;
  const st = Array.isArray(t.split_type) ? (t.split_type as number[]) : null;
  const n = lc.length;
  for (const [k, a] of [['right_children', rc], ['split_conditions', cond], ['split_indices', feat], ['default_left', dl]] as const) {
    if (a.length !== n) throw new Error(`${what}.${k}: length ${a.length}, left_children has ${n}`);
  }
  // number internal nodes and leaves in the order a walk from the root meets them (skips deleted nodes)
  const internal: number[] = [];
  const leaves: number[] = [];
  const ref = new Int32Array(n);
  const seen = new Uint8Array(n);
  const stack = [0];
  while (stack.length) {
    const k = stack.pop()!;
    if (!(k >= 0 && k < n) || seen[k]) throw new Error(`${what}: node ${k} is out of range or reached twice`);
    seen[k] = 1;
    if (lc[k] === -1) {
      ref[k] = ~leaves.length;
      leaves.push(k);
    } else {
      if (st && st[k] !== 0) throw new Error(`${what}: node ${k} is a categorical split; not supported`);
      if (rc[k] === -1) throw new Error(`${what}: node ${k} has a left child but no right child`);
      ref[k] = internal.length;
      internal.push(k);
      stack.push(rc[k], lc[k]);
    }
  }
  const ni = internal.length;
  const tree: Tree = {
    feature: new Int32Array(ni),
    threshold: new Float64Array(ni),
    defaultLeft: new Uint8Array(ni),
    left: new Int32Array(ni),
    right: new Int32Array(ni),
    gain: new Float64Array(ni),
    nodeValue: new Float64Array(ni),
    nodeCount: new Float64Array(ni),
    leafValue: new Float64Array(leaves.length),
    leafCount: new Float64Array(leaves.length),
  };
  internal.forEach((k, i) => {
    const f = feat[k];
    if (!Number.isInteger(f) || f < 0 || f >= nFeatures) throw new Error(`${what}: node ${k} splits on feature ${f}, the model has ${nFeatures}`);
    tree.feature[i] = f;
    tree.threshold[i] = Math.fround(cond[k]);
    tree.defaultLeft[i] = dl[k] ? 1 : 0;
    tree.left[i] = ref[lc[k]];
    tree.right[i] = ref[rc[k]];
    tree.gain[i] = Number(gainA[k] ?? 0);
    tree.nodeValue[i] = bw ? Number(bw[k]) : 0;
    tree.nodeCount[i] = Number(hessA[k] ?? 0);
  });
  // a leaf's value is kept in split_conditions
  leaves.forEach((k, i) => {
    tree.leafValue[i] = Math.fround(cond[k]);
    tree.leafCount[i] = Number(hessA[k] ?? 0);
  });
  if (!bw) fillNodeValues(tree);
  return tree;
}

/** Without base_weights: each node's value is the cover-weighted mean of its leaves. */
function fillNodeValues(t: Tree): void {
  const visit = (c: number): [number, number] => {
    if (c < 0) return [t.leafValue[~c] * t.leafCount[~c], t.leafCount[~c]];
    const [a, wa] = visit(t.left[c]);
    const [b, wb] = visit(t.right[c]);
    t.nodeValue[c] = wa + wb > 0 ? (a + b) / (wa + wb) : 0;
    return [a + b, wa + wb];
  };
  if (t.feature.length > 0) visit(0);
}

function obj(v: unknown, what: string): Record<string, any> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what}: expected an object`);
  return v as Record<string, any>;
}
