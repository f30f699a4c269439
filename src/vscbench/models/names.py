"""The model-name grammar: which backend a ``--model`` name means, and its parts.

* ``hf-vlm/<hub id or path>``: a local Hugging Face VLM, run in this process;
* ``hf-lm/<hub id, directory or .gguf file>``: a local text-only causal LM;
* ``openai-api/<service>/<model>``: an OpenAI-compatible server (vLLM, SGLang, Ollama,
  OpenRouter, ...), key and URL from ``<SERVICE>_API_KEY`` / ``<SERVICE>_BASE_URL``;
* anything else (``openai/gpt-4o-mini``, ``anthropic/...``, ``mockllm/model``):
  inspect_ai's model layer.

Only the local kinds can be steered.
"""

from __future__ import annotations

VLM_PREFIX = "hf-vlm/"
LM_PREFIX = "hf-lm/"
LOCAL_PREFIXES = (VLM_PREFIX, LM_PREFIX)
OPENAI_API_PREFIX = "openai-api/"


def kind_of(model: str) -> str:
    """``hf-vlm``, ``hf-lm``, ``openai-api`` or ``inspect``: the backend's name."""
    for prefix in (*LOCAL_PREFIXES, OPENAI_API_PREFIX):
        if model.startswith(prefix):
            return prefix.rstrip("/")
    return "inspect"


def is_local(model: str) -> bool:
    """Whether ``model`` runs in this process (and so can be steered)."""
    return model.startswith(LOCAL_PREFIXES)


def is_text_only(model: str) -> bool:
    """Whether ``model`` takes no images (``hf-lm/``)."""
    return model.startswith(LM_PREFIX)


def local_id(model: str) -> str:
    """``hf-vlm/x`` or ``hf-lm/x`` -> ``x``."""
    for prefix in LOCAL_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix) :]
    raise ValueError(
        f"{model}: steering needs a local model: hf-vlm/<id or path> or hf-lm/<id, path or .gguf>"
    )


def openai_api_parts(model: str) -> tuple[str, str, str, str]:
    """``openai-api/<service>/<model>`` -> (service, model id, key variable, URL variable)."""
    parts = model.split("/", 2)
    if len(parts) < 3 or not parts[1] or not parts[2]:
        raise ValueError(f"{model!r}: use openai-api/<service>/<model>")
    service = parts[1].upper().replace("-", "_")
    return parts[1], parts[2], f"{service}_API_KEY", f"{service}_BASE_URL"
