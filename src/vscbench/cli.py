"""The ``vscbench`` command line: data, run, score."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from vscbench.chat import FatalModelError
from vscbench.data.layout import IMAGES_URL, RAW_BASE, resolve_data_dir
from vscbench.data.sheets import DataError, Defect
from vscbench.dataset import Selection
from vscbench.images import RENDER_MODES, MissingImage
from vscbench.items import IMAGE_CATEGORIES, RENDERED_VARIANTS, SPLITS, TEXT_VARIANTS
from vscbench.judges import JUDGE_SPECS
from vscbench.results.store import RunDirError

app = typer.Typer(
    help="VSCBench: measure how well a vision-language model is safety-calibrated.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # plain help: rich's panels cut long values with "…" and took "[...]" for markup
    rich_markup_mode=None,
    context_settings={"max_content_width": 110},
)
data_app = typer.Typer(help="Fetch, verify and render the benchmark data.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console(stderr=True)
# results are read in logs and CI too: do not squeeze tables into 80 columns there
out = Console(width=None if sys.stdout.isatty() else 120)

DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory [default: $VSCBENCH_DATA or user cache]"),
]


JudgeOpt = Annotated[
    list[str] | None,
    typer.Option("--judge", help="Judge, repeatable; the first is primary (see Judges below)"),
]

#: The judges, listed in full under every command that takes --judge.
JUDGES_EPILOG = "Judges:\n\n\b\n" + "\n".join(
    f"  {spec}\n      {about}" for spec, about in JUDGE_SPECS
)
RUN_EPILOG = (
    "Examples:\n\n\b\n"
    "  # offline smoke test (mockllm answers with a fixed reply), 20 pairs per split\n"
    "  vscbench run --model mockllm/model --split text --variants txt,typography,figstep "
    "--limit 20 --out runs/smoke\n"
    "  # an API model (key from OPENAI_API_KEY)\n"
    "  vscbench run --model openai/gpt-4o-mini --out runs/gpt-4o-mini\n"
    "  # a vLLM / OpenAI-compatible server\n"
    "  vscbench run --model openai-api/vllm/llava-hf/llava-1.5-7b-hf "
    "--base-url http://localhost:8000/v1 --out runs/llava\n"
    '  # a local Hugging Face VLM (pip install "vscbench[local]")\n'
    "  vscbench run --model hf-vlm/llava-hf/llava-1.5-7b-hf --batch-size 8 --out runs/llava-hf\n"
    "  # a calibration method on the held-out side, two judges\n"
    "  vscbench run --model openai/gpt-4o-mini --eval-on test --method reminder "
    "--judge refusal --judge llm:openai/gpt-4o-mini --out runs/reminder\n\n"
    "The same command on the same --out resumes: only missing or failed pairs are sent.\n\n"
    + JUDGES_EPILOG
)


def _csv(
    value: str | None, allowed: tuple[str, ...] | None = None, name: str = ""
) -> tuple[str, ...]:
    if not value:
        return ()
    parts = tuple(v.strip() for v in value.split(",") if v.strip())
    if allowed is not None:
        bad = [p for p in parts if p not in allowed]
        if bad:
            raise typer.BadParameter(
                f"unknown {name} {', '.join(bad)}; choose from {', '.join(allowed)}"
            )
    return parts


def _ints(value: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in _csv(value))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {value!r}") from None


def _model_args(pairs: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"model arg {pair!r} is not KEY=VALUE")
        try:
            args[key] = json.loads(raw)
        except json.JSONDecodeError:
            args[key] = raw
    return args


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(
        "error: " + message, style="bold red", highlight=False, soft_wrap=True, markup=False
    )
    return typer.Exit(code)


@contextmanager
def _progress(*columns: Any) -> Iterator[Progress]:
    with Progress(
        *columns, console=console, transient=False, disable=not console.is_terminal
    ) as bar:
        yield bar


# --- data ---------------------------------------------------------------------------


def _data_root(data_dir: Path | None, must_exist: bool = True) -> Path:
    try:
        return resolve_data_dir(data_dir, must_exist)
    except DataError as exc:
        raise _fail(str(exc)) from None


@data_app.command("fetch")
def data_fetch(
    data_dir: DataDirOpt = None,
    images: Annotated[bool, typer.Option(help="Also fetch the image archive")] = True,
    force: Annotated[bool, typer.Option(help="Download again even if present")] = False,
    sheets_url: Annotated[str, typer.Option(help="Base URL of the sheets")] = RAW_BASE,
    images_url: Annotated[str, typer.Option(help="URL of the image archive")] = IMAGES_URL,
) -> None:
    """Download the pinned metadata sheets and the image archive (resumable)."""
    from vscbench.data.fetch import FetchError, fetch

    root = _data_root(data_dir, must_exist=False)
    tasks: dict[str, Any] = {}
    with _progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    ) as bar:

        def on_progress(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        try:
            report = fetch(root, sheets_url, images_url, images, force, on_progress)
        except FetchError as exc:
            raise _fail(str(exc), 1) from None
    for name in report.downloaded:
        out.print(f"downloaded {name}")
    for name in report.skipped:
        out.print(f"already present: {name}")
    out.print(f"data directory: {root}")


@data_app.command("verify")
def data_verify(
    data_dir: DataDirOpt = None,
    split: Annotated[str, typer.Option(help="Splits to check")] = "image,text",
    variants: Annotated[str, typer.Option(help="Text-centric variants")] = ",".join(TEXT_VARIANTS),
    show: Annotated[int, typer.Option(help="Defects listed per kind")] = 5,
) -> None:
    """Check checksums, row counts and every image; exit 1 if a run would lack something."""
    from vscbench.data.verify import verify

    root = _data_root(data_dir)
    selection = Selection(_csv(split, SPLITS, "split"), _csv(variants, TEXT_VARIANTS, "variant"))
    with _progress(TextColumn("checking images"), BarColumn(), MofNCompleteColumn()) as bar:
        task = bar.add_task("verify", total=None)
        try:
            report = verify(root, selection, lambda n, t: bar.update(task, completed=n, total=t))
        except DataError as exc:
            raise _fail(str(exc)) from None
    out.print(f"data directory: {root}")
    for name, digest in report.sha256.items():
        out.print(f"  {name}  sha256 {digest}")
    out.print("pairs: " + ", ".join(f"{k} {v}" for k, v in sorted(report.items.items())))
    out.print("images: " + ", ".join(f"{k} {v}" for k, v in sorted(report.images.items())))
    _print_defects(report.defects, show)
    if not report.ok:
        raise _fail(
            f"{len(report.blocked)} pair(s) have no usable image; see `vscbench data fetch`", 1
        )
    out.print("[green]ok[/]: every selected pair can run")


def _print_defects(defects: list[Defect], show: int) -> None:
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


@data_app.command("render")
def data_render(
    data_dir: DataDirOpt = None,
    variants: Annotated[str, typer.Option(help="Variants to render")] = ",".join(RENDERED_VARIANTS),
    force: Annotated[bool, typer.Option(help="Overwrite existing rendered files")] = False,
) -> None:
    """Regenerate typography, figstep and concat images from the sheet text."""
    from vscbench.data.layout import TEXT_SHEET
    from vscbench.data.sheets import load_text_centric
    from vscbench.images import render_item, rendered_path

    root = _data_root(data_dir)
    chosen = _csv(variants, RENDERED_VARIANTS, "variant")
    try:
        items, _ = load_text_centric(root / TEXT_SHEET)
    except DataError as exc:
        raise _fail(str(exc)) from None
    items = [i for i in items if i.variant in chosen]
    failures: list[str] = []
    present = 0
    with _progress(
        TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    ) as bar:
        for item in bar.track(items):
            if not force and rendered_path(root, item).is_file():
                present += 1  # kept as it is; --force renders it again
                continue
            try:
                render_item(root, item, overwrite=force)
            except MissingImage as exc:
                failures.append(str(exc))
    where = rendered_path(root, items[0]).parents[1] if items else root
    out.print(
        f"rendered {len(items) - present - len(failures)} image(s), "
        f"{present} already present (--force renders them again) under {where}",
        highlight=False,
        soft_wrap=True,
    )
    for failure in failures[:5]:
        out.print(f"  {failure}", highlight=False)
    if failures:
        out.print(f"{len(failures)} could not be rendered (concat needs the search photos)")


# --- run / score --------------------------------------------------------------------


@contextmanager
def _run_progress(label: str) -> Iterator[Any]:
    """A live bar on a terminal; elsewhere (CI logs, nohup) a line every 10%."""
    with _progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("errors {task.fields[errors]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as bar:
        state: dict[str, Any] = {"next": 0.1}

        def update(counts: dict[str, Any]) -> None:
            errors = counts["errors"] + counts["judge_errors"]
            if not console.is_terminal:
                if counts["done"] >= state["next"] * counts["total"]:
                    console.print(
                        f"{label}: {counts['done']}/{counts['total']} (errors {errors})",
                        highlight=False,
                    )
                    state["next"] += 0.1
                return
            if "task" not in state:
                state["task"] = bar.add_task(label, total=counts["total"], errors=0)
            bar.update(state["task"], completed=counts["done"], errors=errors)

        yield update


def _ensure_sheets(root: Path, splits: tuple[str, ...]) -> None:
    """Fetch missing metadata sheets (small, pinned) so a first run needs no extra step."""
    from vscbench.data.fetch import FetchError, fetch
    from vscbench.data.layout import LOCAL_DATA_HINT, SHEETS, fetch_hint

    if all((root / SHEETS[s].name).is_file() for s in splits):
        return
    console.print(
        f"metadata sheets not in {root}; fetching them (images are not fetched: "
        "`vscbench data fetch`)",
        highlight=False,
        soft_wrap=True,
    )
    try:
        fetch(root, images=False)
    except FetchError as exc:
        raise _fail(
            f"the metadata sheets are not in {root} and could not be downloaded.\n"
            f"{LOCAL_DATA_HINT}\nThe download failed: {exc.cause}\n\n"
            + fetch_hint(root, local=False),
            1,
        ) from None


@app.command("run", epilog=RUN_EPILOG)
def run_cmd(
    model: Annotated[
        str,
        typer.Option(
            help="openai/gpt-4o-mini, openai-api/vllm/MODEL, hf-vlm/HUB_ID_OR_PATH, "
            "mockllm/model, or any inspect model"
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory (resumable)")],
    base_url: Annotated[
        str | None, typer.Option(help="Base URL of an OpenAI-compatible or other server")
    ] = None,
    data_dir: DataDirOpt = None,
    split: Annotated[str, typer.Option(help="image, text or both")] = "image,text",
    variants: Annotated[str, typer.Option(help="Text-centric variants")] = ",".join(TEXT_VARIANTS),
    categories: Annotated[str | None, typer.Option(help="Image-centric categories")] = None,
    types: Annotated[str | None, typer.Option(help="XSTest types (text-centric)")] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            help="At most N pairs per split: a seeded sample balanced over safe/unsafe, "
            "category or type, and variant (--split-seed)"
        ),
    ] = None,
    eval_on: Annotated[
        str, typer.Option(help="all, or the calibration or test side of the query split")
    ] = "all",
    split_seed: Annotated[int, typer.Option(help="Seed of the calibration/test split")] = 0,
    calibration_fraction: Annotated[
        float, typer.Option(help="Share of queries on the calibration side")
    ] = 0.2,
    judge: Annotated[
        list[str] | None,
        typer.Option(help="Judge, repeatable; the first is primary (see Judges below)"),
    ] = None,
    judge_base_url: Annotated[str | None, typer.Option(help="Base URL for the judge")] = None,
    judge_prompt: Annotated[
        Path | None, typer.Option(help="Judge prompt template with {query} and {response}")
    ] = None,
    judge_cache: Annotated[bool, typer.Option(help="Reuse cached LLM-judge verdicts")] = True,
    max_connections: Annotated[int, typer.Option(help="Concurrent requests")] = 16,
    max_retries: Annotated[
        int, typer.Option(help="Retries per request after the provider's own")
    ] = 5,
    timeout: Annotated[int | None, typer.Option(help="Request timeout in seconds")] = None,
    batch_size: Annotated[int, typer.Option(help="Batch size of a local model (hf-vlm/...)")] = 8,
    method: Annotated[
        str, typer.Option(help="none, reminder, few-shot:K, self-check or steer:VECTORS")
    ] = "none",
    reminder_file: Annotated[
        Path | None, typer.Option(help="Text that replaces the reminder's system prompt")
    ] = None,
    steer: Annotated[
        Path | None, typer.Option(help="Steering vectors from `vscbench steer fit` (local models)")
    ] = None,
    alpha: Annotated[float, typer.Option(help="Steering strength")] = 1.0,
    steer_layers: Annotated[
        str | None, typer.Option("--layers", help="Steer only these layers, comma-separated")
    ] = None,
    gate: Annotated[
        float | None,
        typer.Option(help="Steer only prompts the vectors file's probe scores >= this (0-1)"),
    ] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature")] = 0.0,
    max_tokens: Annotated[
        int | None,
        typer.Option(help="Longest reply in tokens (replies are stored up to 16,000 characters)"),
    ] = 1024,
    seed: Annotated[
        int | None, typer.Option(help="Sampling seed, where the model takes one")
    ] = None,
    model_arg: Annotated[
        list[str] | None, typer.Option("--model-arg", "-M", help="Provider argument KEY=VALUE")
    ] = None,
    render: Annotated[
        str, typer.Option(help="auto: render only missing images; always; never")
    ] = "auto",
    include_defective: Annotated[
        bool, typer.Option(help="Keep pairs with an empty prompt")
    ] = False,
    skip_missing_images: Annotated[
        bool,
        typer.Option(
            help="Run even if some pairs have no usable image, missing or undecodable "
            "(they are listed as defects)"
        ),
    ] = False,
) -> None:
    """Generate, judge and score; the same command on the same --out resumes."""
    from vscbench.engine import RunConfig, run

    if render not in RENDER_MODES:
        raise typer.BadParameter(f"--render must be one of {', '.join(RENDER_MODES)}")
    try:
        config = RunConfig(
            model=model,
            base_url=base_url,
            model_args=_model_args(model_arg or []),
            data_dir=str(data_dir) if data_dir else None,
            splits=_csv(split, SPLITS, "split"),
            variants=_csv(variants, TEXT_VARIANTS, "variant"),
            categories=_csv(categories, IMAGE_CATEGORIES, "category"),
            types=_csv(types),
            limit=limit,
            eval_on=eval_on,
            split_seed=split_seed,
            calibration_fraction=calibration_fraction,
            render=render,  # type: ignore[arg-type]
            include_defective=include_defective,
            skip_missing_images=skip_missing_images,
            judges=tuple(judge or ["string-match"]),
            judge_base_url=judge_base_url,
            judge_prompt=str(judge_prompt) if judge_prompt else None,
            judge_cache=judge_cache,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            max_connections=max_connections,
            max_retries=max_retries,
            timeout=timeout,
            batch_size=batch_size,
            method="none" if method.startswith("steer:") else method,
            reminder_file=str(reminder_file) if reminder_file else None,
            steer=method[len("steer:") :]
            if method.startswith("steer:")
            else (str(steer) if steer else None),
            alpha=alpha,
            steer_layers=_ints(steer_layers),
            gate=gate,
        )
        _ensure_sheets(resolve_data_dir(data_dir), config.splits)
        if limit is not None:
            console.print(
                f"--limit {limit}: a seeded sample of at most {limit} pairs per split, "
                "balanced over safe/unsafe, category or XSTest type, and variant "
                f"(seed {split_seed}); a smoke test, not the benchmark's figures",
                highlight=False,
                soft_wrap=True,
            )
        with _run_progress("generating") as update:

            def on_progress(counts: dict[str, Any]) -> None:
                if counts.get("kept"):  # the plan of a resumed run, before any request
                    console.print(
                        f"resuming {out_dir}: keeping {counts['kept']:,} answer(s); "
                        f"generating {counts['to_generate']:,}, judging "
                        f"{counts['to_judge']:,} kept answer(s) that lack a verdict",
                        highlight=False,
                        soft_wrap=True,
                    )
                update(counts)

            result = run(config, out_dir, on_progress)
    except (DataError, RunDirError, FatalModelError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise _fail(
            f"interrupted; finished pairs are kept in {out_dir / 'samples.jsonl'}. "
            "Run the same command again to resume.",
            130,
        ) from None
    _finish(result.metrics, out_dir)


def _finish(metrics: dict[str, Any], run_dir: Path) -> None:
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


@app.command("score", epilog=JUDGES_EPILOG)
def score_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory")],
    judge: Annotated[
        list[str] | None,
        typer.Option(help="Judge, repeatable; the first is primary (see Judges below)"),
    ] = None,
    judge_base_url: Annotated[str | None, typer.Option()] = None,
    judge_prompt: Annotated[Path | None, typer.Option()] = None,
    max_connections: Annotated[int, typer.Option()] = 16,
    judge_cache: Annotated[bool, typer.Option(help="Reuse cached LLM-judge verdicts")] = True,
) -> None:
    """Re-judge the stored responses of a run without generating again."""
    from vscbench.engine import score

    try:
        with _run_progress("judging") as update:
            result = score(
                run_dir,
                judge or ["string-match"],
                judge_base_url,
                str(judge_prompt) if judge_prompt else None,
                max_connections,
                update,
                judge_cache,
            )
    except (RunDirError, FatalModelError, ValueError) as exc:
        raise _fail(str(exc)) from None
    _finish(result.metrics, run_dir)


# --- steering (local models) ---------------------------------------------------------

steer_app = typer.Typer(
    help="Activation steering of local models (hf-vlm/..., hf-lm/...).", no_args_is_help=True
)
app.add_typer(steer_app, name="steer")


@steer_app.command("fit")
def steer_fit(
    model: Annotated[str, typer.Option(help="hf-vlm/<id or path> or hf-lm/<id, path or .gguf>")],
    out_file: Annotated[Path, typer.Option("--out", help="Vectors file (.pt)")],
    data_dir: DataDirOpt = None,
    side: Annotated[str, typer.Option("--split", help="Side of the query split to fit on")] = (
        "calibration"
    ),
    layers: Annotated[str | None, typer.Option(help="Layers, comma-separated [all]")] = None,
    position: Annotated[str, typer.Option(help="last or mean token")] = "last",
    level: Annotated[str, typer.Option(help="layer or head")] = "layer",
    top_k: Annotated[int, typer.Option(help="Heads kept at --level head")] = 8,
    split_seed: Annotated[int, typer.Option()] = 0,
    calibration_fraction: Annotated[float, typer.Option()] = 0.2,
    batch_size: Annotated[int, typer.Option()] = 8,
    limit: Annotated[int | None, typer.Option(help="At most N pairs per split")] = None,
    data_split: Annotated[str, typer.Option("--data-split", help="image, text or both")] = (
        "image,text"
    ),
    gate_layer: Annotated[
        int | None, typer.Option(help="Also fit a probe here, for gated steering (--gate)")
    ] = None,
    model_arg: Annotated[list[str] | None, typer.Option("--model-arg", "-M")] = None,
) -> None:
    """Fit per-layer (or top-k head) mean-difference vectors on the calibration side."""
    from vscbench.backends import require_local_extra

    try:
        require_local_extra(model)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    from vscbench.local.fit import fit
    from vscbench.local.steering import save_vectors

    if position not in ("last", "mean") or level not in ("layer", "head"):
        raise typer.BadParameter("--position is last|mean and --level is layer|head")
    if side not in ("calibration", "test", "all"):
        raise typer.BadParameter("--split is calibration, test or all")
    try:
        result = fit(
            model,
            _model_args(model_arg or []),
            str(data_dir) if data_dir else None,
            side,
            _ints(layers) or None,
            position,
            level,
            top_k,
            split_seed,
            calibration_fraction,  # type: ignore[arg-type]
            _csv(data_split, SPLITS, "split"),
            batch_size,
            limit,
            gate_layer,
        )
    except (DataError, ValueError) as exc:
        raise _fail(str(exc)) from None
    save_vectors(out_file, result.vectors, result.meta, result.gate)
    meta = result.meta
    out.print(
        f"fitted {len(result.vectors)} {level} vector(s) on {meta['n_unsafe']} unsafe and "
        f"{meta['n_safe']} safe {side} pairs -> {out_file}"
    )
    for head in meta.get("heads", [])[:10]:
        out.print(
            f"  layer {head['layer']} head {head['head']}: probe accuracy "
            f"{head['probe_accuracy']:.3f}"
        )
    if result.gate is not None:
        out.print(
            f"gate probe at layer {result.gate.layer}: held-out accuracy "
            f"{result.gate.accuracy:.3f} (calibration queries split in halves)"
        )


@steer_app.command("sweep", epilog=JUDGES_EPILOG)
def steer_sweep(
    model: Annotated[str, typer.Option(help="hf-vlm/<id or path> or hf-lm/<id, path or .gguf>")],
    out_dir: Annotated[Path, typer.Option("--out", help="One run directory per setting here")],
    alphas: Annotated[str, typer.Option(help="Strengths, comma-separated")] = "0,1,2,4",
    layers: Annotated[
        list[str] | None, typer.Option(help="A layer set, comma-separated; repeatable")
    ] = None,
    data_dir: DataDirOpt = None,
    position: Annotated[str, typer.Option()] = "last",
    level: Annotated[str, typer.Option(help="layer or head")] = "layer",
    top_k: Annotated[int, typer.Option()] = 8,
    split: Annotated[str, typer.Option(help="Splits to evaluate")] = "image,text",
    variants: Annotated[str, typer.Option()] = ",".join(TEXT_VARIANTS),
    limit: Annotated[int | None, typer.Option(help="At most N pairs per split")] = None,
    judge: JudgeOpt = None,
    max_tokens: Annotated[int, typer.Option()] = 256,
    batch_size: Annotated[int, typer.Option()] = 8,
    gate_layer: Annotated[
        int | None, typer.Option(help="Fit a gate probe at this layer (with --gates)")
    ] = None,
    gates: Annotated[
        str | None,
        typer.Option(help="Gate thresholds to sweep beside ungated steering, comma-separated"),
    ] = None,
    model_arg: Annotated[list[str] | None, typer.Option("--model-arg", "-M")] = None,
) -> None:
    """Fit once, then run the test side for every alpha x layer set (x gate) (resumable)."""
    from vscbench.backends import require_local_extra
    from vscbench.sweep import steer_sweep as sweep

    try:
        require_local_extra(model)
        vectors, results = sweep(
            model,
            out_dir,
            [float(a) for a in _csv(alphas)],
            [_ints(v) for v in layers or []] or [()],
            {
                "model_args": _model_args(model_arg or []),
                "data_dir": str(data_dir) if data_dir else None,
                "position": position,
                "level": level,
                "top_k": top_k,
                "splits": _csv(split, SPLITS, "split"),
                "batch_size": batch_size,
                "limit": limit,
                "gate_layer": gate_layer,
            },
            {
                "model_args": _model_args(model_arg or []),
                "data_dir": str(data_dir) if data_dir else None,
                "splits": _csv(split, SPLITS, "split"),
                "variants": _csv(variants, TEXT_VARIANTS, "variant"),
                "limit": limit,
                "judges": tuple(judge or ["string-match"]),
                "max_tokens": max_tokens,
                "batch_size": batch_size,
            },
            [None, *(float(g) for g in _csv(gates))],
        )
    except (DataError, RunDirError, FatalModelError, ValueError) as exc:
        raise _fail(str(exc)) from None
    _sweep_table(f"steering sweep: {model} ({vectors.name})", results)


# --- report ---------------------------------------------------------------------------


@app.command("report")
def report_cmd(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories")],
    out_dir: Annotated[Path, typer.Option("--out", help="Report directory")],
) -> None:
    """A static HTML page with PNG figures comparing runs."""
    from vscbench.results.report import build_report

    try:
        page = build_report(run_dirs, out_dir)
    except (RunDirError, ValueError) as exc:
        raise _fail(str(exc)) from None
    out.print(f"wrote {page}")


# --- audit by hand ---------------------------------------------------------------------


@app.command("audit")
def audit_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory")],
    n: Annotated[
        int | None, typer.Option("--n", help="Pairs to label [default: 60, or the kept sample's]")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the sample [default: 0]")] = None,
    labeller: Annotated[
        str | None, typer.Option(help="Your name in the labels [default: your user name]")
    ] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port)")] = 0,
    browser: Annotated[bool, typer.Option(help="Open the page in a browser")] = True,
    serve: Annotated[bool, typer.Option(help="Serve the labelling page")] = True,
    redraw: Annotated[bool, typer.Option(help="Draw a new sample (the run changed)")] = False,
    export: Annotated[
        Path | None, typer.Option(help="Write the sample as FILE.csv, .json (Label Studio), .xml")
    ] = None,
    import_file: Annotated[
        Path | None, typer.Option("--import", help="Read labels: a CSV or a Label Studio export")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the run's images are [default: the run's data]")
    ] = None,
) -> None:
    """Label a sample of a run's answers by hand; report the figures people would give."""
    from vscbench.audit.command import AuditOptions, audit_command

    def say(line: str) -> None:
        out.print(line, highlight=False, markup=False, soft_wrap=True)
        sys.stdout.flush()  # the address must reach a pipe before the page is served

    options = AuditOptions(
        run_dir, n, seed, labeller, port, browser, serve, redraw, export, import_file, data_dir
    )
    try:
        audit_command(options, say)
    except (RunDirError, ValueError) as exc:
        raise _fail(str(exc)) from None


