"""Fit steering vectors on the calibration side of the split, with cached activations.

* **Layer level**: ``v_L`` is the mean activation of unsafe calibration pairs minus that
  of safe ones at the output of decoder layer L (last prompt token, or the prompt mean).
* **Head level**: the same difference per attention head at the input of ``o_proj``;
  heads are ranked by the held-out accuracy of a logistic probe (scikit-learn) that
  separates safe from unsafe pairs, and the top-k are kept.
* **Gate**: a logistic probe on one layer's output, folded back onto raw activations
  (:class:`~vscbench.models.steering.hooks.Gate`).

Held-out figures come from two halves of the calibration *queries*, so one query's pairs
never straddle train and test. Activations are the expensive part, so they are cached
per (model, weights, level, position, data) under the user cache: a sweep over layers,
top-k or alphas collects them once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vscbench.data.sheets import DataError
from vscbench.dataset import UNUSABLE_IMAGE, Selection, load_dataset
from vscbench.items import TEXT_VARIANTS
from vscbench.models.local.backend import load_for, load_local
from vscbench.models.local.base import LocalModel
from vscbench.models.names import is_text_only, local_id
from vscbench.models.steering.hooks import (
    Gate,
    Level,
    Position,
    collect,
    decoder_layers,
    head_shape,
)
from vscbench.models.steering.vectors import data_hash, save_vectors
from vscbench.paths import user_cache
from vscbench.split import query_key

__all__ = ["FitResult", "fit", "fit_to_file", "load_local"]

#: L2 strength of the probes, per pair (scikit-learn's C is 1 / (2 x this x n)).
PROBE_L2 = 1e-3


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A cheap identity of loaded weights: every tensor's name, shape, dtype and a
    sample of its values (its first and last 16), hashed.

    Hashing every byte of a 7B checkpoint would take a minute; a different checkpoint,
    fine-tune or precision changes these samples all the same.
    """
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            flat = tensor.detach().reshape(-1)
            sample = torch.cat([flat[:16], flat[-16:]]).float().cpu()
            digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}|".encode())
            digest.update(sample.numpy().tobytes())
    return digest.hexdigest()


@dataclass
class FitResult:
    vectors: dict[Any, torch.Tensor]
    meta: dict[str, Any]
    gate: Gate | None = None


def fit(
    model: str,
    model_args: Mapping[str, Any] | None = None,
    data_dir: str | None = None,
    side: str = "calibration",
    layers: Sequence[int] | None = None,
    position: Position = "last",
    level: Level = "layer",
    top_k: int = 8,
    split_seed: int = 0,
    calibration_fraction: float = 0.2,
    splits: Sequence[str] = ("image", "text"),
    batch_size: int = 8,
    limit: int | None = None,
    gate_layer: int | None = None,
) -> FitResult:
    """Mean-difference vectors (unsafe minus safe) per layer, or per top-k head.

    ``model`` is ``hf-vlm/<id>`` or ``hf-lm/<id>``; a text-only model is fitted on the
    text-centric ``txt`` pairs, the only ones it can read. With ``gate_layer``, a linear
    probe on that layer's output is fitted too (for gated steering, see
    :class:`~vscbench.models.steering.hooks.Gate`); its accuracy on held-out calibration queries
    is in ``meta["gate"]``.
    """
    model_id = local_id(model)
    dataset = _calibration_pairs(
        model, data_dir, side, splits, split_seed, calibration_fraction, limit
    )
    items = dataset.items
    labels = torch.tensor([item.unsafe for item in items])
    vlm = load_for(model, model_args or {})
    n_layers = len(decoder_layers(vlm.model))
    chosen = list(layers) if layers else list(range(n_layers))
    bad = [
        i
        for i in [*chosen, *([gate_layer] if gate_layer is not None else [])]
        if not 0 <= i < n_layers
    ]
    if bad:
        raise ValueError(f"{model_id} has layers 0..{n_layers - 1}; got {bad}")
    digest = data_hash([i.id for i in items], dataset.sha256)
    requests = [(i.prompt, dataset.images[i.id]) for i in items]
    acts = _cached_activations(vlm, model_id, requests, chosen, position, level, digest, batch_size)
    meta: dict[str, Any] = {
        "model": model,
        "level": level,
        "layers": chosen,
        "position": position,
        "data_hash": digest,
        "side": side,
        "split_seed": split_seed,
        "calibration_fraction": calibration_fraction,
        "n_unsafe": int(labels.sum()),
        "n_safe": int((~labels).sum()),
    }
    gate = None
    if gate_layer is not None:
        if level == "layer" and gate_layer in acts:
            gate_acts = acts[gate_layer]
        else:
            gate_acts = _cached_activations(
                vlm, model_id, requests, [gate_layer], position, "layer", digest, batch_size
            )[gate_layer]
        gate = _fit_gate(items, labels, gate_acts, gate_layer, split_seed)
        meta["gate"] = {"layer": gate_layer, "probe_accuracy": gate.accuracy}
    if level == "layer":
        vectors: dict[Any, torch.Tensor] = {
            i: mean_difference(acts[i][labels], acts[i][~labels]) for i in chosen
        }
        return FitResult(vectors, meta, gate)
    result = _fit_heads(vlm, items, labels, acts, chosen, top_k, split_seed, meta)
    result.gate = gate
    return result


