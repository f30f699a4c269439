"""The ``openai`` SDK under a :class:`~vscbench.pacing.Limiter`.

The SDK retries 429s itself, with the same small budget (``max_retries``) as server
errors and its own backoff, which under a rate limit fails pairs within seconds. So the
client is built with ``max_retries=0`` and :func:`call` retries instead: a 429 hands
the request back to the limiter, which puts it at the head of its queue and never
counts it against the budget; a server error, timeout or dropped connection is retried
on the SDK's own schedule (:func:`vscbench.pacing.backoff`) up to ``max_retries`` times,
and each attempt is paced like any other request.

The SDK's generic POST returns the parsed body without headers, so an httpx response
hook (:data:`RESPONSE_HOOKS`) hands each answer's headers to the attempt waiting for them
through a context variable: the hook runs inside that attempt's task.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from vscbench.pacing import Demand, Limiter, backoff, parse_rate_limits, parse_retry_after

T = TypeVar("T")

#: Headers of the answers the current attempt received (set around each attempt).
_ANSWERS: ContextVar[list[Mapping[str, str]] | None] = ContextVar("vscbench_answers", default=None)


async def _remember(response: Any) -> None:
    answers = _ANSWERS.get()
    if answers is not None:
        answers.append(response.headers)


#: The httpx event hook that reads every answer's headers, for the SDK's HTTP client.
RESPONSE_HOOKS: dict[str, list[Callable[[Any], Awaitable[None]]]] = {"response": [_remember]}


def is_rate_limited(exc: BaseException) -> bool:
    """A 429 that waiting cures; not OpenAI's ``insufficient_quota`` (also a 429), which
    no amount of waiting does."""
    import openai

    return isinstance(exc, openai.RateLimitError) and getattr(exc, "code", None) != (
        "insufficient_quota"
    )


def is_retryable(exc: BaseException) -> bool:
    """What the SDK itself retries besides 429: timeouts, dropped connections, 408,
    409 and server errors."""
    import openai

    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409) or exc.status_code >= 500
    return False


def _headers(exc: BaseException) -> Mapping[str, str] | None:
    return getattr(getattr(exc, "response", None), "headers", None)


async def call(
    limiter: Limiter,
    demand: Demand,
    send: Callable[[], Awaitable[T]],
    max_retries: int,
    usage: Callable[[T], tuple[int, int] | None],
) -> T:
    """``send()`` when the limiter admits it, retried as the module docstring says.

    ``usage`` reads (prompt tokens, completion tokens) from a result, for the limiter's
    token estimates.
    """
    failures = 0
    first = False  # a request sent before keeps its place at the head of the queue
    while True:
        ticket = await limiter.acquire(demand, first=first)
        answers: list[Mapping[str, str]] = []
        context = _ANSWERS.set(answers)
        try:
            result = await send()
        except Exception as exc:
            headers = _headers(exc)
            limits = parse_rate_limits(headers) if headers is not None else None
            if is_rate_limited(exc):
                limiter.finish(ticket, limits, rejected=True)
                first = True
                continue
            limiter.finish(ticket, limits)
            if not is_retryable(exc) or failures >= max_retries:
                raise
            failures += 1
            wait = parse_retry_after(headers) if headers is not None else None
            await asyncio.sleep(backoff(failures, wait, random.random()))
            first = True
            continue
        except BaseException:  # cancelled or interrupted: the request is no longer ours
            limiter.finish(ticket)
            raise
        finally:
            _ANSWERS.reset(context)
        limits = parse_rate_limits(answers[-1]) if answers else None
        limiter.finish(ticket, limits, usage=usage(result))
        return result