# --- sweeps ---------------------------------------------------------------------------


@app.command("sweep")
def sweep_cmd(
    plan: Annotated[Path, typer.Argument(help="Sweep plan (YAML)")],
    ray_address: Annotated[
        str | None, typer.Option(help="Run cells on Ray: auto, HOST:PORT, or local")
    ] = None,
) -> None:
    """Models x methods x strengths, one resumable run directory per cell."""
    from vscbench.sweep import run_sweep

    try:
        results = run_sweep(plan, ray_address)
    except (DataError, RunDirError, ValueError) as exc:
        raise _fail(str(exc)) from None
    _sweep_table(f"sweep {plan}", results)


def _sweep_table(title: str, results: list[dict[str, Any]]) -> None:
    table = Table(title=title)
    for column in ("cell", "SRA_u %", "SRA_s %", "mean", "failed", "utility %"):
        table.add_column(column, justify="left" if column == "cell" else "right")
    for r in results:
        table.add_row(
            r["cell"],
            _fmt(r["sra_u"]),
            _fmt(r["sra_s"]),
            _fmt(r["avg"]),
            str(r["failed"]),
            _fmt(r["utility"]),
        )
    out.print(table)
    bases = {r["basis"] for r in results}
    out.print(f"figures: {', '.join(sorted(bases))}; run directories under the output folder")


