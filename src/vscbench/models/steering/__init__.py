"""Activation steering of local models, in one place.

* :mod:`~vscbench.models.steering.hooks`: where vectors are added (forward hooks inside
  a context manager that always removes them), the gate that lets only some rows of a
  batch be steered, and how activations are recorded;
* :mod:`~vscbench.models.steering.fit`: mean-difference vectors per layer or per
  attention head, head ranking and the gate's probe (scikit-learn's logistic
  regression), on the calibration side, with activations cached;
* :mod:`~vscbench.models.steering.vectors`: the vectors file and its format.

:func:`steering_for` turns a run's :class:`~vscbench.config.SteeringOptions` into the
:class:`~vscbench.models.steering.hooks.Steering` a local backend applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vscbench.config import SteeringOptions
from vscbench.models.registry import LOCAL

if TYPE_CHECKING:
    from vscbench.models.steering.hooks import Steering


def steering_for(options: SteeringOptions) -> Steering | None:
    """The steering a run applies, loaded from its vectors file (or ``None``)."""
    if not options.steer:
        return None
    LOCAL.require("steering (--steer)")
    from vscbench.models.steering.vectors import load_steering

    layers = options.steer_layers or None
    return load_steering(Path(options.steer), options.alpha, layers, options.gate)
