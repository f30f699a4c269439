"""``openai-api/<service>/<model>``: any OpenAI-compatible server, through the openai SDK.

vLLM, SGLang, Ollama, OpenRouter, ... are called with the ``openai`` SDK directly,
paced to the server's rate limits by :mod:`vscbench.pacing` (one limiter per base URL
and key, shared with LLM judges): 429s wait their turn and never use up
``max_retries``; 5xx, timeouts and dropped connections are retried on the SDK's
schedule (:mod:`vscbench.models.pacing_openai`). This path costs about a third of the CPU
per request of inspect's model layer, which is what lets a small machine keep 64
connections busy (``bench/throughput.py``). Key and base URL follow inspect's
conventions: ``<SERVICE>_API_KEY`` and ``--base-url`` or ``<SERVICE>_BASE_URL``.

The request path is :func:`make`'s inner ``generate``: build the messages, wait for a
connection slot (:class:`LoopSemaphore`), post, and turn the reply into an
:class:`~vscbench.chat.Answer`. Failures are classified by
:func:`vscbench.models.errors.http_fatal`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vscbench.chat import Answer, Conversation, Generate, Settings
from vscbench.models import pacing_openai
from vscbench.models.errors import guarded, http_fatal
from vscbench.models.names import openai_api_parts
from vscbench.pacing import demand_of, limiter_for

#: The SDK's own default request timeout, used when a run sets none.
DEFAULT_TIMEOUT_S = 600.0


def sdk_httpx() -> Any:
    """The HTTP library the installed openai SDK is built on (``httpx`` or ``httpx2``):
    its client class derives from that library's ``AsyncClient``."""
    import sys

    from openai import DefaultAsyncHttpxClient

    base = next(c for c in DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
    return sys.modules[base.__module__.split(".")[0]]


def keep_bytes(body: bytes, headers: Mapping[str, str]) -> bytes:
    """A JSON reply that is not valid UTF-8, re-encoded so that no byte is lost.

    The SDK decodes replies as strict UTF-8 and would fail the pair; the invalid bytes
    are kept instead as lone surrogates (``surrogateescape``), which the run stores
    escaped and reads back identically, and the judges see the rest of the reply.
    """
    if headers.get("content-encoding") or "json" not in headers.get("content-type", ""):
        return body
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    try:
        data = json.loads(body.decode("utf-8", "surrogateescape"))
    except json.JSONDecodeError:
        return body
    return json.dumps(data, ensure_ascii=True).encode("ascii")


def deadline_client(timeout: float, event_hooks: Mapping[str, list[Any]] | None = None) -> Any:
    """An httpx client for the SDK whose ``timeout`` bounds each attempt's *total* time.

    httpx's timeouts bound each phase (connect, every read), so a server that trickles
    one byte a second keeps a request alive for as long as it likes. Here every attempt
    gets one deadline, from sending the request to the last byte of the reply; past it
    the attempt fails as ``httpx.ReadTimeout``, retried like any timeout.
    ``event_hooks`` are httpx's (the pacing reads each answer's headers with one).
    """
    from openai import DefaultAsyncHttpxClient

    httpx = sdk_httpx()

    class Deadline(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            deadline = asyncio.get_running_loop().time() + timeout
            response = None
            try:
                async with asyncio.timeout_at(deadline):
                    response = await self.inner.handle_async_request(request)
                    # the whole reply, within the deadline (raw: the client decodes it)
                    body = b"".join([part async for part in response.aiter_raw()])
            except TimeoutError:
                if response is not None:
                    await response.aclose()
                raise httpx.ReadTimeout(
                    f"no complete reply within --timeout {timeout:g} s", request=request
                ) from None
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                content=keep_bytes(body, response.headers),
                request=request,
                extensions={k: v for k, v in response.extensions.items() if k != "network_stream"},
            )

        async def aclose(self) -> None:
            await self.inner.aclose()

    return DefaultAsyncHttpxClient(
        transport=Deadline(), timeout=timeout, event_hooks=dict(event_hooks or {})
    )


def image_data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


class LoopSemaphore:
    """A semaphore per running event loop: a backend may outlive one ``asyncio.run``."""

    def __init__(self, value: int) -> None:
        self.value = max(1, value)
        self._by_loop: dict[int, asyncio.Semaphore] = {}

    def get(self) -> asyncio.Semaphore:
        key = id(asyncio.get_running_loop())
        if key not in self._by_loop:
            self._by_loop = {key: asyncio.Semaphore(self.value)}  # older loops are closed
        return self._by_loop[key]


def messages_of(turns: Conversation) -> list[dict[str, Any]]:
    """Chat-completions messages, images inline as data URIs."""
    messages = []
    for turn in turns:
        content: Any = turn.text
        if turn.image is not None:
            content = [
                {"type": "image_url", "image_url": {"url": image_data_uri(turn.image)}},
                {"type": "text", "text": turn.text},
            ]
        messages.append({"role": turn.role, "content": content})
    return messages


def answer_of(response: Any, url: str) -> Answer:
    from openai.types.chat import ChatCompletion

    if not isinstance(response, ChatCompletion):  # e.g. an HTML page with status 200
        start = str(response)[:60].replace("\n", " ")
        return Answer("", "unknown", error=f"{url}: reply is not a chat completion ({start!r})")
    if not response.choices:
        return Answer("", "unknown", error="response has no choices")
    choice = response.choices[0]
    usage = response.usage
    return Answer(
        text=choice.message.content or "",
        stop_reason=choice.finish_reason or "unknown",
        usage=(
            {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}
            if usage
            else None
        ),
    )


def _usage(response: Any) -> tuple[int, int] | None:
    usage = getattr(response, "usage", None)
    return (usage.prompt_tokens, usage.completion_tokens) if usage else None


def make(
    model: str, base_url: str | None, model_args: Mapping[str, Any], settings: Settings
) -> Generate:
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletion

    _, model_id, key_var, url_var = openai_api_parts(model)
    url = base_url or os.environ.get(url_var)
    if not url:
        raise ValueError(f"{model}: pass --base-url or set {url_var}")
    client_args = {k: model_args[k] for k in ("organization", "default_headers") if k in model_args}
    extra_body = {k: v for k, v in model_args.items() if k not in client_args}  # sent as-is
    retries = Settings().max_retries if settings.max_retries is None else settings.max_retries
    timeout = float(settings.timeout) if settings.timeout else DEFAULT_TIMEOUT_S
    key = os.environ.get(key_var) or "EMPTY"  # local servers often need none
    client = AsyncOpenAI(
        api_key=key,
        base_url=url,
        max_retries=0,  # retried in pacing_openai.call, where 429s cost no retry
        timeout=timeout,
        http_client=deadline_client(timeout, pacing_openai.RESPONSE_HOOKS),
        **client_args,
    )
    limiter = limiter_for(url, key, settings.rpm, settings.tpm)  # shared with judges
    request: dict[str, Any] = {**extra_body, "model": model_id}
    for name in ("temperature", "max_tokens", "seed"):
        if getattr(settings, name) is not None:
            request[name] = getattr(settings, name)

    # like inspect's providers, honour max_connections whoever calls (runs and judges)
    gate = LoopSemaphore(settings.max_connections)

    async def generate(turns: Conversation) -> Answer:
        body = {**request, "messages": messages_of(turns)}
        # the SDK's generic POST (its documented route for raw bodies) skips the typed
        # walk over the request that ``chat.completions.create`` does: a quarter of the
        # client's CPU per request here, with the same response parsing
        async with gate.get():
            response = await pacing_openai.call(
                limiter,
                demand_of(turns, settings.max_tokens),
                lambda: client.post("/chat/completions", cast_to=ChatCompletion, body=body),
                retries or 0,
                _usage,
            )
        return answer_of(response, url)

    return guarded(generate, http_fatal, url)