# --- utility --------------------------------------------------------------------------


@app.command("utility")
def utility_cmd(
    vqa: Annotated[Path, typer.Option(help="VQA table: image, question, answer columns")],
    run_dir: Annotated[
        Path | None, typer.Option("--run", help="Score the model and method of this run")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model, when not using --run")] = None,
    method: Annotated[str, typer.Option(help="Prompt method, when not using --run")] = "none",
    base_url: Annotated[str | None, typer.Option()] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where utility.json goes")] = None,
    scoring: Annotated[str, typer.Option(help="exact, contains or llm:MODEL")] = "exact",
    judge_base_url: Annotated[str | None, typer.Option()] = None,
    image_col: Annotated[str, typer.Option()] = "image",
    question_col: Annotated[str, typer.Option()] = "question",
    answer_col: Annotated[str, typer.Option()] = "answer",
    max_tokens: Annotated[int, typer.Option()] = 256,
) -> None:
    """Utility of a model under a method on a VQA table (exact match or LLM-judged)."""
    from vscbench.engine import RunConfig, load_config
    from vscbench.utility import evaluate_utility

    try:
        if run_dir is not None:
            config, target = load_config(run_dir), run_dir
        elif model is not None and out_dir is not None:
            config, target = (
                RunConfig(model=model, base_url=base_url, method=method, max_tokens=max_tokens),
                out_dir,
            )
        else:
            raise typer.BadParameter("give --run RUN_DIR, or --model and --out")
        result = evaluate_utility(
            config, vqa, target, scoring, image_col, question_col, answer_col, judge_base_url
        )
    except (DataError, RunDirError, ValueError) as exc:
        raise _fail(str(exc)) from None
    out.print(
        f"utility {_fmt(result.score)}% ({result.correct}/{result.n} correct, "
        f"{result.errors} error(s)) -> {result.path}"
    )


# --- upstream compatibility ------------------------------------------------------------


@app.command("import-upstream", epilog=JUDGES_EPILOG)
def import_upstream_cmd(
    sheets: Annotated[list[Path], typer.Argument(help="Upstream result sheets (.xlsx)")],
    out_dir: Annotated[Path, typer.Option("--out", help="New run directory")],
    model_name: Annotated[str | None, typer.Option(help="Model name in the columns")] = None,
    judge: JudgeOpt = None,
) -> None:
    """Turn upstream result sheets into a run directory that score and report accept."""
    from vscbench.upstream import import_upstream

    try:
        metrics = import_upstream(sheets, out_dir, model_name, tuple(judge or ["string-match"]))
    except (DataError, ValueError) as exc:
        raise _fail(str(exc)) from None
    print_summary(metrics, out_dir)


@app.command("export-upstream")
def export_upstream_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where results_<model>/ goes")] = Path(),
    model_name: Annotated[str | None, typer.Option(help="Model name for the columns")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Write a run in the upstream result-sheet layout."""
    from vscbench.upstream import export_upstream

    try:
        written = export_upstream(run_dir, out_dir, model_name, str(data_dir) if data_dir else None)
    except (DataError, RunDirError, ValueError) as exc:
        raise _fail(str(exc)) from None
    for path in written:
        out.print(f"wrote {path}")


# --- judges on any table ------------------------------------------------------------


def _panel(specs: list[str], base_url: str | None, prompt: Path | None, cache: bool) -> Any:
    from vscbench.judges import JudgeOptions, make_judge
    from vscbench.judges.panel import JudgePanel

    if not specs:
        raise typer.BadParameter("give at least one --judge")
    options = JudgeOptions(
        base_url=base_url, prompt_file=str(prompt) if prompt else None, cache=cache
    )
    return JudgePanel([make_judge(spec, options) for spec in specs])


@app.command("judge", epilog=JUDGES_EPILOG)
def judge_cmd(
    input: Annotated[Path, typer.Option(help="Table of pairs: .csv, .jsonl or .xlsx")],
    out_file: Annotated[Path, typer.Option("--out", help="Labelled table (.csv/.jsonl/.xlsx)")],
    judge: JudgeOpt = None,
    more: Annotated[list[str] | None, typer.Argument(help="More judges")] = None,
    query_col: Annotated[str, typer.Option(help="Column with the query")] = "query",
    response_col: Annotated[str, typer.Option(help="Column with the response")] = "response",
    judge_base_url: Annotated[str | None, typer.Option()] = None,
    judge_prompt: Annotated[Path | None, typer.Option()] = None,
    judge_cache: Annotated[bool, typer.Option(help="Reuse cached LLM-judge verdicts")] = True,
) -> None:
    """Label any table of (query, response) pairs with one or more judges."""
    from vscbench.tables import judge_frame, read_table, write_table

    try:
        panel = _panel([*(judge or []), *(more or [])], judge_base_url, judge_prompt, judge_cache)
        frame = read_table(input)
        with _progress(TextColumn("judging"), BarColumn(), MofNCompleteColumn()) as bar:
            task = bar.add_task("judge", total=len(frame))
            judged = judge_frame(
                frame,
                panel,
                query_col,
                response_col,
                str(input),
                progress=lambda n, t: bar.update(task, completed=n),
            )
        write_table(judged, out_file)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    for name in panel.names:
        decided = judged[f"{name}_error"].isna()
        out.print(
            f"{name}: {int(judged[f'{name}_aware'][decided].astype(bool).sum())} aware, "
            f"{int(judged[f'{name}_refusal'][decided].astype(bool).sum())} refusals of "
            f"{int(decided.sum())} decided ({int((~decided).sum())} undecided)",
            highlight=False,
        )
    out.print(f"wrote {out_file}")


@app.command("judge-eval", epilog=JUDGES_EPILOG)
def judge_eval_cmd(
    input: Annotated[Path, typer.Option(help="Labelled table: .csv, .jsonl or .xlsx")],
    label_col: Annotated[
        str | None, typer.Option(help="Column with the human label (or use --reference)")
    ] = None,
    positive: Annotated[
        str | None, typer.Option(help="Label values that mean refusal, comma-separated")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            help="No human labels: measure agreement with this judge's aware verdict "
            "(e.g. llm:openai/gpt-4o-mini)"
        ),
    ] = None,
    judge: JudgeOpt = None,
    more: Annotated[list[str] | None, typer.Argument(help="More judges")] = None,
    prediction: Annotated[str, typer.Option(help="Compare the judges' refusal or aware")] = (
        "refusal"
    ),
    query_col: Annotated[str, typer.Option()] = "query",
    response_col: Annotated[str, typer.Option()] = "response",
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Write report.json and disagreements_<judge>.csv here"),
    ] = None,
    judge_base_url: Annotated[str | None, typer.Option()] = None,
    judge_prompt: Annotated[Path | None, typer.Option()] = None,
    judge_cache: Annotated[bool, typer.Option()] = True,
) -> None:
    """Agreement of judges with human labels: accuracy, precision, recall, F1, kappa."""
    from vscbench.results.store import write_json_atomic
    from vscbench.tables import (
        REFERENCE_COL,
        disagreements,
        evaluate_judges,
        judge_frame,
        read_table,
        with_reference,
    )

    if prediction not in ("refusal", "aware"):
        raise typer.BadParameter("--prediction is 'refusal' or 'aware'")
    if (reference is None) == (label_col is None):
        raise typer.BadParameter("give --label-col with --positive, or --reference JUDGE")
    if label_col is not None and not positive:
        raise typer.BadParameter("--label-col needs --positive (the labels that mean refusal)")
    specs = [*(judge or []), *(more or [])]
    if reference is not None:
        specs = [s for s in specs if s != reference] + [reference]
        label_col, prediction, positive = REFERENCE_COL, "aware", "aware"
    positives = _csv(positive)
    try:
        panel = _panel(specs, judge_base_url, judge_prompt, judge_cache)
        frame = read_table(input)
        judged = judge_frame(frame, panel, query_col, response_col, str(input))
        names = panel.names
        if reference is not None:
            judged = with_reference(judged, reference)
            names = [n for n in names if n != reference]
        report = evaluate_judges(judged, names, label_col, positives, prediction, str(input))
    except ValueError as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"{input.name}: {prediction} vs {label_col} in {{{', '.join(positives)}}}")
    for column in (
        "judge",
        "n",
        "accuracy",
        "precision",
        "recall",
        "F1",
        "kappa",
        "tp",
        "fp",
        "fn",
        "tn",
        "undecided",
    ):
        table.add_column(column, justify="left" if column == "judge" else "right")
    for name, m in report["judges"].items():
        c = m["confusion"]
        table.add_row(
            name,
            str(m["n"]),
            *(_num(m[k]) for k in ("accuracy", "precision", "recall", "f1", "kappa")),
            str(c["tp"]),
            str(c["fp"]),
            str(c["fn"]),
            str(c["tn"]),
            str(m["undecided"]),
        )
    out.print(table)
    if report["absent_positive"]:
        out.print(f"note: no row carries {', '.join(report['absent_positive'])}")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out_dir / "report.json", report)
        for name in names:
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
            disagreements(judged, name, label_col, positives, prediction).to_csv(
                out_dir / f"disagreements_{safe}.csv", index=False
            )
        out.print(f"wrote {out_dir / 'report.json'} and the disagreements beside it")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _row(table: Table, name: str, m: dict[str, Any]) -> None:
    ci = m["ci95"]

    def span(key: str) -> str:
        return "" if ci[key] is None else f"{_fmt(ci[key][0])}–{_fmt(ci[key][1])}"

    table.add_row(
        name,
        _fmt(m["sra_u"]),
        span("sra_u"),
        _fmt(m["sra_s"]),
        span("sra_s"),
        _fmt(m["avg"]),
        str(m["n_unsafe"]),
        str(m["n_safe"]),
    )


def print_summary(metrics: dict[str, Any], run_dir: Path) -> None:
    """SRA tables, errors and data defects, as a person reads them after a run."""
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
    out.print(table)
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
    _print_defects(defects, 3)
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
            f"{_fmt(pair['agreement'])}% of {pair['n']} pairs"
        )
        if pair["warning"]:
            out.print(f"[bold yellow]warning:[/] {line} (over 10% disagreement)", highlight=False)
        else:
            out.print(line, highlight=False)
    out.print(f"results: {run_dir / 'samples.jsonl'}, {run_dir / 'metrics.json'}")


def main() -> None:
    """The ``vscbench`` command: the app, with the user's environment errors in one line.

    Commands turn the mistakes they can foresee into ``error:`` lines themselves; this
    catches the rest that are the user's to fix (a path that cannot be written, an
    optional package not installed), so that no traceback reaches them. Anything else is
    a bug in vscbench and keeps its traceback.
    """
    from vscbench.backends import LOCAL_PACKAGES, local_extra_missing

    try:
        app(prog_name="vscbench")
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if root not in LOCAL_PACKAGES:
            raise
        raise SystemExit(_fail(local_extra_missing("this command", [root])).exit_code) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror or exc}; check the path given on the command line "
        raise SystemExit(_fail(message + "(and that its folder is writable)").exit_code) from None
