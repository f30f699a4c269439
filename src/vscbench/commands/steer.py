"""``vscbench steer``: fit steering vectors and sweep their strength (local models)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from vscbench.chat import FatalModelError
from vscbench.commands.options import (
    ALL_SPLITS,
    ALL_VARIANTS,
    JUDGES_EPILOG,
    REQUESTS,
    SELECTION,
    SHORT_MAX_TOKENS,
    DataDirOpt,
    JudgeOpt,
    LimitOpt,
    LocalModelOpt,
    Side,
    joined,
    model_args,
    text,
)
from vscbench.commands.output import fail, out, sweep_table
from vscbench.config import split_list
from vscbench.data.sheets import DataError
from vscbench.models.registry import LOCAL
from vscbench.results.store import RunDirError

app = typer.Typer(
    help="Activation steering of local models (hf-vlm/..., hf-lm/...).", no_args_is_help=True
)
Opt = typer.Option
Position = Literal["last", "mean"]
Level = Literal["layer", "head"]


def _layers(value: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in split_list(value))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {value!r}") from None


@app.command("fit")
def steer_fit(
    model: LocalModelOpt,
    out_file: Annotated[Path, Opt("--out", help="Vectors file (.pt)")],
    data_dir: DataDirOpt = None,
    side: Annotated[Side, Opt("--split", help="Side of the query split to fit on")] = (
        "calibration"
    ),
    layers: Annotated[str | None, Opt(help="Layers, comma-separated")] = None,
    position: Annotated[Position, Opt(help="last or mean token")] = "last",
    level: Annotated[Level, Opt(help="layer or head")] = "layer",
    top_k: Annotated[int, Opt(help="Heads kept at --level head")] = 8,
    split_seed: Annotated[int, Opt()] = SELECTION.split_seed,
    calibration_fraction: Annotated[float, Opt()] = SELECTION.calibration_fraction,
    batch_size: Annotated[int, Opt()] = REQUESTS.batch_size,
    limit: LimitOpt = None,
    data_split: Annotated[str, Opt("--data-split", help="image, text or both")] = joined(
        SELECTION.splits
    ),
    gate_layer: Annotated[
        int | None, Opt(help="Also fit a probe here, for gated steering (--gate)")
    ] = None,
    model_arg: Annotated[list[str] | None, Opt("--model-arg", "-M")] = None,
) -> None:
    """Fit per-layer (or top-k head) mean-difference vectors on the calibration side."""
    try:
        LOCAL.require(model)
        from vscbench.models.steering.fit import fit_to_file

        result = fit_to_file(
            out_file,
            model,
            model_args=model_args(model_arg),
            data_dir=text(data_dir),
            side=side,
            layers=_layers(layers) or None,
            position=position,
            level=level,
            top_k=top_k,
            split_seed=split_seed,
            calibration_fraction=calibration_fraction,
            splits=split_list(data_split),
            batch_size=batch_size,
            limit=limit,
            gate_layer=gate_layer,
        )
    except (DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    meta = result.meta
    out.print(
        f"fitted {len(result.vectors)} {level} vector(s) on {meta['n_unsafe']} unsafe and "
        f"{meta['n_safe']} safe {side} pairs -> {out_file}"
    )
    for head in meta.get("heads", [])[:10]:
        out.print(
            f"  layer {head['layer']} head {head['head']}: probe accuracy "
            f"{head['probe_accuracy']:.3f}"
        )
    if result.gate is not None:
        out.print(
            f"gate probe at layer {result.gate.layer}: held-out accuracy "
            f"{result.gate.accuracy:.3f} (calibration queries split in halves)"
        )


@app.command("sweep", epilog=JUDGES_EPILOG)
def steer_sweep(
    model: LocalModelOpt,
    out_dir: Annotated[Path, Opt("--out", help="One run directory per setting here")],
    alphas: Annotated[str, Opt(help="Strengths, comma-separated")] = "0,1,2,4",
    layers: Annotated[
        list[str] | None, Opt(help="A layer set, comma-separated; repeatable")
    ] = None,
    data_dir: DataDirOpt = None,
    position: Annotated[Position, Opt()] = "last",
    level: Annotated[Level, Opt(help="layer or head")] = "layer",
    top_k: Annotated[int, Opt()] = 8,
    split: Annotated[str, Opt(help="Splits to evaluate")] = ALL_SPLITS,
    variants: Annotated[str, Opt()] = ALL_VARIANTS,
    limit: LimitOpt = None,
    judge: JudgeOpt = None,
    max_tokens: Annotated[int, Opt()] = SHORT_MAX_TOKENS,
    batch_size: Annotated[int, Opt()] = REQUESTS.batch_size,
    gate_layer: Annotated[
        int | None, Opt(help="Fit a gate probe at this layer (with --gates)")
    ] = None,
    gates: Annotated[
        str | None,
        Opt(help="Gate thresholds to sweep beside ungated steering, comma-separated"),
    ] = None,
    model_arg: Annotated[list[str] | None, Opt("--model-arg", "-M")] = None,
) -> None:
    """Fit once, then run the test side for every alpha x layer set (x gate) (resumable)."""
    from vscbench.sweep import steer_sweep as sweep

    shared = {"model_args": model_args(model_arg), "data_dir": text(data_dir)}
    shared |= {"splits": split_list(split), "batch_size": batch_size, "limit": limit}
    fit_options = {**shared, "position": position, "level": level, "top_k": top_k}
    fit_options["gate_layer"] = gate_layer
    run_options = {**shared, "variants": variants, "max_tokens": max_tokens}
    if judge:
        run_options["judges"] = tuple(judge)
    try:
        LOCAL.require(model)
        vectors, results = sweep(
            model,
            out_dir,
            [float(a) for a in split_list(alphas)],
            [_layers(v) for v in layers or []] or [()],
            fit_options,
            run_options,
            [None, *(float(g) for g in split_list(gates))],
        )
    except (DataError, RunDirError, FatalModelError, ValueError) as exc:
        raise fail(str(exc)) from None
    sweep_table(f"steering sweep: {model} ({vectors.name})", results)
