"""Sweeps: models × methods × strengths, one resumable run directory per cell.

One implementation serves plan sweeps (``vscbench sweep PLAN``) and steering sweeps
(``vscbench steer sweep``): build :class:`Cell` objects, then :func:`run_cells`.

A plan (YAML) names the cells and the settings they share::

    out: sweeps/main
    data_dir: ~/vscbench-data          # optional
    models: [openai-api/vllm/llava-1.6, hf-vlm/llava-hf/llava-1.5-7b-hf]
    methods: [none, reminder, "few-shot:2", "steer:vectors.pt", "mypkg.mod:Mine?k=3"]
    strengths: [1, 2, 4]               # alphas, for methods that take one (steer)
    run: {splits: [image, text], eval_on: test, judges: [string-match], max_tokens: 256}
    utility: {vqa: vqa.csv, scoring: exact}     # optional
    ray: {gpus_per_cell: 1, cpus_per_cell: 1}   # used with --ray-address
    # ray: {runtime_env: {working_dir: my_methods/}}  # to ray.init: ship a plug-in

Every method is a spec of the one registry (:mod:`vscbench.plugins`), built-in or not.
An old plan's ``run: {steer_layers: [14], gate: 0.5}`` is read as those parameters of
each ``steer`` method (:func:`fold_steering`).
A method that takes an ``alpha`` parameter and is not given one gets one cell per
strength; a relative input file (a ``Path`` parameter, such as steer's vectors) is
found beside the plan, and a cell is named by that file's sha256, so a re-fit never
reuses the answers of old vectors. ``out``, ``data_dir``, ``utility.vqa`` and the run's
``reminder_file`` and ``judge_prompt`` are found beside the plan too, wherever the
command is run from (on Ray, the workers must have them at those paths; the pre-flight
checks).

Without a Ray address the cells run here one after another; with one, each cell is a
Ray task on the cluster. First, every node that could take a cell is asked whether the
cells can run there (:mod:`vscbench.preflight`: extras, methods, input files): a worker
without a plug-in stops the sweep with one line before any cell runs, instead of
failing its cells one by one after others ran. Workers need not share a filesystem with
the driver: a task receives its cell's directory as it stands (so an interrupted cell
resumes), runs in a temporary directory of its own, and sends every file back; the
driver writes them into its output directory.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vscbench.config import STEER_SHORTHAND, Plan, RunConfig, describe
from vscbench.engine import run
from vscbench.files import sha256_file, temporary_for, write_bytes_atomic, write_json_atomic
from vscbench.models.steering import Steer
from vscbench.plugins import (
    input_files,
    input_hashes,
    parameters,
    parse,
    resolve,
    respell,
    spelled,
)
from vscbench.preflight import check_workers
from vscbench.results.store import HOLDER_FILE, LOCK_FILE, read_json


@dataclass
class Cell:
    name: str
    config: RunConfig
    utility: dict[str, Any] = field(default_factory=dict)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def steer_cell_name(
    model: str,
    digest: str,
    alpha: float,
    layers: Sequence[int] = (),
    gate: float | None = None,
) -> str:
    """``<model>__steer-<digest>__a<alpha>[__layers<...>][__gate<t>]``: the one name of a
    steering cell, whether a plan or ``steer sweep`` made it (as they always did, so
    their cells resume).

    ``digest`` is the vectors' sha256[:12]: named by content, so other vectors never
    share a cell. ``:g`` is display only; the cell's spec holds the exact alpha.
    """
    layer_part = f"__layers{'-'.join(map(str, layers))}" if layers else ""
    gate_part = f"__gate{gate:g}" if gate is not None else ""
    return f"{_slug(model)}__steer-{digest}__a{alpha:g}{layer_part}{gate_part}"


def load_plan(path: Path) -> tuple[Path, list[Cell], dict[str, Any]]:
    """The plan's output directory, its cells, and its Ray settings.

    The plan is validated by :class:`vscbench.config.Plan` (unknown keys refused, numbers
    finite) and every cell by :class:`~vscbench.config.RunConfig`, each error one line
    naming the plan file.
    """
    path = path.expanduser()
    base = path.parent.resolve()  # so cells and Ray workers get absolute paths
    try:
        raw = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the plan ({exc})") from exc
    try:
        plan = Plan.model_validate(fold_steering(raw))
        cells = _cells(plan, base)
    except ValidationError as exc:
        raise ValueError(f"{path}: {describe(exc)}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    ray = plan.ray.model_dump()
    shipped = ray["runtime_env"].get("working_dir")
    if isinstance(shipped, str) and "://" not in shipped:  # a local folder, not a URI
        ray["runtime_env"]["working_dir"] = str(beside(base, shipped))
    return beside(base, plan.out), cells, ray


def beside(base: Path, given: str | Path) -> Path:
    """A path a plan names: ``~`` expanded, and a relative one found beside the plan."""
    path = Path(given).expanduser()
    return path if path.is_absolute() else base / path


def fold_steering(raw: Any) -> Any:
    """A plan as this version spells it: an old plan's ``run: {steer_layers, gate}``
    become the ``layers`` and ``gate`` parameters of each ``steer`` method that does not
    set its own, so old plans still run the same cells.

    Before steering was the ``steer`` method, those two keys applied to every steering
    cell; now they are the method's parameters (``steer:v.pt?layers=14&gate=0.5``).
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("run"), dict):
        return raw
    run = dict(raw["run"])
    old = {key: run.pop(key) for key in ("steer_layers", "gate") if key in run}
    given = {STEER_SHORTHAND[k]: spelled(v) for k, v in old.items() if v not in (None, [], "")}
    if not given:
        return {**raw, "run": run}
    methods = [str(m) for m in raw.get("methods") or []]
    if not any(parse(m).name == "steer" for m in methods):
        raise ValueError(
            f"run: {', '.join(old)}: parameters of the steer method, and the plan has "
            "none; write them into it: steer:v.pt?layers=14&gate=0.5"
        )
    folded = [
        respell(m, **{k: v for k, v in given.items() if k not in parse(m).params})
        if parse(m).name == "steer"
        else m
        for m in methods
    ]
    return {**raw, "run": run, "methods": folded}


