"""From a model name to the backend that answers it.

* ``hf-vlm/<hub id or path>``: a local Hugging Face VLM in this process, and
  ``hf-lm/<hub id, directory or .gguf file>``: a local text-only causal LM
  (:mod:`vscbench.local.backend`); the only kinds that can be steered;
* ``openai-api/<service>/<model>``: an OpenAI-compatible server through the ``openai``
  SDK (:func:`vscbench.providers.openai_compatible`);
* anything else: inspect_ai's model layer (:func:`vscbench.providers.inspect_model`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

from vscbench.chat import Generate, Settings

VLM_PREFIX = "hf-vlm/"
LM_PREFIX = "hf-lm/"
LOCAL_PREFIXES = (VLM_PREFIX, LM_PREFIX)


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


#: The install line of what local models, steering and classifier judges need, and
#: the packages it brings.
LOCAL_INSTALL = 'pip install "vscbench[local]"'
LOCAL_PACKAGES = ("torch", "transformers", "accelerate", "gguf", "tokenizers", "safetensors")


def require_local_extra(what: str) -> None:
    """Refuse early, with the install line, when torch or transformers is missing.

    Checked before any model or data is loaded, so a user who installed the base
    package learns what to add instead of meeting an import traceback mid-run.
    """
    absent = [p for p in ("torch", "transformers") if importlib.util.find_spec(p) is None]
    if absent:
        raise ValueError(local_extra_missing(what, absent))


def local_extra_missing(what: str, absent: Sequence[str]) -> str:
    """The message for ``what`` lacking packages of the local extra (one wording)."""
    return (
        f"{what} needs {' and '.join(absent)}, not installed here: {LOCAL_INSTALL} "
        "(install the torch build that suits your machine first, see pytorch.org)"
    )


def make_generate(
    model: str,
    base_url: str | None = None,
    model_args: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> Generate:
    """The backend for ``model`` (see the module docstring)."""
    settings = settings or Settings()
    if settings.steering is not None and not is_local(model):
        raise ValueError(f"{model}: steering needs a local model (hf-vlm/ or hf-lm/)")
    if is_local(model):
        require_local_extra(model)
        from vscbench.local.backend import local_model as backend
    elif model.startswith("openai-api/"):
        from vscbench.providers import openai_compatible as backend
    else:
        from vscbench.providers import inspect_model as backend
    return backend(model, base_url, model_args or {}, settings)
