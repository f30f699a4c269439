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


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_cmd)
