"""Compact digests of large tensors, as byol-swift's goldens store them (Harness/Digest.swift):
a float array X of n elements becomes `X.digest`, float64 [3 + m]: its sum, L2 norm and
max |x|, then the m = min(n, 64) elements at flat indices (k * (n - 1)) // 63 for
k = 0..63 (all of them when n <= 64). Integer arrays are kept whole."""
import numpy as np


def sample_indices(n):
    return np.arange(n) if n <= 64 else np.array([(k * (n - 1)) // 63 for k in range(64)])


def digest_arrays(arrays):
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind in "iu":
            out[name] = a
            continue
        flat = a.astype(np.float64).ravel()
        head = [flat.sum(), np.sqrt((flat * flat).sum()), np.abs(flat).max() if flat.size else 0.0]
        out[name + ".digest"] = np.concatenate([np.array(head), flat[sample_indices(flat.size)]])
    return out
