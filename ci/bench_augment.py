#!/usr/bin/env python3
"""torchvision v2's augmentation throughput on the same images as `byol bench-augment`:
the cifar recipe (RandomResizedCrop 32 antialiased, flip, colour jitter p 0.8,
grayscale p 0.2, solarize p 0.2 on the second view, normalize), two views per image,
one image at a time as a torchvision pipeline does it, images/s as the median of repeats.

    ~/venv-torch/bin/python ci/bench_augment.py IMAGES.npz [--threads T] [--repeats R] [--dtype float32|float64]
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch
from torchvision.transforms import v2

MEAN, STD = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]


def pipeline(solarize_p):
    return v2.Compose([
        v2.RandomResizedCrop(32, scale=(0.08, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomSolarize(0.5, p=solarize_p),
        v2.Normalize(MEAN, STD),
    ])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("images")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with np.load(a.images) as f:
        images = torch.from_numpy(f["images"]).to(getattr(torch, a.dtype)) / 255.0
    t1, t2 = pipeline(0.0), pipeline(0.2)
    rates = []
    for r in range(a.repeats + 1):
        t0 = time.perf_counter()
        for img in images:
            t1(img)
            t2(img)
        dt = time.perf_counter() - t0
        if r > 0:
            rates.append(len(images) / dt)
    med = statistics.median(rates)
    if a.json:
        print(json.dumps({"images_per_second": med, "threads": a.threads, "images": len(images), "dtype": a.dtype}))
    else:
        print("torchvision v2 (%s): %.0f images/s (two views each), median of %d, %d threads, %d images"
              % (a.dtype, med, a.repeats, a.threads, len(images)))


if __name__ == "__main__":
    main()
