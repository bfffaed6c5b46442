#!/usr/bin/python3
"""The two-tower model of `tandem bench train`, in PyTorch, on the same inputs (not a test).

    npx tandem bench train --vs-torch --dataset movielens-100k --data DIR   # runs this script itself
    /usr/bin/python3 bench/twotower_torch.py EXPORT_DIR --threads 1 --epochs 5 --out params.f32

EXPORT_DIR is written by `tandem bench train --vs-torch` (bench/train-torch.ts): the fitted feature
space (tables, tower fields, every entity's encoded bags and dense block), the training examples
(each user's events in time order) and our initial parameters, so both sides start from the same
weights. The model is the same: per field a bag of embedding rows mean-pooled by sum |w|, a dense
block, MLP concat -> 128 -> 64 with ReLU, L2-normalised outputs, in-batch softmax over score/tau with
the log-Q correction and duplicate positives masked, batch 512; lazy Adam on the embedding rows a
batch touched (SparseAdam), Adam on the MLP, linear warm-up then cosine decay to 5%, id dropout and
cold-user dropout, and the moving average of the weights. Each batch's inputs (the user's history
before the event, the last 50 events) are assembled inside the timed epoch with numpy, as ours are.
Writes the moving-average weights in our flat layout (float32) to --out and prints one JSON line
per epoch; the caller measures recall with our evaluation, so both sides are scored by one code."""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load(d, name, dtype):
    return np.fromfile(os.path.join(d, name + ".bin"), dtype=dtype)


def csr_gather(off, idx, w, rows):
    """Rows `rows` of a CSR (offsets, indices, weights) as one flat bag batch: indices, weights, row ids."""
    a = off[rows]
    lens = off[rows + 1] - a
    total = int(lens.sum())
    ends = np.cumsum(lens)
    pos = np.arange(total, dtype=np.int64) - np.repeat(ends - lens, lens) + np.repeat(a, lens)
    return idx[pos], w[pos], np.repeat(np.arange(len(rows), dtype=np.int64), lens)


class Side:
    """One tower's encoded inputs for every entity (non-history fields), from the export."""

    def __init__(self, d, prefix, spec, tables):
        self.fields = spec["bags"]
        self.dense_width = spec["denseWidth"]
        self.dense = load(d, prefix + ".dense", np.float32).reshape(-1, max(1, self.dense_width))
        self.csr = []
        k = 0
        for f in self.fields:
            if f["kind"] in ("history", "negative-history"):
                self.csr.append(None)
                continue
            off = load(d, f"{prefix}.bag{k}.offsets", np.int32).astype(np.int64)
            idx = load(d, f"{prefix}.bag{k}.indices", np.int32).astype(np.int64)
            w = load(d, f"{prefix}.bag{k}.weights", np.float32)
            # single-valued weight-1 fields (ids, categories, buckets): a plain index per entity
            single = bool(np.all(off[1:] - off[:-1] == 1) and np.all(w == 1))
            self.csr.append((off, idx, w, idx[off[:-1]] if single else None))
            k += 1
        self.own_id = [f["kind"] == "id" and "column" not in f for f in self.fields]
        self.missing = [tables[f["table"]]["rows"] - 1 for f in self.fields]


