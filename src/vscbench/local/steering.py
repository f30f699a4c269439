"""Activation steering for local VLMs: layer-level vectors and head-level revision.

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

import hashlib
import json
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


# --- fitting --------------------------------------------------------------------------


def mean_difference(unsafe: torch.Tensor, safe: torch.Tensor) -> torch.Tensor:
    """Mean unsafe activation minus mean safe activation (over the first axis)."""
    return unsafe.float().mean(0) - safe.float().mean(0)


def probe_accuracy(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    steps: int = 200,
) -> torch.Tensor:
    """Held-out accuracy of a logistic probe per feature group.

    ``*_x``: [groups, n, dim]; ``*_y``: [n] in {0, 1}. All groups train at once.
    """
    mean = train_x.mean(1, keepdim=True)
    std = train_x.std(1, keepdim=True) + 1e-6
    xs, xt = (train_x - mean) / std, (test_x - mean) / std
    weight = torch.zeros(xs.shape[0], xs.shape[2], requires_grad=True)
    bias = torch.zeros(xs.shape[0], requires_grad=True)
    optimiser = torch.optim.Adam([weight, bias], lr=0.05)
    target = train_y.float().expand(xs.shape[0], -1)
    for _ in range(steps):
        optimiser.zero_grad()
        logits = torch.einsum("gnd,gd->gn", xs, weight) + bias[:, None]
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target)
        loss = loss + 1e-3 * weight.pow(2).sum(1).mean()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        predicted = (torch.einsum("gnd,gd->gn", xt, weight) + bias[:, None]) > 0
        return (predicted == test_y.bool()).float().mean(1)


def fit_probe(x: torch.Tensor, y: torch.Tensor, steps: int = 300) -> tuple[torch.Tensor, float]:
    """A logistic probe on activations ``x`` [n, dim] for labels ``y`` [n]: (weight, bias)
    such that ``sigmoid(x @ weight + bias)`` is the probability of ``y = 1``.

    Trained on standardised features (as :func:`probe_accuracy` is); the scaling is folded
    back into the weight and bias so the gate reads raw activations.
    """
    x = x.float()
    mean, std = x.mean(0), x.std(0) + 1e-6
    xs = (x - mean) / std
    weight = torch.zeros(x.shape[1], requires_grad=True)
    bias = torch.zeros((), requires_grad=True)
    optimiser = torch.optim.Adam([weight, bias], lr=0.05)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(xs @ weight + bias, y.float())
        loss = loss + 1e-3 * weight.pow(2).sum()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        raw = weight / std
        return raw.detach().clone(), float(bias - (raw * mean).sum())


def split_heads(acts: torch.Tensor, heads: int) -> torch.Tensor:
    """[n, heads × dim] -> [heads, n, dim]."""
    n, width = acts.shape
    return acts.view(n, heads, width // heads).transpose(0, 1)


# --- files ----------------------------------------------------------------------------


def data_hash(ids: Sequence[str], sheet_sha: Mapping[str, str]) -> str:
    payload = json.dumps([sorted(ids), dict(sorted(sheet_sha.items()))])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def save_vectors(
    path: Path,
    vectors: Mapping[Any, torch.Tensor],
    meta: Mapping[str, Any],
    gate: Gate | None = None,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = [list(k) if isinstance(k, tuple) else k for k in vectors]
    data: dict[str, Any] = {
        "keys": keys,
        "vectors": torch.stack(list(vectors.values())),
        "meta": dict(meta),
    }
    if gate is not None:
        data["gate"] = {
            "layer": gate.layer,
            "weight": gate.weight,
            "bias": float(gate.bias),
            "accuracy": gate.accuracy,
        }
    torch.save(data, path)


def load_steering(
    path: Path,
    alpha: float,
    layers: Sequence[int] | None = None,
    gate_threshold: float | None = None,
) -> Steering:
    """A :class:`Steering` from a vectors file, optionally restricted to some layers and
    gated by the file's probe at ``gate_threshold``."""
    try:
        data = torch.load(path, weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a vscbench vectors file ({exc})") from exc
    meta = data["meta"]
    steering = Steering(alpha)
    if gate_threshold is not None:
        probe = data.get("gate")
        if probe is None:
            raise ValueError(
                f"{path} has no gate probe; fit it with `vscbench steer fit --gate-layer L`"
            )
        steering.gate = Gate(
            int(probe["layer"]),
            probe["weight"],
            float(probe["bias"]),
            float(gate_threshold),
            probe.get("accuracy"),
        )
    for key, vector in zip(data["keys"], data["vectors"], strict=True):
        layer = key[0] if isinstance(key, list) else key
        if layers is not None and layer not in layers:
            continue
        if meta.get("level") == "head":
            steering.heads[(int(key[0]), int(key[1]))] = vector
        else:
            steering.layers[int(key)] = vector
    if not steering.layers and not steering.heads:
        raise ValueError(
            f"{path}: no vectors for layer(s) {list(layers or [])}; it has {meta.get('layers')}"
        )
    return steering


def vectors_meta(path: Path) -> dict[str, Any]:
    return dict(torch.load(path, weights_only=True)["meta"])
