"""A run's identity: everything that defines its answers, and its fingerprint.

``config.json`` records the identity and its sha256 fingerprint. Resuming a run
directory with any difference in it is refused, naming each difference, because
answers generated under two settings must never be pooled into one figure.

What defines the answers: the selection (splits, variants, categories, types, limit,
calibration side, split seed and fraction, defective pairs, missing images), the data
(the sheets' checksums, the render mode), the model and its non-secret arguments, the
generation settings, the method *and the content of its inputs* (the reminder's text,
the few-shot demonstrations' ids), and steering (the vectors file's sha256, alpha and
layers). What does not: judges (``score`` adds or replaces verdicts per judge without
touching the answers), where the server is (``--base-url``), and how fast it is asked
(connections, retries, timeouts, batch size). The identity itself is built from the run
schema (:meth:`vscbench.config.RunConfig.identity`).
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