#: run settings that name a file or folder: found beside the plan, like ``out`` and ``vqa``
PLAN_PATHS = ("data_dir", "reminder_file", "judge_prompt")


def run_paths(cells: Sequence[Cell]) -> dict[str, str]:
    """The files and folders the cells' run settings name (:data:`PLAN_PATHS`), for the
    workers' pre-flight; one value per setting (a plan's cells share them)."""
    return {
        key: getattr(cell.config, key)
        for cell in cells
        for key in PLAN_PATHS
        if getattr(cell.config, key)
    }


def _cells(plan: Plan, base: Path) -> list[Cell]:
    shared = dict(plan.run)
    if plan.data_dir:
        shared["data_dir"] = plan.data_dir
    for key in PLAN_PATHS:
        if isinstance(shared.get(key), str) and shared[key]:
            shared[key] = str(beside(base, shared[key]))
    utility = dict(plan.utility)
    if "vqa" in utility:
        utility["vqa"] = str(beside(base, utility["vqa"]))
    cells = [
        Cell(
            cell_name(model, method), RunConfig(model=model, method=method, **shared), dict(utility)
        )
        for model in plan.models
        for given in plan.methods
        for method in settings(given, plan.strengths, base)
    ]
    named: dict[str, str] = {}
    for cell in cells:  # e.g. strengths alike to 6 digits (a name's alpha), or a typo
        first = named.setdefault(cell.name, cell.config.method)
        if first != cell.config.method:
            raise ValueError(
                f"cells {first!r} and {cell.config.method!r} would share the directory "
                f"{cell.name} (names show alpha to 6 digits); make them differ more"
            )
    return cells


def settings(method: str, strengths: Sequence[float], base: Path) -> list[str]:
    """The specs a plan's method stands for: its relative input files found under
    ``base``, and one spec per strength if it takes an ``alpha`` that it leaves open (the
    strength written exactly: ``str`` of a float reads back as the same float)."""
    cls, params = resolve(method)
    files = {k: str(beside(base, v)) for k, v in input_files(params).items()}
    method = respell(method, **files) if files else method
    if "alpha" not in parameters(cls) or "alpha" in params:
        return [method]
    return [respell(method, alpha=str(float(alpha))) for alpha in strengths]


def cell_name(model: str, method: str) -> str:
    """``<model>__<method>``, with each input file (a ``Path`` parameter) written as its
    sha256[:12]: other content under the same file name never shares a cell. A ``steer``
    cell is named by :func:`steer_cell_name`, as plans and ``steer sweep`` named it."""
    cls, params = resolve(method)
    files = {k: sha[:12] for k, sha in input_hashes(method, params).items()}
    if cls is Steer:
        defaults = {n: p.default for n, p in parameters(cls).items() if p.default is not p.empty}
        steer = defaults | params
        return steer_cell_name(
            model, files["vectors"], steer["alpha"], steer["layers"], steer["gate"]
        )
    return f"{_slug(model)}__{_slug(respell(method, **files) if files else method)}"


def run_cell(cell: Cell, target: Path) -> dict[str, Any]:
    """Run (or resume) one cell in ``target`` and, if asked, its utility; summarise it."""
    run(cell.config, target)  # resumes: a finished cell generates nothing
    if cell.utility and not (target / "utility.json").exists():
        from vscbench.utility import evaluate_utility

        options = {k: v for k, v in cell.utility.items() if k != "vqa"}
        evaluate_utility(cell.config, Path(cell.utility["vqa"]), target, **options)
    metrics = read_json(target / "metrics.json")
    figures = metrics["headline"]  # counted from the records by results.counting
    return {
        "cell": cell.name,
        "model": cell.config.target.model,
        "method": cell.config.prompting.method,
        # as the identity records them: converted (steer's alpha, layers and gate)
        "params": dict(metrics["config"]["identity"]["method"].get("params") or {}),
        "sra_u": figures["sra_u"],
        "sra_s": figures["sra_s"],
        "avg": figures["avg"],
        "basis": figures["basis"],
        "failed": metrics["counts"]["failed"],
        "utility": (metrics.get("utility") or {}).get("score"),
    }


