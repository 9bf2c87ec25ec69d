#!/usr/bin/env python3
"""Writes small archives in the official CIFAR-10 binary layout (synthetic pixels,
never CIFAR data) for the reader tests, under Fixtures/cifar/:
- tiny-official-layout.tar.gz: cifar-10-batches-bin/data_batch_1..5.bin with 3 records
  each, test_batch.bin with 4, batches.meta.txt; record i of batch b has label
  (b * 3 + i) % 10 and pixel j = (b * 7 + i * 3 + j) % 256 (the test recomputes them);
- truncated.tar.gz: the same archive cut in the middle;
- missing-batch.tar.gz: data_batch_4.bin left out;
- bad-record.tar.gz: data_batch_2.bin one byte short of whole records;
- bad-label.tar.gz: a record with label 12;
- corrupt-data.tar.gz: one bit flipped inside the deflate stream where it still decodes,
  to different bytes (libarchive does not check the gzip CRC; the reader must);
- bad-crc.tar.gz: the intact stream with a wrong CRC-32 in the gzip trailer;
- oversized-member.tar.gz: data_batch_1.bin with 10001 records (zeros, 30 KB compressed),
  one more than an official batch;
- symlink-member.tar.gz: data_batch_2.bin as a symbolic link to data_batch_1.bin.

Run from the repository root:  python3 ci/make_cifar_fixtures.py
"""
import gzip
import io
import os
import tarfile
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "cifar")
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def batch(b, n, label_override=None):
    out = bytearray()
    for i in range(n):
        label = (b * 3 + i) % 10 if label_override is None else label_override
        out.append(label)
        out += bytes((b * 7 + i * 3 + j) % 256 for j in range(3072))
    return bytes(out)


def archive(path, files, links=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in files:
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tf.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.type, info.linkname, info.mtime, info.mode = tarfile.SYMTYPE, target, 0, 0o777
            tf.addfile(info)
    raw = gzip.compress(buf.getvalue(), mtime=0)
    with open(path, "wb") as f:
        f.write(raw)
    return raw


def flip_that_still_decodes(raw):
    """The first bit flip, from the middle of the deflate stream on, after which the
    stream still inflates completely to the same length but other bytes."""
    good = zlib.decompress(raw, 31)
    for offset in range(len(raw) // 2, len(raw) - 8):
        for bit in range(8):
            b = bytearray(raw)
            b[offset] ^= 1 << bit
            d = zlib.decompressobj(-15)
            try:
                out = d.decompress(bytes(b[10:-8])) + d.flush()
            except zlib.error:
                continue
            if d.eof and len(out) == len(good) and out != good:
                return bytes(b)
    raise SystemExit("no decodable bit flip found")


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
    with open(os.path.join(OUT, "corrupt-data.tar.gz"), "wb") as f:
        f.write(flip_that_still_decodes(raw))
    with open(os.path.join(OUT, "bad-crc.tar.gz"), "wb") as f:
        f.write(raw[:-8] + bytes([raw[-8] ^ 0xFF]) + raw[-7:])
    archive(os.path.join(OUT, "oversized-member.tar.gz"),
            [(n, bytes(10001 * 3073) if n == "data_batch_1.bin" else d) for n, d in files])
    archive(os.path.join(OUT, "symlink-member.tar.gz"), [x for x in files if x[0] != "data_batch_2.bin"],
            links=[("data_batch_2.bin", "data_batch_1.bin")])


if __name__ == "__main__":
    main()
