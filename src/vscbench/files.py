"""Hashing and atomic writes: the one way vscbench fingerprints and replaces files.

A file another process may read (a run's ``metrics.json``, a rendered image, the decode
cache, a vectors file) is written to a temporary name in the same folder and renamed
over the target, so a reader sees the old file or the new one, never half of one. The
temporary name carries the writer's pid, so two writers never share one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def temporary_for(path: Path) -> Path:
    """Where to write ``path`` before renaming it into place."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = temporary_for(path)
    tmp.write_bytes(data)
    tmp.replace(path)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any, indent: int | None = 2) -> None:
    text = json.dumps(data, indent=indent, ensure_ascii=False, default=str)
    write_text_atomic(path, text + ("\n" if indent is not None else ""))


def write_jsonl_atomic(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    tmp = temporary_for(path)
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)
