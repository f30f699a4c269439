"""A local causal language model (text only): ``hf-lm/<hub id, directory or .gguf file>``.

For the text-only ``txt`` variant, for local LLM judges (``llm:hf-lm/...``) and for
steering experiments on models with real weights. The model is prompted through its own
chat template and generates in left-padded batches, greedy unless a temperature is set,
exactly as :class:`vscbench.models.local.vlm.LocalVLM` does. A ``.gguf`` file (llama.cpp's
format, e.g. a quantised SmolLM2) is loaded by transformers with ``gguf_file=`` and
de-quantised (``pip install gguf``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vscbench.chat import Conversation
from vscbench.models.local.base import LocalModel


def split_gguf(model_id: str) -> tuple[str, str | None]:
    """``dir/model.gguf`` -> (``dir``, ``model.gguf``); anything else is itself."""
    if model_id.lower().endswith(".gguf"):
        path = Path(model_id)
        if not path.is_file():
            raise ValueError(f"{model_id}: no such .gguf file")
        return str(path.parent), path.name
    return model_id, None


class LocalLM(LocalModel):
    def load(self, model_id: str, kwargs: dict[str, Any]) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source, gguf = split_gguf(model_id)
        extra = {"gguf_file": gguf} if gguf else {}
        self.tokenizer = AutoTokenizer.from_pretrained(source, **extra)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(
                f"{model_id}: the tokenizer has no chat template; use an instruct model"
            )
        self.model = AutoModelForCausalLM.from_pretrained(source, **kwargs, **extra).eval()

    def chat_text(self, turns: Conversation) -> str:
        """The conversation through the model's chat template."""
        if any(t.image is not None for t in turns):
            raise ValueError(
                f"{self.model_id} is a text-only model (hf-lm/): it cannot take images; "
                "select --split text --variants txt, or use hf-vlm/ for a VLM"
            )
        messages = [{"role": t.role, "content": t.text} for t in turns]
        return self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )

    def inputs(self, conversations: Sequence[Conversation]) -> Any:
        texts = [self.chat_text(c) for c in conversations]
        # the template already holds the special tokens it wants
        return self.tokenizer(
            texts, padding=True, return_tensors="pt", add_special_tokens=False
        ).to(self.device)
