"""Sweeps: models × methods × strengths, one resumable run directory per cell.

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
Ray task on the cluster. A cell whose run and utility are complete is skipped, and an
interrupted cell resumes, because every cell is an ordinary run directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vscbench.engine import RunConfig, run
from vscbench.records import write_json_atomic

RUN_KEYS = frozenset(RunConfig.__dataclass_fields__) - {"model", "method", "steer", "alpha"}
LIST_KEYS = ("splits", "variants", "categories", "types", "judges", "steer_layers")


@dataclass
class Cell:
    name: str
    config: RunConfig
    utility: dict[str, Any] = field(default_factory=dict)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def load_plan(path: Path) -> tuple[Path, list[Cell], dict[str, Any]]:
    """The plan's output directory, its cells, and its Ray settings."""
    try:
        plan = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the plan ({exc})") from exc
    for key in ("models", "methods"):
        if not plan.get(key):
            raise ValueError(f"{path}: the plan needs a non-empty {key!r} list")
    shared = dict(plan.get("run") or {})
    unknown = set(shared) - RUN_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown run setting(s) {sorted(unknown)}")
    for key in LIST_KEYS:
        if key in shared:
            shared[key] = tuple(shared[key])
    if plan.get("data_dir"):
        shared["data_dir"] = str(Path(plan["data_dir"]).expanduser())
    base = path.parent
    cells = []
    for model in plan["models"]:
        for method in plan["methods"]:
            if str(method).startswith("steer:"):
                vectors = Path(method[len("steer:") :])
                vectors = vectors if vectors.is_absolute() else base / vectors
                for alpha in plan.get("strengths") or [1.0]:
                    name = f"{_slug(model)}__steer-{_slug(vectors.stem)}__a{alpha:g}"
                    cells.append(
                        Cell(
                            name,
                            RunConfig(
                                model=model, steer=str(vectors), alpha=float(alpha), **shared
                            ),
                        )
                    )
            else:
                name = f"{_slug(model)}__{_slug(str(method))}"
                cells.append(Cell(name, RunConfig(model=model, method=str(method), **shared)))
    for cell in cells:
        cell.utility = dict(plan.get("utility") or {})
        if "vqa" in cell.utility and not Path(cell.utility["vqa"]).is_absolute():
            cell.utility["vqa"] = str(base / cell.utility["vqa"])
    out = Path(plan.get("out") or "sweep")
    return (out if out.is_absolute() else base / out), cells, dict(plan.get("ray") or {})


def run_cell(cell: Cell, out: Path) -> dict[str, Any]:
    """Run (or resume) one cell and, if asked, its utility; return its summary."""
    from vscbench.compare import pooled
    from vscbench.report import load_run

    target = out / cell.name
    run(cell.config, target)  # resumes: a finished cell generates nothing
    if cell.utility and not (target / "utility.json").exists():
        from vscbench.utility import evaluate_utility

        options = {k: v for k, v in cell.utility.items() if k != "vqa"}
        evaluate_utility(cell.config, Path(cell.utility["vqa"]), target, **options)
    loaded = load_run(target)
    summary = pooled(loaded.records.values())
    return {
        "cell": cell.name,
        "model": cell.config.model,
        "method": cell.config.method,
        "steer": cell.config.steer,
        "alpha": cell.config.alpha,
        "sra_u": summary["sra_u"],
        "sra_s": summary["sra_s"],
        "avg": summary["avg"],
        "utility": (loaded.metrics.get("utility") or {}).get("score"),
        "dir": str(target),
    }


def run_sweep(plan_path: Path, ray_address: str | None = None) -> list[dict[str, Any]]:
    """Run every cell of a plan, here or on Ray; write ``sweep.json`` beside the cells."""
    out, cells, ray_options = load_plan(plan_path)
    out.mkdir(parents=True, exist_ok=True)
    if ray_address is None:
        results = [run_cell(cell, out) for cell in cells]
    else:
        import ray

        ray.init(
            address=None if ray_address == "local" else ray_address,
            ignore_reinit_error=True,
            include_dashboard=False,
            log_to_driver=False,
        )
        remote = ray.remote(
            num_gpus=float(ray_options.get("gpus_per_cell", 0)),
            num_cpus=float(ray_options.get("cpus_per_cell", 1)),
        )(run_cell)
        results = ray.get([remote.remote(cell, out) for cell in cells])
    write_json_atomic(out / "sweep.json", {"plan": str(plan_path), "cells": results})
    return results
