"""``vscbench audit``: label a sample of a run's answers by hand (see ``vscbench.audit``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vscbench.commands.output import fail, out
from vscbench.results.store import RunDirError


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
        Path | None,
        typer.Option(
            help="Write the sample as FILE.csv, .json (Label Studio), .xml "
            "[default: none: serve the page]"
        ),
    ] = None,
    import_file: Annotated[
        Path | None,
        typer.Option(
            "--import", help="Read labels: a CSV or a Label Studio export [default: none]"
        ),
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
        raise fail(str(exc)) from None


def _epilog() -> str:
    """Examples, the five labels (keys on the page, names in files) and where results go."""
    from vscbench.audit.labels import LABELS

    labels = "\n".join(f"  {label.key}  {label.name:<16} {label.title}" for label in LABELS)
    return (
        "Examples:\n\n\b\n"
        "  # label 60 pairs in the browser; the judge's verdict shows once you label\n"
        "  vscbench audit runs/gpt-4o-mini --labeller alice\n"
        "  # label elsewhere: a CSV (fill its label column) or a Label Studio task file\n"
        "  vscbench audit runs/gpt-4o-mini --export sample.csv\n"
        "  vscbench audit runs/gpt-4o-mini --import sample.csv --labeller alice\n\n"
        "Labels (key on the page, then the name a CSV or labels.jsonl holds; the key works "
        f"in a CSV too):\n\n\b\n{labels}\n\n"
        "Every label is appended to RUN_DIR/audit/labels.jsonl the moment it is given. The "
        "judge's agreement with people and SRA_u / SRA_s as people would have scored the "
        "whole run (stratified estimate with 95% intervals) go to metrics.json under "
        "'audit' and to the report; the README's 'Auditing a run by hand' says how they "
        "are computed."
    )


def register(app: typer.Typer) -> None:
    app.command("audit", epilog=_epilog())(audit_cmd)
