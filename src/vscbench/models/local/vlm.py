"""A local Hugging Face VLM: image + text chat through the model's own processor.

Any checkpoint that ``AutoModelForImageTextToText`` and ``AutoProcessor`` load (LLaVA /
LLaVA-NeXT, Idefics3 / SmolVLM, Qwen2-VL / Qwen2.5-VL, Gemma 3, ...) is prompted through
its own chat template and generates in left-padded batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vscbench.chat import Conversation
from vscbench.models.local.base import LocalModel


def _rgb(source: Path | Image.Image) -> Image.Image:
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    with Image.open(source) as image:
        return image.convert("RGB")


class LocalVLM(LocalModel):
    processor: Any = None
    image_processor: Any = None

    def load(self, model_id: str, kwargs: dict[str, Any]) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            self.processor = AutoProcessor.from_pretrained(model_id)
            self.tokenizer = self.processor.tokenizer
        except Exception as exc:
            # processors that insist on a video processor (Qwen2-VL without torchvision)
            # cannot load; their inputs are built from the image processor and tokenizer
            self._load_parts(model_id, exc)
        self.tokenizer.padding_side = "left"
        self.model = AutoModelForImageTextToText.from_pretrained(model_id, **kwargs).eval()

    def _load_parts(self, model_id: str, cause: Exception) -> None:
        from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_id)
            self.image_processor = AutoImageProcessor.from_pretrained(model_id)
            token_id = AutoConfig.from_pretrained(model_id).image_token_id
            self.image_token = self.tokenizer.convert_ids_to_tokens(token_id)
            self.merge = int(self.image_processor.merge_size)
        except Exception:
            raise cause from None

    def chat_text(self, turns: Conversation) -> str:
        """The conversation through the model's chat template, an image slot per image."""
        messages = []
        for turn in turns:
            content: list[dict[str, str]] = [{"type": "image"}] if turn.image is not None else []
            content.append({"type": "text", "text": turn.text})
            messages.append({"role": turn.role, "content": content})
        return (self.processor or self.tokenizer).apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )

    def inputs(self, conversations: Sequence[Conversation]) -> Any:
        """Padded model inputs; every conversation of a call has the same number of images."""
        texts = [self.chat_text(c) for c in conversations]
        pictures = [[_rgb(t.image) for t in c if t.image is not None] for c in conversations]
        if len({len(p) for p in pictures}) > 1:
            raise ValueError("a batch mixes conversations with different numbers of images")
        if not pictures[0]:
            pictures = None  # type: ignore[assignment]
        if self.processor is not None:
            return self.processor(
                text=texts, images=pictures, padding=True, return_tensors="pt"
            ).to(self.device)
        # Qwen2-VL style: one image pad token per merged patch of each image
        extra: dict[str, Any] = {}
        if pictures:
            flat = [image for group in pictures for image in group]
            extra = dict(self.image_processor(images=flat, return_tensors="pt"))
            counts = iter((extra["image_grid_thw"].prod(-1) // self.merge**2).tolist())
            expanded = []
            for text in texts:
                parts = text.split(self.image_token)
                expanded.append(
                    parts[0] + "".join(self.image_token * next(counts) + part for part in parts[1:])
                )
            texts = expanded
        encoded = self.tokenizer(texts, padding=True, return_tensors="pt")
        encoded.update(extra)
        # which positions hold image tokens (1) or text (0), for multimodal RoPE
        image_id = self.tokenizer.convert_tokens_to_ids(self.image_token)
        encoded["mm_token_type_ids"] = (encoded["input_ids"] == image_id).long()
        return encoded.to(self.device)
