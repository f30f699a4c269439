"""Local model throughput by batch size: items per second, as ratios to batch size 1.

    python bench/local [--family llava] [--hidden 64] [--layers 4] [--items 64]
                       [--new-tokens 16] [--device cpu|cuda] [--dtype float32|bfloat16]
    python bench/local --hf-lm PATH.gguf --batch-sizes 1,8,16 --items 32 --new-tokens 32

Builds a randomly initialised VLM from a config (no download), then generates the same
prompts (half with an image) at batch sizes 1, 4 and 16. On a GPU, pass a larger config,
e.g. ``--hidden 2048 --layers 16 --heads 16`` (about 1B parameters). With ``--hf-lm``
it measures a real text-only model instead (``hf-lm/``; e.g. SmolLM2's GGUF, whose path
``python bench/real/smollm2.py`` prints), on text prompts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from vscbench.chat import ask
from vscbench.models.local.lm import LocalLM
from vscbench.models.local.vlm import LocalVLM

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # tiny model builders
from fixtures import build_tiny_vlm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="llava", choices=["llava", "idefics3"])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch-sizes", default="1,4,16")
    parser.add_argument("--hf-lm", help="a text-only model (hub id, directory or .gguf)")
    args = parser.parse_args()
    if args.hf_lm:
        lm = LocalLM(args.hf_lm, dtype=args.dtype, device=args.device)
        requests = [
            ask(f"Question {i}: what is a good way to learn to cook?") for i in range(args.items)
        ]
        measure(lm, requests, args, f"hf-lm {args.hf_lm}")
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = build_tiny_vlm(
            args.family, root / "model", hidden=args.hidden, layers=args.layers, heads=args.heads
        )
        picture = root / "p.png"
        Image.new("RGB", (64, 48), (180, 60, 20)).save(picture)
        vlm = LocalVLM(str(path), dtype=args.dtype, device=args.device)
        params = sum(p.numel() for p in vlm.model.parameters())
        requests = [
            ask(
                f"Question {i}: how should I use the item shown here, step by step?",
                picture if i % 2 else None,
            )
            for i in range(args.items)
        ]
        measure(
            vlm,
            requests,
            args,
            f"{args.family}, {params / 1e6:.1f}M parameters (half the items with an image)",
        )


def measure(model: Any, requests: list[Any], args: argparse.Namespace, label: str) -> None:
    model.generate_batch(requests[:4], args.new_tokens)  # warm-up
    print(
        f"{label}, {args.device} {args.dtype}, {len(requests)} items, {args.new_tokens} new tokens"
    )
    rates: dict[int, float] = {}
    for size in (int(b) for b in args.batch_sizes.split(",")):
        start = time.perf_counter()
        for i in range(0, len(requests), size):
            model.generate_batch(requests[i : i + size], args.new_tokens)
        rates[size] = len(requests) / (time.perf_counter() - start)
    base = rates[min(rates)]
    for size, rate in rates.items():
        print(f"batch {size:>3}: {rate:8.2f} items/s   x{rate / base:.2f}")


if __name__ == "__main__":
    main()
