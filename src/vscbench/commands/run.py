"""``vscbench run`` and ``vscbench score``: answers, verdicts and figures."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from vscbench.chat import FatalModelError
from vscbench.commands.options import (
    JUDGES_EPILOG,
    JUDGING,
    REQUESTS,
    RUN_EPILOG,
    AlphaOpt,
    BaseUrlOpt,
    BatchSizeOpt,
    CategoriesOpt,
    ConnectionsOpt,
    DataDirOpt,
    EvalOnOpt,
    FractionOpt,
    GateOpt,
    IncludeDefectiveOpt,
    JudgeBaseUrlOpt,
    JudgeCacheOpt,
    JudgeMaxTokensOpt,
    JudgeOpt,
    JudgePromptOpt,
    MaxTokensOpt,
    MethodOpt,
    ModelArgOpt,
    ModelOpt,
    OutRunOpt,
    ReminderFileOpt,
    RenderOpt,
    RetriesOpt,
    RpmOpt,
    SampleLimitOpt,
    SeedOpt,
    SkipMissingOpt,
    SplitOpt,
    SplitSeedOpt,
    SteerLayersOpt,
    SteerOpt,
    TemperatureOpt,
    TimeoutOpt,
    TpmOpt,
    TypesOpt,
    VariantsOpt,
    joined,
    model_args,
    text,
)
from vscbench.commands.output import fail, finish, note, run_bar
from vscbench.config import RunConfig
from vscbench.data.sheets import DataError
from vscbench.progress import OnProgress, Progress
from vscbench.results.store import RunDirError

#: What a run or score may refuse with one line (exit 2).
REFUSALS = (DataError, RunDirError, FatalModelError, ValueError)

Opt = typer.Option


#: The flags of ``vscbench run``, in help order: parameter -> its option (help, flag).
#: Each is a flat option of the run schema (``split`` -> ``splits``, ``judge`` ->
#: ``judges``, ``model_arg`` -> ``model_args``), and its default is the schema's.
RUN_FLAGS: dict[str, Any] = dict(
    model=ModelOpt,
    out_dir=OutRunOpt,
    base_url=BaseUrlOpt,
    data_dir=DataDirOpt,
    split=SplitOpt,
    variants=VariantsOpt,
    categories=CategoriesOpt,
    types=TypesOpt,
    limit=SampleLimitOpt,
    eval_on=EvalOnOpt,
    split_seed=SplitSeedOpt,
    calibration_fraction=FractionOpt,
    judge=JudgeOpt,
    judge_base_url=JudgeBaseUrlOpt,
    judge_prompt=JudgePromptOpt,
    judge_cache=JudgeCacheOpt,
    judge_max_tokens=JudgeMaxTokensOpt,
    max_connections=ConnectionsOpt,
    max_retries=RetriesOpt,
    timeout=TimeoutOpt,
    rpm=RpmOpt,
    tpm=TpmOpt,
    batch_size=BatchSizeOpt,
    method=MethodOpt,
    reminder_file=ReminderFileOpt,
    steer=SteerOpt,
    alpha=AlphaOpt,
    steer_layers=SteerLayersOpt,
    gate=GateOpt,
    temperature=TemperatureOpt,
    max_tokens=MaxTokensOpt,
    seed=SeedOpt,
    model_arg=ModelArgOpt,
    render=RenderOpt,
    include_defective=IncludeDefectiveOpt,
    skip_missing_images=SkipMissingOpt,
)
RENAMED = {"split": "splits", "judge": "judges", "model_arg": "model_args"}
REQUIRED = ("model", "out_dir")
#: Flags whose schema default is not how the flag shows it (lists are given repeatedly).
UNSET = ("judge", "model_arg")


def _signature(flags: dict[str, Any]) -> inspect.Signature:
    """Typer parameters for ``flags``, each defaulting to the run schema's default."""
    defaults = RunConfig(model="-").public()
    params = []
    for name, option in flags.items():
        default = None if name in UNSET else defaults.get(RENAMED.get(name, name))
        if isinstance(default, list):
            default = joined(tuple(default))
        missing = inspect.Parameter.empty
        given = missing if name in REQUIRED else default
        params.append(inspect.Parameter(name, KEYWORD, default=given, annotation=option))
    return inspect.Signature(params, return_annotation=None)


KEYWORD = inspect.Parameter.KEYWORD_ONLY


