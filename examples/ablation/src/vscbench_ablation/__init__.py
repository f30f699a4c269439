"""Directional ablation (Arditi et al., NeurIPS 2024) as an activation-level method."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from vscbench.models.steering.hooks import decoder_layers
from vscbench.models.steering.vectors import load_steering


class DirectionalAblation:
    """Project one fitted direction out of the residual stream after every decoder layer.

    The direction is a layer's unsafe-minus-safe mean difference from a vectors file of
    ``vscbench steer fit`` (fitted on the calibration side, by default its middle
    layer); the hooks remove its component at every position of prompt and answer.
    """

    name = "ablation"
    version = "1"
    description = "directional ablation of a fitted unsafe-minus-safe direction, every layer"
    level = "activation"

    def __init__(self, vectors: Path, layer: int | None = None) -> None:
        fitted = load_steering(vectors, 1.0).layers
        if not fitted:
            raise ValueError(f"{vectors} holds no layer vectors")
        self.layer = layer if layer is not None else sorted(fitted)[len(fitted) // 2]
        if self.layer not in fitted:
            raise ValueError(f"{vectors} has no vector for layer {self.layer}: {sorted(fitted)}")
        direction = fitted[self.layer].float()
        self.direction = direction / direction.norm()

    def ablate(self, hidden: torch.Tensor) -> torch.Tensor:
        r = self.direction.to(hidden.device, hidden.dtype)
        return hidden - (hidden @ r).unsqueeze(-1) * r

    @contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        def hook(module, inputs, output):
            if isinstance(output, tuple):
                return (self.ablate(output[0]), *output[1:])
            return self.ablate(output)

        handles = [layer.register_forward_hook(hook) for layer in decoder_layers(model)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
