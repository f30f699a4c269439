"""Options shared by several commands, with their help and their defaults.

Defaults come from the run schema (:mod:`vscbench.config`), so a flag and the Python
API never disagree; comma lists are passed on as typed and checked by the schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from vscbench.config import (
    DataOptions,
    Generation,
    Judging,
    Prompting,
    RenderMode,
    Requests,
    Selection,
)
from vscbench.judges import JUDGE_SPECS

SELECTION, DATA, GENERATION = Selection(), DataOptions(), Generation()
REQUESTS, JUDGING, PROMPTING = Requests(), Judging(), Prompting()
#: A shorter reply budget where many replies are generated per setting (utility, sweeps).
SHORT_MAX_TOKENS = 256
EvalOn = Literal["all", "calibration", "test"]
Side = Literal["calibration", "test", "all"]


def joined(values: tuple[Any, ...]) -> str:
    return ",".join(map(str, values))


ALL_SPLITS = joined(SELECTION.splits)
ALL_VARIANTS = joined(SELECTION.variants)


def model_args(pairs: list[str] | None) -> dict[str, Any]:
    """``-M KEY=VALUE`` pairs; values are JSON where they parse as JSON."""
    args: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"model arg {pair!r} is not KEY=VALUE")
        try:
            args[key] = json.loads(raw)
        except json.JSONDecodeError:
            args[key] = raw
    return args


def text(path: Path | None) -> str | None:
    return str(path) if path else None


DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory"),
]
JudgeOpt = Annotated[
    list[str] | None,
    typer.Option("--judge", help="Judge, repeatable; the first is primary (see Judges below)"),
]
JudgeBaseUrlOpt = Annotated[str | None, typer.Option(help="Base URL for the judge")]
JudgePromptOpt = Annotated[
    Path | None, typer.Option(help="Judge prompt template with {query} and {response}")
]
JudgeCacheOpt = Annotated[bool, typer.Option(help="Reuse cached LLM-judge verdicts")]
JudgeMaxTokensOpt = Annotated[
    int | None,
    typer.Option(help="Output budget of LLM judges [default: 512 for llm:, 8 for llm-compact:]"),
]
MoreJudgesArg = Annotated[list[str] | None, typer.Argument(help="More judges")]
ModelArgOpt = Annotated[
    list[str] | None, typer.Option("--model-arg", "-M", help="Provider argument KEY=VALUE")
]
LocalModelOpt = Annotated[
    str, typer.Option(help="hf-vlm/<id or path> or hf-lm/<id, path or .gguf>")
]
SplitOpt = Annotated[str, typer.Option(help="image, text or both")]
VariantsOpt = Annotated[str, typer.Option(help="Text-centric variants")]
LimitOpt = Annotated[int | None, typer.Option(help="At most N pairs per split")]
RenderOpt = Annotated[
    RenderMode, typer.Option(help="auto: render only missing images; always; never")
]

# --- the options of `vscbench run` (each a flat name of vscbench.config.RunConfig) -----
Opt = typer.Option
ModelOpt = Annotated[
    str,
    Opt(
        help="openai/gpt-4o-mini, openai-api/vllm/MODEL, hf-vlm/HUB_ID_OR_PATH, "
        "mockllm/model, or any inspect model"
    ),
]
OutRunOpt = Annotated[Path, Opt("--out", help="Run directory (resumable)")]
BaseUrlOpt = Annotated[str | None, Opt(help="Base URL of an OpenAI-compatible or other server")]
CategoriesOpt = Annotated[str | None, Opt(help="Image-centric categories")]
TypesOpt = Annotated[str | None, Opt(help="XSTest types (text-centric)")]
SampleLimitOpt = Annotated[
    int | None,
    Opt(
        help="At most N pairs per split: a seeded sample balanced over safe/unsafe, "
        "category or type, and variant (--split-seed)"
    ),
]
EvalOnOpt = Annotated[EvalOn, Opt(help="all, or the calibration or test side of the query split")]
SplitSeedOpt = Annotated[int, Opt(help="Seed of the calibration/test split")]
FractionOpt = Annotated[float, Opt(help="Share of queries on the calibration side")]
ConnectionsOpt = Annotated[int, Opt(help="Concurrent requests")]
RetriesOpt = Annotated[
    int, Opt(help="Retries per request after a server error (429s wait instead)")
]
TimeoutOpt = Annotated[int | None, Opt(help="Request timeout in seconds")]


def positive(value: float | None) -> float | None:
    """A per-minute limit is a positive number (or not given)."""
    if value is not None and not value > 0:
        raise typer.BadParameter("give a positive number per minute, or leave it out")
    return value


RpmOpt = Annotated[
    float | None,
    Opt(
        "--rpm",
        callback=positive,
        help="The provider's requests-per-minute limit, if you know it: paced from the "
        "first request",
    ),
]
TpmOpt = Annotated[
    float | None,
    Opt(
        "--tpm",
        callback=positive,
        help="The provider's tokens-per-minute limit, if you know it (tokens estimated "
        "from the prompt, images included, corrected by the usage the provider reports)",
    ),
]
BatchSizeOpt = Annotated[int, Opt(help="Batch size of a local model (hf-vlm/...)")]
MethodOpt = Annotated[
    str,
    Opt(
        help="none, reminder, few-shot:K, self-check, steer:VECTORS, any method of "
        "`vscbench methods`, or package.module:Name (NAME?key=value&... sets parameters)"
    ),
]
ReminderFileOpt = Annotated[
    Path | None, Opt(help="Text that replaces the reminder's system prompt")
]
SteerOpt = Annotated[
    Path | None,
    Opt(
        help="Steering vectors from `vscbench steer fit` (local models): shorthand for "
        "--method steer?vectors=FILE, with --alpha, --layers and --gate as its parameters"
    ),
]
AlphaOpt = Annotated[float | None, Opt(help="Steering strength (the steer method's alpha)")]
SteerLayersOpt = Annotated[
    str | None, Opt("--layers", help="Steer only these layers, comma-separated")
]
GateOpt = Annotated[
    float | None, Opt(help="Steer only prompts the vectors file's probe scores >= this (0-1)")
]
TemperatureOpt = Annotated[float | None, Opt(help="Sampling temperature")]
MaxTokensOpt = Annotated[
    int | None,
    Opt(help="Longest reply in tokens (replies are stored up to 16,000 characters)"),
]
SeedOpt = Annotated[int | None, Opt(help="Sampling seed, where the model takes one")]
IncludeDefectiveOpt = Annotated[bool, Opt(help="Keep pairs with an empty prompt")]
SkipMissingOpt = Annotated[
    bool,
    Opt(
        help="Run even if some pairs have no usable image, missing or undecodable "
        "(they are listed as defects)"
    ),
]

#: The judges, listed in full under every command that takes --judge.
JUDGES_EPILOG = "Judges:\n\n\b\n" + "\n".join(
    f"  {spec}\n      {about}" for spec, about in JUDGE_SPECS
)
RUN_EPILOG = (
    "Examples:\n\n\b\n"
    "  # offline smoke test (mockllm answers with a fixed reply), 20 pairs per split\n"
    "  vscbench run --model mockllm/model --split text --variants txt,typography,figstep "
    "--limit 20 --out runs/smoke\n"
    "  # an API model (key from OPENAI_API_KEY)\n"
    "  vscbench run --model openai/gpt-4o-mini --out runs/gpt-4o-mini\n"
    "  # a vLLM / OpenAI-compatible server\n"
    "  vscbench run --model openai-api/vllm/llava-hf/llava-1.5-7b-hf "
    "--base-url http://localhost:8000/v1 --out runs/llava\n"
    '  # a local Hugging Face VLM (pip install "vscbench[local]")\n'
    "  vscbench run --model hf-vlm/llava-hf/llava-1.5-7b-hf --batch-size 8 --out runs/llava-hf\n"
    "  # a calibration method on the held-out side, two judges\n"
    "  vscbench run --model openai/gpt-4o-mini --eval-on test --method reminder "
    "--judge refusal --judge llm:openai/gpt-4o-mini --out runs/reminder\n\n"
    "The same command on the same --out resumes: only missing or failed pairs are sent.\n\n"
    + JUDGES_EPILOG
)
