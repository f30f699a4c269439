"""Rate limits for the loopback server, enforced the way OpenAI's API enforces them.

Requests per minute and tokens per minute are each a bucket refilled continuously at
the limit over 60 per second. A bucket holds ``window`` seconds of its rate (OpenAI
enforces a per-minute limit over shorter periods: a minute's requests sent at once are
refused), and starts full. Every answer carries ``x-ratelimit-limit-requests``,
``x-ratelimit-remaining-requests`` and ``x-ratelimit-reset-requests`` (and the
``-tokens`` three when a tokens limit is set): the limit per minute, what was left
after admitting this request, and the time until the bucket is full again. A request
beyond a limit is answered at once with 429, ``Retry-After`` (whole seconds) and
``retry-after-ms``, and uses nothing.

A request's tokens are its prompt's (:func:`prompt_tokens`, the server's own count,
also what its answers report as usage) plus its ``max_tokens``, charged at admission
as OpenAI's limiter does. A request larger than a bucket passes when the bucket is
full, and leaves it in debt.

``other_rpm`` and ``other_tpm`` simulate a second client of the same key that uses that
much of each limit before anyone else: the headers still announce the full limit, so a
client that trusts them alone sends too fast.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vscbench.pacing import format_duration

#: Tokens the server counts for an image, whatever its size (a flat charge, unlike
#: the tile rule clients estimate with: the usage correction has something to correct).
IMAGE_TOKENS = 85


def prompt_tokens(text: str, images: int) -> int:
    """The server's token count of a prompt: its words, and :data:`IMAGE_TOKENS` per image."""
    return len(text.split()) + IMAGE_TOKENS * images


@dataclass
class _Bucket:
    per_minute: float
    window: float
    other: float  # per minute, used by the simulated second client
    level: float = 0.0
    stamp: float = 0.0

    @property
    def rate(self) -> float:
        """Units per second left for real requests."""
        return (self.per_minute - self.other) / 60

    @property
    def capacity(self) -> float:
        return max(1.0, self.per_minute * self.window / 60)

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + self.rate * max(0.0, now - self.stamp))
        self.stamp = now

    def wait(self, cost: float) -> float:
        """Seconds until ``cost`` fits (0: now)."""
        need = min(cost, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def headers(self, unit: str) -> dict[str, str]:
        return {
            f"x-ratelimit-limit-{unit}": str(int(self.per_minute)),
            f"x-ratelimit-remaining-{unit}": str(max(0, math.floor(self.level))),
            f"x-ratelimit-reset-{unit}": format_duration(
                max(0.0, self.capacity - self.level) / self.rate
            ),
        }


@dataclass
class ProviderLimits:
    """Admission by requests and tokens per minute (see the module docstring)."""

    rpm: float | None = None
    tpm: float | None = None
    window: float = 1.0
    other_rpm: float = 0.0
    other_tpm: float = 0.0
    clock: Callable[[], float] = time.monotonic
    admitted: int = 0
    rejected: int = 0
    admitted_tokens: float = 0.0
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.window <= 0:
            raise ValueError("window must be positive")
        now = self.clock()
        for unit, limit, other in (
            ("requests", self.rpm, self.other_rpm),
            ("tokens", self.tpm, self.other_tpm),
        ):
            if limit is None:
                continue
            if not 0 <= other < limit:
                raise ValueError(f"the other client's {unit} per minute must be in [0, {limit})")
            bucket = _Bucket(limit, self.window, other, stamp=now)
            bucket.level = bucket.capacity
            self._buckets[unit] = bucket

    def admit(self, tokens: float) -> tuple[str | None, dict[str, str]]:
        """Admit a request of ``tokens`` now, or refuse it: (refusal message or ``None``,
        the headers of its answer)."""
        now = self.clock()
        costs = {"requests": 1.0, "tokens": float(tokens)}
        for bucket in self._buckets.values():
            bucket.refill(now)
        waits = {u: b.wait(costs[u]) for u, b in self._buckets.items()}
        unit = max(waits, key=waits.__getitem__, default=None)
        if unit is not None and waits[unit] > 0:
            self.rejected += 1
            headers = self.headers()
            headers["retry-after-ms"] = str(math.ceil(waits[unit] * 1000))
            headers["retry-after"] = str(math.ceil(waits[unit]))
            name = "requests per min (RPM)" if unit == "requests" else "tokens per min (TPM)"
            limit = int(self._buckets[unit].per_minute)
            return (
                f"Rate limit reached on {name}: Limit {limit}, Requested {costs[unit]:g}",
                headers,
            )
        for unit, bucket in self._buckets.items():
            bucket.level -= costs[unit]
        self.admitted += 1
        self.admitted_tokens += tokens
        return None, self.headers()

    def headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for unit, bucket in self._buckets.items():
            out.update(bucket.headers(unit))
        return out
