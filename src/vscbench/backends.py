"""From a model name to the backend that answers it.

* ``hf-vlm/<hub id or path>``: a local Hugging Face VLM in this process
  (:mod:`vscbench.local.backend`), the only kind that can be steered;
* ``openai-api/<service>/<model>``: an OpenAI-compatible server through the ``openai``
  SDK (:func:`vscbench.providers.openai_compatible`);
* anything else: inspect_ai's model layer (:func:`vscbench.providers.inspect_model`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vscbench.chat import Generate, Settings

LOCAL_PREFIX = "hf-vlm/"


def make_generate(
    model: str,
    base_url: str | None = None,
    model_args: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> Generate:
    """The backend for ``model`` (see the module docstring)."""
    settings = settings or Settings()
    if settings.steering is not None and not model.startswith(LOCAL_PREFIX):
        raise ValueError(f"{model}: steering needs a local model (hf-vlm/<id or path>)")
    if model.startswith(LOCAL_PREFIX):
        from vscbench.local.backend import local_vlm as backend
    elif model.startswith("openai-api/"):
        from vscbench.providers import openai_compatible as backend
    else:
        from vscbench.providers import inspect_model as backend
    return backend(model, base_url, model_args or {}, settings)
