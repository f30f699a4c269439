"""API backends: one async call from a conversation to an :class:`~vscbench.chat.Answer`.

Two backends (:mod:`vscbench.backends` picks one by the model name; local models live in
:mod:`vscbench.local`):

* ``openai-api/<service>/<model>`` — any server that speaks the OpenAI chat-completions
  protocol (vLLM, SGLang, Ollama, OpenRouter, ...) — is called with the ``openai`` SDK
  directly, paced to the server's rate limits by :mod:`vscbench.pacing` (one limiter per
  base URL and key, shared with LLM judges): 429s wait their turn and never use up
  ``max_retries``; 5xx, timeouts and dropped connections are retried on the SDK's
  schedule (:mod:`vscbench.pacing_openai`). This path costs about a third of the
  CPU per request of inspect's model layer, which is what lets a small machine keep 64
  connections busy (``bench/throughput.py``). Key and base URL follow inspect's
  conventions: ``<SERVICE>_API_KEY`` and ``--base-url`` or ``<SERVICE>_BASE_URL``.
* every other name goes through inspect_ai's model layer (``get_model``), so all of its
  providers work: OpenAI, Anthropic, Google, Bedrock, mockllm, ... Their HTTP answers
  stay inside inspect, so 429s are inspect's to retry (they count against
  ``max_retries`` there); inspect's adaptive concurrency, bounded by
  ``max_connections``, cuts the requests in flight when they come. ``--rpm``/``--tpm``
  pace these models too, from the start, through the same limiter (tokens estimated
  from the prompt and corrected by the usage inspect reports).
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vscbench import pacing_openai
from vscbench.chat import Answer, Conversation, FatalModelError, Generate, Settings
from vscbench.pacing import Demand, limiter_for, prompt_estimate

#: Reply of ``mockllm`` dry runs.
DRY_RUN_RESPONSE = "Mock response from mockllm (dry run)."


def _unwrap(exc: BaseException) -> BaseException:
    from tenacity import RetryError

    if isinstance(exc, RetryError) and exc.last_attempt.failed:
        inner = exc.last_attempt.exception()
        if inner is not None:
            return inner
    return exc


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _url(exc: BaseException, fallback: str | None) -> str:
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


def fatal_cause(exc: BaseException, where: str | None = None) -> FatalModelError | None:
    """A :class:`FatalModelError` naming URL and cause if ``exc`` is one, else ``None``."""
    import httpx
    import openai

    exc = _unwrap(exc)
    if isinstance(exc, FatalModelError):
        return exc
    status = _status(exc)
    url = _url(exc, where)
    if status in (401, 403):
        return FatalModelError(
            f"{url}: HTTP {status}, authentication failed; check the API key variable "
            "(e.g. <SERVICE>_API_KEY or OPENAI_API_KEY) and its permissions"
        )
    if status == 404:
        return FatalModelError(
            f"{url}: HTTP 404, unknown model or endpoint; check --model and --base-url"
        )
    if status == 429 and getattr(exc, "code", None) == "insufficient_quota":
        return FatalModelError(
            f"{url}: HTTP 429 insufficient_quota, the key's quota is used up (not a rate "
            "limit: waiting will not help); check the account's plan and billing"
        )
    timeouts = (openai.APITimeoutError, httpx.TimeoutException, TimeoutError)
    unreachable = (openai.APIConnectionError, httpx.ConnectError, ConnectionRefusedError)
    if isinstance(exc, unreachable) and not isinstance(exc, timeouts):
        return FatalModelError(
            f"{url}: server unreachable ({type(exc).__name__}: {exc}); is it running, "
            "and is --base-url right?"
        )
    return None


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of the failure itself, not of a retry wrapper around it."""
    exc = _unwrap(exc)
    status = _status(exc)
    prefix = f"HTTP {status} " if status else ""
    return f"{prefix}{type(exc).__name__}: {exc}"


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


# --- OpenAI-compatible servers, through the openai SDK ------------------------------


def _service_env(model: str) -> tuple[str, str]:
    service = model.split("/")[1].upper().replace("-", "_")
    return f"{service}_API_KEY", f"{service}_BASE_URL"


def openai_compatible(
    model: str, base_url: str | None, model_args: Mapping[str, Any], settings: Settings
) -> Generate:
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletion

    parts = model.split("/", 2)
    if len(parts) < 3 or not parts[2]:
        raise ValueError(f"{model!r}: use openai-api/<service>/<model>")
    key_var, url_var = _service_env(model)
    url = base_url or os.environ.get(url_var)
    if not url:
        raise ValueError(f"{model}: pass --base-url or set {url_var}")
    client_args = {k: model_args[k] for k in ("organization", "default_headers") if k in model_args}
    extra_body = {k: v for k, v in model_args.items() if k not in client_args}  # sent as-is
    key = os.environ.get(key_var) or "EMPTY"  # local servers often need none
    client = AsyncOpenAI(
        api_key=key,
        base_url=url,
        max_retries=0,  # retried in pacing_openai.call, where 429s cost no retry
        timeout=float(settings.timeout) if settings.timeout else 600.0,
        http_client=pacing_openai.http_client(),
        **client_args,
    )
    request: dict[str, Any] = {**extra_body, "model": parts[2]}
    for name in ("temperature", "max_tokens", "seed"):
        if getattr(settings, name) is not None:
            request[name] = getattr(settings, name)
    limiter = limiter_for(url, key, settings.rpm, settings.tpm)  # shared with judges
    retries = settings.max_retries if settings.max_retries is not None else 5

    # like inspect's providers, honour max_connections whoever calls (runs and judges)
    gate = LoopSemaphore(settings.max_connections)

    async def generate(turns: Conversation) -> Answer:
        messages = []
        for turn in turns:
            content: Any = turn.text
            if turn.image is not None:
                content = [
                    {"type": "image_url", "image_url": {"url": image_data_uri(turn.image)}},
                    {"type": "text", "text": turn.text},
                ]
            messages.append({"role": turn.role, "content": content})
        # the SDK's generic POST (its documented route for raw bodies) skips the typed
        # walk over the request that ``chat.completions.create`` does: a quarter of the
        # client's CPU per request here, with the same response parsing
        async with gate.get():
            response = await pacing_openai.call(
                limiter,
                _demand(turns, settings.max_tokens),
                lambda: client.post(
                    "/chat/completions",
                    cast_to=ChatCompletion,
                    body={**request, "messages": messages},
                ),
                retries,
                _usage,
            )
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

    return generate


