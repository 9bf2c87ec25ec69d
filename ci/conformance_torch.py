#!/usr/bin/env python3
"""PyTorch's CPU float32 functional ops through the conformance kit's file route.

Reads `byol conformance export` cases (docs/contract.md §3.8), computes every layer and
update case with torch.nn.functional in float32 on the CPU (gradients by autograd against
the case's upstream gradient; the updates through ci/torch_reference.py's optimizers,
torch.optim for sgd and adam, on one float32 tensor), and writes RESULTS/ID.npz with the contract's output
names. Whole steps and embeds are skipped by name, with a line saying so (PyTorch
checks those through the goldens, ci/torch_reference.py): export the cases with
`--layers-only` and the results check with no `--only`. The results of the tiny preset's
layer cases are committed in Fixtures/conformance/torch-tiny/ and checked by
`swift test` (ConformanceTests), so CI needs no PyTorch:

    byol conformance export --out /tmp/cases --preset tiny --layers-only
    ~/venv-torch/bin/python ci/conformance_torch.py --cases /tmp/cases --results Fixtures/conformance/torch-tiny
    byol conformance check --cases /tmp/cases --results Fixtures/conformance/torch-tiny --precision float32

--emulate tf32|bf16|fp16 computes every matrix product (convolutions and linear layers,
forward and both backward products, the bias gradient as dy times ones) the way that
precision tier of the kit models it, on the CPU: TF32 rounds both operands to 10 mantissa
bits and accumulates in float32; bf16 and fp16 round the operands and the product's output
to bfloat16 or half and accumulate in float32. Everything else stays float32. Such results
must fail the tier above and pass their own (Fixtures/conformance/torch-tiny-tf32 and
torch-tiny-bf16, checked by `swift test`).
"""
import argparse
import json
import os

import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import BUFFERS, optimizer_step  # noqa: E402

EPS = 1e-5  # BatchNorm eps (docs/contract.md §2.3)
EMULATE = None  # set by --emulate
SKIPPED = ("step", "embed")  # whole-network cases: not layer functions


def tf32(x):
    """float32 -> the nearest value with 10 explicit mantissa bits (ties to even)."""
    i = x.contiguous().view(torch.int32)
    i = (i + 0xFFF + ((i >> 13) & 1)) & ~0x1FFF
    return i.view(torch.float32)


def operand(x):
    """A matrix product's operand at the emulated precision."""
    if EMULATE == "tf32":
        return tf32(x)
    if EMULATE == "bf16":
        return x.to(torch.bfloat16).to(torch.float32)
    if EMULATE == "fp16":
        return x.to(torch.float16).to(torch.float32)
    return x


def output(y):
    """A matrix product's output: rounded to bf16 or half under those tiers."""
    return operand(y) if EMULATE in ("bf16", "fp16") else y


def emulated_conv(x, w, dy, stride, pad):
    xo, wo, dyo = operand(x), operand(w), operand(dy)
    y = output(F.conv2d(xo, wo, stride=stride, padding=pad))
    dx = output(torch.nn.grad.conv2d_input(x.shape, wo, dyo, stride=stride, padding=pad))
    dw = output(torch.nn.grad.conv2d_weight(xo, w.shape, dyo, stride=stride, padding=pad))
    return {"y": y, "dx": dx, "dweight": dw}


def emulated_linear(x, w, b, dy):
    xo, wo, dyo = operand(x), operand(w), operand(dy)
    return {"y": output(xo @ wo.T + b), "dx": output(dyo @ wo), "dweight": output(dyo.T @ xo), "dbias": output(dyo.sum(0))}


def t(a, grad=False):
    x = torch.tensor(np.asarray(a), dtype=torch.float32)
    return x.requires_grad_(grad)


def grads(y, inputs, dy):
    return torch.autograd.grad(y, inputs, grad_outputs=dy)


def compute(function, params, inp):
    if function == "conv2d" and EMULATE:
        return emulated_conv(t(inp["x"]), t(inp["weight"]), t(inp["dy"]), params["stride"], params["pad"])
    if function == "linear" and EMULATE:
        return emulated_linear(t(inp["x"]), t(inp["weight"]), t(inp["bias"]), t(inp["dy"]))
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
    if function == "batchnorm_running":
        x, rm, rv = t(inp["x"]), t(inp["running_mean"]).clone(), t(inp["running_var"]).clone()
        F.batch_norm(x, rm, rv, None, None, training=True, momentum=float(inp["momentum"]), eps=EPS)
        return {"running_mean": rm, "running_var": rv, "num_batches_tracked": np.int64(inp["num_batches_tracked"]) + 1}
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
    if function in BUFFERS:
        # The optimizer of ci/torch_reference.py (torch.optim for sgd and adam) on one
        # float32 tensor.
        p = t(inp["param"])
        p.grad = t(inp["grad"])
        h = {k: float(inp[k]) for k in ("lr", "momentum", "weight_decay", "eta", "beta1", "beta2", "eps") if k in inp}
        steps_done = int(inp["step"]) if "step" in inp else 0
        (bufs,) = optimizer_step(function, [p], [{b: inp[b] for b in BUFFERS[function]}], steps_done, h)
        return {"param": p.detach(), **{b: torch.from_numpy(v) for b, v in bufs.items()}}
    if function == "ema":
        target, online, tau = t(inp["target"]), t(inp["online"]), float(inp["tau"])
        return {"target": target + (1 - tau) * (online - target)}
    raise SystemExit(f"conformance_torch.py: unknown function {function}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--emulate", choices=["tf32", "bf16", "fp16"], help="matrix products at this precision tier (see above)")
    args = ap.parse_args()
    global EMULATE
    EMULATE = args.emulate
    torch.set_num_threads(1)  # one thread: the same bytes on every machine of a kind
    with open(os.path.join(args.cases, "manifest.json")) as f:
        manifest = json.load(f)
    os.makedirs(args.results, exist_ok=True)
    written, skipped = 0, []
    for case in manifest["cases"]:
        if case["function"] in SKIPPED:
            skipped.append(case["id"])
            continue
        with np.load(os.path.join(args.cases, case["id"], "inputs.npz")) as inp:
            out = compute(case["function"], case["params"], inp)
        arrays = {k: (v if isinstance(v, np.integer) else v.detach().numpy().astype(np.float32)) for k, v in out.items()}
        np.savez(os.path.join(args.results, case["id"] + ".npz"), **arrays)
        written += 1
    mode = f"{args.emulate} matrix products" if args.emulate else "float32"
    print(f"wrote {written} results of torch {torch.__version__} ({mode}, CPU) to {args.results}")
    if skipped:
        print(f"skipped {len(skipped)} whole-network cases (not layer functions): {', '.join(skipped)}")


if __name__ == "__main__":
    main()
