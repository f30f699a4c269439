"""``samples.jsonl``: one JSON line per judged (or failed) pair, the run's source of truth.

Lines are appended as pairs finish, so an interrupted run loses at most the pairs in
flight; the last line for an id wins, and the file is rewritten in item order (one line
per id) when a run completes. A final line cut off by a crash is skipped and counted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vscbench.items import Item

RECORD_FIELDS = (
    "id",
    "split",
    "variant",
    "group",
    "unsafe",
    "prompt",
    "image",
    "judge_query",
    "response",
    "error",
    "judge",
    "judge_label",
    "judge_output",
    "judge_error",
    "judge_refusal",
    "aware",
    "stop_reason",
    "usage",
    "row",
)


def new_record(item: Item, image: str | None) -> dict[str, Any]:
    """A record for ``item`` with nothing generated or judged yet."""
    record: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    record.update(
        id=item.id,
        split=item.split,
        variant=item.variant,
        group=item.group,
        unsafe=item.unsafe,
        prompt=item.prompt,
        image=image,
        judge_query=item.judge_query,
        row=item.row,
    )
    return record


class SampleStore:
    """Append-only JSONL with last-wins reads and atomic compaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.skipped_lines = 0
        self._fh: Any = None

    def load(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        self.skipped_lines = 0
        if not self.path.exists():
            return records
        with self.path.open("r", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    self.skipped_lines += 1  # a line cut off by an interrupted run
                    continue
                if isinstance(record, dict) and isinstance(record.get("id"), str):
                    records.pop(record["id"], None)  # keep file order = last write order
                    records[record["id"]] = record
                else:
                    self.skipped_lines += 1
        return records

    def append(self, record: Mapping[str, Any]) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
            self._ensure_line_start()
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()

    def _ensure_line_start(self) -> None:
        # a crash may have left a partial line; never glue a new record onto it
        if self.path.stat().st_size:
            with self.path.open("rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    self._fh.write("\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def rewrite(self, records: Iterable[Mapping[str, Any]]) -> None:
        self.close()
        write_jsonl_atomic(self.path, records)


def write_jsonl_atomic(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
