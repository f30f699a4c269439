"""``vscbench methods``: every calibration method found, and where it came from."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from vscbench.commands.output import out


def methods_cmd() -> None:
    """List the methods (built-in, installed entry points), with their level and parameters.

    The level says where a method acts: prompt (any model) or activation (an
    intervention on a local model, such as the built-in steer).

    A method that cannot be loaded is listed with the reason instead of its description.
    Any class on the Python path can also be given as --method package.module:Name.
    """
    from vscbench.plugins import available

    table = Table("method", "level", "version", "parameters", "description", "origin")
    for found in available():
        if found.error:
            why = f"[red]cannot load:[/red] {escape(found.error)}"
            table.add_row(found.name, "", "", "", why, found.origin)
        else:
            table.add_row(
                found.name,
                found.level,
                found.version,
                escape(found.parameters),
                found.description,
                found.origin,
            )
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("methods")(methods_cmd)
