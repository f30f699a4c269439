"""``vscbench data``: fetch, verify and render the benchmark data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from vscbench.commands.options import ALL_SPLITS, ALL_VARIANTS, DataDirOpt, VariantsOpt, joined
from vscbench.commands.output import bar, counting_bar, fail, out, print_defects
from vscbench.config import Selection, describe
from vscbench.data.layout import ENV_BASE_URL, IMAGES_URL, RAW_BASE, TEXT_SHEET, resolve_data_dir
from vscbench.data.sheets import DataError
from vscbench.items import RENDERED_VARIANTS
from vscbench.progress import Progress

RENDERED = joined(RENDERED_VARIANTS)
app = typer.Typer(help="Fetch, verify and render the benchmark data.", no_args_is_help=True)


def data_root(data_dir: Path | None, must_exist: bool = True) -> Path:
    try:
        return resolve_data_dir(data_dir, must_exist)
    except DataError as exc:
        raise fail(str(exc)) from None


def selection(**options: Any) -> Selection:
    try:
        return Selection(**options)
    except ValidationError as exc:
        raise fail(describe(exc)) from None


@app.command("fetch")
def data_fetch(
    data_dir: DataDirOpt = None,
    images: Annotated[bool, typer.Option(help="Also fetch the image archive")] = True,
    force: Annotated[bool, typer.Option(help="Download again even if present")] = False,
    sheets_url: Annotated[
        str, typer.Option(envvar=ENV_BASE_URL, help="Base URL of the sheets (a mirror)")
    ] = RAW_BASE,
    images_url: Annotated[str, typer.Option(help="URL of the image archive")] = IMAGES_URL,
) -> None:
    """Download the pinned metadata sheets and the image archive (resumable)."""
    from vscbench.data.fetch import FetchError, fetch

    root = data_root(data_dir, must_exist=False)
    tasks: dict[str, Any] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
    with bar(*columns, TransferSpeedColumn(), TimeRemainingColumn()) as shown:

        def on_progress(p: Progress) -> None:
            if p.label not in tasks:
                tasks[p.label] = shown.add_task(p.label, total=p.total)
            shown.update(tasks[p.label], completed=p.done, total=p.total)

        try:
            report = fetch(root, sheets_url, images_url, images, force, on_progress)
        except FetchError as exc:
            raise fail(str(exc), 1) from None
    for name in report.downloaded:
        out.print(f"downloaded {name}")
    for name in report.skipped:
        out.print(f"already present: {name}")
    out.print(f"data directory: {root}")


@app.command("verify")
def data_verify(
    data_dir: DataDirOpt = None,
    split: Annotated[str, typer.Option(help="Splits to check")] = ALL_SPLITS,
    variants: VariantsOpt = ALL_VARIANTS,
    show: Annotated[int, typer.Option(help="Defects listed per kind")] = 5,
) -> None:
    """Check checksums, row counts and every image; exit 1 if a run would lack something."""
    from vscbench.data.verify import verify

    root = data_root(data_dir)
    chosen = selection(splits=split, variants=variants)
    with counting_bar("checking images") as on_progress:
        try:
            report = verify(root, chosen, on_progress)
        except DataError as exc:
            raise fail(str(exc)) from None
    out.print(f"data directory: {root}")
    for name, digest in report.sha256.items():
        out.print(f"  {name}  sha256 {digest}")
    out.print("pairs: " + ", ".join(f"{k} {v}" for k, v in sorted(report.items.items())))
    out.print("images: " + ", ".join(f"{k} {v}" for k, v in sorted(report.images.items())))
    print_defects(report.defects, show)
    if not report.ok:
        raise fail(
            f"{len(report.blocked)} pair(s) have no usable image; see `vscbench data fetch`", 1
        )
    out.print("[green]ok[/]: every selected pair can run")


@app.command("render")
def data_render(
    data_dir: DataDirOpt = None,
    variants: Annotated[str, typer.Option(help="Variants to render")] = RENDERED,
    force: Annotated[bool, typer.Option(help="Overwrite existing rendered files")] = False,
) -> None:
    """Regenerate typography, figstep and concat images from the sheet text."""
    from vscbench.config import check_choices, split_list
    from vscbench.data.sheets import load_text_centric
    from vscbench.images import render_all

    root = data_root(data_dir)
    try:
        chosen = check_choices("variant", split_list(variants), RENDERED_VARIANTS)
        items, _ = load_text_centric(root / TEXT_SHEET)
    except ValueError as exc:  # DataError included
        raise fail(str(exc)) from None
    items = [i for i in items if i.variant in chosen]
    with counting_bar("rendering") as on_progress:
        report = render_all(root, items, force, on_progress)
    out.print(
        f"rendered {report.rendered} image(s), {report.present} already present "
        f"(--force renders them again) under {report.folder or root}",
        highlight=False,
        soft_wrap=True,
    )
    for failure in report.failures[:5]:
        out.print(f"  {failure}", highlight=False)
    if report.failures:
        out.print(f"{len(report.failures)} could not be rendered (concat needs the search photos)")
