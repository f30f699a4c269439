"""What every in-process model shares: load options, placement, and batched, seeded
generation under the caller's steering. Greedy by default; with a temperature,
sampling is seeded per batch so runs repeat."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from vscbench.chat import Answer, Conversation

if TYPE_CHECKING:
    from vscbench.plugins import Intervention

DTYPES = ("auto", "float32", "float16", "bfloat16")
#: Reply budget when a caller sets none.
DEFAULT_MAX_NEW_TOKENS = 512


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

    def __init__(
        self,
        model_id: str,
        dtype: str = "auto",
        device: str = "auto",
        device_map: str | None = None,
        seed: int = 0,
    ) -> None:
        self.model_id = model_id
        self.seed = seed
        self.load(model_id, load_options(dtype, device_map))
        self.place(device, device_map)

    def load(self, model_id: str, kwargs: dict[str, Any]) -> None:
        """Load ``model`` and ``tokenizer`` (left padding) with ``from_pretrained`` options."""
        raise NotImplementedError

    def place(self, device: str, device_map: str | None) -> None:
        if not device_map:
            self.model.to(pick_device(device))
        self.device = next(self.model.parameters()).device

    def inputs(self, conversations: Sequence[Conversation]) -> Any:
        raise NotImplementedError

    def generate_batch(
        self,
        conversations: Sequence[Conversation],
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        temperature: float | None = None,
        steering: Intervention | None = None,
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
        steering: Intervention | None,
    ) -> list[Answer]:
        import torch

        inputs = self.inputs(conversations)
        sample = bool(temperature)
        torch.manual_seed(self.seed)
        hooked = steering.applied(self.model) if steering is not None else nullcontext()
        with torch.inference_mode(), hooked:
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
