"""Throughput of a full VSCBench run against a loopback server with fixed latency.

Sends all 4,050 requests (1,800 image-centric, 2,250 text-centric, defective rows
included) through ``vscbench.run`` to a fake OpenAI-compatible server in another process
and prints the wall time as a ratio to the ideal ``requests × latency / connections``.
For context it also times a bare ``openai.AsyncOpenAI`` loop over the same number of
text-only requests in the same run: the floor for any Python client on this machine.

    python bench/throughput.py [--connections 64] [--latency 0.1] [--sheets DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
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


async def bare_sdk(base_url: str, n: int, connections: int) -> float:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="bench", base_url=base_url)
    gate = asyncio.Semaphore(connections)

    async def one(i: int) -> None:
        async with gate:
            await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": f"query {i}"}]
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--sheets", type=Path, default=REPO.parent / "shared" / "data" / "vscbench")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir, run_dir = Path(tmp) / "data", Path(tmp) / "run"
        synthetic_data_dir(args.sheets, data_dir, size=(64, 64))
        server, base_url = start_server(args.latency)
        try:
            config = RunConfig(
                model="openai-api/bench/vlm",
                base_url=base_url,
                data_dir=str(data_dir),
                include_defective=True,
                max_connections=args.connections,
            )
            # rendering is data preparation, not request throughput: do it first
            load_dataset(data_dir, config.selection(), include_defective=True)
            start = time.perf_counter()
            result = run(config, run_dir)
            wall = time.perf_counter() - start
            n = result.metrics["counts"]["records"]
            errors = result.metrics["errors"]
            sdk_wall = asyncio.run(bare_sdk(base_url, n, args.connections))
        finally:
            server.terminate()
            server.wait()

    ideal = n * args.latency / args.connections
    print(
        f"requests {n} (image {result.metrics['image_centric']['overall']['n_unsafe'] * 2}, "
        f"text {n - result.metrics['image_centric']['overall']['n_unsafe'] * 2}); "
        f"latency {args.latency * 1000:.0f} ms; connections {args.connections}; "
        f"errors {errors}"
    )
    print(f"ideal (requests x latency / connections): {ideal:.2f} s")
    print(f"vscbench run:     {wall:.2f} s   ratio to ideal {wall / ideal:.2f}")
    print(
        f"bare openai SDK:  {sdk_wall:.2f} s   ratio to ideal {sdk_wall / ideal:.2f}  "
        "(text-only baseline, same run)"
    )
    print(f"vscbench / bare SDK: {wall / sdk_wall:.2f}")


if __name__ == "__main__":
    main()
