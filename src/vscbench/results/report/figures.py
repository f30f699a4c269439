"""The report's figures (PNG, matplotlib): the calibration plane, bars per group, and
the trade-off curves of steering sweeps and of utility."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from vscbench.results.report.runs import Run, strength, sweeps

NAMES = {"sra_u": "SRA_u", "sra_s": "SRA_s"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h", "<", ">", "p", "*")


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


def _finish(fig: Any, ax: Any, path: Path, legend_at: str = "best") -> None:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc=legend_at)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tradeoff_curves(curves: dict[str, list[Run]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, members in curves.items():
        alphas = [strength(r) for r in members]
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
