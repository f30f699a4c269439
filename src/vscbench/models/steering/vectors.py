"""The vectors file of ``vscbench steer fit`` (``.pt``, read with ``weights_only=True``).

Format: a ``torch.save`` dict with

* ``keys``: one per vector, a layer index (``int``) at layer level, or ``[layer, head]``
  at head level;
* ``vectors``: a tensor ``[len(keys), width]`` in the same order (unsafe mean minus
  safe mean; width is the hidden size, or the head dimension at head level);
* ``meta``: ``model``, ``level`` (``layer``/``head``), ``layers``, ``position``
  (``last``/``mean``), ``data_hash`` (of the calibration pair ids and sheet checksums),
  ``side``, ``split_seed``, ``calibration_fraction``, ``n_unsafe``, ``n_safe``; at head
  level ``top_k`` and ``heads`` (each ``layer``, ``head``, ``probe_accuracy``); with a
  gate, ``gate`` (``layer``, ``probe_accuracy``);
* ``gate`` (optional): the probe of gated steering, ``layer``, ``weight`` (``[width]``,
  on raw activations), ``bias`` and ``accuracy`` (held out).

A run names the file by its sha256 in its identity, so other vectors never resume it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from vscbench.files import temporary_for
from vscbench.models.steering.hooks import Gate, Steering


def data_hash(ids: Sequence[str], sheet_sha: Mapping[str, str]) -> str:
    payload = json.dumps([sorted(ids), dict(sorted(sheet_sha.items()))])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def save_vectors(
    path: Path,
    vectors: Mapping[Any, torch.Tensor],
    meta: Mapping[str, Any],
    gate: Gate | None = None,
) -> None:
    """Write a vectors file (atomically: a reader never sees half of one)."""
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
    tmp = temporary_for(path)
    torch.save(data, tmp)
    tmp.replace(path)


def load_steering(
    path: Path,
    alpha: float,
    layers: Sequence[int] | None = None,
    gate_threshold: float | None = None,
) -> Steering:
    """A :class:`Steering` from a vectors file, optionally restricted to some layers and
    gated by the file's probe at ``gate_threshold``."""
    data = read_vectors(path)
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


def read_vectors(path: Path) -> dict[str, Any]:
    """A vectors file's content; a file that is not one is one ``ValueError`` line.

    ``torch.load`` fails in many ways on a file that is not a vectors file (``KeyError``
    on text, ``EOFError`` when empty, ``RuntimeError`` on a broken archive,
    ``UnpicklingError`` on objects ``weights_only`` refuses), so any failure of it is
    named by its type, and a foreign ``torch.save`` dict by the keys it lacks.
    """
    try:
        data = torch.load(path, weights_only=True)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    except Exception as exc:
        why = (str(exc).strip().splitlines() or [""])[0][:120]
        raise ValueError(
            f"{path}: not a vscbench steering-vectors file ({type(exc).__name__}: {why})"
        ) from None
    fields = ("keys", "vectors", "meta")
    missing = [k for k in fields if k not in data] if isinstance(data, dict) else list(fields)
    if missing:
        raise ValueError(
            f"{path}: not a vscbench steering-vectors file (no {', '.join(missing)}); "
            "make one with `vscbench steer fit`"
        )
    return data


def vectors_meta(path: Path) -> dict[str, Any]:
    return dict(read_vectors(path)["meta"])
