#!/usr/bin/env python3
"""Compares two .npz files array by array: the largest |difference| of each, largest first.

Usage: ci/compare_npz.py EXPECTED.npz ACTUAL.npz [--tolerance T]
Exits 1 if the files hold different array names or shapes, or (with --tolerance) if any
difference exceeds T. Integer arrays must be equal. Needs only NumPy.
"""
import argparse
import sys

import numpy as np

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("expected")
ap.add_argument("actual")
ap.add_argument("--tolerance", type=float, default=None, help="largest |difference| allowed")
args = ap.parse_args()
a, b = np.load(args.expected), np.load(args.actual)
problems = []
only = sorted(set(a.files) ^ set(b.files))
if only:
    problems.append("arrays in one file only: " + ", ".join(only))
rows = []
for name in sorted(set(a.files) & set(b.files)):
    x, y = a[name], b[name]
    if x.shape != y.shape:
        problems.append(f"{name}: shape {x.shape} vs {y.shape}")
        continue
    if x.dtype.kind in "iub" or y.dtype.kind in "iub":
        d = float(np.abs(x.astype(np.int64) - y.astype(np.int64)).max()) if x.size else 0.0
        if d != 0:
            problems.append(f"{name}: integers differ")
    else:
        d = float(np.abs(x.astype(np.float64) - y.astype(np.float64)).max()) if x.size else 0.0
        if not np.isfinite(d):
            problems.append(f"{name}: a NaN or Inf")
    rows.append((d, name))
rows.sort(reverse=True)
width = max((len(n) for _, n in rows), default=4)
for d, name in rows:
    print(f"{name:<{width}}  {d:.3e}")
if args.tolerance is not None:
    over = [n for d, n in rows if not d <= args.tolerance]
    if over:
        problems.append(f"{len(over)} arrays differ by more than {args.tolerance:g}: " + ", ".join(over[:5]))
    else:
        print(f"all {len(rows)} arrays within {args.tolerance:g}")
for p in problems:
    print("compare_npz: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
