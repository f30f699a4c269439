"""Throughput of a full VSCBench run against a loopback server with fixed latency.

Sends all 4,050 requests (1,800 image-centric, 2,250 text-centric, defective rows
included; ``--split image`` for the 1,800 only) through ``vscbench.run`` to a fake
OpenAI-compatible server in another process, and prints the wall time as a ratio to the
ideal ``requests × latency / connections`` and to a bare ``openai.AsyncOpenAI`` loop that
sends the very same requests (prompts and base64 images) in the same run: the floor for
any Python client on this machine. The run's time includes judging, writing
``samples.jsonl``, ``metrics.json`` and the inspect log.

    python bench/throughput.py [--split image] [--connections 64] [--latency 0.1] [--sheets DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vscbench.dataset import load_dataset
from vscbench.engine import RunConfig, run

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # test fixtures: the synthetic data directory
from fixtures import synthetic_data_dir  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(latency: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vscbench.loopback", "--port", str(port), "--latency", str(latency)],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "listening on ..."
    return proc, f"http://127.0.0.1:{port}/v1"


async def bare_sdk(
    base_url: str, requests: list[tuple[str, Path | None]], connections: int
) -> float:
    """The same requests, one ``chat.completions.create`` each, no bookkeeping at all."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="bench", base_url=base_url)
    gate = asyncio.Semaphore(connections)

    async def one(prompt: str, image: Path | None) -> None:
        content: object = prompt
        if image is not None:
            data = base64.b64encode(image.read_bytes()).decode("ascii")
            content = [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
                {"type": "text", "text": prompt},
            ]
        async with gate:
            await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": content}]
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(p, i) for p, i in requests))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="image,text", help="image, text or both")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3, help="rounds, order alternating")
    parser.add_argument("--sheets", type=Path, default=REPO.parent / "shared" / "data" / "vscbench")
    args = parser.parse_args()

    walls: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        synthetic_data_dir(args.sheets, data_dir, size=(64, 64))
        server, base_url = start_server(args.latency)
        try:
            config = RunConfig(
                model="openai-api/bench/vlm",
                base_url=base_url,
                data_dir=str(data_dir),
                splits=tuple(args.split.split(",")),
                include_defective=True,
                max_connections=args.connections,
            )
            # rendering is data preparation, not request throughput: do it first
            dataset = load_dataset(data_dir, config.selection(), include_defective=True)
            requests = [(i.prompt, dataset.images[i.id]) for i in dataset.items]

            def timed_run(index: int) -> float:
                start = time.perf_counter()
                result = run(config, Path(tmp) / f"run{index}")
                wall = time.perf_counter() - start
                assert result.metrics["counts"]["records"] == len(requests)
                assert list((Path(tmp) / f"run{index}" / "logs").glob("*.json"))
                return wall

            for index in range(args.repeat):
                # alternate which goes first, so neither always meets a warmer server
                if index % 2 == 0:
                    ours = timed_run(index)
                    bare = asyncio.run(bare_sdk(base_url, requests, args.connections))
                else:
                    bare = asyncio.run(bare_sdk(base_url, requests, args.connections))
                    ours = timed_run(index)
                walls.append((ours, bare))
        finally:
            server.terminate()
            server.wait()

    n = len(requests)
    ideal = n * args.latency / args.connections
    print(
        f"requests {n} ({args.split}); latency {args.latency * 1000:.0f} ms; "
        f"connections {args.connections}; inspect log written every run"
    )
    print(f"ideal (requests x latency / connections): {ideal:.2f} s")
    for index, (ours, bare) in enumerate(walls, 1):
        print(
            f"round {index}: vscbench run {ours:.2f} s (x{ours / ideal:.2f} ideal), "
            f"bare openai SDK, same requests {bare:.2f} s (x{bare / ideal:.2f}): "
            f"ratio {ours / bare:.2f}"
        )
    ratios = sorted(ours / bare for ours, bare in walls)
    print(
        f"vscbench / bare SDK: median {statistics.median(ratios):.2f} "
        f"(range {ratios[0]:.2f}-{ratios[-1]:.2f})"
    )


if __name__ == "__main__":
    main()
