#!/usr/bin/env python3
"""PyTorch's CPU speed on the same BYOL step as `byol bench`: the architecture of docs/contract.md §2
(ci/torch_reference.py's modules), float32, batch B of 32x32 views, both views through
the online network (separate BN) and the target (no grad), the symmetric loss,
backward, LARS (as in the BYOL paper's code, written with torch._foreach ops), EMA.
Layouts NCHW and channels_last. Prints the median step time, images/s, GFLOP/s and peak
RSS (--json: one object per layout on its own line).

    ~/venv-torch/bin/python ci/bench_torch.py [--preset resnet18] [--batch 64] [--steps 5] [--threads 2] [--layout nchw|channels_last|both]
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from byol_arch import PRESETS  # noqa: E402
from torch_reference import Network, byol_loss  # noqa: E402


def flops_per_image(arch, size):
    """Nominal FLOPs of one BYOL step per image, as byol bench counts them."""
    w, b = arch["widths"], arch["blocks"]
    h = size
    f = 2 * w[0] * 3 * 9 * h * h
    cin = w[0]
    for s in range(4):
        for i in range(b[s]):
            stride = 2 if (s > 0 and i == 0) else 1
            ho = (h - 1) // stride + 1
            f += 2 * w[s] * cin * 9 * ho * ho + 2 * w[s] * w[s] * 9 * ho * ho
            if stride != 1 or cin != w[s]:
                f += 2 * w[s] * cin * ho * ho
            h, cin = ho, w[s]
    proj = 2 * (arch["H"] * w[3] + arch["D"] * arch["H"])
    pred = 2 * (arch["P"] * arch["D"] + arch["D"] * arch["P"])
    return 2 * (3 * (f + proj + pred) + (f + proj))


def run(layout, args):
    arch = PRESETS[args.preset]
    torch.manual_seed(0)
    online = Network(arch, True)
    target = Network(arch, False)
    target.load_state_dict(online.state_dict(), strict=False)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    online = online.to(memory_format=fmt)
    target = target.to(memory_format=fmt)
    for p in target.parameters():
        p.requires_grad_(False)
    params = list(online.parameters())
    mats = [p.ndim > 1 for p in params]
    bufs = [torch.zeros_like(p) for p in params]
    lr, mom, wd, eta, tau = 0.01, 0.9, 1.5e-6, 0.001, 0.99
    v1 = torch.randn(args.batch, 3, args.size, args.size).to(memory_format=fmt)
    v2 = torch.randn(args.batch, 3, args.size, args.size).to(memory_format=fmt)
    online.train()
    target.train()
    times = []
    for i in range(args.steps + 1):
        t0 = time.perf_counter()
        with torch.no_grad():
            z1, z2 = target(v1), target(v2)
        p1, p2 = online(v1), online(v2)
        loss = byol_loss(p1, z2) + byol_loss(p2, z1)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p, m, buf in zip(params, mats, bufs):
                g = p.grad
                if m:
                    g = g + wd * p
                    pn, gn = torch.linalg.vector_norm(p), torch.linalg.vector_norm(g)
                    if pn > 0 and gn > 0:
                        g = g * (eta * pn / gn)
                buf.mul_(mom).add_(g)
                p.sub_(lr * buf)
            tp = dict(target.named_parameters())
            for n, p in online.named_parameters():
                if n in tp:
                    tp[n].lerp_(p, 1 - tau)
        dt = time.perf_counter() - t0
        if i > 0:
            times.append(dt)
        if not args.json:
            print("  %s step %d: %.3f s, loss %.6f" % (layout, i, dt, loss.item()), file=sys.stderr)
    med = statistics.median(times)
    flops = flops_per_image(arch, args.size) * args.batch
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return dict(layout=layout, images_per_second=args.batch / med, step_seconds_median=med, gflops=flops / med / 1e9,
                peak_rss_bytes=rss, threads=args.threads, batch=args.batch, preset=args.preset, torch=torch.__version__)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="resnet18")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layout", default="both")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    layouts = ["nchw", "channels_last"] if args.layout == "both" else [args.layout]
    for layout in layouts:
        r = run(layout, args)
        if args.json:
            print(json.dumps(r))
        else:
            print("torch %s %s %s batch %d, %d threads: median step %.3f s, %.2f images/s, %.1f GFLOP/s, peak RSS %.0f MB"
                  % (r["torch"], layout, args.preset, args.batch, args.threads, r["step_seconds_median"], r["images_per_second"],
                     r["gflops"], r["peak_rss_bytes"] / 1e6))


if __name__ == "__main__":
    main()
