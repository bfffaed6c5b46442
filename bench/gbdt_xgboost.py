#!/usr/bin/python3
"""XGBoost on the same synthetic data as `tandem bench gbdt`, for an honest comparison (not a test).

    node bin/tandem.mjs bench gbdt --rows 200000 --features 50 --dump /tmp/gbdt-data
    /usr/bin/python3 bench/gbdt_xgboost.py /tmp/gbdt-data [--threads 2] [--rounds 200] [--json out.json]

Trains with tree_method=hist, max_bin=255, 255 leaves grown leaf-wise (grow_policy=lossguide, as ours),
eta 0.1, lambda 1, min_child_weight 1; prints seconds and validation AUC. Then times XGBoost's own
predictor on 500 rows with a 300-tree, 63-leaf model (inplace_predict, median of repeats)."""
import argparse
import json
import os
import time

import numpy as np
import xgboost as xgb


def auc(scores, labels):
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    y = labels[order]
    # average ranks for ties
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i : j + 1] = (i + j) / 2 + 1
        i = j + 1
    pos = y > 0.5
    n_pos = pos.sum()
    n_neg = len(y) - n_pos
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--leaves", type=int, default=255)
    ap.add_argument("--predict-trees", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--no-predict", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    meta = json.load(open(os.path.join(a.dir, "meta.json")))
    F = meta["features"]
    load = lambda name: np.fromfile(os.path.join(a.dir, name), dtype=np.float32)
    X = load("train.f32").reshape(-1, F)
    y = load("train-labels.f32")
    Xv = load("valid.f32").reshape(-1, F)
    yv = load("valid-labels.f32")
    result = {"xgboostVersion": xgb.__version__, "rows": int(X.shape[0]), "features": F, "train": []}
    for t in a.threads:
        params = {"objective": "binary:logistic", "tree_method": "hist", "max_bin": 255, "grow_policy": "lossguide",
                  "max_leaves": a.leaves, "max_depth": 0, "eta": 0.1, "lambda": 1, "min_child_weight": 1, "nthread": t, "seed": 1}
        t0 = time.perf_counter()
        c0 = time.process_time()
        d = xgb.DMatrix(X, label=y, nthread=t)
        bst = xgb.train(params, d, num_boost_round=a.rounds)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
        p = bst.predict(xgb.DMatrix(Xv, nthread=t), output_margin=True)
        row = {"threads": t, "seconds": seconds, "cpuSeconds": cpu, "validAuc": float(auc(p, yv))}
        print("xgboost train", row, flush=True)
        result["train"].append(row)
    if a.no_predict:
        return finish(a, result)
    # prediction: 300 trees of 63 leaves, 500 rows, one thread
    n = min(50000, X.shape[0])
    params = {"objective": "binary:logistic", "tree_method": "hist", "grow_policy": "lossguide", "max_leaves": 63, "max_depth": 0,
              "eta": 0.05, "subsample": 0.8, "colsample_bytree": 0.8, "nthread": 2, "seed": 1}
    bst = xgb.train(params, xgb.DMatrix(X[:n], label=y[:n]), num_boost_round=a.predict_trees)
    bst.set_param({"nthread": 1})
    rows = np.ascontiguousarray(Xv[:500])
    for _ in range(20):
        bst.inplace_predict(rows, predict_type="margin")
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        bst.inplace_predict(rows, predict_type="margin")
        times.append((time.perf_counter() - t0) * 1000)
    # a fresh DMatrix each time: XGBoost caches the predictions of a DMatrix it has seen
    dtimes = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        bst.predict(xgb.DMatrix(rows, nthread=1), output_margin=True)
        dtimes.append((time.perf_counter() - t0) * 1000)
    result["predict"] = {"msFor500x300": float(np.median(times)), "msFor500x300WithDMatrix": float(np.median(dtimes))}
    print("xgboost predict", result["predict"], flush=True)
    finish(a, result)


def finish(a, result):
    if a.json:
        json.dump(result, open(a.json, "w"), indent=2)


main()
