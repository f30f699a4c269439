"""A static HTML report over run directories, with PNG figures beside it.

Leaderboard (SRA_u, SRA_s, their mean with intervals, utility when measured, errors),
the calibration plane (SRA_s against SRA_u, one point per run, the ideal corner marked),
per-category and per-variant bars, the trade-off curve of each steering sweep, paired
McNemar comparisons against the first run, and the data-defect and error summary.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from vscbench.items import IMAGE_CATEGORIES, TEXT_VARIANTS
from vscbench.results.compare import paired
from vscbench.results.counting import compute_metrics
from vscbench.results.store import METRICS_FILE, load_records, make_dir, read_json

NAMES = {"sra_u": "SRA_u", "sra_s": "SRA_s"}


@dataclass
class Run:
    name: str
    path: Path
    metrics: dict[str, Any]
    records: dict[str, dict[str, Any]]

    @cached_property
    def figures(self) -> dict[str, Any]:
        """The run's figures, computed from its records by the one counting rule."""
        return compute_metrics(self.records.values())

    @property
    def overall(self) -> dict[str, Any]:
        """The headline figure (the same as ``metrics.json``'s)."""
        return self.figures["headline"]

    @property
    def label(self) -> str:
        config = self.metrics.get("config", {})
        steer = f", steer α={config['alpha']:g}" if config.get("steer") else ""
        return f"{self.name} ({self.metrics.get('model')}{steer})"


def load_run(path: Path) -> Run:
    metrics_path = path / METRICS_FILE
    if not metrics_path.is_file():
        raise ValueError(f"{path}: no {METRICS_FILE}; is this a finished vscbench run?")
    return Run(path.name, path, read_json(metrics_path), load_records(path))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _ci(m: dict[str, Any], key: str) -> str:
    span = m["ci95"][key]
    return "" if span is None else f"<small>[{_pct(span[0])}, {_pct(span[1])}]</small>"


def _cells(m: dict[str, Any] | None) -> str:
    if not m:
        return "<td>—</td>" * 3
    return (
        f"<td>{_pct(m['sra_u'])} {_ci(m, 'sra_u')}</td>"
        f"<td>{_pct(m['sra_s'])} {_ci(m, 'sra_s')}</td><td>{_pct(m['avg'])}</td>"
    )


# --- figures --------------------------------------------------------------------------


def _errorbar(m: dict[str, Any], key: str) -> list[float]:
    span = m["ci95"][key] or [m[key], m[key]]
    return [m[key] - span[0], span[1] - m[key]]


