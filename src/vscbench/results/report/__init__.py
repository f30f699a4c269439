"""A static HTML report over run directories, with PNG figures beside it.

Leaderboard (SRA_u, SRA_s, their mean with intervals and n, utility when measured,
failed pairs), the calibration plane (SRA_s against SRA_u, one numbered point per run,
the ideal corner marked), per-category and per-variant bars, the trade-off curve of each
steering sweep, paired McNemar comparisons and the flipped pairs against the first run,
and the data-defect and error summary.

It is built not to mislead: runs over different pairs are flagged and also compared on
the pairs they share; runs with many failures, or without unsafe or safe pairs, are
listed with the reason instead of ranked; a group a run did not score reads "not run",
never 0%; runs at the same place in the plane are named as such.

The page is a Jinja2 template with autoescape (``templates/``, with its CSS and script,
shipped as package data); this module computes what it shows: :mod:`.runs` (the runs
and their figures), :mod:`.figures` (the PNGs) and :mod:`.pairs` (the flipped pairs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader

from vscbench.config import legacy_steering
from vscbench.items import IMAGE_CATEGORIES, TEXT_VARIANTS
from vscbench.plugins import shown
from vscbench.results.compare import flips, paired
from vscbench.results.counting import compute_metrics, percent
from vscbench.results.report import pairs as flip_view
from vscbench.results.report.audit import audit_section
from vscbench.results.report.figures import (
    calibration_plane,
    grouped_bars,
    tradeoff_curves,
    utility_tradeoff,
)
from vscbench.results.report.runs import MAX_FAILED_SHARE, Run, load_run, sweeps
from vscbench.results.store import make_dir

__all__ = ["Run", "build_report", "load_run", "sweeps"]


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("vscbench.results.report", "templates"), autoescape=True)
    env.filters["pct"] = percent
    env.filters["thousands"] = lambda n: f"{n:,}"
    return env


def build_report(paths: Sequence[Path], out: Path, allow_incomplete: bool = False) -> Path:
    """Write ``out/index.html`` with its figures, thumbnails and CSVs; return the page.

    An incomplete run is refused unless ``allow_incomplete``; then it is shown unranked.
    """
    runs = [load_run(Path(p), allow_incomplete) for p in paths]
    if not runs:
        raise ValueError("give at least one run directory")
    names = Counter(r.name for r in runs)
    for number, run in enumerate(runs, 1):  # same names from different parents stay apart
        run.number = number
        if names[run.name] > 1:
            run.name = f"{run.path.parent.name}/{run.name}"
    make_dir(out)
    page = out / "index.html"
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            runs=runs,
            max_failed=f"{MAX_FAILED_SHARE:.0%}",
            coverage=_coverage(runs),
            leaderboard=_leaderboard(runs),
            shared=_shared(runs),
            judges=_judges(runs),
            audit=audit_section(runs),  # vscbench audit: the figures people would have given
            figures=_figures(runs, out),
            paired=_paired(runs),
            flips=_flips(runs, out),
            defects=_defects(runs),
            preview=flip_view.ANSWER_PREVIEW,
        )
    )
    page.write_text(html, encoding="utf-8")
    return page


def _figures(runs: Sequence[Run], out: Path) -> list[dict[str, Any]]:
    def category(run: Run, group: str) -> dict[str, Any] | None:
        return run.figures.get("image_centric", {}).get("by_category", {}).get(group)

    def variant(run: Run, group: str) -> dict[str, Any] | None:
        return run.figures.get("text_centric", {}).get("by_variant", {}).get(group)

    notes = calibration_plane(runs, out / "calibration_plane.png")
    figures = [{"file": "calibration_plane.png", "title": "Calibration plane", "notes": notes}]
    for getter, groups, split, name, title in (
        (
            category,
            IMAGE_CATEGORIES,
            "image",
            "image_categories.png",
            "Image-centric, per category",
        ),
        (variant, TEXT_VARIANTS, "text", "text_variants.png", "Text-centric, per variant"),
    ):
        if grouped_bars(runs, groups, getter, f"{split}-centric", out / name):
            absent = [r for r in runs if not any(getter(r, g) for g in groups)]
            notes = [f"#{r.number} {r.name}: {r.empty_label(split)}, not drawn" for r in absent]
            figures.append({"file": name, "title": title, "notes": notes})
    if utility_tradeoff(runs, out / "utility_tradeoff.png"):
        figures.append({"file": "utility_tradeoff.png", "title": "SRA against utility"})
    curves = sweeps(runs)
    if curves:
        tradeoff_curves(curves, out / "tradeoff.png")
        figures.append({"file": "tradeoff.png", "title": "Steering sweeps"})
    return figures


def _coverage(runs: Sequence[Run]) -> dict[str, Any] | None:
    """What to warn about when the runs were asked about different pairs."""
    selected = [r.selected_ids for r in runs]
    if len(set(selected)) <= 1:
        return None
    counts = [
        {"number": r.number, "name": r.name, "n": len(s)}
        for r, s in zip(runs, selected, strict=True)
    ]
    return {"counts": counts, "shared": len(frozenset.intersection(*selected))}


def _leaderboard(runs: Sequence[Run]) -> list[dict[str, Any]]:
    ranked = sorted(
        (r for r in runs if r.unranked_because is None), key=lambda r: -r.overall["avg"]
    )
    unranked = [r for r in runs if r.unranked_because is not None]
    shown_mean = [round(100 * r.overall["avg"], 1) for r in ranked]  # ties as printed
    rows = []
    for run in [*ranked, *unranked]:
        reason = run.unranked_because
        rank = "—"
        if not reason:
            mine = round(100 * run.overall["avg"], 1)
            place = 1 + sum(m > mine for m in shown_mean)
            rank = f"{place}{'=' if shown_mean.count(mine) > 1 else ''}."
        config = run.metrics.get("config", {})
        errors = run.figures["errors"]
        rows.append(
            {
                "reason": reason,
                "rank": rank,
                "number": run.number,
                "name": run.name,
                "model": str(run.metrics.get("model")),
                "method": method_label(config),
                "headline": run.overall,
                "image": run.figures.get("image_centric", {}).get("overall"),
                "text": run.figures.get("text_centric", {}).get("overall"),
                "empty": {k: run.empty_label(s) for k, s in (("all", None), *_SPLITS)},
                "utility": run.metrics.get("utility", {}).get("score"),
                "failed": run.tally.failed,
                "selected": run.selected,
                "generation_errors": errors.get("generation", 0),
                "judge_errors": errors.get("judge", 0),
                "judge": str(run.metrics.get("judge")),
                "sample": config.get("limit"),
            }
        )
    return rows


_SPLITS = (("image", "image"), ("text", "text"))


def _judges(runs: Sequence[Run]) -> dict[str, Any] | None:
    """When runs were scored by different primary judges: who judged what, and the
    headline under one judge every run carries verdicts of (``score --judge`` adds one).

    Verdicts of different judges differ on the same answers, so ranking or diffing such
    runs compares judges as much as models.
    """
    primary = {r.number: str(r.metrics.get("judge")) for r in runs}
    if len(set(primary.values())) <= 1:
        return None
    carried = [set(r.metrics.get("by_judge") or {str(r.metrics.get("judge")): None}) for r in runs]
    common = sorted(set.intersection(*carried))
    judge = common[0] if common else None
    rows = []
    for run in runs if judge else ():
        by_judge = run.metrics.get("by_judge") or {}
        figures = by_judge[judge]["headline"] if judge in by_judge else run.overall
        rows.append({"number": run.number, "name": run.name, "figures": figures})
    return {
        "primary": [{"number": r.number, "name": r.name, "judge": primary[r.number]} for r in runs],
        "common": judge,
        "rows": rows,
    }


def _shared(runs: Sequence[Run]) -> dict[str, Any] | None:
    """Headline figures of every ranked run on the pairs all of them scored."""
    if len({r.selected_ids for r in runs}) <= 1:
        return None
    ranked = [r for r in runs if r.unranked_because is None]
    if len(ranked) < 2:
        return None
    shared = frozenset.intersection(*(r.scored_ids for r in ranked))
    rows = [
        {
            "number": run.number,
            "name": run.name,
            "figures": compute_metrics(run.records[i] for i in shared)["headline"],
        }
        for run in ranked
        if shared
    ]
    return {"n": len(shared), "rows": rows}


def method_label(config: dict[str, Any]) -> str:
    """The run's method as its identity records it: name, version, the parameters given
    a value (``steer 1 ?alpha=2.0``). An old run that steered beside a prompt method says
    so (``reminder + steering α=4 (legacy run)``): its prompt method alone did not make
    its answers, so it must not look like that method's run on the leaderboard."""
    method = (config.get("identity") or {}).get("method") or {}
    name = method.get("name") or config.get("method") or "none"
    label = f"{name} {method['version']}" if method.get("version") else str(name)
    params = shown(method.get("params") or {})
    label += f" ?{params}" if params else ""
    steering = legacy_steering(config)
    return f"{label} + {steering} (legacy run)" if steering else label


