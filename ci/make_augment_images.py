#!/usr/bin/env python3
"""Writes synthetic test images for the augmentation cross-check (never CIFAR data):
Fixtures/augment/images.npz: `images` uint8 [16, 3, 32, 32] (gradients, stripes,
checkerboards, noise, flat colours, a gray image, saturated primaries) and `indices`
int64 [16] (spread over a 50,000-image data set); Fixtures/augment/images_wide.npz:
`images` uint8 [3, 3, 6, 40] (aspect 6.7: RandomResizedCrop's fallback path).

Run from the repository root:  python3 ci/make_augment_images.py  (needs numpy).
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "Fixtures", "augment")


def synthetic(n, h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    imgs = []
    for k in range(n):
        kind = k % 8
        if kind == 0:    # colour gradients
            img = np.stack([xx / (w - 1), yy / (h - 1), (xx + yy) / (w + h - 2)]) * 255
        elif kind == 1:  # stripes
            img = np.stack([(np.sin(xx / 2 + k) > 0) * 255, (np.cos(yy / 3) > 0) * 200, np.full((h, w), 60)])
        elif kind == 2:  # checkerboard with colour
            c = ((xx // 4 + yy // 4) % 2)
            img = np.stack([c * 230 + 10, (1 - c) * 180, c * 90 + 40])
        elif kind == 3:  # noise
            img = rng.integers(0, 256, size=(3, h, w))
        elif kind == 4:  # flat colour with a disc
            img = np.stack([np.full((h, w), 200), np.full((h, w), 40), np.full((h, w), 90)])
            disc = (xx - w / 2) ** 2 + (yy - h / 2) ** 2 < (min(h, w) / 3) ** 2
            img[:, disc] = np.array([20, 220, 250])[:, None]
        elif kind == 5:  # gray (r = g = b: the hue conversion's equal-channel branch)
            g = (xx * 7 + yy * 3) % 256
            img = np.stack([g, g, g])
        elif kind == 6:  # saturated primaries and extremes
            img = np.zeros((3, h, w))
            img[0, :, : w // 3] = 255
            img[1, :, w // 3: 2 * w // 3] = 255
            img[2, :, 2 * w // 3:] = 255
            img[:, : h // 4, :] = 255
        else:            # smooth noise
            base = rng.normal(128, 60, size=(3, h, w))
            img = (base + np.roll(base, 1, 1) + np.roll(base, 1, 2)) / 3
        imgs.append(np.clip(np.round(img), 0, 255))
    return np.stack(imgs).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    images = synthetic(16, 32, 32, 0)
    indices = np.array([0, 1, 2, 7, 99, 100, 1234, 4999, 5000, 12345, 23456, 31415, 40000, 45678, 49998, 49999], dtype=np.int64)
    np.savez(os.path.join(OUT, "images.npz"), images=images, indices=indices)
    np.savez(os.path.join(OUT, "images_wide.npz"), images=synthetic(3, 6, 40, 1))


if __name__ == "__main__":
    main()
