"""inspect_ai entry point: registers the ``vscbench/image_centric`` and
``vscbench/text_centric`` tasks and the ``hf-vlm`` model provider."""

from typing import Any

from inspect_ai.model import modelapi

from vscbench.tasks import image_centric, text_centric


@modelapi(name="hf-vlm")
def hf_vlm() -> Any:
    """Local Hugging Face VLMs (torch is imported only when one is used)."""
    from vscbench.models.local.inspect_provider import HFVLMAPI

    return HFVLMAPI


__all__ = ["hf_vlm", "image_centric", "text_centric"]