def run_cmd(**flags: Any) -> None:
    """Generate, judge and score; the same command on the same --out resumes."""
    out_dir = flags.pop("out_dir")
    config = run_config(flags)
    result = _run(config, out_dir, flags.get("limit"))
    finish(result.metrics, out_dir)


run_cmd.__signature__ = _signature(RUN_FLAGS)  # type: ignore[attr-defined]


def run_config(flags: dict[str, Any]) -> RunConfig:
    """The run schema from the flags (renamed where a flag's name is not the option's)."""
    options = {RENAMED.get(k, k): v for k, v in flags.items()}
    options["model_args"] = model_args(options["model_args"])
    for name in ("data_dir", "judge_prompt", "reminder_file", "steer"):
        options[name] = text(options[name])
    try:
        return RunConfig(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        raise fail(flag_errors(exc)) from None


def flag_errors(error: ValidationError) -> str:
    """A schema error as the user typed it: ``--timeout 0: why`` (the flag, not the field)."""
    flag_of = {option: flag for flag, option in RENAMED.items()}
    parts = []
    for item in error.errors():
        names = [str(p) for p in item["loc"] if not isinstance(p, int)]
        message = str(item["msg"]).removeprefix("Value error, ")
        if not names:
            parts.append(message)
            continue
        flag = "--" + flag_of.get(names[-1], names[-1]).replace("_", "-")
        given = repr(item.get("input"))
        # a message that already quotes the value (a method's) does not get it twice
        parts.append(f"{flag}: {message}" if given in message else f"{flag} {given}: {message}")
    return "; ".join(parts)


def _run(config: RunConfig, out_dir: Path, limit: int | None) -> Any:
    from vscbench.data.fetch import FetchError, ensure_sheets
    from vscbench.data.layout import resolve_data_dir
    from vscbench.engine import run

    try:
        root = resolve_data_dir(config.data.data_dir)
        ensure_sheets(root, config.selection.splits, note)
        if limit is not None:
            note(
                f"--limit {limit}: a seeded sample of at most {limit} pairs per split, "
                "balanced over safe/unsafe, category or XSTest type, and variant "
                f"(seed {config.selection.split_seed}); a smoke test, not the benchmark's "
                "figures"
            )
        with run_bar("generating") as update:
            return run(config, out_dir, _with_resume_line(out_dir, update))
    except FetchError as exc:
        raise fail(str(exc), 1) from None
    except REFUSALS as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail(
            f"interrupted; finished pairs are kept in {out_dir / 'samples.jsonl'}. "
            "Run the same command again to resume.",
            130,
        ) from None


def _with_resume_line(out_dir: Path, update: OnProgress) -> OnProgress:
    def on_progress(p: Progress) -> None:
        if p.kept and p.done == 0:  # the plan of a resumed run, before any request
            note(
                f"resuming {out_dir}: keeping {p.kept:,} answer(s); generating "
                f"{p.to_generate:,}, judging {p.to_judge:,} kept answer(s) that lack a verdict"
            )
        update(p)

    return on_progress


def score_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory")],
    judge: JudgeOpt = None,
    judge_base_url: Annotated[str | None, Opt()] = None,
    judge_prompt: Annotated[Path | None, Opt()] = None,
    max_connections: Annotated[int, Opt()] = REQUESTS.max_connections,
    judge_cache: JudgeCacheOpt = True,
    judge_max_tokens: JudgeMaxTokensOpt = None,
    allow_incomplete: Annotated[
        bool, Opt(help="Score a run that lacks records of some selected pairs")
    ] = False,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
) -> None:
    """Re-judge the stored responses of a run without generating again."""
    from vscbench.engine import score

    if max_connections < 1:  # 0 would wait forever for a free connection
        raise fail(f"--max-connections {max_connections}: give 1 or more")
    try:
        with run_bar("judging") as update:
            result = score(
                run_dir,
                judge or list(JUDGING.judges),
                judge_base_url=judge_base_url,
                judge_prompt=text(judge_prompt),
                max_connections=max_connections,
                progress=update,
                judge_cache=judge_cache,
                judge_max_tokens=judge_max_tokens,
                allow_incomplete=allow_incomplete,
                rpm=rpm,
                tpm=tpm,
            )
    except REFUSALS as exc:
        raise fail(str(exc)) from None
    finish(result.metrics, run_dir)


def register(app: typer.Typer) -> None:
    app.command("run", epilog=RUN_EPILOG)(run_cmd)
    app.command("score", epilog=JUDGES_EPILOG)(score_cmd)
