"""The ``vscbench`` command line: one module per command group.

* :mod:`~vscbench.commands.data`: ``data fetch|verify|render``;
* :mod:`~vscbench.commands.run`: ``run`` and ``score``;
* :mod:`~vscbench.commands.steer`: ``steer fit|sweep``;
* :mod:`~vscbench.commands.judge`: ``judge`` and ``judge-eval``;
* :mod:`~vscbench.commands.methods`: ``methods`` (the calibration methods found);
* :mod:`~vscbench.commands.results`: ``report``, ``utility``, ``sweep``,
  ``import-upstream`` and ``export-upstream``;
* :mod:`~vscbench.commands.audit`: ``audit`` (hand labels of a run's answers);
* :mod:`~vscbench.commands.options` (shared options, defaults from the run schema),
  :mod:`~vscbench.commands.output` (errors, progress, summaries) and
  :mod:`~vscbench.commands.help` (help that reads whole at any width).

A command parses its flags, calls one core function and prints; what counts, what is
refused and how a run goes is decided in the core, never here.
"""

from __future__ import annotations

import typer

from vscbench.commands import audit, data, judge, methods, results, run, steer
from vscbench.commands.help import WholeHelp
from vscbench.commands.output import fail

app = typer.Typer(
    help="VSCBench: measure how well a vision-language model is safety-calibrated.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # plain help: rich's panels cut long values with "…" and took "[...]" for markup
    rich_markup_mode=None,
    context_settings={"max_content_width": 110},
    cls=WholeHelp,  # summaries uncut, every default shown, in every command's help
)
app.add_typer(data.app, name="data")
run.register(app)
app.add_typer(steer.app, name="steer")
results.register(app)
judge.register(app)
methods.register(app)
audit.register(app)


def main() -> None:
    """The ``vscbench`` command: the app, with the user's environment errors in one line.

    Commands turn the mistakes they can foresee into ``error:`` lines themselves; this
    catches the rest that are the user's to fix (a path that cannot be written, an
    optional package not installed), so that no traceback reaches them. Anything else is
    a bug in vscbench and keeps its traceback.
    """
    from vscbench.models.registry import LOCAL

    try:
        app(prog_name="vscbench")
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if root not in LOCAL.packages:
            raise
        raise SystemExit(fail(LOCAL.missing_message("this command", [root])).exit_code) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror or exc}; check the path given on the command line "
        raise SystemExit(fail(message + "(and that its folder is writable)").exit_code) from None
