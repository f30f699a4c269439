"""The report's section on hand audits (``vscbench audit``), from each run's metrics.

``metrics.json`` carries the ``audit`` section as ``vscbench audit``, ``run`` and ``score``
last computed it from the run's labels (marked stale if the records changed since the
sample was drawn).

For every run with an audit: the judge's figures beside those people would have given,
the judge's agreement with people, and the labellers' agreement with each other. When
every ranked run has a usable audit, a second leaderboard ranks them by the figures
people would have given, and says so; otherwise it says which runs lack one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, PackageLoader
from markupsafe import Markup


class ReportRun(Protocol):
    """What the report knows of a run (``vscbench.results.report.runs.Run``)."""

    name: str
    number: int
    path: Path
    metrics: dict[str, Any]

    @property
    def unranked_because(self) -> str | None: ...


@dataclass
class Audited:
    number: int
    name: str
    ranked: bool
    audit: Mapping[str, Any] | None

    @property
    def usable(self) -> bool:
        """Whether the audit gives both figures (drawn, not stale, every stratum seen)."""
        people = (self.audit or {}).get("people") or {}
        return people.get("sra_u") is not None and people.get("sra_s") is not None

    @property
    def why_not(self) -> str:
        if self.audit is None:
            return "no hand audit"
        if "stale" in self.audit:
            return "its audit is stale (the run changed since the sample was drawn)"
        return (
            f"its audit is unfinished ({self.audit['labelled']} of {self.audit['sample']} "
            "labelled, some stratum has no label yet)"
        )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _span(interval: Sequence[float] | None) -> str:
    return "" if not interval else f"[{_pct(interval[0])}, {_pct(interval[1])}]"


def _kappa(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def audit_section(runs: Sequence[ReportRun]) -> Markup:
    """HTML for the report; empty when no run has an audit."""
    audited = [
        Audited(run.number, run.name, run.unranked_because is None, run.metrics.get("audit"))
        for run in runs
    ]
    if not any(a.audit is not None for a in audited):
        return Markup("")
    ranked = [a for a in audited if a.ranked]
    everyone = bool(ranked) and all(a.usable for a in ranked)
    leaderboard = sorted(ranked, key=lambda a: -a.audit["people"]["avg"]) if everyone else []
    env = Environment(loader=PackageLoader("vscbench.results.report", "templates"), autoescape=True)
    return Markup(
        env.get_template("audit.html.j2").render(
            audited=[a for a in audited if a.audit is not None],
            leaderboard=leaderboard,
            missing=[a for a in ranked if not a.usable],
            pct=_pct,
            span=_span,
            kappa=_kappa,
        )
    )
