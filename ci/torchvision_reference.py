#!/usr/bin/env python3
"""Applies torchvision.transforms.v2.functional, in float64, to drawn augmentation
parameters: the independent check of `byol augment`'s views (docs/contract.md §3).

For each case of ci/numpy_augment_params.py's CASES it reads the test images and the
NumPy-drawn parameters (Fixtures/augment/params_*.npz) and writes the expected views
(Fixtures/augment/views_*.npz: `view1`, `view2` float64 [N, 3, size, size]).

Hue: torchvision's public `adjust_hue` converts to float32 internally (about 7e-7 off),
which the 1e-9 bound does not allow, so hue goes through torchvision's own float64-capable
helpers `_rgb_to_hsv` / `_hsv_to_rgb` with h <- (h + shift) mod 1, exactly the
arithmetic of `adjust_hue_image` minus the float32 round trip.

    python3 -m venv ~/venv-torch && ~/venv-torch/bin/pip install torch torchvision numpy
    ~/venv-torch/bin/python ci/torchvision_reference.py
"""
import os
import sys

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2.functional._color import _hsv_to_rgb, _rgb_to_hsv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numpy_augment_params import CASES, case_name, load_images  # noqa: E402

MEAN = [0.4914, 0.4822, 0.4465]
STD = [0.2470, 0.2435, 0.2616]


def hue64(img, shift):
    hsv = _rgb_to_hsv(img)
    h, s, v = hsv.unbind(dim=-3)
    h = (h + shift).remainder(1.0)
    return _hsv_to_rgb(torch.stack((h, s, v), dim=-3))


def view(img_u8, p, i, v, size, recipe):
    x = torch.from_numpy(img_u8.astype(np.float64) / 255.0)
    top, left, h, w = (int(t) for t in p["view%d.crop" % v][i])
    x = F.resized_crop(x, top, left, h, w, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True)
    if p["view%d.flip" % v][i]:
        x = F.horizontal_flip(x)
    if p["view%d.jitter" % v][i]:
        b, c, s, hue = (float(t) for t in p["view%d.jitter_factors" % v][i])
        for op in p["view%d.jitter_order" % v][i]:
            if op == 0:
                x = F.adjust_brightness(x, b)
            elif op == 1:
                x = F.adjust_contrast(x, c)
            elif op == 2:
                x = F.adjust_saturation(x, s)
            else:
                x = hue64(x, hue)
    if p["view%d.grayscale" % v][i]:
        x = F.rgb_to_grayscale(x, num_output_channels=3)
    if p["view%d.blur" % v][i]:
        k = 2 * (size // 20) + 1
        sigma = float(p["view%d.sigma" % v][i])
        x = F.gaussian_blur(x, [k, k], [sigma, sigma])
    if p["view%d.solarize" % v][i]:
        x = F.solarize(x, 0.5)
    return F.normalize(x, MEAN, STD)


def main():
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "augment")
    for (imgs, seed, epoch, recipe, size) in CASES:
        name = case_name(imgs, seed, epoch, recipe, size)
        images, _ = load_images(os.path.join(d, imgs))
        with np.load(os.path.join(d, "params_%s.npz" % name)) as f:
            p = {k: f[k] for k in f.files}
        out = {}
        for v in (1, 2):
            out["view%d" % v] = torch.stack([view(images[i], p, i, v, size, recipe) for i in range(images.shape[0])]).numpy()
        np.savez(os.path.join(d, "views_%s.npz" % name), **out)
        print("torchvision reference: %s" % name)


if __name__ == "__main__":
    main()
