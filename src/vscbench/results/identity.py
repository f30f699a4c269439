"""A run's identity: everything that defines its answers, and its fingerprint.

``config.json`` records the identity and its sha256 fingerprint. Resuming a run
directory with any difference in it is refused, naming each difference, because
answers generated under two settings must never be pooled into one figure.

What defines the answers: the selection (splits, variants, categories, types, limit,
calibration side, split seed and fraction, defective pairs, missing images), the data
(the sheets' checksums, the render mode), the model and its non-secret arguments, the
generation settings, the method *and the content of its inputs* (the reminder's text,
the few-shot demonstrations' ids; for the ``steer`` method, the vectors file's sha256,
alpha, layers and gate). What does not: judges (``score`` adds or replaces verdicts per
judge without touching the answers), where the server is (``--base-url``), and how fast
it is asked (connections, retries, timeouts, batch size). The identity itself is built
from the run schema (:meth:`vscbench.config.RunConfig.identity`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def fingerprint(identity: Mapping[str, Any]) -> str:
    """sha256 of the identity's canonical JSON."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def upgrade(identity: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded identity as this version records the same run.

    Before steering was the ``steer`` method, a steered run recorded the method ``none``
    and its steering apart (``steering: {sha256, alpha, layers, gate}``); it is the run
    that the ``steer`` method records now, so it resumes and reports as one. (Steering
    beside another method cannot be written as one method: left as it is, such a run
    is read, scored and reported as both, but never run again; see
    :func:`vscbench.config.legacy_steering`.)
    """
    steering, method = identity.get("steering"), identity.get("method") or {}
    if not steering or method.get("name") != "none":
        return dict(identity)
    steer = {
        "name": "steer",
        "version": "1",
        "params": {k: steering.get(k) for k in ("alpha", "layers", "gate")},
        "inputs": {"vectors": steering.get("sha256")},
    }
    return {**identity, "method": steer, "steering": None}


def differences(
    stored: Mapping[str, Any], current: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """Each setting that differs, as ``key: old -> new`` (nested keys dotted)."""
    out = []
    for key in sorted(set(stored) | set(current)):
        old, new = stored.get(key), current.get(key)
        name = f"{prefix}{key}"
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            out += differences(old, new, name + ".")
        elif old != new:
            out.append(f"{name}: {_short(old)} -> {_short(new)}")
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
