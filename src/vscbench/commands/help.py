"""Help that reads whole at any width: command summaries uncut, every option's default.

click fits a command's summary into the list of commands by cutting it ("..."), which at
80 columns left most of ours unreadable, and it shows no default for an option whose
default is None, although None always means something: the provider's own timeout,
every category, the built-in prompt. :class:`WholeHelp`, the root command's class, mends
both for every command beneath it as the command tree is built: a command's summary is
the first paragraph of its help, wrapped rather than cut, and an option or argument
whose default is None says what that means, from :data:`UNSET_DEFAULTS`.

A new option with a None default needs an entry here; ``tests/test_fresh_machine.py``
walks every command's help and fails on an option that shows no default.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

#: What a None default means, by parameter name, or by "<command path> <name>" where a
#: name means different things in different commands.
UNSET_DEFAULTS: dict[str, str] = {
    "base_url": "the provider's own endpoint",
    "data_dir": "$VSCBENCH_DATA or user cache",
    "categories": "all six",
    "types": "all 18",
    "limit": "every pair",
    "judge": "string-match",
    "judge judge": "none; name at least one here or as an argument",
    "judge-eval judge": "none; name at least one here or as an argument",
    "more": "none",
    "judge_base_url": "the judge provider's own endpoint",
    "judge_prompt": "the judge's built-in prompt",
    "timeout": "openai-api/ models 600 s, other providers their own",
    "rpm": "learnt from the provider's headers and 429s",
    "tpm": "learnt from the provider's headers and 429s",
    "reminder_file": "the built-in reminder",
    "steer": "no steering",
    "alpha": "1 (the steer method's default)",
    "steer_layers": "every layer in the vectors file",
    "gate": "none: steer every prompt",
    "seed": "none (local models: 0)",
    "model_arg": "none",
    "ray_address": "none: cells run here, one after another",
    "utility run_dir": "none; give --model and --out instead",
    "utility model": "the model of --run",
    "utility out_dir": "the --run directory",
    "import-upstream model_name": "the one model in the sheets",
    "export-upstream model_name": "the run's model name after its last /",
    "judge-eval label_col": "none; give it or --reference",
    "judge-eval positive": "none; needed with --label-col",
    "judge-eval reference": "none",
    "judge-eval out_dir": "none: print only",
    "steer fit layers": "all",
    "steer sweep layers": "one set of all layers",
    "gate_layer": "none: no gate probe",
    "steer sweep gates": "none: ungated steering only",
}

#: click's own options, which are actions rather than settings.
NO_DEFAULT = frozenset({"help", "install_completion", "show_completion"})


def unset_default(command_path: str, name: str) -> str | None:
    """What a None default means for parameter ``name`` of ``command_path`` ("steer fit")."""
    return UNSET_DEFAULTS.get(f"{command_path} {name}", UNSET_DEFAULTS.get(name))


class WholeHelp(TyperGroup):
    """The root group: completes its commands' help (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _complete(self, "")


def _complete(group: Any, path: str) -> None:
    for name, command in (getattr(group, "commands", None) or {}).items():
        command_path = f"{path} {name}".strip()
        if command.help and not command.short_help:
            command.short_help = " ".join(command.help.split("\n\n")[0].split())
        for param in command.params:
            # None or an empty list ("") both mean "unset": say what that means
            if param.default not in (None, "") or param.required or param.name in NO_DEFAULT:
                continue
            meaning = unset_default(command_path, param.name)
            if meaning is not None and "[default:" not in (param.help or ""):
                param.help = f"{param.help or ''}  [default: {meaning}]".lstrip()
        _complete(command, command_path)
