"""Every other model name, through inspect_ai's model layer (``get_model``).

All of inspect's providers work this way: OpenAI, Anthropic, Google, Bedrock, mockllm,
... ``mockllm/model`` answers with :data:`DRY_RUN_RESPONSE` (and zero usage, so nothing
is downloaded), in runs and in the inspect tasks alike. inspect retries with tenacity;
its failures are unwrapped and classified like any HTTP client's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vscbench.chat import Answer, Conversation, Generate, Settings
from vscbench.models.errors import guarded, http_fatal
from vscbench.models.inspect_private import prerequisite_error

#: Reply of ``mockllm`` dry runs.
DRY_RUN_RESPONSE = "Mock response from mockllm (dry run)."


def unwrap(exc: BaseException) -> BaseException:
    """The failure itself, not tenacity's retry wrapper around it."""
    from tenacity import RetryError

    if isinstance(exc, RetryError) and exc.last_attempt.failed:
        inner = exc.last_attempt.exception()
        if inner is not None:
            return inner
    return exc


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


def _model(model: str, base_url: str | None, args: dict[str, Any], settings: Settings) -> Any:
    from inspect_ai.model import GenerateConfig, get_model

    config = GenerateConfig(
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        seed=settings.seed,
        max_connections=settings.max_connections,
        max_retries=settings.max_retries,
        timeout=settings.timeout,
    )
    try:
        return get_model(model, base_url=base_url, config=config, **args)
    except prerequisite_error() as exc:  # e.g. no OPENAI_API_KEY: a setup step, not a crash
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


def make(
    model: str, base_url: str | None, model_args: Mapping[str, Any], settings: Settings
) -> Generate:
    from inspect_ai.model import (
        ChatMessageAssistant,
        ChatMessageSystem,
        ChatMessageUser,
        ContentImage,
        ContentText,
    )
    from inspect_ai.util import materialize_media

    args = dict(model_args)
    if model.startswith("mockllm/") and "custom_outputs" not in args:
        args["custom_outputs"] = dry_run_output
    handle = _model(model, base_url, args, settings)
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
        return answer_from_inspect(await handle.generate(messages))

    return guarded(generate, http_fatal, base_url or model, unwrap)
