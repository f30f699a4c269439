"""The run directory on disk: its files, its records and its one writer.

A run directory holds ``config.json`` (what defines the answers, written first),
``samples.jsonl`` (one JSON line per judged or failed pair, the run's source of truth;
its records are :mod:`vscbench.results.records`),
``metrics.json`` (written last), ``logs/`` (an inspect log of the same records) and
``.lock`` (held by the one process writing it).

Lines of ``samples.jsonl`` are appended as pairs finish, so an interrupted run loses at
most the pairs in flight; the last line for an id wins, and the file is rewritten in item
order (one line per id) when a run completes. A final line cut off by a crash is skipped
and counted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from vscbench.files import write_jsonl_atomic
from vscbench.results.records import from_line, to_line

CONFIG_FILE = "config.json"
SAMPLES_FILE = "samples.jsonl"
METRICS_FILE = "metrics.json"
LOG_DIR = "logs"
LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.holder"


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked (resumed, locked, read)."""


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
                    record = from_line(json.loads(line))
                except json.JSONDecodeError:
                    self.skipped_lines += 1  # a line cut off by an interrupted run
                    continue
                if record is not None:
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
        self._fh.write(json.dumps(to_line(record), ensure_ascii=False) + "\n")
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
        write_jsonl_atomic(self.path, map(to_line, records))


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a run directory, with an error that names the file."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc}); was it edited by hand?") from exc
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object")
    return data


def make_dir(path: Path, flag: str = "--out") -> Path:
    """Create ``path`` (and parents) or say plainly why not, naming the flag it came from.

    An unwritable or misspelt output path is the user's to fix, so it ends in one line
    rather than an ``OSError`` traceback.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except FileExistsError:
        raise RunDirError(
            f"{flag} {path}: a file of that name is in the way; give a directory"
        ) from None
    except OSError as exc:
        blocker = next((p for p in [path, *path.parents] if p.is_file()), None)
        why = f"{blocker} is a file, not a directory" if blocker else exc.strerror
        raise RunDirError(
            f"{flag} {path}: cannot create or write the directory ({why}); "
            "choose a writable location"
        ) from None
    return path


def load_records(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The records of a run directory by id (last line wins)."""
    path = run_dir / SAMPLES_FILE
    if not path.is_file():
        raise RunDirError(f"{run_dir}: no {SAMPLES_FILE}; is this a vscbench run directory?")
    return SampleStore(path).load()


class RunDirLock:
    """One writer per run directory: a second process is refused at once.

    The lock is an OS file lock (``filelock``), so it is released when its holder dies,
    however it dies; a small file beside it names the holder for the refusal message.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._lock = FileLock(str(run_dir / LOCK_FILE), timeout=0)

    def __enter__(self) -> RunDirLock:
        make_dir(self.run_dir)
        try:
            self._lock.acquire()
        except Timeout:
            holder_file = self.run_dir / HOLDER_FILE
            holder = holder_file.read_text("utf-8").strip() if holder_file.exists() else ""
            raise RunDirError(
                f"{self.run_dir} is being written by another process"
                f"{f' ({holder})' if holder else ''}; wait for it to finish or stop it, "
                "or use another --out"
            ) from None
        import socket
        import sys

        (self.run_dir / HOLDER_FILE).write_text(
            f"pid {os.getpid()} on {socket.gethostname()}: {' '.join(sys.argv)[:200]}\n",
            encoding="utf-8",
        )
        return self

    def __exit__(self, *exc: object) -> None:
        (self.run_dir / HOLDER_FILE).unlink(missing_ok=True)
        self._lock.release()
