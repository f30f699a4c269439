"""What commands print: errors, progress, run summaries and result tables."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from vscbench.data.sheets import Defect
from vscbench.progress import OnProgress
from vscbench.progress import Progress as Report
from vscbench.results.counting import percent

console = Console(stderr=True)
# results are read in logs and CI too: do not squeeze tables into 80 columns there
out = Console(width=None if sys.stdout.isatty() else 120)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` (one line, no markup) and return the exit to raise."""
    console.print(
        "error: " + message, style="bold red", highlight=False, soft_wrap=True, markup=False
    )
    return typer.Exit(code)


def note(message: str) -> None:
    console.print(message, highlight=False, soft_wrap=True)


@contextmanager
def bar(*columns: Any) -> Iterator[Progress]:
    with Progress(
        *columns, console=console, transient=False, disable=not console.is_terminal
    ) as shown:
        yield shown


@contextmanager
def counting_bar(label: str) -> Iterator[OnProgress]:
    """A bar of done/total (no errors), for checks and judged tables."""
    with bar(TextColumn(label), BarColumn(), MofNCompleteColumn()) as shown:
        task = shown.add_task(label, total=None)
        yield lambda p: shown.update(task, completed=p.done, total=p.total)


@contextmanager
def run_bar(label: str) -> Iterator[OnProgress]:
    """A live bar on a terminal; elsewhere (CI logs, nohup) a line every 10%."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn())
    columns += (TextColumn("errors {task.fields[errors]}"), TimeElapsedColumn())
    with bar(*columns, TimeRemainingColumn()) as shown:
        state: dict[str, Any] = {"next": 0.1}

        def update(p: Report) -> None:
            errors = p.errors + p.judge_errors
            if not console.is_terminal:
                if p.total and p.done >= state["next"] * p.total:
                    note(f"{label}: {p.done}/{p.total} (errors {errors})")
                    state["next"] += 0.1
                return
            if "task" not in state:
                state["task"] = shown.add_task(label, total=p.total, errors=0)
            shown.update(state["task"], completed=p.done, errors=errors)

        yield update


def print_defects(defects: list[Defect], show: int) -> None:
    if not defects:
        out.print("defects: none")
        return
    by_kind = Counter(d.kind for d in defects)
    kinds = ", ".join(f"{k} {n}" for k, n in by_kind.items())
    out.print(f"defects: {sum(by_kind.values())} ({kinds})", soft_wrap=True)
    shown: Counter[str] = Counter()
    for defect in defects:
        shown[defect.kind] += 1
        if shown[defect.kind] <= show:
            out.print(f"  {defect.describe()}", highlight=False, soft_wrap=True, markup=False)
        elif shown[defect.kind] == show + 1:
            out.print(f"  ... {by_kind[defect.kind] - show} more {defect.kind}")


def _row(table: Table, name: str, m: dict[str, Any]) -> None:
    ci = m["ci95"]

    def span(key: str) -> str:
        return "" if ci[key] is None else f"{percent(ci[key][0])}–{percent(ci[key][1])}"

    table.add_row(
        name,
        percent(m["sra_u"]),
        span("sra_u"),
        percent(m["sra_s"]),
        span("sra_s"),
        percent(m["avg"]),
        str(m["n_unsafe"]),
        str(m["n_safe"]),
    )


def _figures_table(metrics: dict[str, Any]) -> Table:
    table = Table(
        title=f"{metrics['model']}  (judge: {metrics['judge']})",
        caption="95% CI clustered by query (see README)",
    )
    for column in ("", "SRA_u %", "95% CI", "SRA_s %", "95% CI", "mean", "n unsafe", "n safe"):
        table.add_column(column, justify="left" if not column else "right")
    top = metrics.get("headline")
    if top and top.get("basis") != "nothing scored":
        _row(table, f"headline ({top['basis']})", top)
    image = metrics.get("image_centric")
    if image:
        _row(table, "image-centric", image["overall"])
        for category, m in image["by_category"].items():
            _row(table, f"  {category}", m)
    text = metrics.get("text_centric")
    if text:
        if "overall" in text:
            _row(table, "text-centric (image variants)", text["overall"])
        for variant, m in text["by_variant"].items():
            _row(table, f"  {variant}", m)
    return table


def print_summary(metrics: dict[str, Any], run_dir: Path) -> None:
    """SRA tables, errors and data defects, as a person reads them after a run."""
    out.print(_figures_table(metrics))
    errors = metrics["errors"]
    causes = ", ".join(f"{c} {n}" for c, n in (errors.get("by_cause") or {}).items())
    out.print(
        f"errors (excluded from SRA): generation {errors['generation']}"
        f"{f' ({causes})' if causes else ''}, judge {errors['judge']}",
        highlight=False,
        markup=False,
    )
    data = metrics.get("data", {})
    defects = [Defect(**{**d, "items": tuple(d["items"])}) for d in data.get("defects", [])]
    print_defects(defects, 3)
    if data.get("excluded"):
        out.print(f"excluded pairs: {len(data['excluded'])} (listed in metrics.json)")
    for name, usage in metrics.get("judge_usage", {}).items():
        out.print(
            f"judge {name}: {usage['calls']} call(s), {usage['cache_hits']} cache hit(s), "
            f"{usage['input_tokens']} input + {usage['output_tokens']} output tokens"
        )
    for pair in metrics.get("judge_agreement", []):
        line = (
            f"judges {pair['a']} vs {pair['b']}: agree on "
            f"{percent(pair['agreement'])}% of {pair['n']} pairs"
        )
        if pair["warning"]:
            out.print(f"[bold yellow]warning:[/] {line} (over 10% disagreement)", highlight=False)
        else:
            out.print(line, highlight=False)
    out.print(f"results: {run_dir / 'samples.jsonl'}, {run_dir / 'metrics.json'}")


def finish(metrics: dict[str, Any], run_dir: Path) -> None:
    """Print the figures; exit 3 with a banner when some selected pairs have no verdict."""
    from vscbench.results.counting import failure_banner

    print_summary(metrics, run_dir)
    banner = failure_banner(metrics)
    if banner:
        console.print(
            f"{banner}. Run the same command again to retry them.",
            style="bold yellow",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(3)


def sweep_table(title: str, results: list[dict[str, Any]]) -> None:
    table = Table(title=title)
    for column in ("cell", "SRA_u %", "SRA_s %", "mean", "failed", "utility %"):
        table.add_column(column, justify="left" if column == "cell" else "right")
    for r in results:
        table.add_row(
            r["cell"],
            percent(r["sra_u"]),
            percent(r["sra_s"]),
            percent(r["avg"]),
            str(r["failed"]),
            percent(r["utility"]),
        )
    out.print(table)
    bases = {r["basis"] for r in results}
    out.print(f"figures: {', '.join(sorted(bases))}; run directories under the output folder")
