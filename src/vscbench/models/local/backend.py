"""Local Hugging Face models as backends of runs and judges.

``hf-vlm/<hub id or path>`` is a VLM (:class:`vscbench.models.local.vlm.LocalVLM`);
``hf-lm/<hub id, directory or .gguf file>`` a text-only causal LM
(:class:`vscbench.models.local.lm.LocalLM`).

Concurrent pairs are gathered into padded batches (:class:`vscbench.batching.MicroBatcher`)
and generated in a worker thread. One loaded model is shared per (id, options, seed) by
every backend in the process (:func:`load_local`); each backend keeps its own steering.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from vscbench.batching import MicroBatcher
from vscbench.chat import Answer, Conversation, Generate, Settings
from vscbench.models.errors import guarded, never_fatal
from vscbench.models.names import is_text_only, local_id

LOCAL_ARGS = ("dtype", "device", "device_map")


@lru_cache(maxsize=2)
def load_local(model: str, args_json: str = "{}", seed: int = 0) -> Any:
    """One loaded model per (name, options, seed), shared by fitting and a sweep's runs.

    ``model`` is ``hf-vlm/<id>`` (a VLM) or ``hf-lm/<id>`` (a text-only causal LM).
    """
    from vscbench.models.local.lm import LocalLM
    from vscbench.models.local.vlm import LocalVLM

    kind = LocalLM if is_text_only(model) else LocalVLM
    try:
        return kind(local_id(model), seed=seed, **json.loads(args_json))
    except OSError as exc:  # not on disk, not in the hub cache, hub unreachable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{model}: cannot load it ({first}). Give a local model directory, or a hub id "
            "that is in the Hugging Face cache when offline"
        ) from None


def load_for(model: str, model_args: Mapping[str, Any], seed: int = 0) -> Any:
    """The shared loaded model for a name and its ``-M`` options (checked)."""
    unknown = set(model_args) - set(LOCAL_ARGS)
    if unknown:
        raise ValueError(f"{model}: unknown model arg(s) {sorted(unknown)}; use {LOCAL_ARGS}")
    return load_local(model, json.dumps(dict(model_args), sort_keys=True), seed)


def make(
    model: str, base_url: str | None, model_args: Mapping[str, Any], settings: Settings
) -> Generate:
    """Batched generation in this process, steered when ``settings.steering`` is set."""
    from vscbench.models.local.base import DEFAULT_MAX_NEW_TOKENS

    vlm = load_for(model, model_args, settings.seed or 0)
    max_new = settings.max_tokens or DEFAULT_MAX_NEW_TOKENS
    steering = settings.steering

    def run_batch(conversations: list[Conversation]) -> list[Answer]:
        return vlm.generate_batch(conversations, max_new, settings.temperature, steering)

    batcher = MicroBatcher(run_batch, settings.batch_size)

    async def generate(turns: Conversation) -> Answer:
        return await batcher.submit(list(turns))

    return guarded(generate, never_fatal, model)