def calibration_plane(runs: Sequence[Run], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 6))
    for run in runs:
        m = run.overall
        if m["sra_u"] is None or m["sra_s"] is None:
            continue
        ax.errorbar(
            m["sra_u"],
            m["sra_s"],
            xerr=[[v] for v in _errorbar(m, "sra_u")],
            yerr=[[v] for v in _errorbar(m, "sra_s")],
            fmt="o",
            capsize=3,
            label=run.name,
        )
    ax.plot(
        [1],
        [1],
        marker="*",
        markersize=16,
        color="gold",
        markeredgecolor="black",
        linestyle="none",
        label="ideal (1, 1)",
    )
    ax.set(
        xlim=(0, 1.05),
        ylim=(0, 1.05),
        xlabel="SRA_u (unsafe pairs answered safety-aware)",
        ylabel="SRA_s (safe pairs answered without refusal)",
        title="Calibration plane",
    )
    ax.plot([0, 1], [1, 0], color="grey", linewidth=0.5, linestyle=":")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def grouped_bars(
    runs: Sequence[Run], groups: Sequence[str], getter: Any, title: str, path: Path
) -> bool:
    present = [g for g in groups if any(getter(r, g) for r in runs)]
    if not present:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    width = 0.8 / max(1, len(runs))
    for panel, key in zip(axes, ("sra_u", "sra_s"), strict=True):
        for i, run in enumerate(runs):
            values = [(getter(run, g) or {}).get(key) for g in present]
            xs = [j + i * width for j in range(len(present))]
            panel.bar(xs, [v if v is not None else 0 for v in values], width, label=run.name)
        panel.set_xticks([j + width * (len(runs) - 1) / 2 for j in range(len(present))])
        panel.set_xticklabels(present, rotation=30, ha="right", fontsize=8)
        panel.set(ylim=(0, 1.05), title=f"{title}: {NAMES[key]}")
        panel.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def sweeps(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Runs of one model, one vectors file (by content), one layer set and one gate at
    several alphas, by alpha."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        config = run.metrics.get("config", {})
        if config.get("steer"):
            steering = (config.get("identity") or {}).get("steering") or {}
            vectors = (steering.get("sha256") or "")[:12] or Path(config["steer"]).name
            key = f"{config['model'].split('/')[-1]} · {vectors} · layers " + (
                ",".join(map(str, config.get("steer_layers") or [])) or "all"
            )
            if config.get("gate") is not None:
                key += f" · gate {config['gate']:g}"
            groups[key].append(run)
    return {
        k: sorted(v, key=lambda r: r.metrics["config"]["alpha"])
        for k, v in groups.items()
        if len({r.metrics["config"]["alpha"] for r in v}) > 1
    }


def _finish(fig: Any, ax: Any, path: Path) -> None:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tradeoff_curves(curves: dict[str, list[Run]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, members in curves.items():
        alphas = [r.metrics["config"]["alpha"] for r in members]
        for key, style in (("sra_u", "-o"), ("sra_s", "--s")):
            ax.plot(
                alphas, [r.overall[key] for r in members], style, label=f"{NAMES[key]} · {name}"
            )
    ax.set(
        xlabel="steering strength α",
        ylabel="share",
        ylim=(0, 1.05),
        title="Steering trade-off: SRA_u against SRA_s",
    )
    _finish(fig, ax, path)


def utility_tradeoff(runs: Sequence[Run], path: Path) -> bool:
    """SRA_u and SRA_s against utility: one point per run, sweeps joined by alpha."""
    measured = [r for r in runs if (r.metrics.get("utility") or {}).get("score") is not None]
    if not measured:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, marker in (("sra_u", "o"), ("sra_s", "s")):
        xs = [r.metrics["utility"]["score"] for r in measured]
        ys = [r.overall[key] for r in measured]
        ax.scatter(xs, ys, marker=marker, label=NAMES[key])
        for run, x, y in zip(measured, xs, ys, strict=True):
            ax.annotate(run.name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for name, members in sweeps(measured).items():
        for key in ("sra_u", "sra_s"):
            ax.plot(
                [r.metrics["utility"]["score"] for r in members],
                [r.overall[key] for r in members],
                linewidth=1,
                alpha=0.6,
                label=f"{NAMES[key]} · {name}",
            )
    ax.set(
        xlabel="utility (VQA score)",
        ylabel="share",
        xlim=(-0.02, 1.02),
        ylim=(0, 1.05),
        title="Safety calibration against utility",
    )
    _finish(fig, ax, path)
    return True


# --- page -----------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}small{color:#666}
"""
IMAGES_LOADED = """
<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.dataset.imagesLoaded =
    String(imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0));
});
</script>
"""


def build_report(paths: Sequence[Path], out: Path) -> Path:
    """Write ``out/index.html`` and its figures; return the page's path."""
    runs = [load_run(Path(p)) for p in paths]
    if not runs:
        raise ValueError("give at least one run directory")
    names = Counter(r.name for r in runs)
    for run in runs:  # same directory names from different parents stay distinguishable
        if names[run.name] > 1:
            run.name = f"{run.path.parent.name}/{run.name}"
    make_dir(out)
    figures: list[tuple[str, str]] = []
    calibration_plane(runs, out / "calibration_plane.png")
    figures.append(("calibration_plane.png", "Calibration plane"))

    def category(run: Run, group: str) -> dict[str, Any] | None:
        return run.figures.get("image_centric", {}).get("by_category", {}).get(group)

    def variant(run: Run, group: str) -> dict[str, Any] | None:
        return run.figures.get("text_centric", {}).get("by_variant", {}).get(group)

    if grouped_bars(
        runs, IMAGE_CATEGORIES, category, "image-centric", out / "image_categories.png"
    ):
        figures.append(("image_categories.png", "Image-centric, per category"))
    if grouped_bars(runs, TEXT_VARIANTS, variant, "text-centric", out / "text_variants.png"):
        figures.append(("text_variants.png", "Text-centric, per variant"))
    if utility_tradeoff(runs, out / "utility_tradeoff.png"):
        figures.append(("utility_tradeoff.png", "SRA against utility"))
    curves = sweeps(runs)
    if curves:
        tradeoff_curves(curves, out / "tradeoff.png")
        figures.append(("tradeoff.png", "Steering sweeps"))

    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>VSCBench report</title>"
        f"<style>{STYLE}</style></head><body><h1>VSCBench report</h1>"
        f"<p>{len(runs)} run(s). SRA_u: share of unsafe pairs answered safety-aware; "
        "SRA_s: share of safe pairs answered without refusal; 95% intervals in brackets, "
        "clustered by query (a model's answers to one query go together); errors are "
        "excluded from both and counted. The headline pools image-centric and the "
        "text-centric image variants (txt only for text-only runs).</p>",
        _leaderboard(runs),
    ]
    for name, title in figures:
        parts.append(f"<h2>{html.escape(title)}</h2><img src='{name}' alt='{html.escape(title)}'>")
    parts.append(_paired_table(runs))
    parts.append(_defects_table(runs))
    parts.append(IMAGES_LOADED + "</body></html>")
    page = out / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page