def _calibration_pairs(
    model: str,
    data_dir: str | None,
    side: str,
    splits: Sequence[str],
    split_seed: int,
    calibration_fraction: float,
    limit: int | None,
) -> Any:
    """The pairs to fit on: a text-only model reads the ``txt`` pairs only; every pair
    needs its image, and both safe and unsafe pairs are needed."""
    text_only = is_text_only(model)
    selection = Selection(
        splits=("text",) if text_only else tuple(splits),
        variants=("txt",) if text_only else TEXT_VARIANTS,
        eval_on=side,
        split_seed=split_seed,
        calibration_fraction=calibration_fraction,
        limit=limit,
    )
    dataset = load_dataset(data_dir, selection)
    missing = [d for d in dataset.defects if d.kind in UNUSABLE_IMAGE]
    if missing:
        raise DataError(
            f"{len(missing)} calibration pair(s) have no usable image, e.g. "
            f"{missing[0].message}; run `vscbench data fetch`"
        )
    unsafe = {item.unsafe for item in dataset.items}
    if unsafe != {True, False}:
        raise DataError("the calibration side needs both safe and unsafe pairs")
    return dataset


def fit_to_file(path: Path, model: str, **options: Any) -> FitResult:
    """:func:`fit`, then write the vectors file (see :mod:`~vscbench.models.steering.vectors`)."""
    result = fit(model, **options)
    save_vectors(path, result.vectors, result.meta, result.gate)
    return result


def _query_halves(items: Sequence[Any], seed: int) -> torch.Tensor:
    """Two halves by query, so one query's pairs never straddle train and test."""
    return torch.tensor(
        [
            int(hashlib.sha256(f"{seed}:{query_key(i)}".encode()).hexdigest(), 16) % 2 == 0
            for i in items
        ]
    )


def _fit_gate(
    items: Sequence[Any], labels: torch.Tensor, acts: torch.Tensor, layer: int, seed: int
) -> Gate:
    """The gate's probe, fitted on all calibration pairs; its accuracy from halves."""
    half = _query_halves(items, seed)
    if half.all() or not half.any():
        raise DataError("too few calibration queries to train and test the gate's probe")
    accuracy = probe_accuracy(acts[half][None], labels[half], acts[~half][None], labels[~half])
    weight, bias = fit_probe(acts, labels)
    return Gate(layer, weight, bias, accuracy=float(accuracy[0]))


