"""Per-user locations (data, rendered images, judge cache), each overridable by env."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def user_cache(*parts: str, env: str | None = None) -> Path:
    """``$env`` if set, else ``<user cache dir>/vscbench/<parts>``."""
    if env and os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    return Path(platformdirs.user_cache_dir("vscbench"), *parts)
