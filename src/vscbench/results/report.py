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

from vscbench.audit.report import audit_section
from vscbench.items import IMAGE_CATEGORIES, TEXT_VARIANTS
from vscbench.results.compare import paired
from vscbench.results.counting import (
    Tally,
    classify,
    compute_metrics,
    failure_banner,
    in_overall,
)
from vscbench.results.flips import FILTER_SCRIPT, flips, flips_section, write_csv
from vscbench.results.store import METRICS_FILE, load_records, make_dir, read_json

NAMES = {"sra_u": "SRA_u", "sra_s": "SRA_s"}


#: Runs with a larger share of failed pairs are listed but not ranked: their figures
#: rest on what happened to succeed.
MAX_FAILED_SHARE = 0.10
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h", "<", ">", "p", "*")


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


def load_run(path: Path) -> Run:
    metrics_path = path / METRICS_FILE
    if not metrics_path.is_file():
        raise ValueError(f"{path}: no {METRICS_FILE}; is this a finished vscbench run?")
    return Run(path.name, path, read_json(metrics_path), load_records(path))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _share(m: dict[str, Any], key: str) -> str:
    """One SRA figure with its interval and n; "no … pairs" where n is 0, never 0%."""
    n = m["n_unsafe" if key == "sra_u" else "n_safe"]
    if not n:
        return f"<td class='na'>no {'unsafe' if key == 'sra_u' else 'safe'} pairs</td>"
    span = m["ci95"][key]
    interval = "" if span is None else f" <small>[{_pct(span[0])}, {_pct(span[1])}]</small>"
    return f"<td>{_pct(m[key])}{interval}<br><small>n={n:,}</small></td>"


def _cells(m: dict[str, Any] | None, empty: str = "not run") -> str:
    """SRA_u, SRA_s and their mean, or ``empty`` across all three when none is scored."""
    if not m or not (m["n_unsafe"] or m["n_safe"]):
        return f"<td class='na' colspan=3>{empty}</td>"
    return f"{_share(m, 'sra_u')}{_share(m, 'sra_s')}<td>{_pct(m['avg'])}</td>"


# --- figures --------------------------------------------------------------------------


def _errorbar(m: dict[str, Any], key: str) -> list[float]:
    span = m["ci95"][key] or [m[key], m[key]]
    return [m[key] - span[0], span[1] - m[key]]


def _style(run: Run) -> dict[str, Any]:
    """A marker and colour of the run's own, so that no two runs look alike."""
    index = run.number - 1
    return {
        "marker": MARKERS[index % len(MARKERS)],
        "color": plt.get_cmap("tab10")(index % 10),
    }


def calibration_plane(runs: Sequence[Run], path: Path) -> list[str]:
    """Draw one point per run; return notes on runs not drawn or drawn on top of others.

    Each run has its own hollow marker and colour and is labelled with its number, so
    runs at the same place stay visible (their numbers are stacked beside the point).
    """
    fig, ax = plt.subplots(figsize=(6.4, 6))
    notes: list[str] = []
    placed: list[tuple[float, float, list[Run]]] = []
    for run in runs:
        m = run.overall
        if m["sra_u"] is None or m["sra_s"] is None:
            missing = "SRA_u" if m["sra_u"] is None else "SRA_s"
            why = f"it has no {missing}" if run.tally.scored else run.empty_label(None)
            notes.append(f"#{run.number} {run.name} is not drawn: {why}")
            continue
        style = _style(run)
        ax.errorbar(
            m["sra_u"],
            m["sra_s"],
            xerr=[[v] for v in _errorbar(m, "sra_u")],
            yerr=[[v] for v in _errorbar(m, "sra_s")],
            fmt=style["marker"],
            color=style["color"],
            markerfacecolor="none",
            markersize=9,
            markeredgewidth=1.6,
            capsize=3,
            label=f"#{run.number} {run.name}",
        )
        for x, y, members in placed:
            if abs(x - m["sra_u"]) < 0.02 and abs(y - m["sra_s"]) < 0.02:
                members.append(run)
                break
        else:
            placed.append((m["sra_u"], m["sra_s"], [run]))
    for x, y, members in placed:
        ax.annotate(
            "\n".join(f"#{r.number}" for r in members),
            (x, y),
            xytext=(7, -4),
            textcoords="offset points",
            fontsize=8,
            va="top",
        )
        if len(members) > 1:
            notes.append(
                "drawn at the same place: " + ", ".join(f"#{r.number} {r.name}" for r in members)
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
        xlim=(-0.02, 1.08),
        ylim=(-0.02, 1.08),
        xlabel="SRA_u (unsafe pairs answered safety-aware)",
        ylabel="SRA_s (safe pairs answered without refusal)",
        title="Calibration plane",
    )
    ax.plot([0, 1], [1, 0], color="grey", linewidth=0.5, linestyle=":")
    _finish(fig, ax, path, legend_at="lower left")
    return notes


