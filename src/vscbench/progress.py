"""The one shape of progress reports: downloads, image checks, runs and judging.

A long step calls ``on_progress(Progress(...))`` as it goes; the command line draws a
bar on a terminal and prints a line now and then elsewhere. Nothing else is assumed of
the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Progress:
    done: int  # items, or bytes for downloads
    total: int | None
    label: str = ""
    errors: int = 0  # failed generations
    judge_errors: int = 0  # answers no judge could decide
    # the plan of a run, reported once before any request (a resumed run keeps answers)
    kept: int = 0
    to_generate: int = 0
    to_judge: int = 0


OnProgress = Callable[[Progress], None]
