"""Runs against a rate-limited loopback server: ours, inspect's runner, a bare SDK loop.

For each scenario a fresh loopback server (``tests/loopback.py``, another process)
enforces requests and tokens per minute the way OpenAI does: the ``x-ratelimit-*``
headers on every answer, 429 with ``Retry-After`` and ``retry-after-ms`` beyond the
limit, buckets holding one second of the rate, 100 ms
latency. Three clients send the same pairs to it, one after another, each to a fresh
server:

* ``vscbench run`` with default flags (16 connections, 5 retries);
* ``inspect eval vscbench/text_centric`` (or ``image_centric``): inspect's runner with
  its defaults, ``--max-tokens 1024`` as ours sends;
* a bare ``openai.AsyncOpenAI`` loop with the SDK's default retries, 16 at a time.

Printed per client, from the server's own counts: the time from its first request to
its last answer over the limit-implied time (pairs over the requests rate, or the
tokens it was charged over the tokens rate, whichever is longer: the issue's measure),
the share of requests rejected with 429, and pairs that failed. Goals for ours:
0 failed, <= 5% rejected, <= 1.15x. Shared-key scenarios run several clients of one
kind at once against one server; the figures are for all of them together.

    python bench/ratelimit.py [--scenarios txt-1200,shared-2] [--rounds 1] [--sheets DIR]

Limits are scaled so a round of a scenario takes 10-60 s on the synthetic data
(64x64 images): e.g. 1,200 requests/minute on the 450 ``txt`` pairs, as in the issue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # test fixtures: the synthetic data directory
from fixtures import synthetic_data_dir  # noqa: E402
from throughput import user_content  # noqa: E402  (beside this script)

from vscbench.dataset import Selection, load_dataset  # noqa: E402

MODEL = "openai-api/bench/vlm"
KEY_ENV = {"BENCH_API_KEY": "bench-key"}
LATENCY = 0.1
CONNECTIONS = 16
MAX_TOKENS = 1024


@dataclass(frozen=True)
class Scenario:
    name: str
    split: str  # "txt" (450 text-only pairs) or "image" (1,788 image-centric pairs)
    rpm: float
    tpm: float | None = None
    clients: int = 1  # runs sharing the key at once
    other_rpm: float = 0.0  # a simulated second client's share of the requests limit


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("txt-600", "txt", 600),
        Scenario("txt-1200", "txt", 1200),
        Scenario("txt-2400", "txt", 2400),
        Scenario("image-1800", "image", 1800),
        Scenario("image-tpm", "image", 6000, tpm=2_000_000),
        Scenario("shared-2", "txt", 1200, clients=2),
        Scenario("shared-3", "txt", 2400, clients=3),
        Scenario("other-600", "txt", 1200, other_rpm=600),
    )
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A rate-limited loopback server in its own process, for one measurement."""

    def __init__(self, scenario: Scenario) -> None:
        port = free_port()
        command = [sys.executable, str(REPO / "tests" / "loopback.py"), "--port", str(port)]
        command += ["--latency", str(LATENCY), "--rpm", str(scenario.rpm)]
        command += ["--other-rpm", str(scenario.other_rpm)]
        if scenario.tpm:
            command += ["--tpm", str(scenario.tpm)]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # "listening on ..."
        self.url = f"http://127.0.0.1:{port}"

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/stats") as answer:
            return json.loads(answer.read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def ours(base_url: str, data_dir: Path, split: str, out: Path) -> subprocess.Popen[bytes]:
    selection = ["--split", "text", "--variants", "txt"] if split == "txt" else ["--split", "image"]
    command = ["vscbench", "run", "--model", MODEL, "--base-url", base_url]
    return subprocess.Popen(
        [*command, "--data-dir", str(data_dir), *selection, "--out", str(out)],
        env={**os.environ, **KEY_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ours_failed(out: Path) -> int:
    metrics = json.loads((out / "metrics.json").read_text())
    return metrics["counts"]["failed"]


def inspect_runner(base_url: str, data_dir: Path, split: str, out: Path) -> subprocess.Popen[bytes]:
    task = "vscbench/text_centric" if split == "txt" else "vscbench/image_centric"
    options = ["-T", f"data_dir={data_dir}"] + (["-T", "variants=txt"] if split == "txt" else [])
    command = ["inspect", "eval", task, "--model", MODEL, "--model-base-url", base_url, *options]
    return subprocess.Popen(
        [*command, "--max-tokens", str(MAX_TOKENS), "--log-dir", str(out), "--display", "none"],
        env={**os.environ, **KEY_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def inspect_failed(out: Path) -> int:
    from inspect_ai.log import list_eval_logs, read_eval_log

    (info,) = list_eval_logs(str(out))
    log = read_eval_log(info.name)
    return sum(
        1
        for s in log.samples or []
        if s.error is not None or not s.output or s.output.error or not s.output.completion
    )


def bare_script(base_url: str, data_dir: Path, split: str) -> list[str]:
    """A bare SDK loop in its own process (so that shared-key clients run in parallel)."""
    return [sys.executable, __file__, "--bare", base_url, "--data-dir", str(data_dir), split]


def requests_of(data_dir: Path, split: str) -> list[tuple[str, Path | None]]:
    if split == "txt":
        selection = Selection(splits=("text",), variants=("txt",))
    else:
        selection = Selection(splits=("image",))
    dataset = load_dataset(data_dir, selection)
    return [(i.prompt, dataset.images[i.id]) for i in dataset.items]


async def bare_loop(base_url: str, requests: list[tuple[str, Path | None]]) -> int:
    """The same requests through ``chat.completions.create``, SDK default retries; failures."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key=KEY_ENV["BENCH_API_KEY"], base_url=base_url)
    gate = asyncio.Semaphore(CONNECTIONS)
    failed = 0

    async def one(prompt: str, image: Path | None) -> None:
        nonlocal failed
        content = user_content(prompt, image)
        async with gate:
            try:
                await client.chat.completions.create(
                    model="vlm",
                    messages=[{"role": "user", "content": content}],
                    max_tokens=MAX_TOKENS,
                )
            except Exception:
                failed += 1

    await asyncio.gather(*(one(p, i) for p, i in requests))
    return failed


def measure(kind: str, scenario: Scenario, data_dir: Path, tmp: Path, pairs: int) -> dict:
    """One client kind (``scenario.clients`` of them at once) against a fresh server."""
    server = Server(scenario)
    base_url = f"{server.url}/v1"
    try:
        outs = [
            tmp / f"{kind}-{scenario.name}-{time.monotonic_ns()}-{k}"
            for k in range(scenario.clients)
        ]
        if kind == "vscbench run":
            procs = [ours(base_url, data_dir, scenario.split, o) for o in outs]
        elif kind == "inspect eval":
            procs = [inspect_runner(base_url, data_dir, scenario.split, o) for o in outs]
        else:
            procs = [
                subprocess.Popen(
                    [*bare_script(base_url, data_dir, scenario.split), "--failed-to", str(o)],
                    env={**os.environ, **KEY_ENV},
                )
                for o in outs
            ]
        for proc in procs:
            proc.wait(timeout=1800)
        stats = server.stats()
    finally:
        server.stop()
    if kind == "vscbench run":
        failed = sum(ours_failed(o) for o in outs)
    elif kind == "inspect eval":
        failed = sum(inspect_failed(o) for o in outs)
    else:
        failed = sum(int(o.read_text()) for o in outs)
    ok = int(stats["status"].get("200", 0))
    rejected = int(stats["status"].get("429", 0))
    total_pairs = pairs * scenario.clients
    implied = total_pairs / ((scenario.rpm - scenario.other_rpm) / 60)
    if scenario.tpm:
        implied = max(implied, stats["admitted_tokens"] / (scenario.tpm / 60))
    span = stats["last"] - stats["first"]
    return {
        "kind": kind,
        "span": span,
        "implied": implied,
        "ratio": span / implied,
        "rejected": rejected,
        "requests": ok + rejected,
        "failed": failed,
        "pairs": total_pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--clients", default="vscbench run,inspect eval,bare SDK")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--sheets", type=Path, default=REPO.parent / "shared" / "data" / "vscbench")
    parser.add_argument("--bare", help=argparse.SUPPRESS)  # internal: one bare loop
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--failed-to", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("split", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.bare:
        failed = asyncio.run(bare_loop(args.bare, requests_of(args.data_dir, args.split)))
        args.failed_to.write_text(str(failed))
        return

    kinds = args.clients.split(",")
    chosen = [SCENARIOS[name] for name in args.scenarios.split(",")]
    print(
        f"loopback server: {LATENCY * 1000:.0f} ms latency, buckets of 1 s of the rate; "
        f"clients: {CONNECTIONS} connections, max_tokens {MAX_TOKENS}; synthetic 64x64 images"
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data_dir = tmp / "data"
        synthetic_data_dir(args.sheets, data_dir, size=(64, 64))
        pairs = {split: len(requests_of(data_dir, split)) for split in ("txt", "image")}
        for round_ in range(1, args.rounds + 1):
            for scenario in chosen:
                limits = f"{scenario.rpm:,.0f} rpm"
                if scenario.tpm:
                    limits += f", {scenario.tpm:,.0f} tpm"
                if scenario.other_rpm:
                    limits += f", a second client of the key using {scenario.other_rpm:,.0f} rpm"
                print(
                    f"\nround {round_}, {scenario.name}: {pairs[scenario.split]} "
                    f"{scenario.split} pairs x {scenario.clients} client(s); {limits}"
                )
                for kind in kinds:
                    r = measure(kind, scenario, data_dir, tmp, pairs[scenario.split])
                    print(
                        f"  {kind:13s} first request to last answer {r['span']:6.1f} s / "
                        f"limit-implied {r['implied']:5.1f} s = x{r['ratio']:.2f}; "
                        f"429s {r['rejected']:5d} of {r['requests']:5d} requests "
                        f"({100 * r['rejected'] / max(1, r['requests']):4.1f}%); "
                        f"failed pairs {r['failed']} of {r['pairs']}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
