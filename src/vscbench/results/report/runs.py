"""The runs a report compares: each run directory's records and figures, counted by
the one rule (:mod:`vscbench.results.counting`), and why a run cannot be ranked."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from vscbench.plugins import spelled
from vscbench.results.counting import (
    Tally,
    classify,
    compute_metrics,
    failure_banner,
    in_overall,
)
from vscbench.results.identity import upgrade
from vscbench.results.store import METRICS_FILE, load_records, read_json

#: Runs with a larger share of failed pairs are listed but not ranked: their figures
#: rest on what happened to succeed.
MAX_FAILED_SHARE = 0.10


@dataclass
class Run:
    name: str
    path: Path
    metrics: dict[str, Any]
    records: dict[str, dict[str, Any]]
    number: int = 0  # 1-based place on the command line; the label in figures

    @cached_property
    def figures(self) -> dict[str, Any]:
        """The run's figures, computed from its records by the one counting rule."""
        return compute_metrics(self.records.values())

    @property
    def overall(self) -> dict[str, Any]:
        """The headline figure (the same as ``metrics.json``'s)."""
        return self.figures["headline"]

    @cached_property
    def tally(self) -> Tally:
        return classify(self.records.values())

    @cached_property
    def scored_ids(self) -> frozenset[str]:
        return frozenset(record["id"] for record, _ in self.tally.scored)

    @cached_property
    def selected_ids(self) -> frozenset[str]:
        """Pairs the run was asked about: scored and failed ones (not excluded)."""
        return frozenset(r["id"] for r in self.records.values() if not r.get("excluded"))

    @property
    def selected(self) -> int:
        return len(self.selected_ids)

    def empty_label(self, split: str | None) -> str:
        """What an empty section of this run means: never asked, or asked and all failed.

        ``split`` is ``image``, ``text`` (its image variants) or ``None`` (any pair).
        """
        asked = any(
            split is None or (r["split"] == split and in_overall(r))
            for r in self.records.values()
            if not r.get("excluded")
        )
        return "all failed" if asked else "not run"

    @property
    def unranked_because(self) -> str | None:
        """Why the run's figures cannot be ranked beside others, or ``None``."""
        failed, total = self.tally.failed, self.selected
        gap = self.metrics.get("incomplete")
        if gap:
            return f"incomplete: {gap['records']} of {gap['pairs']} selected pairs have a record"
        if not total:
            return "no pair was scored"
        if failed / total > MAX_FAILED_SHARE:
            causes = failure_banner(self.figures) or f"{failed} of {total} pairs failed"
            return f"{causes} (over {MAX_FAILED_SHARE:.0%})"
        if self.overall["sra_u"] is None:
            return "no unsafe pair scored, so SRA_u is undefined"
        if self.overall["sra_s"] is None:
            return "no safe pair scored, so SRA_s is undefined"
        return None


def load_run(path: Path, allow_incomplete: bool = False) -> Run:
    metrics_path = path / METRICS_FILE
    if not metrics_path.is_file():
        raise ValueError(f"{path}: no {METRICS_FILE}; is this a finished vscbench run?")
    metrics = read_json(metrics_path)
    gap = metrics.get("incomplete")
    if gap and not allow_incomplete:
        raise ValueError(
            f"{path} is incomplete ({gap['records']} of {gap['pairs']} selected pairs have a "
            "record); finish it with the same `vscbench run` command, or pass "
            "--allow-incomplete to show it, marked and unranked"
        )
    config = metrics.get("config") or {}
    if config.get("identity"):  # a steered run of an older version reads as steer's
        config["identity"] = upgrade(config["identity"])
    return Run(path.name, path, metrics, load_records(path))


def method_identity(run: Run) -> dict[str, Any]:
    """The run's method as its identity records it: name, version, params, inputs."""
    return dict((run.metrics.get("config", {}).get("identity") or {}).get("method") or {})


def strength(run: Run) -> float | None:
    """The ``alpha`` parameter of the run's method (steer's strength), if it has one."""
    alpha = (method_identity(run).get("params") or {}).get("alpha")
    return float(alpha) if isinstance(alpha, int | float) else None


def sweeps(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Runs of one model and one method that differ only in its ``alpha`` (the same
    input files by content, the same other parameters), by alpha."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if strength(run) is None:
            continue
        method = method_identity(run)
        inputs = method.get("inputs") or {}
        others = [
            f"{k} {spelled(v)}"
            for k, v in (method.get("params") or {}).items()
            if k != "alpha" and k not in inputs and v not in (None, [], "")
        ]
        files = " ".join(sha[:12] for sha in inputs.values() if isinstance(sha, str))
        name = f"{method.get('name')} {files}".strip()
        model = str(run.metrics.get("config", {}).get("model", "")).split("/")[-1]
        groups[" · ".join([model, name, *others])].append(run)
    return {
        k: sorted(v, key=lambda r: strength(r) or 0.0)
        for k, v in groups.items()
        if len({strength(r) for r in v}) > 1
    }
