"""A local Hugging Face VLM: image + text chat through the model's own processor.

Any checkpoint that ``AutoModelForImageTextToText`` and ``AutoProcessor`` load (LLaVA /
LLaVA-NeXT, Idefics3 / SmolVLM, Qwen2-VL / Qwen2.5-VL, Gemma 3, ...) is prompted through
its own chat template and generates in left-padded batches. Greedy by default; with a
temperature, sampling is seeded per batch so runs repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vscbench.local.steering import steered
from vscbench.providers import Answer

DTYPES = ("auto", "float32", "float16", "bfloat16")


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class LocalVLM:
    def __init__(
        self,
        model_id: str,
        dtype: str = "auto",
        device: str = "auto",
        device_map: str | None = None,
        seed: int = 0,
    ) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        self.model_id = model_id
        self.seed = seed
        self.processor: Any = None
        self.image_processor: Any = None
        try:
            self.processor = AutoProcessor.from_pretrained(model_id)
            self.tokenizer = self.processor.tokenizer
        except Exception as exc:
            # processors that insist on a video processor (Qwen2-VL without torchvision)
            # cannot load; their inputs are built from the image processor and tokenizer
            self._load_parts(model_id, exc)
        self.tokenizer.padding_side = "left"
        kwargs: dict[str, Any] = {"dtype": "auto" if dtype == "auto" else getattr(torch, dtype)}
        if device_map:
            kwargs["device_map"] = device_map
        self.model = AutoModelForImageTextToText.from_pretrained(model_id, **kwargs).eval()
        if not device_map:
            self.model.to(pick_device(device))
        self.device = next(self.model.parameters()).device
        #: applied around every generation while set (see vscbench.local.steering)
        self.steering: Any = None

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

    def chat_text(self, prompt: str, with_image: bool) -> str:
        content: list[dict[str, str]] = [{"type": "image"}] if with_image else []
        content.append({"type": "text", "text": prompt})
        return (self.processor or self.tokenizer).apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )

    def inputs(self, prompts: Sequence[str], images: Sequence[Path | Image.Image | None]) -> Any:
        """Padded model inputs; all items of a call have an image, or none has."""
        with_image = images[0] is not None
        texts = [self.chat_text(p, with_image) for p in prompts]
        pictures = None
        if with_image:
            pictures = []
            for source in images:
                assert source is not None, "a batch mixes items with and without an image"
                if isinstance(source, Image.Image):
                    pictures.append([source.convert("RGB")])
                    continue
                with Image.open(source) as image:
                    pictures.append([image.convert("RGB")])
        if self.processor is not None:
            return self.processor(
                text=texts, images=pictures, padding=True, return_tensors="pt"
            ).to(self.device)
        # Qwen2-VL style: one image pad token per merged patch of each image
        extra: dict[str, Any] = {}
        if pictures:
            extra = dict(self.image_processor(images=[p[0] for p in pictures], return_tensors="pt"))
            counts = (extra["image_grid_thw"].prod(-1) // self.merge**2).tolist()
            texts = [
                t.replace(self.image_token, self.image_token * n, 1)
                for t, n in zip(texts, counts, strict=True)
            ]
        encoded = self.tokenizer(texts, padding=True, return_tensors="pt")
        encoded.update(extra)
        # which positions hold image tokens (1) or text (0), for multimodal RoPE
        image_id = self.tokenizer.convert_tokens_to_ids(self.image_token)
        encoded["mm_token_type_ids"] = (encoded["input_ids"] == image_id).long()
        return encoded.to(self.device)

    def generate_batch(
        self,
        requests: Sequence[tuple[str, Path | None]],
        max_new_tokens: int = 512,
        temperature: float | None = None,
    ) -> list[Answer]:
        """Answers in request order; items with and without images run as separate batches."""
        answers: list[Answer | None] = [None] * len(requests)
        for has_image in (True, False):
            index = [i for i, (_, image) in enumerate(requests) if (image is not None) == has_image]
            if not index:
                continue
            chunk = self._generate(
                [requests[i][0] for i in index],
                [requests[i][1] for i in index],
                max_new_tokens,
                temperature,
            )
            for i, answer in zip(index, chunk, strict=True):
                answers[i] = answer
        return [a for a in answers if a is not None]

    def _generate(
        self,
        prompts: Sequence[str],
        images: Sequence[Path | None],
        max_new_tokens: int,
        temperature: float | None,
    ) -> list[Answer]:
        import torch

        inputs = self.inputs(prompts, images)
        sample = bool(temperature)
        torch.manual_seed(self.seed)
        with torch.inference_mode(), steered(self.model, self.steering):
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=sample,
                temperature=temperature if sample else None,
                top_p=None,
                top_k=None,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new = output[:, inputs["input_ids"].shape[1] :]
        eos = self.tokenizer.eos_token_id
        answers = []
        for row in new:
            tokens = row.tolist()
            if self.tokenizer.pad_token_id in tokens:  # finished early, padded
                tokens = tokens[: tokens.index(self.tokenizer.pad_token_id)]
            stopped = eos in tokens or len(tokens) < max_new_tokens
            answers.append(
                Answer(
                    text=self.tokenizer.decode(tokens, skip_special_tokens=True),
                    stop_reason="stop" if stopped else "max_tokens",
                    usage={
                        "input_tokens": int(inputs["attention_mask"].shape[1]),
                        "output_tokens": len(tokens),
                    },
                )
            )
        return answers
