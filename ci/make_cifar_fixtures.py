#!/usr/bin/env python3
"""Writes small archives in the official CIFAR-10 binary layout (synthetic pixels,
never CIFAR data) for the reader tests, under Fixtures/cifar/:
- tiny-official-layout.tar.gz: cifar-10-batches-bin/data_batch_1..5.bin with 3 records
  each, test_batch.bin with 4, batches.meta.txt; record i of batch b has label
  (b * 3 + i) % 10 and pixel j = (b * 7 + i * 3 + j) % 256 (the test recomputes them);
- truncated.tar.gz: the same archive cut in the middle;
- missing-batch.tar.gz: data_batch_4.bin left out;
- bad-record.tar.gz: data_batch_2.bin one byte short of whole records;
- bad-label.tar.gz: a record with label 12.

Run from the repository root:  python3 ci/make_cifar_fixtures.py
"""
import gzip
import io
import os
import tarfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "cifar")
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def batch(b, n, label_override=None):
    out = bytearray()
    for i in range(n):
        label = (b * 3 + i) % 10 if label_override is None else label_override
        out.append(label)
        out += bytes((b * 7 + i * 3 + j) % 256 for j in range(3072))
    return bytes(out)


def archive(path, files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in files:
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tf.addfile(info, io.BytesIO(data))
    raw = gzip.compress(buf.getvalue(), mtime=0)
    with open(path, "wb") as f:
        f.write(raw)
    return raw


def main():
    os.makedirs(OUT, exist_ok=True)
    files = [("batches.meta.txt", ("\n".join(CLASSES) + "\n\n").encode())]
    files += [("data_batch_%d.bin" % b, batch(b, 3)) for b in range(1, 6)]
    files += [("test_batch.bin", batch(6, 4))]
    raw = archive(os.path.join(OUT, "tiny-official-layout.tar.gz"), files)
    with open(os.path.join(OUT, "truncated.tar.gz"), "wb") as f:
        f.write(raw[: len(raw) // 2])
    archive(os.path.join(OUT, "missing-batch.tar.gz"), [x for x in files if x[0] != "data_batch_4.bin"])
    archive(os.path.join(OUT, "bad-record.tar.gz"), [(n, d[:-1] if n == "data_batch_2.bin" else d) for n, d in files])
    archive(os.path.join(OUT, "bad-label.tar.gz"), [(n, batch(3, 3, 12) if n == "data_batch_3.bin" else d) for n, d in files])


if __name__ == "__main__":
    main()
