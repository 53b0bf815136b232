#!/usr/bin/env python3
"""Writes a folder dataset of generated RGB PNG images for measuring piade on
many files (docs/BENCHMARKS.md, "Datasets larger than memory"): ROOT/train/good
(N images), ROOT/test/good and ROOT/test/bad (T each). Standard library only
(zlib), so it runs where OpenCV's Python module is not installed. Each image
is a different window of one noise-and-gradient texture, so no two are alike
and PNG cannot compress them to nothing.

usage: make_image_folder.py ROOT N [--size S] [--test T] [--seed K]
"""
import argparse
import os
import random
import struct
import zlib


def png(width, height, rows):
    """A PNG file (8-bit RGB) from `rows`, each width * 3 bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("n", type=int, help="training images")
    parser.add_argument("--size", type=int, default=120)
    parser.add_argument("--test", type=int, default=10, help="normal and anomalous test images, each")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    s = args.size
    stride = 3 * (2 * s)
    # A texture of 2S x 2S pixels plus slack; image i is the S x S window at a
    # seeded offset, shifted by i bytes so every image differs.
    texture = bytes((((x // 3) * 5 + (y * 3)) % 200 + rng.randrange(56)) % 256
                    for y in range(2 * s + 1) for x in range(stride))

    def image(i, bright=False):
        top, left = rng.randrange(s), rng.randrange(s) * 3 + i % 3
        rows = [texture[(top + r) * stride + left:(top + r) * stride + left + 3 * s] for r in range(s)]
        if bright:  # an anomaly: a white square in the middle
            q = s // 4
            rows = [row[:3 * q] + b"\xff" * (3 * 2 * q) + row[3 * 3 * q:] if q <= r < 3 * q else row
                    for r, row in enumerate(rows)]
        return png(s, s, rows)

    for sub, count, bright in (("train/good", args.n, False), ("test/good", args.test, False),
                               ("test/bad", args.test, True)):
        folder = os.path.join(args.root, sub)
        os.makedirs(folder, exist_ok=True)
        for i in range(count):
            with open(os.path.join(folder, f"{i:06d}.png"), "wb") as out:
                out.write(image(i, bright))


if __name__ == "__main__":
    main()