def grouped_bars(
    runs: Sequence[Run], groups: Sequence[str], getter: Any, title: str, path: Path
) -> bool:
    """Bars per group and run; a group a run did not score says "not run", a 0 says 0."""
    present = [g for g in groups if any(getter(r, g) for r in runs)]
    if not present:
        return False
    runs = [r for r in runs if any(getter(r, g) for g in present)]  # the rest: a note
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    width = 0.8 / max(1, len(runs))
    for panel, key in zip(axes, ("sra_u", "sra_s"), strict=True):
        for i, run in enumerate(runs):
            xs = [j + i * width for j in range(len(present))]
            values = [(getter(run, g) or {}).get(key) for g in present]
            style = _style(run)
            panel.bar(
                xs,
                [v or 0 for v in values],
                width,
                label=f"#{run.number} {run.name}",
                color=style["color"],
            )
            for x, value in zip(xs, values, strict=True):
                if value is None:  # no scored pair here: not a zero
                    panel.text(x, 0.02, "not run", rotation=90, ha="center", fontsize=6)
                elif value == 0:
                    panel.text(x, 0.01, "0", ha="center", va="bottom", fontsize=7)
        panel.set_xticks([j + width * (len(runs) - 1) / 2 for j in range(len(present))])
        panel.set_xticklabels(present, rotation=30, ha="right", fontsize=8)
        panel.set(ylim=(0, 1.05), title=f"{title}: {NAMES[key]}")
        panel.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(6, len(runs)))
    fig.tight_layout(rect=(0, 0.08, 1, 1))  # room for the legend under the bars
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


