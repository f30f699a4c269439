"""A real OpenAI-compatible server in the loop: llama-cpp-python serving SmolLM2's GGUF.

Starts ``python -m llama_cpp.server`` (a server nobody here wrote) on loopback with the
same GGUF file as ``hf-lm/``, runs ``vscbench run --model openai-api/llamacpp/smollm2``
against it on the first N ``txt`` pairs, then the same pairs in-process through
``hf-lm/`` (batched), and prints items per second for both.

    pip install "llama-cpp-python[server]"     # builds from source: ~10 minutes on 2 cores
    python bench/real/server.py [--pairs 48] [--max-tokens 32] [--batch-size 16]

Not part of CI (the build is long); the engine's OpenAI-compatible path is tested in CI
against the loopback server in ``tests/loopback.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from vscbench.engine import RunConfig, run

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from smollm2 import gguf_path  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"llama_cpp.server did not answer at {url} within {seconds:.0f} s")


def timed(config: RunConfig, out: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    result = run(config, out)
    return time.perf_counter() - start, result.metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=48)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--data-dir", default=None, help="default: $VSCBENCH_DATA")
    args = parser.parse_args()
    # only look: importing llama_cpp here would load its threading runtime beside torch's
    if importlib.util.find_spec("llama_cpp") is None:
        raise SystemExit('needs llama-cpp-python: pip install "llama-cpp-python[server]"')
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    gguf = gguf_path()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    common = {
        "data_dir": args.data_dir,
        "splits": ("text",),
        "variants": ("txt",),
        "limit": args.pairs,
        "max_tokens": args.max_tokens,
        "judges": ("refusal",),
    }
    try:
        wait_ready(url, server)
        with tempfile.TemporaryDirectory() as tmp:
            served, m_served = timed(
                RunConfig(
                    model="openai-api/llamacpp/smollm2", base_url=url, max_connections=4, **common
                ),
                Path(tmp) / "server",
            )
            # load (and de-quantise) before timing, as the server loaded before its run
            from vscbench.models.local.backend import load_local

            load_local(f"hf-lm/{gguf}")
            local, m_local = timed(
                RunConfig(model=f"hf-lm/{gguf}", batch_size=args.batch_size, **common),
                Path(tmp) / "local",
            )
    finally:
        server.terminate()
        server.wait(30)
    for name, wall, metrics in (
        ("llama-cpp-python server (openai-api/)", served, m_served),
        (f"in-process hf-lm/ (batch {args.batch_size})", local, m_local),
    ):
        n = metrics["counts"]["scored"] + metrics["counts"]["failed"]
        print(
            f"{name:<42} {n} pairs in {wall:6.1f} s: {n / wall:5.2f} items/s "
            f"(failed {metrics['counts']['failed']})"
        )


if __name__ == "__main__":
    main()
