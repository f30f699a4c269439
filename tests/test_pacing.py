"""vscbench.pacing on its own: headers, the budget arithmetic, and the limiter against the
loopback's rate-limit logic on a fake clock (looptime), so the figures are exact."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable
from typing import Any

import looptime
import pytest
from hypothesis import given
from hypothesis import strategies as st
from loopback_limits import ProviderLimits

from vscbench.pacing import (
    Demand,
    Limiter,
    RateLimits,
    TokenEstimate,
    backoff,
    estimate_prompt_tokens,
    format_duration,
    image_tokens,
    limiter_for,
    parse_duration,
    parse_rate_limits,
    parse_retry_after,
    rate_report,
    redact_url,
    snapshot,
)

# --- headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5", 0.5)],
)
def test_openai_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "-1s", "1x", "5s garbage", "nan", "inf", "1s-2s"])
def test_garbled_durations_are_ignored(text: str) -> None:
    assert parse_duration(text) is None


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_durations_round_trip(seconds: float) -> None:
    parsed = parse_duration(format_duration(seconds))
    assert parsed is not None and parsed == pytest.approx(seconds, abs=1e-3, rel=1e-6)


@given(st.dictionaries(st.sampled_from(HEADER_NAMES := [
    "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens", "retry-after", "retry-after-ms",
]), st.text(max_size=30)))  # fmt: skip
def test_any_header_values_parse_without_error(headers: dict[str, str]) -> None:
    limits = parse_rate_limits(headers)
    for value in vars(limits).values():
        assert value is None or (math.isfinite(value) and value >= 0)


def test_rate_limit_headers_any_case() -> None:
    limits = parse_rate_limits(
        {
            "X-RateLimit-Limit-Requests": "1200",
            "x-ratelimit-remaining-requests": "17",
            "x-ratelimit-reset-requests": "150ms",
            "x-ratelimit-limit-tokens": "90000",
            "x-ratelimit-remaining-tokens": "85000",
            "x-ratelimit-reset-tokens": "3.3s",
            "Retry-After": "2",
            "retry-after-ms": "250",
        }
    )
    assert limits == RateLimits(1200, 17, 0.15, 90000, 85000, 3.3, 0.25)
    assert limits.known


def test_retry_after_seconds_and_date() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0  # past
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


# --- token estimates -------------------------------------------------------------------


def test_image_tokens_follow_openais_tiles() -> None:
    assert image_tokens(64, 64) == 85 + 170  # one tile
    assert image_tokens(1024, 1024) == 85 + 170 * 4  # scaled to 768x768: 2x2 tiles
    assert image_tokens(4096, 2048) == 85 + 170 * 6  # to 2048x1024, then 1536x768: 3x2


def test_estimate_is_corrected_by_usage() -> None:
    raw = estimate_prompt_tokens(["x" * 400], [])  # 100 + 4 framing
    assert raw == 104
    estimate = TokenEstimate()
    assert estimate.cost(raw, 50) == 154
    estimate.learn(raw, prompt_tokens=52, completion_tokens=10)  # the provider counts half
    assert estimate.cost(raw, 50) == pytest.approx(52 + 50)
    assert estimate.cost(raw, None) == pytest.approx(52 + 10)  # no max_tokens: mean reply


def test_backoff_is_the_sdks() -> None:
    assert backoff(1, None, 0.0) == 0.5
    assert backoff(3, None, 0.0) == 2.0
    assert backoff(10, None, 0.0) == 8.0
    assert backoff(2, None, 0.999) == pytest.approx(0.75, abs=0.01)
    assert backoff(1, 3.0, 0.5) == 3.0  # the server's word
    assert backoff(1, 600.0, 0.0) == 0.5  # but not an absurd one


# --- the limiter on a fake clock ----------------------------------------------------------


def test_flags_pace_from_the_first_request() -> None:
    clock = [100.0]
    limiter = Limiter("x", rpm=600, clock=lambda: clock[0])
    starts = []
    for _ in range(5):
        wait = limiter.delay(0, clock[0])
        clock[0] += wait
        limiter.start(Demand(), clock[0])
        starts.append(clock[0])
    assert [round(b - a, 6) for a, b in itertools.pairwise(starts)] == [0.1] * 4


def test_tokens_flag_paces_by_estimated_cost() -> None:
    clock = [0.0]
    limiter = Limiter("x", tpm=6000, clock=lambda: clock[0])  # 100 tokens/s
    demand = Demand(46.0, max_tokens=4)  # 50 tokens per request
    limiter.start(demand, 0.0)
    assert limiter.delay(limiter.cost(Demand(46.0, 4)), 0.0) == pytest.approx(0.5)


def test_429s_cut_the_rate_once_per_round_and_pause() -> None:
    limiter = Limiter("x", rpm=1200, clock=lambda: 0.0)
    tickets = [limiter.start(Demand(), t) for t in (0.0, 0.0, 0.0)]
    refused = RateLimits(1200, 0, 0.05, retry_after=0.05)
    limiter.finish(tickets[0], refused, rejected=True, now=0.01)
    limiter.finish(tickets[1], refused, rejected=True, now=0.01)  # same round: no second cut
    assert limiter.requests.rate == pytest.approx(20 * 0.7)
    assert limiter.paused_until == pytest.approx(0.06)
    assert limiter.stats(0.01).rate_limited == 2
    late = limiter.start(Demand(), 0.5)
    limiter.finish(late, refused, rejected=True, now=0.6)  # sent after the cut: cut again
    assert limiter.requests.rate == pytest.approx(20 * 0.7 * 0.7)


def test_unexplained_429_cuts_requests_in_flight() -> None:
    limiter = Limiter("x", clock=lambda: 0.0)
    tickets = [limiter.start(Demand(), 0.0) for _ in range(10)]
    limiter.finish(tickets[0], RateLimits(1200, 500, 0.0), rejected=True, now=0.1)
    assert limiter.window == 7  # room in the budget: too many in flight


def test_limiter_is_shared_per_url_and_key_and_keeps_no_key() -> None:
    first = limiter_for("http://u:p@example.test:9/v1/", "sk-secret-1")
    assert limiter_for("http://example.test:9/v1", "sk-secret-1") is first
    assert limiter_for("http://example.test:9/v1", "sk-secret-2") is not first
    assert first.name == "http://example.test:9/v1" == redact_url("http://u:p@example.test:9/v1/")
    assert "sk-secret" not in repr(vars(first))


def _simulate(
    limits_args: dict[str, Any],
    clients: int = 1,
    pairs: int = 300,
    connections: int = 16,
    latency: float = 0.1,
    rpm: float | None = None,
    tokens: Callable[[int], float] = lambda i: 0.0,
) -> tuple[float, int, int]:
    """``clients`` limiters sending ``pairs`` each to one loopback bucket on a fake clock;
    returns (time taken, 429s, requests)."""
    loop = looptime.new_event_loop(start=0)
    limits = ProviderLimits(clock=loop.time, **limits_args)
    refused = [0]

    async def client() -> None:
        limiter = Limiter("sim", rpm=rpm, clock=loop.time)
        gate = asyncio.Semaphore(connections)

        async def one(i: int) -> None:
            async with gate:
                first = False
                while True:
                    ticket = await limiter.acquire(Demand(tokens(i)), first=first)
                    await asyncio.sleep(0.001)
                    refusal, headers = limits.admit(tokens(i))
                    if refusal:
                        refused[0] += 1
                        await asyncio.sleep(0.001)
                        limiter.finish(ticket, parse_rate_limits(headers), rejected=True)
                        first = True
                        continue
                    await asyncio.sleep(latency)
                    limiter.finish(ticket, parse_rate_limits(headers))
                    return

        await asyncio.gather(*(one(i) for i in range(pairs)))

    async def main() -> float:
        await asyncio.gather(*(client() for _ in range(clients)))
        return loop.time()

    try:
        took = loop.run_until_complete(main())
    finally:
        loop.close()
    return took, refused[0], limits.admitted + limits.rejected


@pytest.mark.parametrize(
    ("limits", "clients", "implied"),
    [
        ({"rpm": 1200}, 1, 300 / 20),
        ({"rpm": 600}, 1, 300 / 10),
        ({"rpm": 1200, "other_rpm": 600}, 1, 300 / 10),  # the headers promise twice this
        ({"rpm": 1200}, 3, 900 / 20),
    ],
)
def test_near_the_limits_speed_with_few_429s(
    limits: dict[str, Any], clients: int, implied: float
) -> None:
    took, refused, requests = _simulate(limits, clients)
    assert took <= 1.15 * implied
    assert refused <= 0.05 * requests


def test_tokens_limit_from_headers() -> None:
    took, refused, requests = _simulate(
        {"rpm": 60000, "tpm": 60000}, pairs=100, tokens=lambda i: 80 + 10 * (i % 5)
    )
    implied = sum(80 + 10 * (i % 5) for i in range(100)) / 1000
    assert took <= 1.15 * implied and refused <= 0.05 * requests


def test_correct_rpm_flag_means_no_429s_at_all() -> None:
    _, refused, _ = _simulate({"rpm": 600}, rpm=600, pairs=100)
    assert refused == 0


def test_rate_report_counts_the_difference() -> None:
    before = snapshot()
    limiter = limiter_for("http://report.test/v1", "k")
    ticket = limiter.start(Demand(), limiter.clock())
    limiter.finish(ticket, RateLimits(1200, 0, 0.0), rejected=True)
    ticket = limiter.start(Demand(), limiter.clock())
    limiter.finish(ticket, RateLimits(1200, 5, 0.0), usage=(10, 2))
    report = rate_report(before, snapshot())
    assert report is not None
    assert (report["requests"], report["rate_limited"], report["rate_limited_share"]) == (
        2,
        1,
        0.5,
    )
    endpoint = report["endpoints"]["http://report.test/v1"]
    assert endpoint["rpm_limit"] == 1200 and endpoint["limit_source"] == "headers"
    assert rate_report(snapshot(), snapshot()) is None
