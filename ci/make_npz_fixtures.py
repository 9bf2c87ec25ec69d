#!/usr/bin/env python3
"""Writes the NumPy I/O fixtures under Fixtures/npz/ with numpy itself.

Every array's values follow a formula that the Swift tests recompute on their own
(value i / 7 for float arrays, i * 3 - 5 for integers, i % 251 for bytes, i being the
flat C-order index), so a test compares against numpy's bytes, not against our writer.

Run from the repository root:  python3 ci/make_npz_fixtures.py
(needs numpy; the files are committed, CI does not run this).
"""
import io
import os
import zipfile

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "Fixtures", "npz")


def f(shape, dtype):
    n = int(np.prod(shape))
    return (np.arange(n, dtype=np.float64) / 7).astype(dtype).reshape(shape)


def i(shape, dtype):
    n = int(np.prod(shape))
    return (np.arange(n, dtype=np.int64) * 3 - 5).astype(dtype).reshape(shape)


def arrays():
    return {
        "f8": f((2, 3), "<f8"),
        "f4": f((4,), "<f4"),
        "i8": i((3, 2, 2), "<i8"),
        "u1": (np.arange(300) % 251).astype("|u1").reshape(3, 100),
        "scalar_f8": np.array(2.5),
        "scalar_i8": np.array(7, dtype=np.int64),
        "empty": np.zeros((0, 3)),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    np.savez(os.path.join(OUT, "savez.npz"), **arrays())
    np.savez_compressed(os.path.join(OUT, "savez_compressed.npz"), **arrays())

    # Header variants written member by member: format 2.0, Fortran order, big-endian,
    # and narrower integer dtypes that readers widen.
    path = os.path.join(OUT, "variants.npz")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        def put(name, arr, version=None):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
            z.writestr(name + ".npy", buf.getvalue())
        put("v2_f8", f((2, 3), "<f8"), version=(2, 0))
        put("fortran_f8", np.asfortranarray(f((2, 3, 4), "<f8")))
        put("big_endian_f8", f((5,), ">f8"))
        put("i4", i((4,), "<i4"))

    # A boolean member: refused as an unknown dtype (contract §1.1; it was read as bytes).
    np.savez(os.path.join(OUT, "bool.npz"), b=np.array([True, False, True]))

    # One member whose dtype the project does not read (complex).
    np.savez(os.path.join(OUT, "unsupported_dtype.npz"), c=np.zeros(2, dtype=np.complex128))
    # A state-like file with a NaN, for "NaN where a finite number is required".
    np.savez(os.path.join(OUT, "nan.npz"), x=np.array([1.0, np.nan, 3.0]))


if __name__ == "__main__":
    main()
