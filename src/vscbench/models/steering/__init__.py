"""Activation steering of local models, in one place.

* :mod:`~vscbench.models.steering.hooks`: where vectors are added (forward hooks inside
  a context manager that always removes them), the gate that lets only some rows of a
  batch be steered, and how activations are recorded;
* :mod:`~vscbench.models.steering.fit`: mean-difference vectors per layer or per
  attention head, head ranking and the gate's probe (scikit-learn's logistic
  regression), on the calibration side, with activations cached;
* :mod:`~vscbench.models.steering.vectors`: the vectors file and its format.

:class:`Steer` is the built-in ``steer`` method: an activation-level intervention
(:class:`vscbench.plugins.Intervention`) registered, loaded and built through the same
registry as a plug-in's. This module imports no torch, so ``vscbench methods`` lists it
on a machine without the ``local`` extra.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

from pydantic import AllowInfNan, Field

from vscbench.config import Numbers
from vscbench.files import sha256_file
from vscbench.models.registry import LOCAL

__all__ = ["Steer"]

Strength = Annotated[float, AllowInfNan(False)]
Threshold = Annotated[float, Field(ge=0, le=1)]


class Steer:
    """Add ``alpha`` times fitted unsafe-minus-safe vectors where they were fitted.

    ``vectors`` is a file of ``vscbench steer fit``; ``layers`` restricts it to some of
    its layers; ``gate`` steers only the prompts its probe scores at least that high.
    The file is read when the method is built, so a missing or wrong file is refused
    before a run writes anything.
    """

    name = "steer"
    version = "1"
    description = "activation steering: alpha x fitted vectors (`vscbench steer fit`)"
    level = "activation"

    def __init__(
        self,
        vectors: Path,
        alpha: Strength = 1.0,
        layers: Numbers = (),
        gate: Threshold | None = None,
    ) -> None:
        LOCAL.require("the steer method (--steer)")
        if not vectors.is_file():
            raise ValueError(f"{vectors}: no such file; make one with `vscbench steer fit`")
        from vscbench.models.steering.vectors import load_steering

        self.steering = load_steering(vectors, alpha, layers or None, gate)
        self.sha256 = sha256_file(vectors)
        self.alpha, self.layers, self.gate = alpha, tuple(layers), gate

    def identity(self) -> dict[str, Any]:
        """Its parameters and the vectors' sha256, not their path: a run whose vectors
        file moved (or sits elsewhere on a Ray worker) still resumes, and other vectors
        under the old name never do. Steering runs made before steering was a method
        read as this (:func:`vscbench.results.identity.upgrade`)."""
        return {
            "name": self.name,
            "version": self.version,
            "params": {"alpha": self.alpha, "layers": list(self.layers), "gate": self.gate},
            "inputs": {"vectors": self.sha256},
        }

    def applied(self, model: Any) -> AbstractContextManager[None]:
        """The hooks on ``model`` for one batch (:func:`~.hooks.steered`)."""
        return self.steering.applied(model)
