"""Test fixtures: a synthetic data directory and tiny vision-language models, built offline.

Not part of the installed package. Benchmarks and the docs' demo import them from here.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any


def synthetic_image(path: Path, size: tuple[int, int] = (24, 16)) -> None:
    """A small image whose pixels (and so bytes) are unique to its file name."""
    from PIL import Image

    digest = hashlib.sha256(path.name.encode()).digest()
    image = Image.new("RGB", size, tuple(digest[:3]))
    image.putpixel((0, 0), tuple(digest[3:6]))
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(path.suffix.lower(), "PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)


def synthetic_data_dir(sheets: Path, root: Path, size: tuple[int, int] = (24, 16)) -> Path:
    """The real sheets plus a synthetic file for every upstream photo they name.

    Stands in for the image archive, which tests and benchmarks cannot download.
    Typography, figstep and concat files are left out, so runs render them.
    """
    from vscbench.data.layout import IMAGE_SHEET, TEXT_SHEET
    from vscbench.data.sheets import load_sheets

    root.mkdir(parents=True, exist_ok=True)
    for name in (IMAGE_SHEET, TEXT_SHEET):
        shutil.copy(sheets / name, root / name)
    for item in load_sheets(root).items:
        if item.image and (item.split == "image" or item.variant == "search"):
            target = root / item.image
            if not target.exists():
                synthetic_image(target, size)
    return root


# --- tiny vision-language models, built offline -------------------------------------

TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %}"
    "{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
TINY_FAMILIES = ("llava", "idefics3", "qwen2-vl", "gemma3")
QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
TINY_VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": 28,
    "patch_size": 14,
}


#: Named special tokens per family's processor (attribute name -> token).
IDEFICS_TOKENS = {
    "image_token": "<image>",
    "fake_image_token": "<fake_token_around_image>",
    "global_image_token": "<global-img>",
    "end_of_utterance_token": "<end_of_utterance>",
}
GEMMA_TOKENS = {
    "boi_token": "<start_of_image>",
    "eoi_token": "<end_of_image>",
    "image_token": "<image_soft_token>",
}


def _byte_tokenizer(named: dict[str, str] | None = None) -> Any:
    """A byte-level tokenizer made in code: 256 byte symbols plus the special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    named = IDEFICS_TOKENS if named is None else named
    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    specials = ["<pad>", "<s>", "</s>", "<end_of_utterance>", *named.values()]
    specials = list(dict.fromkeys(specials))
    for token in specials:
        vocab[token] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        extra_special_tokens=named,
    )


