"""Pacing requests to a provider's rate limits: read its headers, adapt, wait in turn.

Hosted APIs cap the requests and the tokens a key may use per minute. A client that
sends as fast as its connections allow meets the cap with a storm of HTTP 429s, and
one that retries them with a fixed budget fails pairs after a few seconds. This module
lets a run go at the limit's speed instead, with few rejections and no failures:

* :func:`parse_rate_limits` reads what OpenAI-compatible servers say on every answer
  (``x-ratelimit-limit/remaining/reset-requests`` and ``-tokens``) and on a 429
  (``retry-after-ms``, ``Retry-After``).
* A :class:`Budget` mirrors one of the provider's per-minute buckets (requests or
  tokens) as this process sees it: the limit from the headers or from ``--rpm`` /
  ``--tpm``, and the units available now, re-anchored on the freshest answer's
  ``remaining`` (less what was sent since, plus what refilled since). Other clients of
  the same key are invisible except through that ``remaining`` and through 429s, so the
  rate this process allows itself is adapted by AIMD: cut by :data:`DECREASE` on a 429
  (once per round of requests, as TCP does), grown back by :data:`GROWTH` of the limit
  per second while the provider's bucket shows unused room. No user tuning.
* A :class:`Limiter` holds the two budgets of one provider key, an adaptive cap on
  requests in flight (cut when a 429 is not explained by an empty budget, e.g. a
  concurrency limit), the pause a ``Retry-After`` asks for, and a FIFO of waiting
  requests; a request rejected with 429 goes back to the head of the queue. It is a
  state machine on an injectable clock (exact tests with a fake one) with a thin
  asyncio layer on top.
* :func:`limiter_for` keeps one limiter per (base URL, key) in the process, so a run and
  its LLM judges that call the same provider with the same key share one budget. Only
  a hash of the key is kept.

Nothing here knows the ``openai`` SDK or inspect; :mod:`vscbench.models.pacing_openai` is the
glue for the SDK.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: Multiplicative decrease of the allowed rate (and of the in-flight cap) on a 429.
DECREASE = 0.7
#: Additive increase while the provider shows unused room: this share of the limit per s.
GROWTH = 0.1
#: Unused room in the provider's bucket, as a share of it, that counts as room to grow.
SLACK = 0.1
#: Share of the provider's bucket left unused as a margin for error (below :data:`SLACK`).
RESERVE = 0.05
#: Requests in flight before the provider's first answer says whether it limits anything.
FIRST_ROUND = 4
#: Longest pause a ``Retry-After`` can impose before one request probes again (seconds).
MAX_PAUSE = 600.0
#: Window over which the progress line's pace is measured (seconds).
PACE_WINDOW = 5.0
#: A 429 this recent still marks the limiter as rate-limited in the progress line.
RECENT_429 = 10.0

# --- headers --------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|h|m|s)")


def parse_duration(value: str | None) -> float | None:
    """Seconds in OpenAI's reset format ("1s", "6m0s", "20ms", "1h2m3.5s") or a number.

    Anything else (empty, negative, not finite, trailing text) is ``None``: a header
    a server garbled must not stop a run or pace it to nothing.
    """
    if value is None:
        return None
    text = value.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            return None
        scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
        seconds = sum(float(n) * scale[u] for n, u in parts)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def format_duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms`` below a second, else ``1m2.5s``-style."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    if minutes or hours:
        text = f"{minutes}m{text}"
    return f"{hours}h{text}" if hours else text


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a server asks to wait: ``retry-after-ms``, else ``Retry-After`` (seconds or date)."""
    ms = _number(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000
    raw = headers.get("retry-after")
    seconds = _number(raw)
    if seconds is not None or raw is None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RateLimits:
    """What one answer said about the key's limits; ``None`` where it said nothing.

    Limits are per minute, remaining counts are what the provider had left when it
    admitted the request, resets and ``retry_after`` are seconds.
    """

    limit_requests: float | None = None
    remaining_requests: float | None = None
    reset_requests: float | None = None
    limit_tokens: float | None = None
    remaining_tokens: float | None = None
    reset_tokens: float | None = None
    retry_after: float | None = None

    @property
    def known(self) -> bool:
        """Whether the answer said anything about the requests or tokens budget."""
        return self.remaining_requests is not None or self.remaining_tokens is not None


class _Lower(Mapping[str, str]):
    """Case-insensitive view of a plain mapping (HTTP header names are case-insensitive)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._data = {str(k).lower(): v for k, v in headers.items()}

    def __getitem__(self, key: str) -> str:
        return self._data[key.lower()]

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def parse_rate_limits(headers: Mapping[str, str]) -> RateLimits:
    """The rate-limit headers of one answer (see :class:`RateLimits`)."""
    if isinstance(headers, dict):  # httpx's Headers already ignore case
        headers = _Lower(headers)
    get = headers.get
    return RateLimits(
        _number(get("x-ratelimit-limit-requests")),
        _number(get("x-ratelimit-remaining-requests")),
        parse_duration(get("x-ratelimit-reset-requests")),
        _number(get("x-ratelimit-limit-tokens")),
        _number(get("x-ratelimit-remaining-tokens")),
        parse_duration(get("x-ratelimit-reset-tokens")),
        parse_retry_after(headers),
    )


# --- token estimates --------------------------------------------------------------------


def image_tokens(width: int, height: int) -> int:
    """Tokens of one image by OpenAI's published rule for detail ``auto``/``high``.

    Scaled to fit 2048x2048, then its short side to 768, then 170 tokens per 512-pixel
    tile plus 85. Other providers count otherwise; the usage correction absorbs that.
    """
    if width <= 0 or height <= 0:
        return 85
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    width, height = width * scale, height * scale
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


def estimate_prompt_tokens(texts: Iterable[str], image_sizes: Iterable[tuple[int, int]]) -> int:
    """A provider-independent guess of a chat prompt's tokens: 4 characters a token,
    4 tokens of framing per message, and :func:`image_tokens` per image."""
    text_tokens = sum(math.ceil(len(t) / 4) + 4 for t in texts)
    return text_tokens + sum(image_tokens(w, h) for w, h in image_sizes)


@lru_cache(maxsize=16384)
def _image_size(path: str) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except OSError:  # the request will say what is wrong with it; guess for pacing
        return (512, 512)


def prompt_estimate(texts: Sequence[str], images: Sequence[Any]) -> float:
    """Raw token estimate of a chat prompt: its texts and images (paths or PIL images)."""
    sizes = [
        _image_size(str(i)) if isinstance(i, str | Path) else getattr(i, "size", (512, 512))
        for i in images
    ]
    return float(estimate_prompt_tokens(texts, sizes))


def demand_of(turns: Iterable[Any], max_tokens: int | None) -> Demand:
    """What a conversation (turns with ``text`` and ``image``) will use of a tokens limit;
    its images are sized only if a tokens limit is known."""
    turns = list(turns)
    images = [t.image for t in turns if t.image is not None]
    return Demand(lambda: prompt_estimate([t.text for t in turns], images), max_tokens)


@dataclass
class TokenEstimate:
    """Turns a raw prompt estimate into what the provider will charge, learning from usage.

    The provider's tokenizer differs from 4 characters a token, so the ratio of the
    usage it reports to our raw estimate is tracked (a moving average) and applied.
    The completion is charged at ``max_tokens`` when the request sets it, as OpenAI's
    limiter does at admission, else at the mean completion seen so far.
    """

    ratio: float = 1.0
    completion: float = 0.0
    answers: int = 0

    def cost(self, raw_prompt: float, max_tokens: int | None) -> float:
        completion = self.completion if max_tokens is None else max_tokens
        return raw_prompt * self.ratio + completion

    def learn(self, raw_prompt: float, prompt_tokens: int, completion_tokens: int) -> None:
        weight = 1.0 if self.answers == 0 else 0.2
        self.answers += 1
        if raw_prompt > 0 and prompt_tokens > 0:
            ratio = min(5.0, max(0.2, prompt_tokens / raw_prompt))
            self.ratio += weight * (ratio - self.ratio)
        self.completion += weight * (completion_tokens - self.completion)


# --- one budget -------------------------------------------------------------------------


@dataclass
class Budget:
    """This process's view of one per-minute budget of the provider (requests or tokens).

    ``rate`` (units per second) is what this process allows itself: ``None`` while
    nothing is known (requests go unpaced), the limit once the headers or a flag give
    one, less after 429s. ``level`` is the units it may use now, capped at
    ``capacity`` (the largest burst the provider was seen to allow).
    """

    unit: str
    flag: float | None = None  # units/s the user gave (--rpm, --tpm)
    seen: float | None = None  # units/s the headers gave (the lowest seen)
    rate: float | None = None
    level: float = 0.0
    capacity: float = 1.0
    stamp: float = 0.0
    taken: float = 0.0  # units taken since the start, for re-anchoring
    #: (sent, mark, cost) of recent requests the provider refused: they used nothing
    refused: deque[tuple[float, float, float]] = field(default_factory=deque)
    last_cut: float = -math.inf
    last_grow: float | None = None
    primed: bool = False  # the first request of a newly paced budget goes at once

    @property
    def ceiling(self) -> float | None:
        known = [v for v in (self.flag, self.seen) if v is not None]
        return min(known) if known else None

    @property
    def paced(self) -> bool:
        return self.rate is not None

    def set_flag(self, per_minute: float, now: float) -> None:
        self.flag = per_minute / 60
        self._clamp()
        self.stamp = now

    def _clamp(self) -> None:
        ceiling = self.ceiling
        if ceiling is not None and (self.rate is None or self.rate > ceiling):
            self.rate = ceiling

    def refill(self, now: float) -> None:
        if self.rate is not None and now > self.stamp:
            self.level = min(self.capacity, self.level + self.rate * (now - self.stamp))
        self.stamp = max(self.stamp, now)

    def wait(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` units may be taken (0: now)."""
        if self.rate is None or not self.primed:
            return 0.0
        self.refill(now)
        # keep a little of the provider's bucket unused: the estimate of it errs by what
        # others take and what refills in transit, and a 429 costs a round trip
        reserve = RESERVE * self.capacity if self.seen is not None else 0.0
        need = min(cost + reserve, self.capacity)
        # a shortfall of float noise would set timers that fire without time passing
        return 0.0 if self.level >= need - 1e-6 else (need - self.level) / self.rate

    def take(self, cost: float, now: float) -> float:
        """Take ``cost`` units; returns the mark that :meth:`observe` needs later."""
        self.refill(now)
        if self.rate is not None:  # unpaced, the level means nothing until a limit is known
            if self.primed:
                self.level -= cost
            else:
                self.primed, self.level = True, 0.0
        self.capacity = max(self.capacity, cost)
        self.taken += cost
        return self.taken

    def observe(
        self,
        limit: float | None,
        remaining: float | None,
        sent: float,
        mark: float,
        cost: float,
        now: float,
    ) -> None:
        """Learn from an answer to a request started at ``sent`` (mark from :meth:`take`).

        The answer bounds what is available now: what the provider had left, less what
        this process took since, plus what refilled since. Of that room this process
        claims its share (``rate`` over the limit), since other clients see it too.
        Answers only ever lower ``level`` (the first one sets it): they arrive out of
        order, and the lowest bound is the one to trust. While room is left unused,
        the rate grows back towards the limit.
        """
        if limit is not None and limit > 0:
            per_s = limit / 60
            if self.seen is not None and per_s > self.seen:
                # another model or tier of the key: pace to the stricter limit, anchor on it
                return
            self.seen = per_s
            self._clamp()
        if remaining is None or self.rate is None:
            return
        self.capacity = max(self.capacity, remaining + cost)
        since = self.taken - mark - sum(c for _, m, c in self.refused if m > mark)
        share = self.rate / (self.ceiling or self.rate)
        bound = remaining * share - since + self.rate * max(0.0, now - sent)
        self.refill(now)
        if self.primed:
            self.level = min(self.level, bound)
        else:  # the provider's first word: start from what it has
            self.primed, self.level = True, min(self.capacity, bound)
        if remaining > max(cost, SLACK * self.capacity):  # the provider's bucket is not drained
            self.grow(now)
        else:
            self.last_grow = now

    def refund(self, sent: float, mark: float, cost: float, now: float) -> None:
        """A request was refused (429): it used none of the provider's budget."""
        if self.rate is not None and self.primed:
            self.level = min(self.capacity, self.level + cost)
        self.refused.append((sent, mark, cost))
        while self.refused and self.refused[0][0] < now - 300:  # long answered since
            self.refused.popleft()

    def grow(self, now: float) -> None:
        """Additive increase: :data:`GROWTH` of the limit per second since the last step."""
        if self.rate is None:
            return
        if self.last_grow is not None and now > self.last_grow:
            step = GROWTH * (self.ceiling or self.rate) * (now - self.last_grow)
            self.rate = min(self.ceiling or math.inf, self.rate + step)
        self.last_grow = now

    def cut(self, sent: float, measured: float, now: float) -> bool:
        """Multiplicative decrease on a 429 of a request started at ``sent``.

        Only once per round: a 429 of a request sent before the last cut reflects the
        old rate, not the new one.
        """
        if sent < self.last_cut:
            return False
        self.last_cut = now
        if self.rate is None:
            self.level, self.stamp = 0.0, now
        base = self.rate if self.rate is not None else measured
        floor = (self.ceiling or base) * 0.01
        self.rate = max(floor, DECREASE * base, 1e-6)
        self.refill(now)
        self.level = min(self.level, 0.0)
        self.primed = True
        self.last_grow = now
        return True


# --- statistics -------------------------------------------------------------------------


@dataclass
class PaceStats:
    """What one limiter saw; :meth:`Limiter.stats` adds the time still being waited."""

    requests: int = 0  # requests sent, each attempt counted
    answered: int = 0  # answers that were not a 429
    rate_limited: int = 0  # 429s received
    wait_s: float = 0.0  # seconds during which requests waited for this limiter
    tokens: int = 0  # tokens the provider reported in usage
    first: float | None = None  # first request sent (clock time)
    last: float | None = None  # last answer received (clock time)
    rpm_limit: float | None = None
    tpm_limit: float | None = None
    source: str | None = None  # where the limit came from: flags, headers or 429s


@dataclass
class Demand:
    """What a request will use of the tokens budget: its prompt and its ``max_tokens``.

    ``prompt`` is the raw estimate (:func:`estimate_prompt_tokens`) or a function that
    gives it, called only when a tokens limit is known, at admission (sizing images
    costs time that a run without a tokens limit need not spend).
    """

    prompt: float | Callable[[], float] = 0.0
    max_tokens: int | None = None
    _raw: float | None = None

    def raw(self) -> float:
        if self._raw is None:
            self._raw = float(self.prompt() if callable(self.prompt) else self.prompt)
        return self._raw


@dataclass
class Ticket:
    """One admitted request: what it took, so its answer can be accounted."""

    sent: float
    cost: float
    marks: tuple[float, float]
    demand: Demand
    done: bool = False


@dataclass
class _Waiter:
    demand: Demand
    future: asyncio.Future[Ticket]


# --- the limiter ------------------------------------------------------------------------


class Limiter:
    """Admission of one provider key's requests: budgets, in-flight cap, pause, queue."""

    def __init__(
        self,
        name: str,
        rpm: float | None = None,
        tpm: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.clock = clock
        self.requests = Budget("requests")
        self.tokens = Budget("tokens")
        self.estimate = TokenEstimate()
        # cap on requests in flight (None: no cap); small until the first answer, so
        # that a run does not open with a burst the limits refuse
        self.window: float | None = FIRST_ROUND
        self.blind = True
        self.window_cut = -math.inf
        self.in_flight = 0
        self.paused_until = -math.inf
        self.last_429 = -math.inf
        self._stats = PaceStats()
        self._answers: deque[float] = deque(maxlen=8192)
        self._starts: deque[tuple[float, float]] = deque(maxlen=8192)
        self._queue: deque[_Waiter] = deque()
        self._waiting_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self.configure(rpm, tpm)

    # -- configuration and state ------------------------------------------------------

    def configure(self, rpm: float | None = None, tpm: float | None = None) -> None:
        """The limits a user gave: paced from the first request, never above them."""
        now = self.clock()
        if rpm is not None:
            self.requests.set_flag(rpm, now)
        if tpm is not None:
            self.tokens.set_flag(tpm, now)
        if self.blind and (rpm is not None or tpm is not None):
            self.blind, self.window = False, None  # paced from the start instead

    @property
    def wants_tokens(self) -> bool:
        """Whether token costs matter (a tokens limit is known): only then estimate them."""
        return self.tokens.ceiling is not None

    def limited(self, now: float | None = None) -> bool:
        """Whether the limit is holding requests back now (for the progress line)."""
        now = self.clock() if now is None else now
        return bool(self._queue) or now < self.paused_until or now - self.last_429 < RECENT_429

    def delay(self, cost: float, now: float) -> float:
        """Seconds until a request of ``cost`` tokens may start (ignoring the in-flight cap)."""
        return max(
            self.paused_until - now, self.requests.wait(1, now), self.tokens.wait(cost, now), 0.0
        )

    def _window_full(self) -> bool:
        return self.window is not None and self.in_flight >= self.window

    def _measured(self, now: float, index: int) -> float:
        """Units per second started over the last second (or since the first start)."""
        recent = [s for s in self._starts if s[0] >= now - 1.0]
        span = min(1.0, max(now - (self._stats.first or now), 0.05))
        return max(sum(s[index] for s in recent) / span, 1 / 60)

    # -- the synchronous core ---------------------------------------------------------

    def cost(self, demand: Demand) -> float:
        """Tokens a request will be charged, as far as it matters (0 with no tokens limit)."""
        if not self.wants_tokens:
            return 0.0
        return self.estimate.cost(demand.raw(), demand.max_tokens)

    def start(self, demand: Demand, now: float) -> Ticket:
        """Admit a request now (callers check :meth:`delay` and the cap first)."""
        cost = self.cost(demand)
        marks = (self.requests.take(1, now), self.tokens.take(cost, now))
        self.in_flight += 1
        stats = self._stats
        stats.requests += 1
        if stats.first is None:
            stats.first = now
        self._starts.append((now, cost))
        return Ticket(now, cost, marks, demand)

    def finish(
        self,
        ticket: Ticket,
        limits: RateLimits | None = None,
        *,
        rejected: bool = False,
        usage: tuple[int, int] | None = None,
        now: float | None = None,
    ) -> None:
        """Account for the answer to ``ticket``: a 429 (``rejected``), or any other outcome.

        ``usage`` is (prompt tokens, completion tokens) as the provider reported them.
        """
        if ticket.done:
            return
        ticket.done = True
        now = self.clock() if now is None else now
        self.in_flight = max(0, self.in_flight - 1)
        limits = limits or RateLimits()
        if self.blind:  # the first answer: from now on the budgets and 429s decide
            self.blind, self.window = False, None
        if rejected:
            self.requests.refund(ticket.sent, ticket.marks[0], 1.0, now)
            self.tokens.refund(ticket.sent, ticket.marks[1], ticket.cost, now)
        for budget, limit, remaining, mark, cost in (
            (self.requests, limits.limit_requests, limits.remaining_requests, 0, 1.0),
            (self.tokens, limits.limit_tokens, limits.remaining_tokens, 1, ticket.cost),
        ):
            if limit is not None or remaining is not None:
                budget.observe(limit, remaining, ticket.sent, ticket.marks[mark], cost, now)
        if rejected:
            self._rejected(ticket, limits, now)
        else:
            self._answered(ticket, limits, usage, now)
        self._pump()

    def _rejected(self, ticket: Ticket, limits: RateLimits, now: float) -> None:
        self._stats.rate_limited += 1
        self.last_429 = now
        if limits.retry_after is not None:
            self.paused_until = max(self.paused_until, now + min(limits.retry_after, MAX_PAUSE))
        out_of_requests = limits.remaining_requests is not None and limits.remaining_requests < 1
        out_of_tokens = limits.remaining_tokens is not None and limits.remaining_tokens < max(
            1, ticket.cost
        )
        if out_of_requests:
            self.requests.cut(ticket.sent, self._measured(now, 0), now)
        if out_of_tokens and self.tokens.paced:
            self.tokens.cut(ticket.sent, self._measured(now, 1), now)
        if out_of_requests or out_of_tokens:
            return
        if not limits.known:  # the answer does not say why: pace the starts too
            self.requests.cut(ticket.sent, self._measured(now, 0), now)
        # a 429 with room in every budget it shows: too many in flight (or a limit unseen)
        if ticket.sent >= self.window_cut:
            self.window_cut = now
            self.window = max(1.0, math.floor(DECREASE * (self.in_flight + 1)))

    def _answered(
        self, ticket: Ticket, limits: RateLimits, usage: tuple[int, int] | None, now: float
    ) -> None:
        stats = self._stats
        stats.answered += 1
        stats.last = now
        self._answers.append(now)
        if self.window is not None:
            self.window += 1 / self.window
        for budget, shown in (
            (self.requests, limits.remaining_requests),
            (self.tokens, limits.remaining_tokens),
        ):
            if shown is None and budget.seen is None:  # nothing to gauge room by: probe
                budget.grow(now)
        if usage is not None:
            prompt, completion = usage
            stats.tokens += prompt + completion
            demand = ticket.demand
            if demand.prompt:
                self.estimate.learn(demand.raw(), prompt, completion)
            if self.tokens.paced and limits.remaining_tokens is None:
                charged = prompt + (completion if demand.max_tokens is None else demand.max_tokens)
                self.tokens.level = min(
                    self.tokens.capacity, self.tokens.level + ticket.cost - charged
                )

    # -- statistics -------------------------------------------------------------------

    def stats(self, now: float | None = None) -> PaceStats:
        """Counts so far, with the ongoing wait and the limits it paces to."""
        now = self.clock() if now is None else now
        waiting = now - self._waiting_since if self._waiting_since is not None else 0.0
        requests, tokens = self.requests.ceiling, self.tokens.ceiling
        if self.requests.flag is not None or self.tokens.flag is not None:
            source = "flags"
        elif self.requests.seen is not None or self.tokens.seen is not None:
            source = "headers"
        elif self.requests.paced:
            source = "429s"
        else:
            source = None
        return replace(
            self._stats,
            wait_s=self._stats.wait_s + waiting,
            rpm_limit=None if requests is None else requests * 60,
            tpm_limit=None if tokens is None else tokens * 60,
            source=source,
        )

    def pace(self, now: float | None = None) -> float:
        """Answers per second over the last :data:`PACE_WINDOW` seconds."""
        now = self.clock() if now is None else now
        answers = tuple(self._answers)  # copied at once: a display thread reads this
        first = self._stats.first
        if first is None:
            return 0.0
        window = min(PACE_WINDOW, max(now - first, 1e-3))
        return sum(1 for t in answers if t >= now - window) / window

    @property
    def waiting(self) -> int:
        return len(self._queue)

    # -- the asyncio layer ------------------------------------------------------------

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new asyncio.run: what waited on the old loop is gone
            self._loop = loop
            self._queue.clear()
            self._timer, self._timer_at = None, math.inf
            self._set_waiting(False)
            self.in_flight = 0

    def _set_waiting(self, waiting: bool) -> None:
        now = self.clock()
        if waiting and self._waiting_since is None:
            self._waiting_since = now
        elif not waiting and self._waiting_since is not None:
            self._stats.wait_s += now - self._waiting_since
            self._waiting_since = None

    async def acquire(self, demand: Demand | None = None, *, first: bool = False) -> Ticket:
        """Wait for this request's turn and admit it.

        Requests start in arrival order; ``first`` puts one at the head of the queue
        (a request the provider rejected keeps its place instead of queueing again).
        """
        self._bind()
        demand = demand or Demand()
        now = self.clock()
        if not self._queue and not self._window_full() and self.delay(self.cost(demand), now) <= 0:
            return self.start(demand, now)
        assert self._loop is not None
        waiter = _Waiter(demand, self._loop.create_future())
        if first:
            self._queue.appendleft(waiter)
        else:
            self._queue.append(waiter)
        self._set_waiting(True)
        self._pump()
        try:
            ticket = await waiter.future
        except asyncio.CancelledError:
            if waiter in self._queue:
                self._queue.remove(waiter)
            elif waiter.future.done() and not waiter.future.cancelled():
                self.finish(waiter.future.result())  # admitted as it was cancelled
            if not self._queue:
                self._set_waiting(False)
            raise
        return ticket

    def _pump(self) -> None:
        """Admit waiting requests in order while the budgets and the cap allow."""
        if self._loop is None or self._loop.is_closed():
            return
        now = self.clock()
        while self._queue:
            waiter = self._queue[0]
            if waiter.future.done():  # cancelled while waiting
                self._queue.popleft()
                continue
            if self._window_full():
                break  # finish() pumps again
            wait = self.delay(self.cost(waiter.demand), now)
            if wait > 1e-6:
                self._schedule(now + wait)
                break
            self._queue.popleft()
            waiter.future.set_result(self.start(waiter.demand, now))
        if not self._queue:
            self._set_waiting(False)

    def _schedule(self, when: float) -> None:
        if self._timer is not None and self._timer_at <= when:
            return
        if self._timer is not None:
            self._timer.cancel()
        assert self._loop is not None
        self._timer_at = when
        self._timer = self._loop.call_later(max(0.0, when - self.clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, math.inf
        self._pump()


# --- retries ------------------------------------------------------------------------------


def backoff(failures: int, retry_after: float | None, jitter: float) -> float:
    """Seconds before retrying a server error: the server's word if it gave a sane one,
    else 0.5 s doubling to 8 s, less up to a quarter (``jitter`` in [0, 1)).

    The same schedule as the ``openai`` SDK's, so turning its retries off for 429s
    changes nothing for server errors.
    """
    if retry_after is not None and 0 < retry_after <= 60:
        return retry_after
    return min(0.5 * 2 ** (failures - 1), 8.0) * (1 - 0.25 * jitter)


# --- one limiter per provider key in this process -----------------------------------------

_LIMITERS: dict[tuple[str, str], Limiter] = {}


def redact_url(url: str) -> str:
    """The URL without credentials in it, and without a trailing slash."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def limiter_for(
    endpoint: str, key: str | None, rpm: float | None = None, tpm: float | None = None
) -> Limiter:
    """The process's limiter for a provider key: created once, shared by every caller.

    ``endpoint`` is the base URL (or another name of the provider); the key is hashed,
    never kept. ``rpm``/``tpm`` (the user's limits) configure it when given.
    """
    name = redact_url(endpoint) if "://" in endpoint else endpoint
    digest = hashlib.sha256(key.encode()).hexdigest()[:16] if key else ""
    limiter = _LIMITERS.get((name, digest))
    if limiter is None:
        limiter = _LIMITERS[(name, digest)] = Limiter(name)
    limiter.configure(rpm, tpm)
    return limiter


def limiters() -> list[Limiter]:
    return list(_LIMITERS.values())


@dataclass(frozen=True)
class Activity:
    """What the progress line shows: pace, requests waiting, and whether a limit binds."""

    pace: float
    waiting: int
    limited: bool


def activity() -> Activity:
    """The pace and waiting of every limiter in the process (read by the progress line)."""
    now = time.monotonic()
    current = [lim for lim in limiters() if lim.clock is time.monotonic]
    return Activity(
        sum(lim.pace(now) for lim in current),
        sum(lim.waiting for lim in current),
        any(lim.limited(now) for lim in current),
    )


def describe_activity(state: Activity) -> str:
    """``rate-limited: 19.8 req/s, 3 waiting`` while a limit binds, else empty."""
    if not state.limited:
        return ""
    return f"rate-limited: {state.pace:.1f} req/s, {state.waiting} waiting"


@dataclass(frozen=True)
class Snapshot:
    """Every limiter's counts at one moment (see :func:`rate_report`)."""

    taken_at: float
    stats: dict[str, PaceStats]


def snapshot() -> Snapshot:
    """Every limiter's counts now, to be compared with a later one by :func:`rate_report`."""
    now = time.monotonic()
    return Snapshot(now, {lim.name: lim.stats(now) for lim in limiters()})


def rate_report(before: Snapshot, after: Snapshot) -> dict[str, Any] | None:
    """What one command's requests met: the ``rate`` block of ``metrics.json``.

    Counts are the differences between the snapshots; the span runs from the first
    request sent after ``before`` to the last answer. ``None`` when the command sent no
    request through a limiter.
    """
    endpoints: dict[str, dict[str, Any]] = {}
    starts: list[float] = []
    ends: list[float] = []
    totals = {"requests": 0, "answered": 0, "rate_limited": 0, "wait_s": 0.0, "tokens": 0}
    for name, now in after.stats.items():
        old = before.stats.get(name, PaceStats())
        delta = {k: getattr(now, k) - getattr(old, k) for k in totals}
        if not delta["requests"]:
            continue
        for key in totals:
            totals[key] += delta[key]
        endpoints[name] = {
            "requests": delta["requests"],
            "rate_limited": delta["rate_limited"],
            "waited_s": round(delta["wait_s"], 3),
            "rpm_limit": None if now.rpm_limit is None else round(now.rpm_limit, 1),
            "tpm_limit": None if now.tpm_limit is None else round(now.tpm_limit, 1),
            "limit_source": now.source,
        }
        if now.first is not None and now.last is not None:
            starts.append(max(now.first, before.taken_at) if old.requests else now.first)
            ends.append(now.last)
    if not totals["requests"]:
        return None
    span = max(0.0, max(ends) - min(starts)) if starts else 0.0
    per_minute = 60 / span if span > 0 else None
    return {
        "requests": totals["requests"],
        "rate_limited": totals["rate_limited"],
        "rate_limited_share": round(totals["rate_limited"] / totals["requests"], 4),
        "waited_s": round(totals["wait_s"], 3),
        "span_s": round(span, 3),
        "effective_rpm": None if per_minute is None else round(totals["answered"] * per_minute, 1),
        "effective_tpm": (
            None
            if per_minute is None or not totals["tokens"]
            else round(totals["tokens"] * per_minute, 1)
        ),
        "endpoints": endpoints,
    }