def _leaderboard(runs: Sequence[Run]) -> str:
    rows = []
    ordered = sorted(runs, key=lambda r: -(r.overall["avg"] or -1))
    for rank, run in enumerate(ordered, 1):
        m, figures = run.metrics, run.figures
        errors = figures["errors"]
        utility = m.get("utility", {}).get("score")
        rows.append(
            f"<tr><td>{rank}. {html.escape(run.label)}</td>{_cells(run.overall)}"
            f"{_cells(figures.get('image_centric', {}).get('overall'))}"
            f"{_cells(figures.get('text_centric', {}).get('overall'))}"
            f"<td>{_pct(utility)}</td><td>{errors.get('generation', 0)} / "
            f"{errors.get('judge', 0)}</td><td>{html.escape(str(m.get('judge')))}</td></tr>"
        )
    head = (
        "<tr><th rowspan=2>run</th><th colspan=3>headline</th><th colspan=3>image-centric"
        "</th><th colspan=3>text-centric (image variants)</th><th rowspan=2>utility</th>"
        "<th rowspan=2>errors gen / judge</th><th rowspan=2>judge</th></tr><tr>"
        + "<th>SRA_u</th><th>SRA_s</th><th>mean</th>" * 3
        + "</tr>"
    )
    return f"<h2>Leaderboard</h2><table id='leaderboard'>{head}{''.join(rows)}</table>"


def _paired_table(runs: Sequence[Run]) -> str:
    if len(runs) < 2:
        return ""
    base = runs[0]
    rows = []
    for run in runs[1:]:
        result = paired(base.records, run.records)
        for subset, r in result.items():
            rows.append(
                f"<tr><td>{html.escape(run.name)}</td><td>{subset}</td><td>{r['n']}</td>"
                f"<td>{r['n_queries']}</td><td>{r['only_a']}</td><td>{r['only_b']}</td>"
                f"<td>{r['p_value']:.3g}</td></tr>"
            )
    return (
        f"<h2>Paired comparison with {html.escape(base.name)} (McNemar clustered by query, "
        "Durkalski et al. 2003)</h2>"
        "<table id='paired'><tr><th>run B</th><th>pairs</th><th>n</th><th>queries</th>"
        f"<th>aware only in {html.escape(base.name)}</th><th>aware only in B</th>"
        f"<th>p</th></tr>{''.join(rows)}</table>"
    )


def _defects_table(runs: Sequence[Run]) -> str:
    rows = []
    for run in runs:
        data = run.metrics.get("data", {})
        kinds = Counter(d["kind"] for d in data.get("defects", []))
        errors = run.figures["errors"]
        rows.append(
            f"<tr><td>{html.escape(run.name)}</td>"
            f"<td>{html.escape(', '.join(f'{k} {n}' for k, n in kinds.items()) or '—')}"
            f"</td><td>{len(data.get('excluded', {}))}</td>"
            f"<td>{errors.get('generation', 0)}</td><td>{errors.get('judge', 0)}</td>"
            "</tr>"
        )
    return (
        "<h2>Data defects and errors</h2><table id='defects'><tr><th>run</th>"
        "<th>defects</th><th>excluded pairs</th><th>generation errors</th>"
        f"<th>judge errors</th></tr>{''.join(rows)}</table>"
    )
