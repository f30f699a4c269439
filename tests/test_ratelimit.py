"""Runs against loopback servers that enforce rate limits as OpenAI does (real HTTP, the
real openai SDK). No wall times are asserted (bench/ratelimit.py measures speed); the
timeouts only guard against hangs."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import API_KEY_VAR, flags
from loopback import FakeOpenAIServer
from loopback_limits import ProviderLimits
from typer.testing import CliRunner

from vscbench.cli import app

MODEL = "openai-api/fake/vlm"


def _run(url: str, data_dir: Path, out: Path, *extra: str) -> object:
    return CliRunner().invoke(
        app,
        [
            "run",
            *flags(model=MODEL, base_url=url, data_dir=data_dir, out=out),
            *flags(split="text", variants="txt", limit=60),
            *extra,
        ],
    )


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_rate_limited_run_finishes_with_every_pair_and_reports_the_rate(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    with FakeOpenAIServer(latency=0.05, limits=ProviderLimits(rpm=600)) as srv:
        result = _run(srv.base_url, full_data_dir, tmp_path / "run")
        statuses = [r.status for r in srv.requests]
    assert result.exit_code == 0, result.output
    metrics = _metrics(tmp_path / "run")
    assert metrics["counts"]["failed"] == 0 and metrics["counts"]["scored"] == 60
    refused = statuses.count(429)
    assert statuses.count(200) == 60 and refused <= 3  # <= 5% of what was sent
    rate = metrics["rate"]
    assert rate["requests"] == len(statuses) and rate["rate_limited"] == refused
    assert rate["waited_s"] > 0 and rate["span_s"] > 0 and rate["effective_rpm"] > 0
    endpoint = rate["endpoints"][srv.base_url]
    assert (endpoint["rpm_limit"], endpoint["limit_source"]) == (600, "headers")
    # the summary says it, and the progress line (a line per 10% off a terminal) showed it
    assert f"requests: {len(statuses)}" in result.output
    assert f"{refused} rejected with 429" in result.output
    assert "rate-limited: " in result.output and " waiting" in result.output


def test_429s_do_not_use_up_retries(full_data_dir: Path, tmp_path: Path, api_key: str) -> None:
    """A pair refused more often than --max-retries allows still gets its answer;
    server errors still count."""
    refused_texts: set[str] = set()
    dead: set[str] = set()

    def fault(text: str, image_sha: str | None, attempt: int):
        if len(refused_texts) < 5 and text not in dead:
            refused_texts.add(text)
        if not dead and text not in refused_texts:
            dead.add(text)
        if text in refused_texts and attempt <= 4:
            return 429, {"retry-after-ms": "30"}
        if text in dead:
            return 500, {"retry-after-ms": "10"}
        return None

    with FakeOpenAIServer(fault=fault) as srv:
        result = _run(srv.base_url, full_data_dir, tmp_path / "run", "--max-retries", "1")
        attempts = {t: sum(r.text == t for r in srv.requests) for t in refused_texts | dead}
    assert result.exit_code == 3, result.output  # the dead pair, not the refused ones
    assert "1 of 60 pairs failed: HTTP 500 (1)" in result.output
    for text in refused_texts:
        assert attempts[text] == 5  # four 429s and the answer, with one retry allowed
    (text,) = dead
    assert attempts[text] == 2  # the first try and its one retry
    assert _metrics(tmp_path / "run")["rate"]["rate_limited"] == 20


def test_rpm_flag_paces_from_the_first_request(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    with FakeOpenAIServer(latency=0.3, limits=ProviderLimits(rpm=300)) as srv:
        result = _run(srv.base_url, full_data_dir, tmp_path / "run", "--rpm", "300")
        times = sorted(r.time - 0.3 for r in srv.requests)  # recorded at the answer
        statuses = [r.status for r in srv.requests]
    assert result.exit_code == 0, result.output
    assert statuses.count(429) == 0 and len(statuses) == 60
    # before any answer could say anything, the first requests were already 0.2 s apart
    gaps = [b - a for a, b in itertools.pairwise(times[:4])]
    assert all(gap > 0.15 for gap in gaps), gaps
    assert _metrics(tmp_path / "run")["rate"]["endpoints"][srv.base_url]["limit_source"] == (
        "flags"
    )


def test_llm_judge_on_the_same_key_shares_the_limiter(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    with FakeOpenAIServer(reply=lambda t, i: "0_SAFE", limits=ProviderLimits(rpm=1200)) as srv:
        result = _run(
            srv.base_url,
            full_data_dir,
            tmp_path / "run",
            *flags(judge="llm-compact:openai-api/fake/judge", judge_base_url=srv.base_url),
            "--no-judge-cache",
        )
        statuses = [r.status for r in srv.requests]
    assert result.exit_code == 0, result.output
    assert statuses.count(200) == 120 and statuses.count(429) <= 6
    endpoints = _metrics(tmp_path / "run")["rate"]["endpoints"]
    assert list(endpoints) == [srv.base_url]  # one limiter for the model and its judge
    assert endpoints[srv.base_url]["requests"] == len(statuses)


def test_two_runs_sharing_a_key_both_finish(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    env = {**os.environ, API_KEY_VAR: api_key}
    with FakeOpenAIServer(latency=0.05, limits=ProviderLimits(rpm=1200)) as srv:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "vscbench",
                    "run",
                    *flags(model=MODEL, base_url=srv.base_url, data_dir=full_data_dir),
                    *flags(split="text", variants="txt", limit=100, out=tmp_path / f"run{k}"),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for k in range(2)
        ]
        errors = [p.communicate(timeout=240)[1] for p in procs]
        statuses = [r.status for r in srv.requests]
    assert [p.returncode for p in procs] == [0, 0], errors
    for k in range(2):
        assert _metrics(tmp_path / f"run{k}")["counts"]["failed"] == 0
    assert statuses.count(200) == 200 and statuses.count(429) <= 20


def test_used_up_quota_stops_the_run(full_data_dir: Path, tmp_path: Path, api_key: str) -> None:
    """OpenAI's insufficient_quota is a 429 that waiting never cures: stop, say so."""
    from aiohttp import web

    class QuotaServer(FakeOpenAIServer):
        async def _chat(self, request: object) -> object:
            return web.json_response(
                {
                    "error": {
                        "message": "You exceeded your current quota",
                        "code": "insufficient_quota",
                    }
                },
                status=429,
            )

    with QuotaServer() as srv:
        result = _run(srv.base_url, full_data_dir, tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert "insufficient_quota" in result.output and "billing" in result.output
