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
(connections, retries, timeouts, batch size).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SECRET_HINTS = ("key", "token", "secret", "password", "auth")


def redact(args: Mapping[str, Any]) -> dict[str, Any]:
    """Model arguments with secret-looking values replaced."""
    return {
        k: ("<redacted>" if any(h in k.lower() for h in SECRET_HINTS) else v)
        for k, v in sorted(args.items())
    }


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
