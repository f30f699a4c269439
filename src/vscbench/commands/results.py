"""Commands over finished runs: ``report``, ``utility``, ``sweep`` and upstream sheets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from vscbench.commands.options import (
    JUDGES_EPILOG,
    JUDGING,
    PROMPTING,
    SHORT_MAX_TOKENS,
    DataDirOpt,
    JudgeOpt,
    RpmOpt,
    TpmOpt,
    text,
)
from vscbench.commands.output import fail, out, print_summary, sweep_table
from vscbench.config import RunConfig, describe
from vscbench.data.sheets import DataError
from vscbench.results.counting import percent
from vscbench.results.store import RunDirError

Opt = typer.Option


def report_cmd(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories")],
    out_dir: Annotated[Path, Opt("--out", help="Report directory")],
    allow_incomplete: Annotated[
        bool, Opt(help="Show runs that lack records of some selected pairs (unranked)")
    ] = False,
) -> None:
    """A static HTML page with PNG figures comparing runs."""
    from vscbench.results.report import build_report

    try:
        page = build_report(run_dirs, out_dir, allow_incomplete)
    except (RunDirError, ValueError) as exc:
        raise fail(str(exc)) from None
    out.print(f"wrote {page}")


def sweep_cmd(
    plan: Annotated[Path, typer.Argument(help="Sweep plan (YAML)")],
    ray_address: Annotated[
        str | None, Opt(help="Run cells on Ray: auto, HOST:PORT, or local")
    ] = None,
) -> None:
    """Models x methods x strengths, one resumable run directory per cell."""
    from vscbench.sweep import run_sweep

    try:
        results = run_sweep(plan, ray_address)
    except (DataError, RunDirError, ValueError) as exc:
        raise fail(str(exc)) from None
    sweep_table(f"sweep {plan}", results)


def utility_cmd(
    vqa: Annotated[Path, Opt(help="VQA table: image, question, answer columns")],
    run_dir: Annotated[Path | None, Opt("--run", help="Score the model and method of this run")] = (
        None
    ),
    model: Annotated[str | None, Opt(help="Model, when not using --run")] = None,
    method: Annotated[
        str, Opt(help="Method spec (as run --method), when not using --run")
    ] = PROMPTING.method,
    base_url: Annotated[str | None, Opt()] = None,
    out_dir: Annotated[Path | None, Opt("--out", help="Where utility.json goes")] = None,
    scoring: Annotated[str, Opt(help="exact, contains or llm:MODEL")] = "exact",
    judge_base_url: Annotated[str | None, Opt()] = None,
    image_col: Annotated[str, Opt()] = "image",
    question_col: Annotated[str, Opt()] = "question",
    answer_col: Annotated[str, Opt()] = "answer",
    max_tokens: Annotated[int, Opt()] = SHORT_MAX_TOKENS,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
) -> None:
    """Utility of a model under a method on a VQA table (exact match or LLM-judged)."""
    from vscbench.engine import load_config
    from vscbench.utility import evaluate_utility

    try:
        if run_dir is not None:
            config, target = load_config(run_dir), run_dir
        elif model is not None and out_dir is not None:
            given = {"model": model, "base_url": base_url, "method": method}
            config, target = RunConfig(**given, max_tokens=max_tokens), out_dir
        else:
            raise typer.BadParameter("give --run RUN_DIR, or --model and --out")
        config.requests.rpm = rpm or config.requests.rpm
        config.requests.tpm = tpm or config.requests.tpm
        result = evaluate_utility(
            config, vqa, target, scoring, image_col, question_col, answer_col, judge_base_url
        )
    except ValidationError as exc:
        raise fail(describe(exc)) from None
    except (DataError, RunDirError, ValueError) as exc:
        raise fail(str(exc)) from None
    out.print(
        f"utility {percent(result.score)}% ({result.correct}/{result.n} correct, "
        f"{result.errors} error(s)) -> {result.path}"
    )


def import_upstream_cmd(
    sheets: Annotated[list[Path], typer.Argument(help="Upstream result sheets (.xlsx)")],
    out_dir: Annotated[Path, Opt("--out", help="New run directory")],
    model_name: Annotated[str | None, Opt(help="Model name in the columns")] = None,
    judge: JudgeOpt = None,
) -> None:
    """Turn upstream result sheets into a run directory that score and report accept."""
    from vscbench.upstream import import_upstream

    try:
        metrics = import_upstream(sheets, out_dir, model_name, tuple(judge or JUDGING.judges))
    except (DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    print_summary(metrics, out_dir)


def export_upstream_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory")],
    out_dir: Annotated[Path, Opt("--out", help="Where results_<model>/ goes")] = Path(),
    model_name: Annotated[str | None, Opt(help="Model name for the columns")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Write a run in the upstream result-sheet layout."""
    from vscbench.upstream import export_upstream

    try:
        written = export_upstream(run_dir, out_dir, model_name, text(data_dir))
    except (DataError, RunDirError, ValueError) as exc:
        raise fail(str(exc)) from None
    for path in written:
        out.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
    app.command("sweep")(sweep_cmd)
    app.command("utility")(utility_cmd)
    app.command("import-upstream", epilog=JUDGES_EPILOG)(import_upstream_cmd)
    app.command("export-upstream")(export_upstream_cmd)
