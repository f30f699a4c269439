"""``vscbench judge`` and ``judge-eval``: judges on any table of (query, response) pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from vscbench.commands.options import (
    JUDGES_EPILOG,
    JudgeCacheOpt,
    JudgeMaxTokensOpt,
    JudgeOpt,
    MoreJudgesArg,
    text,
)
from vscbench.commands.output import counting_bar, fail, out
from vscbench.config import split_list

Opt = typer.Option
METRIC_COLUMNS = ("accuracy", "precision", "recall", "F1", "kappa")
COUNT_COLUMNS = ("tp", "fp", "fn", "tn", "undecided")


def panel(
    specs: list[str], base_url: str | None, prompt: Path | None, cache: bool, max_tokens: int | None
) -> Any:
    from vscbench.judges import JudgeOptions, make_panel

    if not specs:
        raise typer.BadParameter("give at least one --judge")
    options = JudgeOptions(
        base_url=base_url, prompt_file=text(prompt), max_tokens=max_tokens, cache=cache
    )
    return make_panel(specs, options)


def judge_cmd(
    input: Annotated[Path, Opt(help="Table of pairs: .csv, .jsonl or .xlsx")],
    out_file: Annotated[Path, Opt("--out", help="Labelled table (.csv/.jsonl/.xlsx)")],
    judge: JudgeOpt = None,
    more: MoreJudgesArg = None,
    query_col: Annotated[str, Opt(help="Column with the query")] = "query",
    response_col: Annotated[str, Opt(help="Column with the response")] = "response",
    judge_base_url: Annotated[str | None, Opt()] = None,
    judge_prompt: Annotated[Path | None, Opt()] = None,
    judge_cache: JudgeCacheOpt = True,
    judge_max_tokens: JudgeMaxTokensOpt = None,
) -> None:
    """Label any table of (query, response) pairs with one or more judges."""
    from vscbench.tables import judge_frame, read_table, write_table

    specs = [*(judge or []), *(more or [])]
    try:
        judges = panel(specs, judge_base_url, judge_prompt, judge_cache, judge_max_tokens)
        frame = read_table(input)
        with counting_bar("judging") as on_progress:
            judged = judge_frame(
                frame, judges, query_col, response_col, str(input), progress=on_progress
            )
        write_table(judged, out_file)
    except ValueError as exc:
        raise fail(str(exc)) from None
    for name in judges.names:
        decided = judged[f"{name}_error"].isna()
        out.print(
            f"{name}: {int(judged[f'{name}_aware'][decided].astype(bool).sum())} aware, "
            f"{int(judged[f'{name}_refusal'][decided].astype(bool).sum())} refusals of "
            f"{int(decided.sum())} decided ({int((~decided).sum())} undecided)",
            highlight=False,
        )
    out.print(f"wrote {out_file}")


def judge_eval_cmd(
    input: Annotated[Path, Opt(help="Labelled table: .csv, .jsonl or .xlsx")],
    label_col: Annotated[
        str | None, Opt(help="Column with the human label (or use --reference)")
    ] = None,
    positive: Annotated[
        str | None, Opt(help="Label values that mean refusal, comma-separated")
    ] = None,
    reference: Annotated[
        str | None,
        Opt(
            help="No human labels: measure agreement with this judge's aware verdict "
            "(e.g. llm:openai/gpt-4o-mini)"
        ),
    ] = None,
    judge: JudgeOpt = None,
    more: MoreJudgesArg = None,
    prediction: Annotated[
        Literal["refusal", "aware"], Opt(help="Compare the judges' refusal or aware")
    ] = "refusal",
    query_col: Annotated[str, Opt()] = "query",
    response_col: Annotated[str, Opt()] = "response",
    out_dir: Annotated[
        Path | None,
        Opt("--out", help="Write report.json and disagreements_<judge>.csv here"),
    ] = None,
    judge_base_url: Annotated[str | None, Opt()] = None,
    judge_prompt: Annotated[Path | None, Opt()] = None,
    judge_cache: Annotated[bool, Opt()] = True,
    judge_max_tokens: JudgeMaxTokensOpt = None,
) -> None:
    """Agreement of judges with human labels: accuracy, precision, recall, F1, kappa."""
    from vscbench.tables import REFERENCE_COL, evaluate_table, read_table, write_evaluation

    if (reference is None) == (label_col is None):
        raise typer.BadParameter("give --label-col with --positive, or --reference JUDGE")
    if label_col is not None and not positive:
        raise typer.BadParameter("--label-col needs --positive (the labels that mean refusal)")
    specs = [*(judge or []), *(more or [])]
    if reference is not None:
        specs = [s for s in specs if s != reference] + [reference]
        label_col, prediction, positive = REFERENCE_COL, "aware", "aware"
    assert label_col is not None
    positives = split_list(positive)
    try:
        judges = panel(specs, judge_base_url, judge_prompt, judge_cache, judge_max_tokens)
        frame = read_table(input)
        report, judged, names = evaluate_table(
            frame, judges, label_col, positives, prediction, reference, query_col,
            response_col, str(input),
        )  # fmt: skip
    except ValueError as exc:
        raise fail(str(exc)) from None
    _print_agreement(f"{input.name}: {prediction} vs {label_col} in {{{', '.join(positives)}}}",
                     report)  # fmt: skip
    if out_dir is not None:
        path = write_evaluation(out_dir, report, judged, names, label_col, positives, prediction)
        out.print(f"wrote {path} and the disagreements beside it")


def _print_agreement(title: str, report: dict[str, Any]) -> None:
    table = Table(title=title)
    for column in ("judge", "n", *METRIC_COLUMNS, *COUNT_COLUMNS):
        table.add_column(column, justify="left" if column == "judge" else "right")
    for name, m in report["judges"].items():
        c = m["confusion"]
        table.add_row(
            name,
            str(m["n"]),
            *(_num(m[k]) for k in ("accuracy", "precision", "recall", "f1", "kappa")),
            *(str(c[k]) for k in COUNT_COLUMNS[:4]),
            str(m["undecided"]),
        )
    out.print(table)
    if report["absent_positive"]:
        out.print(f"note: no row carries {', '.join(report['absent_positive'])}")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    app.command("judge", epilog=JUDGES_EPILOG)(judge_cmd)
    app.command("judge-eval", epilog=JUDGES_EPILOG)(judge_eval_cmd)
