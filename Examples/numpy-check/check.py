#!/usr/bin/env python3
"""A second checker of byol conformance results, in NumPy: the stored bounds, one comparison per element.

Usage: check.py CASES RESULTS [TIER]    (TIER: float64, float32 (default), tf32, fp16, bf16)
Prints one line per output tensor and exits 1 if any fails, with `byol conformance check`'s verdicts (where byol
refuses float32 results at the float64 tier outright, this fails each of their tensors).
"""
import json, sys
import numpy as np

cases, results, tier = sys.argv[1], sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "float32")
failed = 0
for case in json.load(open(f"{cases}/manifest.json"))["cases"]:
    cid = case["id"]
    expected, bounds = np.load(f"{cases}/{cid}/expected.npz"), np.load(f"{cases}/{cid}/bounds.npz")
    try:
        got = dict(np.load(f"{results}/{cid}.npz"))
    except OSError:
        got = {}
    for out in case["outputs"]:
        name, e, r = out["name"], expected[out["name"]], got.pop(out["name"], None)
        if r is None or r.shape != e.shape:
            ok = False
        elif out["dtype"] == "int64":
            ok = r.dtype.kind in "iu" and np.array_equal(r, e)  # any integer dtype, exactly equal
        elif tier == "float64" and r.dtype != np.float64:
            ok = False
        else:
            ok = r.dtype in (np.float32, np.float64) and bool(np.all(np.abs(r.astype(np.float64) - e) <= bounds[f"{name}@{tier}"]))
        failed += not ok
        print(f"{cid} {name} {'PASS' if ok else 'FAIL'}")
    for extra in got:
        failed += 1
        print(f"{cid} {extra} FAIL")
sys.exit(1 if failed else 0)
