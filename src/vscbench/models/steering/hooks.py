"""Steering hooks: where a vector is added, and how activations are read.

* **Layer level**: the residual stream after decoder layer L (the layer's output hidden
  state) is shifted by ``alpha × v_L`` at every position, where ``v_L`` is the mean
  activation of unsafe calibration pairs minus that of safe ones.
* **Head level**: at the input of each attention output projection (``o_proj``) the
  concatenated head outputs are split per head; a per-head difference vector is fitted
  the same way, heads are ranked by how well a linear probe separates safe from unsafe
  pairs on held-out calibration queries, and only the top-k heads are shifted.

Both are applied through forward hooks inside a context manager that always removes
them, so a model leaves a steered block exactly as it entered.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from vscbench.chat import ask

Position = Literal["last", "mean"]
Level = Literal["layer", "head"]

_LAYER_PATHS = (
    "model.language_model.layers",
    "model.text_model.layers",
    "language_model.model.layers",
    "language_model.layers",
    "model.layers",
)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The language model's decoder layers of a VLM (LLaVA, Idefics3, Qwen2-VL, ...)."""
    for path in _LAYER_PATHS:
        node: Any = model
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if isinstance(node, nn.ModuleList) and len(node):
            return node
    raise ValueError(f"{type(model).__name__}: cannot find the language model's layers")


def attention_output(layer: nn.Module) -> nn.Linear:
    proj = getattr(getattr(layer, "self_attn", None), "o_proj", None)
    if not isinstance(proj, nn.Linear):
        raise ValueError(f"{type(layer).__name__}: no self_attn.o_proj to revise heads at")
    return proj


def head_shape(model: nn.Module) -> tuple[int, int]:
    """(number of attention heads, head dimension) of the language model."""
    layer = decoder_layers(model)[0]
    attn = layer.self_attn
    heads = getattr(attn, "num_heads", None) or attn.config.num_attention_heads
    dim = getattr(attn, "head_dim", None) or attention_output(layer).in_features // heads
    return int(heads), int(dim)