def llava_processor(tokenizer: Any, chat_template: str) -> Any:
    """A LLaVA processor for 28x28 images in 14x14 patches (4 image tokens)."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    return LlavaProcessor(
        image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}
        ),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
        chat_template=chat_template,
    )


def build_tiny_vlm(
    family: str, path: Path, seed: int = 0, hidden: int = 64, layers: int = 4, heads: int = 4
) -> Path:
    """Save a randomly initialised LLaVA or Idefics3 model and its processor to ``path``.

    Loadable with ``AutoModelForImageTextToText`` / ``AutoProcessor`` like a hub
    checkpoint, so it exercises the same code path as a real model, in milliseconds.
    """
    import torch
    from transformers import LlamaConfig

    tokenizer = _byte_tokenizer(GEMMA_TOKENS if family == "gemma3" else None)
    vocab = tokenizer.get_vocab()
    text = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=1024,
        pad_token_id=vocab["<pad>"],
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
    )
    if family == "llava":
        from transformers import (
            CLIPVisionConfig,
            LlavaConfig,
            LlavaForConditionalGeneration,
        )

        vision = CLIPVisionConfig(**TINY_VISION)
        config = LlavaConfig(
            vision_config=vision,
            text_config=text,
            image_token_index=vocab["<image>"],
            pad_token_id=vocab["<pad>"],
            vision_feature_select_strategy="default",
            vision_feature_layer=-1,
        )
        processor = llava_processor(tokenizer, TINY_CHAT_TEMPLATE)
        model_cls: Any = LlavaForConditionalGeneration
    elif family == "idefics3":
        from transformers import (
            Idefics3Config,
            Idefics3ForConditionalGeneration,
            Idefics3ImageProcessorPil,
            Idefics3Processor,
            Idefics3VisionConfig,
        )

        vision = Idefics3VisionConfig(**TINY_VISION)
        config = Idefics3Config(
            vision_config=vision,
            text_config=text,
            image_token_id=vocab["<image>"],
            scale_factor=2,
            pad_token_id=vocab["<pad>"],
        )
        processor = Idefics3Processor(
            image_processor=Idefics3ImageProcessorPil(
                do_image_splitting=False,
                size={"longest_edge": 28},
                max_image_size={"longest_edge": 28},
            ),
            tokenizer=tokenizer,
            image_seq_len=1,
            chat_template=TINY_CHAT_TEMPLATE,
        )
        model_cls = Idefics3ForConditionalGeneration
    elif family == "qwen2-vl":
        return _tiny_qwen2_vl(path, tokenizer, text, seed)
    elif family == "gemma3":
        from transformers import (
            Gemma3Config,
            Gemma3ForConditionalGeneration,
            Gemma3ImageProcessorPil,
            Gemma3Processor,
        )

        text_config = {**text.to_dict(), "head_dim": hidden // heads, "sliding_window": 64}
        config = Gemma3Config(
            text_config=text_config,
            vision_config={k: v for k, v in TINY_VISION.items()},
            mm_tokens_per_image=1,
            boi_token_index=vocab["<start_of_image>"],
            eoi_token_index=vocab["<end_of_image>"],
            image_token_index=vocab["<image_soft_token>"],
        )
        processor = Gemma3Processor(
            image_processor=Gemma3ImageProcessorPil(size={"height": 28, "width": 28}),
            tokenizer=tokenizer,
            image_seq_length=1,
            chat_template=TINY_CHAT_TEMPLATE.replace("<image>", "<start_of_image>"),
        )
        model_cls = Gemma3ForConditionalGeneration
    else:
        raise ValueError(f"unknown tiny family {family!r}; use one of {TINY_FAMILIES}")
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    for name, parameter in model.named_parameters():
        if name.endswith("mm_input_projection_weight"):
            # Gemma 3 initialises its image projection to zeros, which would leave a
            # random model blind; real checkpoints carry trained weights
            torch.nn.init.normal_(parameter.data, std=0.5)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def _tiny_qwen2_vl(path: Path, tokenizer: Any, text: Any, seed: int) -> Path:
    """Qwen2-VL: saved as model, tokenizer and image processor, with no processor.

    Its processor requires a video processor, which needs torchvision; vscbench builds
    its inputs from the parts instead (as for a real checkpoint on such a machine).
    """
    import torch
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    tokenizer.add_tokens(
        ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"],
        special_tokens=True,
    )
    vocab = tokenizer.get_vocab()
    tokenizer.chat_template = TINY_CHAT_TEMPLATE.replace("<image>", QWEN_IMAGE)
    text_config = text.to_dict()
    text_config.update(
        vocab_size=len(vocab), rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}
    )
    config = Qwen2VLConfig(
        text_config=text_config,
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": text.hidden_size,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    Qwen2VLForConditionalGeneration(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    Qwen2VLImageProcessorPil(
        min_pixels=28 * 28, max_pixels=56 * 56, patch_size=14, merge_size=2, temporal_patch_size=2
    ).save_pretrained(path)
    return path


# --- a small VLM whose language half is real -----------------------------------------

#: SmolLM2's ChatML template (its default system prompt included), extended so a user
#: turn may hold image parts, written as LLaVA's ``<image>`` placeholder.
SMOLLM2_VLM_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_smollm2_llava(gguf: Path, path: Path, seed: int = 0) -> Path:
    """A LLaVA whose language model is SmolLM2-135M-Instruct (weights, tokenizer, chat
    template) and whose vision tower and projector are small and random; saved as a
    checkpoint directory that ``hf-vlm/<path>`` loads through its processor.
    """
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tokenizer.chat_template = SMOLLM2_VLM_TEMPLATE
    language = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    language.resize_token_embeddings(len(tokenizer))
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(**TINY_VISION),
        text_config=language.config,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        tie_word_embeddings=language.config.tie_word_embeddings,
    )
    model = LlavaForConditionalGeneration(config)
    model.model.language_model.load_state_dict(language.model.state_dict())
    model.lm_head.load_state_dict(language.lm_head.state_dict())
    processor = llava_processor(tokenizer, SMOLLM2_VLM_TEMPLATE)
    path.mkdir(parents=True, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(path)
    processor.save_pretrained(path)
    return path