def _pack(folder: Path) -> dict[str, bytes]:
    """A cell directory's files, by relative path (locks stay behind)."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name not in (LOCK_FILE, HOLDER_FILE)
    }


def _unpack(files: dict[str, bytes], folder: Path) -> None:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, data)


def run_shipped_cell(
    cell: Cell, files: dict[str, bytes]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A cell on a worker that may share no filesystem with the driver.

    ``files`` is the cell's directory as the driver has it; the cell runs in a temporary
    directory of the worker's and every file of it comes back.
    """
    with tempfile.TemporaryDirectory(prefix="vscbench-cell-") as scratch:
        target = Path(scratch) / cell.name
        _unpack(files, target)
        summary = run_cell(cell, target)
        return summary, _pack(target)


def run_cells(
    cells: Sequence[Cell],
    out: Path,
    ray_address: str | None = None,
    ray_options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every cell, here or on Ray; each cell's directory ends up under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    if ray_address is None:
        results = [run_cell(cell, out / cell.name) for cell in cells]
    else:
        import ray

        options = ray_options or {}
        ray.init(
            address=None if ray_address == "local" else ray_address,
            ignore_reinit_error=True,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env=options.get("runtime_env") or None,  # what workers need shipped
        )
        need = {
            "GPU": float(options.get("gpus_per_cell", 0)),
            "CPU": float(options.get("cpus_per_cell", 1)),
        }
        models = sorted({cell.config.target.model for cell in cells})
        methods = sorted({cell.config.prompting.method for cell in cells})
        check_workers(models, methods, need, run_paths(cells))
        remote = ray.remote(num_gpus=need["GPU"], num_cpus=need["CPU"])(run_shipped_cell)
        pending = [remote.remote(cell, _pack(out / cell.name)) for cell in cells]
        results = []
        for cell, (summary, files) in zip(cells, ray.get(pending), strict=True):
            _unpack(files, out / cell.name)
            results.append(summary)
    for result in results:
        result["dir"] = str(out / result["cell"])
    return results


def run_sweep(plan_path: Path, ray_address: str | None = None) -> list[dict[str, Any]]:
    """Run every cell of a plan; write ``sweep.json`` beside the cells."""
    out, cells, ray_options = load_plan(plan_path)
    results = run_cells(cells, out, ray_address, ray_options)
    write_json_atomic(out / "sweep.json", {"plan": str(plan_path), "cells": results})
    return results


def steer_sweep(
    model: str,
    out: Path,
    alphas: Sequence[float],
    layer_sets: Sequence[tuple[int, ...]],
    fit_options: dict[str, Any],
    run_options: dict[str, Any],
    gates: Sequence[float | None] = (None,),
    utility: dict[str, Any] | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """Fit steering once on the calibration side, then run the test side per setting.

    The vectors go to ``out/vectors-<sha256[:12]>.pt`` and every cell's name carries the
    same hash: fitting again with other options (``level=head``, other layers or data)
    makes new vectors, hence new cells, and never reports old answers as theirs. ``gates``
    are thresholds of the probe fitted at ``fit_options["gate_layer"]`` (``None``: ungated),
    so gated and ungated steering land in the same table; gated cells are made for
    positive alphas only (steering towards refusal, applied where the probe reads the
    prompt as unsafe).
    """
    from vscbench.models.names import is_text_only, local_id
    from vscbench.models.steering.fit import fit
    from vscbench.models.steering.vectors import save_vectors

    local_id(model)  # a local model, or a clear error
    if is_text_only(model):  # a text-only model reads the txt pairs only
        run_options = {**run_options, "splits": ("text",), "variants": ("txt",)}
    all_layers = sorted({i for group in layer_sets for i in group}) or None
    result = fit(model, layers=all_layers, side="calibration", **fit_options)
    out.mkdir(parents=True, exist_ok=True)
    scratch = temporary_for(out / "vectors.pt")
    save_vectors(scratch, result.vectors, result.meta, result.gate)
    digest = sha256_file(scratch)[:12]
    vectors = out / f"vectors-{digest}.pt"
    scratch.replace(vectors)
    cells = [
        Cell(
            steer_cell_name(model, digest, alpha, group, gate),
            RunConfig(
                model=model,
                eval_on="test",
                steer=str(vectors),  # the steer method's parameters, as --steer spells them
                alpha=alpha,
                steer_layers=tuple(group),
                gate=gate,
                **run_options,
            ),
            dict(utility or {}),
        )
        for group in layer_sets or [()]
        for alpha in alphas
        for gate in gates
        # the gate lets steering towards refusal reach only prompts it reads as unsafe
        if gate is None or alpha > 0
    ]
    return vectors, run_cells(cells, out)