def _paired(runs: Sequence[Run]) -> dict[str, Any] | None:
    if len(runs) < 2:
        return None
    base = runs[0]
    rows = []
    for run in runs[1:]:
        for subset, r in paired(base.records, run.records).items():
            p = f"{r['p_value']:.3g}" if r["n"] else "no shared pairs"
            rows.append({**r, "number": run.number, "name": run.name, "subset": subset, "p": p})
    return {"base": base.name, "rows": rows}


def _flips(runs: Sequence[Run], out: Path) -> dict[str, Any] | None:
    """Per-pair view: for every run after the first, the pairs whose verdict flipped."""
    if len(runs) < 2:
        return None
    base = runs[0]
    data_dir = (base.metrics.get("data") or {}).get("dir")
    sections = []
    for run in runs[1:]:
        found = flips(base.records, run.records)
        csv_name = f"flips_{base.number}_vs_{run.number}.csv"
        flip_view.write_csv(found, out / csv_name)
        names = (base.name, run.name)
        sections.append(flip_view.section(names, found, data_dir, out, csv_name))
    return {"base": base.name, "sections": sections}


def _defects(runs: Sequence[Run]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        data = run.metrics.get("data", {})
        kinds = Counter(d["kind"] for d in data.get("defects", []))
        errors = run.figures["errors"]
        rows.append(
            {
                "number": run.number,
                "name": run.name,
                "kinds": ", ".join(f"{k} {n}" for k, n in kinds.items()),
                "excluded": len(data.get("excluded", {})),
                "generation": errors.get("generation", 0),
                "causes": ", ".join(f"{c} {n}" for c, n in (errors.get("by_cause") or {}).items()),
                "judge": errors.get("judge", 0),
            }
        )
    return rows
