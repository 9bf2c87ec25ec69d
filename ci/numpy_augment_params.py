#!/usr/bin/env python3
"""A NumPy re-implementation of `byol augment`'s parameter draws (docs/contract.md §3):
for image index i, epoch e, view v the draws are the doubles of
Generator(Philox(key=[S, 0], counter=[0, i, e, v])).random(), in the contract's order.

    python3 ci/numpy_augment_params.py IMAGES.npz OUT.npz --seed S [--epoch E] [--recipe cifar|byol]

writes `view{v}.crop`, `.flip`, `.jitter`, `.jitter_order`, `.jitter_factors`,
`.grayscale`, `.blur`, `.sigma`, `.solarize` as `byol augment` names them.
`python3 ci/numpy_augment_params.py --fixtures` rewrites the committed expectations in
Fixtures/augment/ (params_*.npz) for the cases listed in CASES.
"""
import argparse
import math
import os

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# (images file, seed, epoch, recipe, size): the cross-check cases.
CASES = [
    ("images.npz", 0, 0, "cifar", 32),
    ("images.npz", 12345, 3, "byol", 32),
    ("images.npz", 2**40 + 7, 17, "byol", 16),
    ("images_wide.npz", 7, 1, "byol", 32),
]


def case_name(images, seed, epoch, recipe, size):
    return "%s_s%d_e%d_%s_%d" % (images[:-4], seed, epoch, recipe, size)


def draw(seed, index, epoch, view, H, W, recipe):
    g = np.random.Generator(np.random.Philox(key=np.array([seed, 0], dtype=np.uint64),
                                             counter=np.array([0, index, epoch, view], dtype=np.uint64)))
    u = g.random

    def U(lo, hi):
        return lo + (hi - lo) * u()

    area = H * W
    for _ in range(10):
        target = area * U(0.08, 1.0)
        aspect = math.exp(U(math.log(3 / 4), math.log(4 / 3)))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= W and 0 < h <= H:
            top = math.floor(u() * (H - h + 1))
            left = math.floor(u() * (W - w + 1))
            break
    else:
        ratio = W / H
        if ratio < 3 / 4:
            w, h = W, int(round(W / (3 / 4)))
        elif ratio > 4 / 3:
            h, w = H, int(round(H * (4 / 3)))
        else:
            w, h = W, H
        top, left = (H - h) // 2, (W - w) // 2
    flip = u() < 0.5
    jitter = u() < 0.8
    order = [0, 1, 2, 3]
    for j in (3, 2, 1):
        k = math.floor(u() * (j + 1))
        order[j], order[k] = order[k], order[j]
    factors = [U(0.6, 1.4), U(0.6, 1.4), U(0.8, 1.2), U(-0.1, 0.1)]
    gray = u() < 0.2
    p_blur = {"cifar": (0.0, 0.0), "byol": (1.0, 0.1)}[recipe][view - 1]
    blur = u() < p_blur
    sigma = U(0.1, 2.0)
    solarize = u() < (0.0, 0.2)[view - 1]
    return dict(crop=[top, left, h, w], flip=flip, jitter=jitter, jitter_order=order, jitter_factors=factors,
                grayscale=gray, blur=blur, sigma=sigma, solarize=solarize)


def params_for(images, indices, seed, epoch, recipe):
    n, _, H, W = images.shape
    out = {}
    for v in (1, 2):
        ps = [draw(seed, int(indices[i]), epoch, v, H, W, recipe) for i in range(n)]
        for key in ("crop", "jitter_order"):
            out["view%d.%s" % (v, key)] = np.array([p[key] for p in ps], dtype=np.int64)
        for key in ("flip", "jitter", "grayscale", "blur", "solarize"):
            out["view%d.%s" % (v, key)] = np.array([int(p[key]) for p in ps], dtype=np.int64)
        out["view%d.jitter_factors" % v] = np.array([p["jitter_factors"] for p in ps], dtype=np.float64)
        out["view%d.sigma" % v] = np.array([p["sigma"] for p in ps], dtype=np.float64)
    return out


def load_images(path):
    with np.load(path) as f:
        images = f["images"]
        indices = f["indices"] if "indices" in f.files else np.arange(images.shape[0], dtype=np.int64)
    return images, indices


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("images", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epoch", type=int, default=0)
    ap.add_argument("--recipe", default="cifar")
    ap.add_argument("--fixtures", action="store_true")
    a = ap.parse_args()
    if a.fixtures:
        d = os.path.join(ROOT, "Fixtures", "augment")
        for (imgs, seed, epoch, recipe, size) in CASES:
            images, indices = load_images(os.path.join(d, imgs))
            np.savez(os.path.join(d, "params_%s.npz" % case_name(imgs, seed, epoch, recipe, size)),
                     **params_for(images, indices, seed, epoch, recipe))
    else:
        images, indices = load_images(a.images)
        np.savez(a.out, **params_for(images, indices, a.seed, a.epoch, a.recipe))


if __name__ == "__main__":
    main()
