"""Local Hugging Face models as backends of runs and judges.

``hf-vlm/<hub id or path>`` is a VLM (:class:`vscbench.local.vlm.LocalVLM`);
``hf-lm/<hub id, directory or .gguf file>`` a text-only causal LM
(:class:`vscbench.local.lm.LocalLM`).

Concurrent pairs are gathered into padded batches (:class:`vscbench.batching.MicroBatcher`)
and generated in a worker thread. One loaded model is shared per (id, options, seed) by
every backend in the process; each backend keeps its own steering.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vscbench.batching import MicroBatcher
from vscbench.chat import Answer, Conversation, Generate, Settings

LOCAL_ARGS = ("dtype", "device", "device_map")


def local_model(
    model: str, base_url: str | None, model_args: Mapping[str, Any], settings: Settings
) -> Generate:
    """Batched generation in this process, steered when ``settings.steering`` is set."""
    from vscbench.local.fit import load_local

    unknown = set(model_args) - set(LOCAL_ARGS)
    if unknown:
        raise ValueError(f"{model}: unknown model arg(s) {sorted(unknown)}; use {LOCAL_ARGS}")
    vlm = load_local(model, json.dumps(dict(model_args), sort_keys=True), settings.seed or 0)
    max_new = settings.max_tokens or 512
    steering = settings.steering

    def run_batch(conversations: list[Conversation]) -> list[Answer]:
        return vlm.generate_batch(conversations, max_new, settings.temperature, steering)

    batcher = MicroBatcher(run_batch, settings.batch_size)

    async def generate(turns: Conversation) -> Answer:
        return await batcher.submit(list(turns))

    return generate