def _fit_heads(
    vlm: LocalModel,
    items: Sequence[Any],
    labels: torch.Tensor,
    acts: Mapping[int, torch.Tensor],
    layers: Sequence[int],
    top_k: int,
    seed: int,
    meta: dict[str, Any],
) -> FitResult:
    """Rank heads by held-out probe accuracy; keep the top-k heads' difference vectors."""
    heads, _ = head_shape(vlm.model)
    half = _query_halves(items, seed)
    if half.all() or not half.any():
        raise DataError("too few calibration queries to train and test head probes")
    per_head = torch.cat([split_heads(acts[i], heads) for i in layers])  # [L*H, n, d]
    accuracy = probe_accuracy(per_head[:, half], labels[half], per_head[:, ~half], labels[~half])
    order = torch.argsort(accuracy, descending=True)[:top_k].tolist()
    vectors: dict[Any, torch.Tensor] = {}
    ranked = []
    for flat in order:
        layer, head = layers[flat // heads], flat % heads
        vectors[(layer, head)] = mean_difference(per_head[flat][labels], per_head[flat][~labels])
        ranked.append({"layer": layer, "head": head, "probe_accuracy": float(accuracy[flat])})
    meta.update(top_k=top_k, heads=ranked)
    return FitResult(vectors, meta)


def _cached_activations(
    vlm: LocalModel,
    model_id: str,
    requests: list[tuple[str, Any]],
    layers: Sequence[int],
    position: str,
    level: str,
    digest: str,
    batch_size: int,
) -> dict[int, torch.Tensor]:
    # the weights and their dtype are part of the key: the same name may be re-trained,
    # re-downloaded or loaded in another precision, and its activations are then others
    key = hashlib.sha256(
        json.dumps([model_id, weights_fingerprint(vlm.model), level, position, digest]).encode()
    ).hexdigest()
    path = user_cache("activations", f"{key[:24]}.pt")
    cached: dict[int, torch.Tensor] = {}
    if path.exists():
        cached = {int(k): v for k, v in torch.load(path, weights_only=True).items()}
    missing = [i for i in layers if i not in cached]
    if missing:
        cached.update(
            collect(
                vlm,
                requests,
                missing,
                position,  # type: ignore[arg-type]
                batch_size,
                heads=level == "head",
            )
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({str(k): v for k, v in cached.items()}, path)
    return {i: cached[i] for i in layers}


# --- the math ----------------------------------------------------------------------


def mean_difference(unsafe: torch.Tensor, safe: torch.Tensor) -> torch.Tensor:
    """Mean unsafe activation minus mean safe activation (over the first axis)."""
    return unsafe.float().mean(0) - safe.float().mean(0)


def _probe(x: Any, y: Any) -> Any:
    """A standardised L2 logistic regression on ``x`` [n, dim] (numpy) for labels ``y``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    c = 1.0 / (2 * PROBE_L2 * len(y))
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
    return probe.fit(x, y)


def probe_accuracy(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
) -> torch.Tensor:
    """Held-out accuracy of a logistic probe per feature group.

    ``*_x``: [groups, n, dim]; ``*_y``: [n] in {0, 1}. One probe per group.
    """
    y, truth = train_y.int().numpy(), test_y.int().numpy()
    if len(set(y.tolist())) < 2:  # one class to learn from: every probe predicts it
        return torch.full((len(train_x),), float((truth == y[0]).mean()))
    scores = [
        float((_probe(xs.float().numpy(), y).predict(xt.float().numpy()) == truth).mean())
        for xs, xt in zip(train_x, test_x, strict=True)
    ]
    return torch.tensor(scores)


def fit_probe(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """A logistic probe on activations ``x`` [n, dim] for labels ``y`` [n]: (weight, bias)
    such that ``sigmoid(x @ weight + bias)`` is the probability of ``y = 1``.

    Trained on standardised features (as :func:`probe_accuracy` is); the scaling is folded
    back into the weight and bias so the gate reads raw activations.
    """
    probe = _probe(x.float().numpy(), y.int().numpy())
    scaler, model = probe[0], probe[-1]
    weight = torch.tensor(model.coef_[0] / scaler.scale_, dtype=torch.float32)
    bias = float(model.intercept_[0] - (weight.double().numpy() * scaler.mean_).sum())
    return weight, bias


def split_heads(acts: torch.Tensor, heads: int) -> torch.Tensor:
    """[n, heads × dim] -> [heads, n, dim]."""
    n, width = acts.shape
    return acts.view(n, heads, width // heads).transpose(0, 1)
