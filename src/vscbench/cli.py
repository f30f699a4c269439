"""The ``vscbench`` console script: the command line lives in :mod:`vscbench.commands`."""

from vscbench.commands import app, main

__all__ = ["app", "main"]
