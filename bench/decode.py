"""What decoding every image before it is sent costs a run, cold and remembered.

A run decodes each image it will send (``vscbench.images.undecodable``), in threads, and
remembers the files that decoded by path, size and modification time. This writes N
photo-sized JPEGs (noise over a gradient, so they compress like photographs, not like
flat test images), then times, in the same process:

* baseline: ``stat`` of every file, what a run did before (it only checked existence);
* cold: the first run over these files (every image decoded);
* warm: a second run (nothing decoded, the cache read).

    python bench/decode.py [--images 400] [--size 1024x768]

The images are generated here (regression figures, not the upstream photos).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    rng = np.random.default_rng(0)
    width, height = size
    ramp = np.linspace(0, 200, width, dtype=np.float32)[None, :, None]
    paths = []
    for n in range(count):
        noise = rng.normal(0, 25, (height, width, 3)).astype(np.float32)
        pixels = np.clip(ramp + noise + n % 50, 0, 255).astype(np.uint8)
        path = folder / f"photo_{n}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--size", default="1024x768")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")  # a cold cache of our own
        from vscbench.images import undecodable

        paths = make_images(Path(tmp), args.images, (width, height))
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        start = time.perf_counter()
        for path in paths:
            path.stat()
        baseline = time.perf_counter() - start
        timings = {}
        for label in ("cold", "warm"):
            start = time.perf_counter()
            assert not undecodable(paths)
            timings[label] = time.perf_counter() - start
    print(
        f"{args.images} JPEGs {width}x{height} ({size_mb:.0f} MB), {os.cpu_count()} CPU(s)\n"
        f"baseline (stat only): {1000 * baseline:.1f} ms\n"
        f"cold (decode all):    {1000 * timings['cold']:.0f} ms, "
        f"{1000 * timings['cold'] / args.images:.2f} ms per image, "
        f"x{timings['cold'] / baseline:.0f} baseline\n"
        f"warm (remembered):    {1000 * timings['warm']:.1f} ms, "
        f"x{timings['warm'] / baseline:.1f} baseline"
    )


if __name__ == "__main__":
    main()
