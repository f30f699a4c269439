"""Failures of model calls, classified by the backend that made them.

A backend wraps its raw call with :func:`guarded` and a classifier of its own errors:
every exception leaves the backend either as :class:`~vscbench.chat.FatalModelError`
(a failure every further request would repeat: wrong key, unknown model, server
unreachable; the run stops) or as :class:`~vscbench.chat.ModelCallError` (this pair
failed after the backend's retries; recorded, never judged). The run loop, methods and
judges need not know which library raised what.
"""

from __future__ import annotations

from collections.abc import Callable

from vscbench.chat import Answer, Conversation, FatalModelError, Generate, ModelCallError

#: exception, where the model lives -> the fatal error it means, or None
Classify = Callable[[BaseException, str | None], FatalModelError | None]


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def url_of(exc: BaseException, fallback: str | None) -> str:
    for holder in (
        getattr(exc, "request", None),
        getattr(getattr(exc, "response", None), "request", None),
    ):
        try:
            url = getattr(holder, "url", None)
        except RuntimeError:  # httpx raises when an error carries no request
            url = None
        if url:
            return str(url)
    return fallback or "the model's server"


def describe(exc: BaseException) -> str:
    """``[HTTP status ]Type: message`` of a failure, as records and banners show it."""
    status = status_of(exc)
    prefix = f"HTTP {status} " if status else ""
    return f"{prefix}{type(exc).__name__}: {exc}"


def http_fatal(exc: BaseException, where: str | None = None) -> FatalModelError | None:
    """Fatal errors of HTTP clients (openai SDK, httpx): 401/403, 404, unreachable."""
    import httpx
    import openai

    status = status_of(exc)
    url = url_of(exc, where)
    if status in (401, 403):
        return FatalModelError(
            f"{url}: HTTP {status}, authentication failed; check the API key variable "
            "(e.g. <SERVICE>_API_KEY or OPENAI_API_KEY) and its permissions"
        )
    if status == 404:
        return FatalModelError(
            f"{url}: HTTP 404, unknown model or endpoint; check --model and --base-url"
        )
    timeouts = (openai.APITimeoutError, httpx.TimeoutException, TimeoutError)
    unreachable = (openai.APIConnectionError, httpx.ConnectError, ConnectionRefusedError)
    if isinstance(exc, unreachable) and not isinstance(exc, timeouts):
        return FatalModelError(
            f"{url}: server unreachable ({type(exc).__name__}: {exc}); is it running, "
            "and is --base-url right?"
        )
    return None


def never_fatal(exc: BaseException, where: str | None = None) -> FatalModelError | None:
    return None


def guarded(
    generate: Generate,
    classify: Classify,
    where: str | None,
    unwrap: Callable[[BaseException], BaseException] = lambda exc: exc,
) -> Generate:
    """``generate`` whose failures are classified: fatal, or one pair's error."""

    async def call(turns: Conversation) -> Answer:
        try:
            return await generate(turns)
        except (FatalModelError, ModelCallError):
            raise
        except Exception as exc:
            cause = unwrap(exc)
            fatal = classify(cause, where)
            if fatal is not None:  # every further request would fail the same way
                raise fatal from exc
            raise ModelCallError(describe(cause)) from exc

    return call
