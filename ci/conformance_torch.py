#!/usr/bin/env python3
"""PyTorch's CPU float32 functional ops through the conformance kit's file route.

Reads `byol conformance export` cases (docs/contract.md §3.8), computes every case with
torch.nn.functional in float32 on the CPU (gradients by autograd against the case's
upstream gradient), and writes RESULTS/ID.npz with the contract's output names. The
results of the tiny preset's default export are committed in Fixtures/conformance/
torch-tiny/ and checked by `swift test` (ConformanceTests), so CI needs no PyTorch:

    byol conformance export --out /tmp/cases --preset tiny
    ~/venv-torch/bin/python ci/conformance_torch.py --cases /tmp/cases --results Fixtures/conformance/torch-tiny
    byol conformance check --cases /tmp/cases --results Fixtures/conformance/torch-tiny --precision float32
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

EPS = 1e-5  # BatchNorm eps (docs/contract.md §2.3)


def t(a, grad=False):
    x = torch.tensor(np.asarray(a), dtype=torch.float32)
    return x.requires_grad_(grad)


def grads(y, inputs, dy):
    return torch.autograd.grad(y, inputs, grad_outputs=dy)


def compute(function, params, inp):
    if function == "conv2d":
        x, w, dy = t(inp["x"], True), t(inp["weight"], True), t(inp["dy"])
        y = F.conv2d(x, w, stride=params["stride"], padding=params["pad"])
        dx, dw = grads(y, [x, w], dy)
        return {"y": y, "dx": dx, "dweight": dw}
    if function in ("batchnorm2d_train", "batchnorm1d_train"):
        x, g, b, dy = t(inp["x"], True), t(inp["weight"], True), t(inp["bias"], True), t(inp["dy"])
        y = F.batch_norm(x, None, None, g, b, training=True, eps=EPS)
        dx, dg, db = grads(y, [x, g, b], dy)
        return {"y": y, "dx": dx, "dweight": dg, "dbias": db}
    if function in ("batchnorm2d_eval", "batchnorm1d_eval"):
        y = F.batch_norm(t(inp["x"]), t(inp["running_mean"]), t(inp["running_var"]), t(inp["weight"]), t(inp["bias"]),
                         training=False, eps=EPS)
        return {"y": y}
    if function == "linear":
        x, w, b, dy = t(inp["x"], True), t(inp["weight"], True), t(inp["bias"], True), t(inp["dy"])
        y = F.linear(x, w, b)
        dx, dw, db = grads(y, [x, w, b], dy)
        return {"y": y, "dx": dx, "dweight": dw, "dbias": db}
    if function == "relu":
        x, dy = t(inp["x"], True), t(inp["dy"])
        y = F.relu(x)
        (dx,) = grads(y, [x], dy)
        return {"y": y, "dx": dx}
    if function == "avgpool":
        x, dy = t(inp["x"], True), t(inp["dy"])
        y = F.adaptive_avg_pool2d(x, 1).flatten(1)
        (dx,) = grads(y, [x], dy)
        return {"y": y, "dx": dx}
    if function == "loss":
        p, z = t(inp["p"], True), t(inp["z"])
        loss = (F.normalize(p, dim=1, eps=1e-12) - F.normalize(z, dim=1, eps=1e-12)).pow(2).sum(dim=1).mean()
        (dp,) = torch.autograd.grad(loss, [p])
        return {"loss": loss, "dp": dp}
    if function == "symmetric_loss":
        p1, p2, z1, z2 = t(inp["p1"], True), t(inp["p2"], True), t(inp["z1"]), t(inp["z2"])

        def l(p, z):
            return (F.normalize(p, dim=1, eps=1e-12) - F.normalize(z, dim=1, eps=1e-12)).pow(2).sum(dim=1).mean()

        loss = l(p1, z2) + l(p2, z1)
        dp1, dp2 = torch.autograd.grad(loss, [p1, p2])
        return {"loss": loss, "dp1": dp1, "dp2": dp2}
    if function in ("sgd", "lars", "adam"):
        p, g = t(inp["param"]), t(inp["grad"])
        h = {k: float(inp[k]) for k in ("lr", "momentum", "weight_decay", "eta", "beta1", "beta2", "eps") if k in inp}
        if function == "adam":
            m, v, step = t(inp["exp_avg"]), t(inp["exp_avg_sq"]), int(inp["step"]) + 1
            d = g + h["weight_decay"] * p
            m = torch.lerp(m, d, 1 - h["beta1"])
            v = v * h["beta2"] + (1 - h["beta2"]) * d * d
            denom = v.sqrt() / (1 - h["beta2"] ** step) ** 0.5 + h["eps"]
            return {"param": p - h["lr"] / (1 - h["beta1"] ** step) * (m / denom), "exp_avg": m, "exp_avg_sq": v}
        buf = t(inp["momentum_buffer"])
        if function == "lars" and p.dim() > 1:
            d = g + h["weight_decay"] * p
            pn, dn = p.double().norm(), d.double().norm()
            if pn > 0 and dn > 0:
                d = d * float(h["eta"] * pn / dn)
        elif function == "lars":
            d = g
        else:
            d = g + h["weight_decay"] * p
        buf = h["momentum"] * buf + d
        return {"param": p - h["lr"] * buf, "momentum_buffer": buf}
    if function == "ema":
        target, online, tau = t(inp["target"]), t(inp["online"]), float(inp["tau"])
        return {"target": target + (1 - tau) * (online - target)}
    raise SystemExit(f"conformance_torch.py: unknown function {function}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", required=True)
    ap.add_argument("--results", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)  # one thread: the same bytes on every machine of a kind
    with open(os.path.join(args.cases, "manifest.json")) as f:
        manifest = json.load(f)
    os.makedirs(args.results, exist_ok=True)
    for case in manifest["cases"]:
        with np.load(os.path.join(args.cases, case["id"], "inputs.npz")) as inp:
            out = compute(case["function"], case["params"], inp)
        arrays = {k: v.detach().numpy().astype(np.float32) for k, v in out.items()}
        np.savez(os.path.join(args.results, case["id"] + ".npz"), **arrays)
    print(f"wrote {len(manifest['cases'])} results of torch {torch.__version__} (float32, CPU) to {args.results}")


if __name__ == "__main__":
    main()