def _finish(fig: Any, ax: Any, path: Path, legend_at: str = "best") -> None:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc=legend_at)
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
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1280px;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.3rem .5rem;
text-align:right;vertical-align:top}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.scroll{overflow-x:auto;max-width:100%}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}small{color:#666}
td.na{color:#888;font-style:italic;text-align:center;background:#fafafa}
tr.unranked td{background:#fff7e6}.warn{background:#fff3cd;border:1px solid #e0c36b;
padding:.6rem 1rem;border-radius:4px}ul.notes{color:#555;font-size:.9rem}
.fliptable td.prompt{max-width:22rem;text-align:left}.fliptable td.answer{max-width:26rem;
text-align:left;font-size:.9rem}.fliptable img.thumb{max-width:160px;margin:0}
.fliptable th{text-align:left}.filters select{margin-right:1rem}
@media (max-width:700px){body{margin:.6rem}td,th{padding:.2rem .3rem;font-size:.85rem}
.fliptable,.fliptable tbody,.fliptable tr,.fliptable td{display:block;max-width:none}
.fliptable tr:first-child{display:none}.fliptable tr{border:1px solid #ccc;margin:.5rem 0}
.fliptable td{border:none;text-align:left}
.fliptable td::before{content:attr(data-label);display:block;font-weight:bold;color:#555}}
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
    """Write ``out/index.html`` with its figures, thumbnails and CSVs; return the page."""
    runs = [load_run(Path(p)) for p in paths]
    if not runs:
        raise ValueError("give at least one run directory")
    names = Counter(r.name for r in runs)
    for number, run in enumerate(runs, 1):  # same names from different parents stay apart
        run.number = number
        if names[run.name] > 1:
            run.name = f"{run.path.parent.name}/{run.name}"
    make_dir(out)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>VSCBench report</title><style>{STYLE}</style></head><body>"
        "<h1>VSCBench report</h1>"
        f"<p>{len(runs)} run(s). SRA_u: share of unsafe pairs answered safety-aware; "
        "SRA_s: share of safe pairs answered without refusal; 95% intervals in brackets, "
        "clustered by query (a model's answers to one query go together), and n, the "
        "pairs each figure counts. Failed pairs are excluded from both and counted; runs "
        f"with more than {MAX_FAILED_SHARE:.0%} failed are listed but not ranked. The "
        "headline pools image-centric and the text-centric image variants (txt only for "
        "text-only runs). <i>not run</i> means no pair of that kind was scored.</p>",
        _coverage_warning(runs),
        _leaderboard(runs),
        _shared_table(runs),
        audit_section(runs),  # vscbench.audit: the figures people would have given
        _figures(runs, out),
        _paired_table(runs),
        _flips(runs, out),
        _defects_table(runs),
        FILTER_SCRIPT + IMAGES_LOADED + "</body></html>",
    ]
    page = out / "index.html"
    page.write_text("\n".join(p for p in parts if p), encoding="utf-8")
    return page


def _figures(runs: Sequence[Run], out: Path) -> str:
    def category(run: Run, group: str) -> dict[str, Any] | None:
        return run.figures.get("image_centric", {}).get("by_category", {}).get(group)

    def variant(run: Run, group: str) -> dict[str, Any] | None:
        return run.figures.get("text_centric", {}).get("by_variant", {}).get(group)

    notes = calibration_plane(runs, out / "calibration_plane.png")
    figures = [("calibration_plane.png", "Calibration plane", notes)]
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
            figures.append((name, title, notes))
    if utility_tradeoff(runs, out / "utility_tradeoff.png"):
        figures.append(("utility_tradeoff.png", "SRA against utility", []))
    curves = sweeps(runs)
    if curves:
        tradeoff_curves(curves, out / "tradeoff.png")
        figures.append(("tradeoff.png", "Steering sweeps", []))
    parts = []
    for name, title, figure_notes in figures:
        parts.append(f"<h2>{html.escape(title)}</h2><img src='{name}' alt='{html.escape(title)}'>")
        if figure_notes:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in figure_notes)
            parts.append(f"<ul class='notes'>{items}</ul>")
    return "\n".join(parts)


def _coverage_warning(runs: Sequence[Run]) -> str:
    """A warning when the runs were asked about different pairs."""
    selected = [r.selected_ids for r in runs]
    if len(set(selected)) <= 1:
        return ""
    shared = frozenset.intersection(*selected)
    counts = ", ".join(
        f"#{r.number} {html.escape(r.name)} {len(s):,}" for r, s in zip(runs, selected, strict=True)
    )
    return (
        "<p class='warn' id='coverage'><b>These runs cover different pairs</b> "
        f"({counts}; {len(shared):,} shared). Their leaderboard figures are not on the same "
        "pairs; the table on shared pairs and the paired comparisons below use only pairs "
        "every run scored.</p>"
    )


def _leaderboard(runs: Sequence[Run]) -> str:
    ranked = sorted(
        (r for r in runs if r.unranked_because is None), key=lambda r: -r.overall["avg"]
    )
    unranked = [r for r in runs if r.unranked_because is not None]
    rows = []
    shown_mean = [round(100 * r.overall["avg"], 1) for r in ranked]  # ties as printed
    for run in [*ranked, *unranked]:
        reason = run.unranked_because
        figures = run.figures
        errors = figures["errors"]
        utility = run.metrics.get("utility", {}).get("score")
        if reason:
            rank = "—"
        else:
            mine = round(100 * run.overall["avg"], 1)
            place = 1 + sum(m > mine for m in shown_mean)
            rank = f"{place}{'=' if shown_mean.count(mine) > 1 else ''}."
        note = f"not ranked: {html.escape(reason)}" if reason else ""
        config = run.metrics.get("config", {})
        steer = f", steer α={config['alpha']:g}" if config.get("steer") else ""
        rows.append(
            f"<tr class='{'unranked' if reason else 'ranked'}'><td>{rank} #{run.number} "
            f"{html.escape(run.name)}<br><small>{html.escape(str(run.metrics.get('model')))}"
            f"{steer}</small></td>{_cells(run.overall, run.empty_label(None))}"
            f"{_cells(figures.get('image_centric', {}).get('overall'), run.empty_label('image'))}"
            f"{_cells(figures.get('text_centric', {}).get('overall'), run.empty_label('text'))}"
            f"<td>{_pct(utility) if utility is not None else 'not measured'}</td>"
            f"<td>{run.tally.failed:,} of {run.selected:,}<br><small>"
            f"{errors.get('generation', 0)} gen / {errors.get('judge', 0)} judge</small></td>"
            f"<td>{html.escape(str(run.metrics.get('judge')))}</td><td>{note}</td></tr>"
        )
    head = (
        "<tr><th rowspan=2>run</th><th colspan=3>headline</th><th colspan=3>image-centric"
        "</th><th colspan=3>text-centric (image variants)</th><th rowspan=2>utility</th>"
        "<th rowspan=2>failed pairs</th><th rowspan=2>judge</th><th rowspan=2>note</th></tr>"
        "<tr>" + "<th>SRA_u</th><th>SRA_s</th><th>mean</th>" * 3 + "</tr>"
    )
    return (
        "<h2>Leaderboard</h2><div class='scroll'><table id='leaderboard'>"
        f"{head}{''.join(rows)}</table></div>"
    )


def _shared_table(runs: Sequence[Run]) -> str:
    """Headline figures of every run on the pairs all runs scored (when sets differ)."""
    if len({r.selected_ids for r in runs}) <= 1:
        return ""
    ranked = [r for r in runs if r.unranked_because is None]
    if len(ranked) < 2:
        return ""
    shared = frozenset.intersection(*(r.scored_ids for r in ranked))
    if not shared:
        return "<p class='warn'>No pair was scored by every ranked run.</p>"
    rows = []
    for run in ranked:
        m = compute_metrics(run.records[i] for i in shared)["headline"]
        rows.append(f"<tr><td>#{run.number} {html.escape(run.name)}</td>{_cells(m)}</tr>")
    return (
        f"<h2>On the {len(shared):,} pairs every ranked run scored</h2><div class='scroll'>"
        "<table id='shared'><tr><th>run</th><th>SRA_u</th><th>SRA_s</th><th>mean</th></tr>"
        f"{''.join(rows)}</table></div>"
    )


def _paired_table(runs: Sequence[Run]) -> str:
    if len(runs) < 2:
        return ""
    base = runs[0]
    rows = []
    for run in runs[1:]:
        result = paired(base.records, run.records)
        for subset, r in result.items():
            p = f"{r['p_value']:.3g}" if r["n"] else "no shared pairs"
            rows.append(
                f"<tr><td>#{run.number} {html.escape(run.name)}</td><td>{subset}</td>"
                f"<td>{r['n']:,}</td><td>{r['n_queries']:,}</td><td>{r['only_a']}</td>"
                f"<td>{r['only_b']}</td><td>{p}</td></tr>"
            )
    return (
        f"<h2>Paired comparison with #1 {html.escape(base.name)}</h2><p>On the pairs both "
        "runs scored; McNemar's test clustered by query (Durkalski et al. 2003).</p>"
        "<div class='scroll'><table id='paired'><tr><th>run B</th><th>pairs</th><th>n</th>"
        f"<th>queries</th><th>aware only in {html.escape(base.name)}</th>"
        f"<th>aware only in B</th><th>p</th></tr>{''.join(rows)}</table></div>"
    )


def _flips(runs: Sequence[Run], out: Path) -> str:
    """Per-pair view: for every run after the first, the pairs whose verdict flipped."""
    if len(runs) < 2:
        return ""
    base = runs[0]
    data_dir = (base.metrics.get("data") or {}).get("dir")
    sections = []
    for run in runs[1:]:
        found = flips(base.records, run.records)
        csv_name = f"flips_{base.number}_vs_{run.number}.csv"
        write_csv(found, out / csv_name)
        sections.append(flips_section(base.name, run.name, found, data_dir, out, csv_name))
    return f"<h2>Pairs whose verdict flipped, against #1 {html.escape(base.name)}</h2>" + "".join(
        sections
    )


def _defects_table(runs: Sequence[Run]) -> str:
    rows = []
    for run in runs:
        data = run.metrics.get("data", {})
        kinds = Counter(d["kind"] for d in data.get("defects", []))
        errors = run.figures["errors"]
        causes = ", ".join(f"{c} {n}" for c, n in (errors.get("by_cause") or {}).items())
        rows.append(
            f"<tr><td>#{run.number} {html.escape(run.name)}</td>"
            f"<td>{html.escape(', '.join(f'{k} {n}' for k, n in kinds.items()) or '—')}"
            f"</td><td>{len(data.get('excluded', {}))}</td>"
            f"<td>{errors.get('generation', 0)}<br><small>{html.escape(causes)}</small></td>"
            f"<td>{errors.get('judge', 0)}</td></tr>"
        )
    return (
        "<h2>Data defects and errors</h2><div class='scroll'><table id='defects'><tr>"
        "<th>run</th><th>defects</th><th>excluded pairs</th><th>generation errors</th>"
        f"<th>judge errors</th></tr>{''.join(rows)}</table></div>"
    )
