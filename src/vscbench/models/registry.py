"""The registry of backends: from a model name to the function that answers it.

Each backend declares the module that implements it (imported only when used, so an
API run never imports torch) and the optional dependency it needs (an :class:`Extra`,
checked before anything is loaded or written, with the install line in the message).
A backend's ``make`` function returns a :data:`~vscbench.chat.Generate` that raises
only :class:`~vscbench.chat.FatalModelError` (stop the run) or
:class:`~vscbench.chat.ModelCallError` (record this pair's failure): each backend
classifies its own errors (:mod:`vscbench.models.errors`).

A new backend is a module with a ``make(model, base_url, model_args, settings)``
function and one :class:`Backend` line in :data:`BACKENDS`; its name goes into
:mod:`vscbench.models.names`.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vscbench.chat import Generate, Settings
from vscbench.models.names import is_local, kind_of


@dataclass(frozen=True)
class Extra:
    """An optional dependency group of the package (``pip install "vscbench[name]"``)."""

    name: str
    needs: tuple[str, ...]  # modules whose absence is refused early
    packages: tuple[str, ...]  # everything the extra brings (for import errors later on)

    @property
    def install(self) -> str:
        return f'pip install "vscbench[{self.name}]"'

    def missing_message(self, what: str, absent: Sequence[str]) -> str:
        """The message for ``what`` lacking packages of this extra (one wording)."""
        return (
            f"{what} needs {' and '.join(absent)}, not installed here: {self.install} "
            "(install the torch build that suits your machine first, see pytorch.org)"
        )

    def require(self, what: str) -> None:
        """Refuse early, with the install line, when a needed module is missing.

        Checked before any model or data is loaded, so a user who installed the base
        package learns what to add instead of meeting an import traceback mid-run.
        """
        absent = [p for p in self.needs if importlib.util.find_spec(p) is None]
        if absent:
            raise ValueError(self.missing_message(what, absent))


#: Local models, steering and classifier judges.
LOCAL = Extra(
    "local",
    needs=("torch", "transformers"),
    packages=("torch", "transformers", "accelerate", "gguf", "tokenizers", "safetensors"),
)


@dataclass(frozen=True)
class Backend:
    kind: str  # see vscbench.models.names.kind_of
    module: str  # holds make(model, base_url, model_args, settings) -> Generate
    extra: Extra | None = None

    def check(self, model: str) -> None:
        if self.extra is not None:
            self.extra.require(model)

    def make(
        self, model: str, base_url: str | None, model_args: Mapping[str, Any], settings: Settings
    ) -> Generate:
        self.check(model)
        factory = importlib.import_module(self.module).make
        return factory(model, base_url, model_args, settings)


BACKENDS = {
    b.kind: b
    for b in (
        Backend("hf-vlm", "vscbench.models.local.backend", LOCAL),
        Backend("hf-lm", "vscbench.models.local.backend", LOCAL),
        Backend("openai-api", "vscbench.models.openai_api"),
        Backend("inspect", "vscbench.models.inspect_api"),
    )
}


def backend_for(model: str) -> Backend:
    return BACKENDS[kind_of(model)]


def make_generate(
    model: str,
    base_url: str | None = None,
    model_args: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> Generate:
    """The backend for ``model`` (see :mod:`vscbench.models.names`)."""
    settings = settings or Settings()
    if settings.steering is not None and not is_local(model):
        raise ValueError(
            f"{model}: an activation-level method (steering) needs a local model "
            "(hf-vlm/ or hf-lm/)"
        )
    return backend_for(model).make(model, base_url, model_args or {}, settings)
