"""``hf-vlm/<hub id or path>`` as an inspect_ai model, for ``inspect eval`` runs.

Concurrent samples are gathered into batches exactly as in ``vscbench run``; the last
user message's text and image (inspect hands images over as data URIs) make the prompt.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ContentImage,
    ContentText,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.tool import ToolChoice, ToolInfo
from PIL import Image

from vscbench.chat import Settings, Turn
from vscbench.models.local.backend import make as local_model
from vscbench.models.names import VLM_PREFIX


def _image(source: str) -> Image.Image:
    if source.startswith("data:"):
        return Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
    return Image.open(source)


def _conversation(input: list[ChatMessage]) -> list[Turn]:
    turns = []
    for message in input:
        if isinstance(message.content, str):
            turns.append(Turn(message.role, message.content))
            continue
        texts = [c.text for c in message.content if isinstance(c, ContentText)]
        images = [c.image for c in message.content if isinstance(c, ContentImage)]
        for image in images[1:]:  # one image per turn: extra images get turns of their own
            turns.append(Turn(message.role, "", _image(image)))
        turns.append(Turn(message.role, "\n".join(texts), _image(images[0]) if images else None))
    return turns


class HFVLMAPI(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        **model_args: Any,
    ) -> None:
        config = config or GenerateConfig()
        super().__init__(model_name, base_url, api_key, [], config)
        self.batch_size = int(model_args.pop("batch_size", 8))
        settings = Settings(
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            seed=config.seed,
            batch_size=self.batch_size,
        )
        self._generate = local_model(VLM_PREFIX + model_name, None, model_args, settings)

    def max_connections(self) -> int:
        return self.batch_size  # enough samples in flight to fill a batch

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        answer = await self._generate(_conversation(input))
        output = ModelOutput.from_content(
            model=self.model_name, content=answer.text, stop_reason=answer.stop_reason
        )  # type: ignore[arg-type]
        usage = answer.usage or {}
        output.usage = ModelUsage(
            input_tokens=usage.get("input_tokens", 0),
            output_tokens=usage.get("output_tokens", 0),
            total_tokens=sum(usage.values()),
        )
        return output