class TwoTower(torch.nn.Module):
    def __init__(self, spec, params, hidden, dim):
        super().__init__()
        self.spec_side = [spec["user"], spec["item"]]
        tables = spec["tables"]
        off = 0
        self.emb = torch.nn.ModuleList()
        for t in tables:
            e = torch.nn.Embedding(t["rows"], t["dim"], sparse=True)
            n = t["rows"] * t["dim"]
            e.weight.data.copy_(torch.from_numpy(params[off : off + n].reshape(t["rows"], t["dim"])))
            off += n
            self.emb.append(e)
        self.towers = torch.nn.ModuleList()
        for side in ("user", "item"):
            s = spec[side]
            width = sum(tables[f["table"]]["dim"] for f in s["bags"]) + s["denseWidth"]
            sizes = [width, *hidden, dim]
            layers = torch.nn.ModuleList()
            for i in range(len(sizes) - 1):
                lin = torch.nn.Linear(sizes[i], sizes[i + 1])
                nw = sizes[i] * sizes[i + 1]
                lin.weight.data.copy_(torch.from_numpy(params[off : off + nw].reshape(sizes[i + 1], sizes[i])))
                off += nw
                lin.bias.data.copy_(torch.from_numpy(params[off : off + sizes[i + 1]]))
                off += sizes[i + 1]
                layers.append(lin)
            self.towers.append(layers)
        assert off == len(params), f"layout: {off} parameters laid out, {len(params)} exported"

    def flat(self):
        """Every parameter in our layout: tables, then each tower's W0, b0, W1, b1, ..."""
        parts = [e.weight.detach().reshape(-1) for e in self.emb]
        for layers in self.towers:
            for lin in layers:
                parts += [lin.weight.detach().reshape(-1), lin.bias.detach()]
        return torch.cat(parts)

    def tower(self, which, bags, dense):
        """bags: per field (indices, per-row sum |w| or None, per-entry weights or None, offsets or None)."""
        cols = []
        spec = self.spec_side[which]
        for f, (idx, z, w, offs) in zip(spec["bags"], bags):
            table = self.emb[f["table"]].weight
            if offs is None:
                cols.append(F.embedding(idx, table, sparse=True))
            else:
                pooled = F.embedding_bag(idx, table, offs, mode="sum", per_sample_weights=w, sparse=True)
                cols.append(pooled / z[:, None])
        if dense is not None:
            cols.append(dense)
        x = torch.cat(cols, 1)
        layers = self.towers[which]
        for i, lin in enumerate(layers):
            x = lin(x)
            if i + 1 < len(layers):
                x = F.relu(x)
        return x / torch.sqrt((x * x).sum(1, keepdim=True) + 1e-6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="write the moving-average weights (float32, our layout) here")
    ap.add_argument("--loss-check", type=int, default=0, help="print the loss of examples 0..N-1 at the initial weights (no dropout) and exit")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    d = a.dir
    spec = json.load(open(os.path.join(d, "spec.json")))
    cfg = spec["config"]
    fs = spec["features"]
    tables = fs["tables"]
    if cfg["loss"] != "softmax" or cfg["negatives"] != 0 or cfg["optimizer"] != "adam" or not cfg["normalize"]:
        sys.exit("twotower_torch.py: only the reference shape (softmax, no extra negatives, adam, normalised) is implemented")
    params = load(d, "params", np.float32)
    model = TwoTower(fs, params, cfg["hidden"], cfg["dim"])
    user = Side(d, "user", fs["user"], tables)
    item = Side(d, "item", fs["item"], tables)
    user_start = load(d, "userStart", np.int32).astype(np.int64)
    seq_items = load(d, "seqItems", np.int32).astype(np.int64)
    seq_weights = load(d, "seqWeights", np.float32)
    ex_user = load(d, "exUser", np.int32).astype(np.int64)
    item_logp = load(d, "itemLogProb", np.float32)
    item_seen = load(d, "itemSeen", np.uint8)
    hist_oov = tables[fs["historyTable"]]["rows"] - 1
    hist_row = np.where(item_seen[: len(item_logp)] == 1, np.arange(len(item_logp)), hist_oov).astype(np.int64)
    L = fs["options"]["historyLength"]
    decay = fs["options"]["recencyDecay"]
    signed = fs["options"]["negativeHistory"]
    back = np.arange(L, dtype=np.int64)
    recency = (decay ** back).astype(np.float32)

    B = cfg["batchSize"]
    tau = cfg["temperature"]
    q = cfg["logQ"]
    n_ex = len(ex_user)
    steps_per_epoch = math.ceil(n_ex / B)
    total_steps = steps_per_epoch * cfg["epochs"]
    warm = cfg["warmupSteps"]

    def lr_mult(t):
        if warm > 0 and t < warm:
            return (t + 1) / warm
        if cfg["schedule"] == "constant" or total_steps <= warm:
            return 1.0
        x = min(1.0, max(0.0, (t - warm) / (total_steps - warm)))
        if cfg["schedule"] == "linear":
            return 0.05 + 0.95 * (1 - x)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * x))

    sparse_params = [e.weight for e in model.emb]
    dense_params = [p for layers in model.towers for p in layers.parameters()]
    opt_s = torch.optim.SparseAdam(sparse_params, lr=cfg["lr"])
    opt_d = torch.optim.Adam(dense_params, lr=cfg["lr"])
    every_param = sparse_params + dense_params
    ema = [p.detach().clone() for p in every_param] if cfg["emaDecay"] > 0 else None
    n_params = sum(p.numel() for p in every_param)
    ema_every = max(1, round(n_params / (B * 2000)))
    id_drop = cfg["idDropout"]
    cold_drop = cfg["coldDropout"]

    def side_bags(side, rows, drop):
        """Static fields of entities `rows`; `drop`: rows whose own id becomes the missing row."""
        out = []
        for k, f in enumerate(side.fields):
            c = side.csr[k]
            if c is None:
                out.append(None)
                continue
            off, idx, w, single = c
            if single is not None:
                ix = single[rows]
                if side.own_id[k] and drop is not None:
                    ix = np.where(drop, side.missing[k], ix)
                out.append((torch.from_numpy(ix), None, None, None))
                continue
            ix, ww, rid = csr_gather(off, idx, w, rows)
            z = np.bincount(rid, weights=np.abs(ww), minlength=len(rows)).astype(np.float32)
            offs = np.zeros(len(rows), dtype=np.int64)
            np.cumsum((off[rows + 1] - off[rows])[:-1], out=offs[1:])
            out.append((torch.from_numpy(ix), torch.from_numpy(np.where(z > 0, z, 1)), torch.from_numpy(ww), torch.from_numpy(offs)))
        return out

    def history(e, cold):
        """The last L events before each example (newest first), as one flat bag batch."""
        u = ex_user[e]
        start = np.maximum(user_start[u], e - L)
        ix = e[:, None] - 1 - back[None, :]
        valid = ix >= start[:, None]
        valid[cold] = False
        ew = seq_weights[np.where(valid, ix, 0)] * recency[None, :]
        if signed == "separate":
            ew = np.maximum(ew, 0)
        valid &= ew != 0
        flat = ix[valid]
        w = ew[valid]
        lens = valid.sum(1)
        offs = np.zeros(len(e), dtype=np.int64)
        np.cumsum(lens[:-1], out=offs[1:])
        z = np.abs(ew * valid).sum(1).astype(np.float32)
        return (torch.from_numpy(hist_row[seq_items[flat]]), torch.from_numpy(np.where(z > 0, z, 1)), torch.from_numpy(w.astype(np.float32)), torch.from_numpy(offs))

    def batch_loss(e, cold, udrop, idrop):
        n = len(e)
        u = ex_user[e]
        it = seq_items[e]
        ubags = side_bags(user, u, udrop)
        for k, f in enumerate(user.fields):
            if f["kind"] == "history":
                ubags[k] = history(e, cold)
        ibags = side_bags(item, it, idrop)
        udense = torch.from_numpy(user.dense[u]) if user.dense_width > 0 else None
        idense = torch.from_numpy(item.dense[it]) if item.dense_width > 0 else None
        w = torch.from_numpy(seq_weights[e])
        logq = torch.from_numpy(q * (item_logp[it] + math.log(n)))
        dup = torch.from_numpy((it[:, None] == it[None, :]) & ~np.eye(n, dtype=bool))
        U = model.tower(0, ubags, udense)
        V = model.tower(1, ibags, idense)
        S = U @ V.T
        z = (S / tau - logq[None, :]).masked_fill(dup, -math.inf)
        # negative feedback (w < 0) pays |w| softplus(score / tau) instead
        row = torch.where(w >= 0, w * (torch.logsumexp(z, 1) - torch.diagonal(z)), -w * F.softplus(torch.diagonal(S) / tau))
        return row.sum() / n

    if a.loss_check > 0:
        e = np.arange(min(a.loss_check, n_ex), dtype=np.int64)
        none = np.zeros(len(e), dtype=bool)
        with torch.no_grad():
            print(json.dumps({"loss": batch_loss(e, none, none, none).item()}))
        return
    if not a.out:
        sys.exit("twotower_torch.py: --out is required")

    step = 0
    for epoch in range(a.epochs):
        order = rng.permutation(n_ex)
        t0 = time.perf_counter()
        c0 = time.process_time()
        total = 0.0
        seen = 0
        for s in range(0, n_ex, B):
            e = order[s : s + B]
            n = len(e)
            if n < 2:
                break
            r = rng.random((3, n))
            cold = r[0] < cold_drop
            loss = batch_loss(e, cold, cold | (r[1] < id_drop), r[2] < id_drop)

            opt_s.zero_grad(set_to_none=True)
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            lr = cfg["lr"] * lr_mult(step)
            for o in (opt_s, opt_d):
                for g in o.param_groups:
                    g["lr"] = lr
            opt_s.step()
            opt_d.step()
            step += 1
            if ema is not None and step % ema_every == 0:
                dd = min(cfg["emaDecay"], (1 + step) / (10 + step)) ** ema_every
                with torch.no_grad():
                    torch._foreach_mul_(ema, dd)
                    torch._foreach_add_(ema, [p.detach() for p in every_param], alpha=1 - dd)
            total += loss.item() * n
            seen += n
        secs = time.perf_counter() - t0
        cpu = time.process_time() - c0
        print(json.dumps({"epoch": epoch + 1, "seconds": secs, "cpuSeconds": cpu, "loss": total / max(1, seen), "examples": seen}), flush=True)
    if ema is not None:
        with torch.no_grad():
            for p, m in zip(every_param, ema):
                p.copy_(m)
    model.flat().numpy().astype(np.float32).tofile(a.out)


if __name__ == "__main__":
    main()
