"""Sweeps: models × methods × strengths, one resumable run directory per cell.

One implementation serves plan sweeps (``vscbench sweep PLAN``) and steering sweeps
(``vscbench steer sweep``): build :class:`Cell` objects, then :func:`run_cells`.

A plan (YAML) names the cells and the settings they share::

    out: sweeps/main
    data_dir: ~/vscbench-data          # optional
    models: [openai-api/vllm/llava-1.6, hf-vlm/llava-hf/llava-1.5-7b-hf]
    methods: [none, reminder, "few-shot:2", "steer:vectors.pt"]
    strengths: [1, 2, 4]               # alphas, for steer: methods
    run: {splits: [image, text], eval_on: test, judges: [string-match], max_tokens: 256}
    utility: {vqa: vqa.csv, scoring: exact}     # optional
    ray: {gpus_per_cell: 1, cpus_per_cell: 1}   # used with --ray-address

Without a Ray address the cells run here one after another; with one, each cell is a
Ray task on the cluster. Workers need not share a filesystem with the driver: a task
receives its cell's directory as it stands (so an interrupted cell resumes), runs in a
temporary directory of its own, and sends every file back; the driver writes them into
its output directory. Steering cells are named by the vectors file's sha256, so a
re-fit never reuses the answers of old vectors.
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

from vscbench.config import Plan, RunConfig, describe, steer_method
from vscbench.engine import run
from vscbench.files import sha256_file, temporary_for, write_bytes_atomic, write_json_atomic
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
    vectors: Path,
    alpha: float,
    layers: Sequence[int] = (),
    gate: float | None = None,
) -> str:
    """``<model>__steer-<sha256[:12]>__a<alpha>[__layers<...>][__gate<t>]``.

    Named by the vectors' content, so other vectors never share a cell.
    """
    layer_part = f"__layers{'-'.join(map(str, layers))}" if layers else ""
    gate_part = f"__gate{gate:g}" if gate is not None else ""
    return f"{_slug(model)}__steer-{sha256_file(vectors)[:12]}__a{alpha:g}{layer_part}{gate_part}"


def load_plan(path: Path) -> tuple[Path, list[Cell], dict[str, Any]]:
    """The plan's output directory, its cells, and its Ray settings.

    The plan is validated by :class:`vscbench.config.Plan` (unknown keys refused, numbers
    finite) and every cell by :class:`~vscbench.config.RunConfig`, each error one line
    naming the plan file.
    """
    try:
        raw = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the plan ({exc})") from exc
    try:
        plan = Plan.model_validate(raw)
        cells = _cells(plan, path.parent)
    except ValidationError as exc:
        raise ValueError(f"{path}: {describe(exc)}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    out = Path(plan.out)
    return (out if out.is_absolute() else path.parent / out), cells, dict(plan.ray)


def _cells(plan: Plan, base: Path) -> list[Cell]:
    shared = dict(plan.run)
    if plan.data_dir:
        shared["data_dir"] = str(Path(plan.data_dir).expanduser())
    utility = dict(plan.utility)
    if "vqa" in utility and not Path(utility["vqa"]).is_absolute():
        utility["vqa"] = str(base / utility["vqa"])
    cells = []
    for model in plan.models:
        for method in plan.methods:
            given = steer_method(method)
            if given is None:
                name = f"{_slug(model)}__{_slug(method)}"
                config = RunConfig(model=model, method=method, **shared)
                cells.append(Cell(name, config, dict(utility)))
                continue
            vectors = Path(given) if Path(given).is_absolute() else base / given
            if not vectors.is_file():
                raise ValueError(f"method {method!r}: no vectors file {vectors}")
            for alpha in plan.strengths:
                config = RunConfig(model=model, steer=str(vectors), alpha=alpha, **shared)
                name = steer_cell_name(model, vectors, alpha, config.steer_layers)
                cells.append(Cell(name, config, dict(utility)))
    return cells


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
        "steer": cell.config.steering.steer,
        "alpha": cell.config.steering.alpha,
        "layers": list(cell.config.steering.steer_layers),
        "gate": cell.config.steering.gate,
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
        )
        remote = ray.remote(
            num_gpus=float(options.get("gpus_per_cell", 0)),
            num_cpus=float(options.get("cpus_per_cell", 1)),
        )(run_shipped_cell)
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
    vectors = out / f"vectors-{sha256_file(scratch)[:12]}.pt"
    scratch.replace(vectors)
    cells = [
        Cell(
            steer_cell_name(model, vectors, alpha, group, gate),
            RunConfig(
                model=model,
                eval_on="test",
                steer=str(vectors),
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
