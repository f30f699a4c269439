"""Throughput of a full VSCBench run against a loopback server with fixed latency.

Sends all 4,050 requests (1,800 image-centric, 2,250 text-centric, defective rows
included; ``--split image`` for the 1,800 only) to a fake OpenAI-compatible server in
another process, and compares ``vscbench run`` with a bare ``openai.AsyncOpenAI`` loop
that sends the very same requests (prompts and base64 images): the floor for any Python
client on this machine. Two figures per round:

* **whole process**: ``vscbench run`` as a user types it, and the bare loop as a script
  of its own that reads the sheets (``load_dataset``) and sends; both timed from process
  start to exit, so start-up, imports and sheet reading count on both sides;
* **in process**: ``vscbench.run`` against the bare loop alone, without its start-up and
  sheet reading (the stricter figure).

The run's time includes judging, writing ``samples.jsonl``, ``metrics.json`` and the
inspect log. Rounds alternate which side goes first.

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
from collections.abc import Callable
from functools import partial
from pathlib import Path

from vscbench.dataset import Selection, load_dataset
from vscbench.engine import RunConfig, run

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # test fixtures: the synthetic data directory
from fixtures import synthetic_data_dir  # noqa: E402

LOOPBACK = [sys.executable, str(REPO / "tests" / "loopback.py")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(latency: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [*LOOPBACK, "--port", str(port), "--latency", str(latency)], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "listening on ..."
    return proc, f"http://127.0.0.1:{port}/v1"


def requests_of(data_dir: Path, splits: str) -> list[tuple[str, Path | None]]:
    selection = Selection(splits=tuple(splits.split(",")))
    dataset = load_dataset(data_dir, selection, include_defective=True)
    return [(i.prompt, dataset.images[i.id]) for i in dataset.items]


def user_content(prompt: str, image: Path | None) -> object:
    """A user message's content as the OpenAI chat API takes it: the text, after the
    image as a base64 data URL when there is one (what vscbench sends, built by hand)."""
    if image is None:
        return prompt
    data = base64.b64encode(image.read_bytes()).decode("ascii")
    return [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
        {"type": "text", "text": prompt},
    ]


async def bare_sdk(
    base_url: str, requests: list[tuple[str, Path | None]], connections: int
) -> float:
    """The same requests, one ``chat.completions.create`` each, no bookkeeping at all."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="bench", base_url=base_url)
    gate = asyncio.Semaphore(connections)

    async def one(prompt: str, image: Path | None) -> None:
        content = user_content(prompt, image)
        async with gate:
            await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": content}]
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(p, i) for p, i in requests))
    return time.perf_counter() - start


def timed_process(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def alternate(index: int, ours: Callable[[], float], bare: Callable[[], float]) -> tuple:
    """Both timings, the first going first in even rounds, so neither always meets a
    warmer server."""
    if index % 2 == 0:
        return ours(), bare()
    bare_wall = bare()
    return ours(), bare_wall


def summary(name: str, walls: list[tuple[float, float]], ideal: float) -> None:
    for index, (ours, bare) in enumerate(walls, 1):
        print(
            f"  round {index}: vscbench run {ours:.2f} s (x{ours / ideal:.2f} ideal), "
            f"bare openai SDK, same requests {bare:.2f} s (x{bare / ideal:.2f}): "
            f"ratio {ours / bare:.2f}"
        )
    ratios = sorted(ours / bare for ours, bare in walls)
    print(
        f"{name}: vscbench / bare SDK median {statistics.median(ratios):.2f} "
        f"(range {ratios[0]:.2f}-{ratios[-1]:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="image,text", help="image, text or both")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3, help="rounds, order alternating")
    parser.add_argument("--sheets", type=Path, default=REPO.parent / "shared" / "data" / "vscbench")
    parser.add_argument("--bare-process", metavar="BASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_process:  # the bare loop as a process of its own (whole-process figure)
        requests = requests_of(args.data_dir, args.split)
        asyncio.run(bare_sdk(args.bare_process, requests, args.connections))
        return

    in_process: list[tuple[float, float]] = []
    whole: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        synthetic_data_dir(args.sheets, data_dir, size=(64, 64))
        # rendering is data preparation, not request throughput: do it first
        requests = requests_of(data_dir, args.split)
        server, base_url = start_server(args.latency)
        common = ["--base-url", base_url, "--data-dir", str(data_dir), "--split", args.split]
        common += ["--max-connections", str(args.connections)]
        try:
            config = RunConfig(
                model="openai-api/bench/vlm",
                base_url=base_url,
                data_dir=str(data_dir),
                splits=tuple(args.split.split(",")),
                include_defective=True,
                max_connections=args.connections,
            )

            def timed_run(out: Path) -> float:
                start = time.perf_counter()
                result = run(config, out)
                wall = time.perf_counter() - start
                assert result.metrics["counts"]["records"] == len(requests)
                assert list((out / "logs").glob("*.json"))
                return wall

            def bare_here() -> float:
                return asyncio.run(bare_sdk(base_url, requests, args.connections))

            for index in range(args.repeat):
                cli = [sys.executable, "-m", "vscbench", "run", "--model", "openai-api/bench/vlm"]
                cli += [*common, "--include-defective", "--out", f"{tmp}/cli{index}"]
                bare = [sys.executable, __file__, "--bare-process", base_url, "--split", args.split]
                bare += ["--data-dir", str(data_dir), "--connections", str(args.connections)]
                whole.append(
                    alternate(index, partial(timed_process, cli), partial(timed_process, bare))
                )
                in_process.append(
                    alternate(index, partial(timed_run, Path(tmp) / f"run{index}"), bare_here)
                )
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
    summary("whole process (start-up and sheet reading on both sides)", whole, ideal)
    summary("in process (the bare loop without its start-up)", in_process, ideal)


if __name__ == "__main__":
    main()
