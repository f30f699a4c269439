"""Before a sweep's cells go to Ray: can every node that may take one run them?

A cell that fails on a worker fails after others ran, and a sweep whose cells no node
can take would wait forever; so before any cell is sent, :func:`check_workers` asks
every live node with a cell's resources what :func:`cell_problems` finds there (a model
backend's or an activation-level method's optional dependencies, a method's module,
class and parameters, its input files, the run's data folder, reminder and judge prompt
files), and refuses the sweep with one line naming the first node that cannot, and the
fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vscbench.models.registry import LOCAL, backend_for
from vscbench.plugins import input_files, level_of, resolve

__all__ = ["able_nodes", "cell_problems", "check_workers"]

#: How long the nodes get to answer, starting a worker process and importing vscbench.
ANSWER_TIMEOUT_S = 300.0
#: The fix, for a worker that lacks what the driver has.
FIX = (
    "The workers need what the driver has: install the method's package on every worker, "
    "or give the plan `ray: {runtime_env: {working_dir: DIR}}` (or its env_vars' "
    "PYTHONPATH, or py_modules) to ship its module; put the files and folders the plan "
    "names at the same paths there; no cell was run"
)


def cell_problems(
    models: Sequence[str], methods: Sequence[str], paths: Mapping[str, str] | None = None
) -> list[str]:
    """Why the cells of ``models`` × ``methods`` would not run here: a missing optional
    dependency (a local model's, an activation-level method's), a method's module,
    class or parameters, or an input file that is not here (a worker may share no
    filesystem with the driver): the methods' own, and ``paths``, the run settings that
    name one (``data_dir``, a folder; ``reminder_file``, ``judge_prompt``: files)."""
    problems = [
        f"run: {key}={value}: no such {'folder' if key == 'data_dir' else 'file'}"
        for key, value in (paths or {}).items()
        if not (Path(value).is_dir() if key == "data_dir" else Path(value).is_file())
    ]
    for model in models:
        try:
            backend_for(model).check(model)
        except ValueError as exc:
            problems.append(str(exc))
    for method in methods:
        try:
            cls, params = resolve(method)
            if level_of(cls) == "activation":
                LOCAL.require(f"method {method!r}")
        except ValueError as exc:  # a plugins.MethodError, or the local extra missing
            problems.append(str(exc))
            continue
        problems += [
            f"method {method!r}: {key}={value}: no such file"
            for key, value in input_files(params).items()
            if not value.is_file()
        ]
    return problems


def able_nodes(nodes: Sequence[Mapping[str, Any]], need: Mapping[str, float]) -> list[Any]:
    """The live nodes with the resources of one cell (``{"GPU": 1, "CPU": 1}``); none is
    one line, since Ray would otherwise hold every cell until such a node joins."""
    able = [
        node
        for node in nodes
        if node.get("Alive")
        and all(node.get("Resources", {}).get(k, 0) >= v for k, v in need.items() if v)
    ]
    if not able:
        wanted = ", ".join(f"{k}>={v:g}" for k, v in need.items() if v) or "any resources"
        raise ValueError(
            f"no Ray node has {wanted} (a cell's `ray:` gpus_per_cell and cpus_per_cell); "
            "lower them or add such a node; no cell was run"
        )
    return able


def check_workers(
    models: Sequence[str],
    methods: Sequence[str],
    need: dict[str, float],
    paths: Mapping[str, str] | None = None,
) -> None:
    """Ask every live Ray node with the resources of a cell whether the cells can run
    there (:func:`cell_problems`); refuse the sweep, before any cell runs, in one line."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = able_nodes(ray.nodes(), need)
    check = ray.remote(num_cpus=0)(cell_problems)
    pending = [
        check.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(models, methods, dict(paths or {}))
        for n in nodes
    ]
    try:
        answers = ray.get(pending, timeout=ANSWER_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        for task in pending:  # nothing is left queued for a sweep that will not run
            ray.cancel(task)
        raise ValueError(
            f"the Ray workers did not answer within {ANSWER_TIMEOUT_S:g} s whether they can "
            "run the plan's cells (are they busy, or still starting?); no cell was run"
        ) from None
    except ray.exceptions.RayError as exc:  # vscbench itself does not load there
        lines = str(exc).strip().splitlines()
        why = f"{type(exc).__name__}: {lines[-1]}" if lines else type(exc).__name__
        raise ValueError(
            f"the Ray workers cannot run vscbench ({why}); install vscbench, with the "
            "plan's method packages, on every worker; no cell was run"
        ) from None
    for node, problems in zip(nodes, answers, strict=True):
        if problems:
            where = node.get("NodeManagerAddress", node["NodeID"])
            raise ValueError(f"on Ray worker {where}: {'; '.join(problems)}. {FIX}")
