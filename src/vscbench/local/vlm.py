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

from vscbench.chat import Answer, Conversation
from vscbench.local.steering import Steering, steered

DTYPES = ("auto", "float32", "float16", "bfloat16")


def _rgb(source: Path | Image.Image) -> Image.Image:
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    with Image.open(source) as image:
        return image.convert("RGB")


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_options(dtype: str, device_map: str | None) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments for a dtype name and a device map."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    kwargs: dict[str, Any] = {"dtype": "auto" if dtype == "auto" else getattr(torch, dtype)}
    if device_map:
        kwargs["device_map"] = device_map
    return kwargs


class LocalModel:
    """What every in-process model shares: batched, seeded generation under steering.

    Subclasses load a model and say how a conversation becomes model inputs
    (:meth:`inputs`); ``tokenizer`` pads on the left.
    """

    model: Any
    tokenizer: Any
    seed: int = 0

    def place(self, device: str, device_map: str | None) -> None:
        if not device_map:
            self.model.to(pick_device(device))
        self.device = next(self.model.parameters()).device

    def inputs(self, conversations: Sequence[Conversation]) -> Any:
        raise NotImplementedError

    def generate_batch(
        self,
        conversations: Sequence[Conversation],
        max_new_tokens: int = 512,
        temperature: float | None = None,
        steering: Steering | None = None,
    ) -> list[Answer]:
        """Answers in order; conversations with different image counts run as separate batches.

        ``steering`` belongs to the caller, not to the model: one loaded model is shared
        by every backend of a process (a run, its judge, a sweep's cells), and each
        applies its own steering only around its own batches.
        """
        answers: list[Answer | None] = [None] * len(conversations)
        groups: dict[int, list[int]] = {}
        for i, conversation in enumerate(conversations):
            groups.setdefault(sum(t.image is not None for t in conversation), []).append(i)
        for index in groups.values():
            chunk = self._generate(
                [conversations[i] for i in index], max_new_tokens, temperature, steering
            )
            for i, answer in zip(index, chunk, strict=True):
                answers[i] = answer
        return [a for a in answers if a is not None]

    def _generate(
        self,
        conversations: Sequence[Conversation],
        max_new_tokens: int,
        temperature: float | None,
        steering: Steering | None,
    ) -> list[Answer]:
        import torch

        inputs = self.inputs(conversations)
        sample = bool(temperature)
        torch.manual_seed(self.seed)
        with torch.inference_mode(), steered(self.model, steering):
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
        # a prompt's own length, not the padded width of its batch
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        for row, n_prompt in zip(new, prompt_tokens, strict=True):
            tokens = row.tolist()
            if self.tokenizer.pad_token_id in tokens:  # finished early, padded
                tokens = tokens[: tokens.index(self.tokenizer.pad_token_id)]
            stopped = eos in tokens or len(tokens) < max_new_tokens
            answers.append(
                Answer(
                    text=self.tokenizer.decode(tokens, skip_special_tokens=True),
                    stop_reason="stop" if stopped else "max_tokens",
                    usage={
                        "input_tokens": int(n_prompt),
                        "output_tokens": len(tokens),
                    },
                )
            )
        return answers


class LocalVLM(LocalModel):
    def __init__(
        self,
        model_id: str,
        dtype: str = "auto",
        device: str = "auto",
        device_map: str | None = None,
        seed: int = 0,
    ) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        kwargs = load_options(dtype, device_map)
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
        self.model = AutoModelForImageTextToText.from_pretrained(model_id, **kwargs).eval()
        self.place(device, device_map)

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
