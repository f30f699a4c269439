"""Fit steering vectors on the calibration side of the split, with cached activations.

Activations are the expensive part, so they are cached per (model, level, position,
data) under the user cache: a sweep over layers, top-k or alphas collects them once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from vscbench.data.sheets import DataError
from vscbench.dataset import UNUSABLE_IMAGE, Selection, load_dataset
from vscbench.items import TEXT_VARIANTS
from vscbench.local.lm import LocalLM
from vscbench.local.steering import (
    Gate,
    Level,
    Position,
    collect,
    data_hash,
    decoder_layers,
    fit_probe,
    head_shape,
    mean_difference,
    probe_accuracy,
    split_heads,
)
from vscbench.local.vlm import LocalModel, LocalVLM
from vscbench.paths import user_cache
from vscbench.split import query_key


@lru_cache(maxsize=2)
def load_local(model: str, args_json: str = "{}", seed: int = 0) -> LocalModel:
    """One loaded model per (name, options, seed), shared by fitting and a sweep's runs.

    ``model`` is ``hf-vlm/<id>`` (a VLM) or ``hf-lm/<id>`` (a text-only causal LM).
    """
    from vscbench.backends import is_text_only, local_id

    kind = LocalLM if is_text_only(model) else LocalVLM
    try:
        return kind(local_id(model), seed=seed, **json.loads(args_json))
    except OSError as exc:  # not on disk, not in the hub cache, hub unreachable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{model}: cannot load it ({first}). Give a local model directory, or a hub id "
            "that is in the Hugging Face cache when offline"
        ) from None


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
    :class:`vscbench.local.steering.Gate`); its accuracy on held-out calibration queries
    is in ``meta["gate"]``.
    """
    from vscbench.backends import is_text_only, local_id

    model_id = local_id(model)
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
    items = dataset.items
    labels = torch.tensor([item.unsafe for item in items])
    if labels.all() or not labels.any():
        raise DataError("the calibration side needs both safe and unsafe pairs")
    vlm = load_local(model, json.dumps(dict(model_args or {}), sort_keys=True))
    n_layers = len(decoder_layers(vlm.model))
    chosen = list(layers) if layers else list(range(n_layers))
    bad = [i for i in chosen if not 0 <= i < n_layers]
    if bad:
        raise ValueError(f"{model_id} has layers 0..{n_layers - 1}; got {bad}")
    digest = data_hash([i.id for i in items], dataset.sha256)
    requests = [(i.prompt, dataset.images[i.id]) for i in items]
    acts = _cached_activations(
        vlm,
        model_id,
        requests,
        chosen,
        position,
        level,
        digest,
        batch_size,
    )
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
        if not 0 <= gate_layer < n_layers:
            raise ValueError(f"{model_id} has layers 0..{n_layers - 1}; gate layer {gate_layer}")
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
