"""``openai-api/<service>/<model>``: any OpenAI-compatible server, through the openai SDK.

vLLM, SGLang, Ollama, OpenRouter, ... are called with the ``openai`` SDK directly. The
SDK retries 429, 5xx, timeouts and dropped connections with backoff and honours
``Retry-After``; we only bound concurrency. This path costs about a third of the CPU
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
import mimetypes
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vscbench.chat import Answer, Conversation, Generate, Settings
from vscbench.models.errors import guarded, http_fatal
from vscbench.models.names import openai_api_parts

#: The SDK's own default request timeout, used when a run sets none.
DEFAULT_TIMEOUT_S = 600.0


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
    retries = settings.max_retries
    client = AsyncOpenAI(
        api_key=os.environ.get(key_var) or "EMPTY",  # local servers often need none
        base_url=url,
        max_retries=Settings().max_retries if settings.max_retries is None else retries,
        timeout=float(settings.timeout) if settings.timeout else DEFAULT_TIMEOUT_S,
        **client_args,
    )
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
        # client's CPU per request here, with the same retries and response parsing
        async with gate.get():
            response = await client.post("/chat/completions", cast_to=ChatCompletion, body=body)
        return answer_of(response, url)

    return guarded(generate, http_fatal, url)