def _demand(turns: Conversation, max_tokens: int | None) -> Demand:
    """What a conversation will use of a tokens limit (sized only if one is known)."""
    images = [t.image for t in turns if t.image is not None]
    return Demand(lambda: prompt_estimate([t.text for t in turns], images), max_tokens)


def _usage(response: Any) -> tuple[int, int] | None:
    usage = getattr(response, "usage", None)
    return (usage.prompt_tokens, usage.completion_tokens) if usage else None


# --- everything else, through inspect_ai -------------------------------------------


def dry_run_output(*_: Any) -> Any:
    """mockllm's reply for dry runs, with usage filled in.

    Without usage, mockllm estimates tokens with tiktoken, which downloads its
    vocabulary on first use and so breaks offline dry runs.
    """
    from inspect_ai.model import ModelOutput, ModelUsage

    output = ModelOutput.from_content(model="mockllm", content=DRY_RUN_RESPONSE)
    output.usage = ModelUsage(input_tokens=0, output_tokens=0, total_tokens=0)
    return output


def answer_from_inspect(output: Any) -> Answer:
    usage = getattr(output, "usage", None)
    return Answer(
        text=str(output.completion),
        stop_reason=str(output.stop_reason),
        usage=(
            {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
            if usage
            else None
        ),
        error=getattr(output, "error", None) or None,
    )


def inspect_model(
    model: str, base_url: str | None, model_args: Mapping[str, Any], settings: Settings
) -> Generate:
    from inspect_ai._util.error import PrerequisiteError
    from inspect_ai.model import (
        ChatMessageAssistant,
        ChatMessageSystem,
        ChatMessageUser,
        ContentImage,
        ContentText,
        GenerateConfig,
        get_model,
    )
    from inspect_ai.util import AdaptiveConcurrency, materialize_media

    args = dict(model_args)
    if model.startswith("mockllm/") and "custom_outputs" not in args:
        args["custom_outputs"] = dry_run_output
    config = GenerateConfig(
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        seed=settings.seed,
        # inspect's AIMD on 429s, never above the user's --max-connections
        adaptive_connections=AdaptiveConcurrency(
            min=1, start=max(1, settings.max_connections), max=max(1, settings.max_connections)
        ),
        max_retries=settings.max_retries,
        timeout=settings.timeout,
    )
    try:
        handle = get_model(model, base_url=base_url, config=config, **args)
    except PrerequisiteError as exc:  # e.g. no OPENAI_API_KEY: a setup step, not a crash
        from rich.text import Text

        message = " ".join(Text.from_markup(str(exc)).plain.split())
        raise ValueError(f"{model}: {message.removeprefix('ERROR: ')}") from None
    except ValueError as exc:
        if "not recognized" not in str(exc):
            raise
        raise ValueError(
            f"{exc} Use an inspect_ai provider name (openai/..., anthropic/..., google/..., "
            "see inspect_ai's model list), openai-api/<service>/<model> with --base-url for "
            "an OpenAI-compatible server, hf-vlm/... or hf-lm/... for a local model, or "
            "mockllm/model for a dry run"
        ) from None

    limiter = None
    if settings.rpm is not None or settings.tpm is not None:  # paced only when told the limits
        name = base_url or f"{model.split('/')[0]} (inspect)"
        limiter = limiter_for(name, None, settings.rpm, settings.tpm)

    kinds = {
        "system": ChatMessageSystem,
        "user": ChatMessageUser,
        "assistant": ChatMessageAssistant,
    }

    async def generate(turns: Conversation) -> Answer:
        messages = []
        for turn in turns:
            content: Any = turn.text
            if turn.image is not None:
                # inspect only sends media it was told to trust, as inline data
                data_uri = await materialize_media(str(turn.image))
                content = [ContentImage(image=data_uri), ContentText(text=turn.text)]
            messages.append(kinds[turn.role](content=content))
        if limiter is None:
            return answer_from_inspect(await handle.generate(messages))
        ticket = await limiter.acquire(_demand(turns, settings.max_tokens))
        try:
            answer = answer_from_inspect(await handle.generate(messages))
        except BaseException:
            limiter.finish(ticket)
            raise
        usage = answer.usage
        limiter.finish(
            ticket, usage=(usage["input_tokens"], usage["output_tokens"]) if usage else None
        )
        return answer

    return generate