def _hidden(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def _replace_hidden(output: Any, hidden: torch.Tensor) -> Any:
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


# --- applying -------------------------------------------------------------------------


@dataclass
class Gate:
    """Steer only the prompts a linear probe reads as unsafe.

    At decoder layer ``layer``, on the prompt's last token (inputs are left-padded), the
    probe's probability ``sigmoid(weight · h + bias)`` is computed once per prompt; the
    steering applies to the rows where it is at least ``threshold``, through the prompt
    and every generated token, and to no other row of the batch.
    """

    layer: int
    weight: torch.Tensor
    bias: float
    threshold: float = 0.5
    accuracy: float | None = None  # the probe's held-out accuracy when it was fitted


@dataclass
class Steering:
    """What to add where. ``layers``: layer -> vector; ``heads``: (layer, head) -> vector."""

    alpha: float
    layers: dict[int, torch.Tensor] = field(default_factory=dict)
    heads: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    gate: Gate | None = None

    def applied(self, model: nn.Module) -> Any:
        """This steering on ``model`` inside a ``with`` block (see :func:`steered`)."""
        return steered(model, self)


@contextmanager
def steered(model: nn.Module, steering: Steering | None) -> Iterator[None]:
    """Add the steering inside the block; hooks are removed however the block ends."""
    if steering is None or steering.alpha == 0:
        yield
        return
    layers = decoder_layers(model)
    handles = []
    rows: dict[str, torch.Tensor | None] = {"mask": None}  # which rows the gate lets through
    gate = steering.gate
    if gate is not None:
        earliest = min([*steering.layers, *(i - 1 for i, _ in steering.heads)])
        if gate.layer > earliest:
            raise ValueError(
                f"the gate reads layer {gate.layer}, after steering starts (layer {earliest}); "
                "gate at or before the first steered layer"
            )
    try:
        if gate is not None:  # registered first: it sees the layer's unsteered output
            handles.append(layers[gate.layer].register_forward_hook(_gate_hook(gate, rows)))
        for index, vector in steering.layers.items():
            handles.append(
                layers[index].register_forward_hook(_layer_hook(steering.alpha, vector, rows))
            )
        by_layer: dict[int, dict[int, torch.Tensor]] = {}
        for (index, head), vector in steering.heads.items():
            by_layer.setdefault(index, {})[head] = vector
        if by_layer:
            _, dim = head_shape(model)
            for index, heads in by_layer.items():
                proj = attention_output(layers[index])
                handles.append(
                    proj.register_forward_pre_hook(_head_hook(steering.alpha, heads, dim, rows))
                )
        yield
    finally:
        for handle in handles:
            handle.remove()


def _gated(shift: torch.Tensor, rows: Mapping[str, torch.Tensor | None]) -> torch.Tensor:
    """``shift`` for every row, or only for the rows the gate let through."""
    mask = rows["mask"]
    if mask is None:
        return shift
    return shift * mask.to(device=shift.device, dtype=shift.dtype)[:, None, None]


def _gate_hook(gate: Gate, rows: dict[str, torch.Tensor | None]) -> Any:
    def hook(module: nn.Module, args: Any, output: Any) -> None:
        hidden = _hidden(output)
        if hidden.shape[1] > 1 or rows["mask"] is None:  # a prompt pass: decide anew
            last = hidden[:, -1, :].float()
            weight = gate.weight.to(device=last.device, dtype=last.dtype)
            rows["mask"] = torch.sigmoid(last @ weight + gate.bias) >= gate.threshold

    return hook


def _layer_hook(alpha: float, vector: torch.Tensor, rows: Mapping[str, torch.Tensor | None]) -> Any:
    def hook(module: nn.Module, args: Any, output: Any) -> Any:
        hidden = _hidden(output)
        shift = (alpha * vector).to(device=hidden.device, dtype=hidden.dtype)
        return _replace_hidden(output, hidden + _gated(shift.expand_as(hidden), rows))

    return hook


def _head_hook(
    alpha: float,
    heads: Mapping[int, torch.Tensor],
    dim: int,
    rows: Mapping[str, torch.Tensor | None],
) -> Any:
    def hook(module: nn.Module, args: Any) -> Any:
        x = args[0]
        shift = torch.zeros(x.shape[-1], device=x.device, dtype=x.dtype)
        for head, vector in heads.items():
            shift[head * dim : (head + 1) * dim] = (alpha * vector).to(x.device, x.dtype)
        return (x + _gated(shift.expand_as(x), rows), *args[1:])

    return hook


# --- collecting -----------------------------------------------------------------------


@contextmanager
def recording(
    model: nn.Module, layers: Sequence[int], heads: bool = False
) -> Iterator[dict[int, torch.Tensor]]:
    """Capture each layer's output (or, with ``heads``, its o_proj input) per forward."""
    found: dict[int, torch.Tensor] = {}
    modules = decoder_layers(model)
    handles = []

    def output_hook(index: int) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            found[index] = _hidden(output).detach()

        return hook

    def input_hook(index: int) -> Any:
        def hook(module: nn.Module, args: Any) -> None:
            found[index] = args[0].detach()

        return hook

    try:
        for index in layers:
            if heads:
                handles.append(
                    attention_output(modules[index]).register_forward_pre_hook(input_hook(index))
                )
            else:
                handles.append(modules[index].register_forward_hook(output_hook(index)))
        yield found
    finally:
        for handle in handles:
            handle.remove()


def pool(hidden: torch.Tensor, mask: torch.Tensor, position: Position) -> torch.Tensor:
    """One vector per sequence: the last real token (inputs are left-padded) or the mean."""
    if position == "last":
        return hidden[:, -1, :]
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1)


def collect(
    vlm: Any,
    requests: Sequence[tuple[str, Path | None]],
    layers: Sequence[int],
    position: Position = "last",
    batch_size: int = 8,
    heads: bool = False,
) -> dict[int, torch.Tensor]:
    """Pooled activations of ``requests`` (prompt forward pass only): layer -> [n, width]."""
    rows: dict[int, dict[int, torch.Tensor]] = {i: {} for i in layers}
    with_image = [i for i, (_, image) in enumerate(requests) if image is not None]
    without = [i for i, (_, image) in enumerate(requests) if image is None]
    for group in (with_image, without):  # a batch never mixes the two
        for start in range(0, len(group), batch_size):
            chunk = group[start : start + batch_size]
            inputs = vlm.inputs([ask(*requests[i]) for i in chunk])
            with recording(vlm.model, layers, heads) as found, torch.inference_mode():
                vlm.model(**inputs)
            for index in layers:
                pooled = pool(found[index], inputs["attention_mask"], position).float().cpu()
                rows[index].update(zip(chunk, pooled, strict=True))
    return {
        index: torch.stack([found[i] for i in range(len(requests))])
        for index, found in rows.items()
    }
