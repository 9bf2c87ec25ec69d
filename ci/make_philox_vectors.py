#!/usr/bin/env python3
"""Writes Fixtures/philox_vectors.npz: NumPy's Philox4x64-10 streams for a few keys
and counters (one with a carry across counter words), the known answers the Swift
`PhiloxStream` must reproduce.

Arrays, for case j: `key` int64 [J, 2], `counter` int64 [J, 4] (uint64 bit patterns),
`raw` int64 [J, 10] (the first 10 `random_raw()` outputs, as bit patterns) and
`uniform` float64 [J, 10] (the first 10 `Generator.random()` values of a fresh stream).

Run from the repository root:  python3 ci/make_philox_vectors.py  (needs numpy).
"""
import os

import numpy as np

CASES = [
    ([0, 0], [0, 0, 0, 0]),
    ([5, 0], [0, 3, 2, 1]),
    ([123456789, 0], [0, 49999, 99, 1]),
    ([2**63 + 11, 1], [0, 17, 0, 0]),
    ([7, 2], [2**64 - 1, 5, 0, 0]),       # carry from word 0 into word 1
    ([1, 0], [2**64 - 2, 2**64 - 1, 9, 0]),  # carries into word 2 after two blocks
]


def main():
    keys, counters, raws, uniforms = [], [], [], []
    for key, counter in CASES:
        bg = np.random.Philox(key=np.array(key, dtype=np.uint64), counter=np.array(counter, dtype=np.uint64))
        raws.append(np.array([bg.random_raw() for _ in range(10)], dtype=np.uint64))
        g = np.random.Generator(np.random.Philox(key=np.array(key, dtype=np.uint64), counter=np.array(counter, dtype=np.uint64)))
        uniforms.append(g.random(10))
        keys.append(np.array(key, dtype=np.uint64))
        counters.append(np.array(counter, dtype=np.uint64))
    out = os.path.join(os.path.dirname(__file__), "..", "Fixtures", "philox_vectors.npz")
    np.savez(out,
             key=np.stack(keys).view(np.int64),
             counter=np.stack(counters).view(np.int64),
             raw=np.stack(raws).view(np.int64),
             uniform=np.stack(uniforms))


if __name__ == "__main__":
    main()
