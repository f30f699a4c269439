"""The evaluation engine: send every pair to a model, judge the answer, record it.

Models are reached through :mod:`vscbench.providers` (inspect_ai's providers, or the
``openai`` SDK for OpenAI-compatible servers), with their retries for 429/5xx/timeouts.
The loop around them is our own rather than ``inspect_ai.eval``: a benchmark of 4,050
single-turn requests needs little of a general agent runner, and that runner's
per-sample bookkeeping costs several milliseconds of CPU per sample, which on a small
machine leaves a fast server waiting (see ``bench/throughput.py``). The inspect tasks in
:mod:`vscbench.tasks` remain for anyone who wants inspect's own runner and log viewer.

A run directory holds ``config.json`` (written first), ``samples.jsonl`` (appended as
pairs finish) and ``metrics.json`` (written last). Running the same command again
generates only what is missing or failed; ``score`` re-judges stored answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

from vscbench.data.sheets import DataError
from vscbench.dataset import Dataset, Selection, load_dataset
from vscbench.images import RenderMode
from vscbench.items import Item
from vscbench.judges import JudgeOptions, make_judge
from vscbench.judges.panel import JudgePanel, pairwise_agreement, per_judge_records
from vscbench.methods import Method, Plain, Reminder, SelfCheck, few_shot, parse_method
from vscbench.metrics import compute_metrics
from vscbench.providers import (
    Answer,
    Generate,
    Settings,
    answer_problem,
    describe_error,
    make_generate,
)
from vscbench.records import SampleStore, new_record, write_json_atomic

CONFIG_FILE = "config.json"
SAMPLES_FILE = "samples.jsonl"
METRICS_FILE = "metrics.json"

#: Settings that change what a stored answer means; a resumed run must match them.
PINNED_SETTINGS = (
    "model",
    "method",
    "reminder_file",
    "temperature",
    "max_tokens",
    "seed",
    "judges",
    "judge_prompt",
    "steer",
    "alpha",
    "steer_layers",
)
SECRET_HINTS = ("key", "token", "secret", "password", "auth")


class RunDirError(RuntimeError):
    """The run directory cannot be resumed with these settings."""


@dataclass
class RunConfig:
    """Everything that defines a run. Secrets never belong here: they come from the env."""

    model: str
    base_url: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    splits: tuple[str, ...] = ("image", "text")
    variants: tuple[str, ...] = ("txt", "search", "typography", "concat", "figstep")
    categories: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    limit: int | None = None
    eval_on: str = "all"  # all, or the calibration or test side (see vscbench.split)
    split_seed: int = 0
    calibration_fraction: float = 0.2
    render: RenderMode = "auto"
    include_defective: bool = False
    skip_missing_images: bool = False
    judges: tuple[str, ...] = ("string-match",)  # the first one is primary
    judge_base_url: str | None = None
    judge_prompt: str | None = None
    judge_max_tokens: int | None = None  # default per judge mode
    judge_cache: bool = True
    temperature: float | None = 0.0
    max_tokens: int | None = 1024
    seed: int | None = None
    max_connections: int = 16
    max_retries: int = 5
    timeout: int | None = None
    batch_size: int = 8  # local models (hf-vlm/...) only
    method: str = "none"  # none, reminder, few-shot:K, self-check (vscbench.methods)
    reminder_file: str | None = None  # replaces the reminder's text
    steer: str | None = None  # vectors file from `vscbench steer fit`
    alpha: float = 1.0  # steering strength
    steer_layers: tuple[int, ...] = ()  # restrict the vectors to these layers

    @property
    def judge(self) -> str:
        return self.judges[0]

    def selection(self) -> Selection:
        return Selection(
            self.splits,
            self.variants,
            self.categories,
            self.types,
            self.limit,
            self.eval_on,
            self.split_seed,
            self.calibration_fraction,
        )

    def panel(self) -> JudgePanel:
        options = JudgeOptions(
            self.judge_base_url,
            self.judge_prompt,
            self.judge_max_tokens,
            self.max_connections,
            self.max_retries,
            self.timeout,
            self.judge_cache,
        )
        return JudgePanel([make_judge(spec, options) for spec in self.judges])

    def public(self) -> dict[str, Any]:
        """The config as recorded on disk, with secret-looking model args redacted."""
        data = asdict(self)
        data["model_args"] = {
            k: ("<redacted>" if any(h in k.lower() for h in SECRET_HINTS) else v)
            for k, v in self.model_args.items()
        }
        for key in ("splits", "variants", "categories", "types", "judges", "steer_layers"):
            data[key] = list(data[key])
        return data


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    generated: int = 0
    judged: int = 0
    skipped_lines: int = 0


ProgressFn = Callable[[dict[str, Any]], None]


# --- the loop -----------------------------------------------------------------------


async def _process(
    record: dict[str, Any],
    generate: Callable[[], Awaitable[Answer]] | None,
    panel: JudgePanel,
    gate: asyncio.Semaphore,
) -> dict[str, Any]:
    if generate is not None:
        for key in ("response", "error", "stop_reason", "usage"):
            record[key] = None
        async with gate:
            try:
                answer = await generate()
            except Exception as exc:  # retries are exhausted: record, never judge
                record["error"] = describe_error(exc)
            else:
                record["stop_reason"] = answer.stop_reason
                record["usage"] = answer.usage
                record["error"] = answer_problem(answer)
                if record["error"] is None:
                    record["response"] = answer.text
    await panel.apply(record)
    return record


async def _run_all(
    jobs: Sequence[tuple[dict[str, Any], Callable[[], Any] | None]],
    panel: JudgePanel,
    concurrency: int,
    on_done: Callable[[dict[str, Any]], None],
    progress: ProgressFn | None,
) -> None:
    gate = asyncio.Semaphore(concurrency)
    # bound the coroutines alive at once so large images are not all loaded together
    window = asyncio.Semaphore(concurrency * 4)
    counts = {"done": 0, "errors": 0, "judge_errors": 0, "total": len(jobs)}

    async def one(record: dict[str, Any], generate: Callable[[], Any] | None) -> None:
        try:
            await _process(record, generate, panel, gate)
            on_done(record)
            counts["done"] += 1
            counts["errors"] += bool(record.get("error"))
            counts["judge_errors"] += not record.get("error") and not panel.complete(record)
            if progress:
                progress(counts)
        finally:
            window.release()

    async with asyncio.TaskGroup() as group:
        for record, generate in jobs:
            await window.acquire()
            group.create_task(one(record, generate))


def judge_records(
    records: Sequence[dict[str, Any]],
    panel: JudgePanel,
    concurrency: int = 16,
    progress: ProgressFn | None = None,
) -> None:
    """Judge stored answers in place (nothing is generated)."""
    asyncio.run(
        _run_all([(r, None) for r in records], panel, concurrency, lambda r: None, progress)
    )


async def _respond(
    method: Method, item: Item, image: Path | None, generate: Generate, record: dict[str, Any]
) -> Answer:
    trace: dict[str, Any] = {}
    try:
        return await method.respond(item, image, generate, trace)
    finally:
        if trace:
            record["method_trace"] = trace


def method_for(config: RunConfig) -> Method:
    """The prompt method of a run (see :mod:`vscbench.methods`)."""
    name, k = parse_method(config.method)
    if name == "reminder":
        text = Path(config.reminder_file).read_text("utf-8") if config.reminder_file else None
        return Reminder(text) if text else Reminder()
    if name == "self-check":
        return SelfCheck()
    if name == "few-shot":
        if config.eval_on != "test":
            raise ValueError(
                "few-shot demonstrations come from the calibration side; score with --eval-on test"
            )
        calibration = load_dataset(
            config.data_dir,
            Selection(
                splits=("image",),
                eval_on="calibration",
                split_seed=config.split_seed,
                calibration_fraction=config.calibration_fraction,
            ),
            config.render,
        )
        return few_shot(k or 1, calibration.items, calibration.images, config.split_seed)
    return Plain()


def generate_for(config: RunConfig) -> Generate:
    """The model call of a run: its backend, generation settings and steering."""
    settings = Settings(
        config.temperature,
        config.max_tokens,
        config.seed,
        config.max_connections,
        config.max_retries,
        config.timeout,
        config.batch_size,
        steering_for(config),
    )
    return make_generate(config.model, config.base_url, config.model_args, settings)


def steering_for(config: RunConfig) -> Any:
    """The steering a run applies, loaded from its vectors file (or ``None``)."""
    if not config.steer:
        return None
    from vscbench.local.steering import load_steering

    return load_steering(Path(config.steer), config.alpha, config.steer_layers or None)


def _check_resumable(run_dir: Path, config: RunConfig) -> None:
    path = run_dir / CONFIG_FILE
    if not path.exists():
        return
    stored = json.loads(path.read_text("utf-8"))
    current = config.public()
    changed = [k for k in PINNED_SETTINGS if stored.get(k) != current.get(k)]
    if changed:
        details = "; ".join(f"{k}: {stored.get(k)!r} -> {current.get(k)!r}" for k in changed)
        raise RunDirError(
            f"{run_dir} holds a run with other settings ({details}). Use a new --out, or "
            "`vscbench score` to re-judge with another judge."
        )


def data_summary(dataset: Dataset) -> dict[str, Any]:
    return {
        "dir": str(dataset.data_dir),
        "sha256": dataset.sha256,
        "defects": [d.to_dict() for d in dataset.defects],
        "excluded": dict(sorted(dataset.excluded.items())),
    }


def write_results(
    run_dir: Path,
    config: RunConfig,
    panel: JudgePanel,
    data: dict[str, Any],
    ordered: list[dict[str, Any]],
    store: SampleStore,
) -> dict[str, Any]:
    """Compact ``samples.jsonl`` to one line per id and write ``metrics.json``."""
    store.rewrite(ordered)
    metrics = {
        "model": config.model,
        "judge": config.judge,
        "config": config.public(),
        "versions": {p: version(p) for p in ("vscbench", "inspect_ai")},
        "data": data,
        **compute_metrics(ordered),
    }
    if len(panel.names) > 1:
        metrics["by_judge"] = {
            name: compute_metrics(per_judge_records(ordered, name)) for name in panel.names
        }
        metrics["judge_agreement"] = pairwise_agreement(ordered, panel.names)
    if panel.usage():
        metrics["judge_usage"] = panel.usage()
    previous = run_dir / METRICS_FILE
    if previous.exists():  # a utility score measured for this run outlives re-scoring
        utility = json.loads(previous.read_text("utf-8")).get("utility")
        if utility is not None:
            metrics["utility"] = utility
    metrics["counts"] = {
        "records": len(ordered),
        "judged": sum(r.get("aware") is not None for r in ordered),
        "unreadable_lines": store.skipped_lines,
    }
    write_json_atomic(run_dir / METRICS_FILE, metrics)
    return metrics


def run(
    config: RunConfig,
    run_dir: str | Path,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Generate what ``run_dir`` lacks, judge it, and write the metrics."""
    out = Path(run_dir)
    dataset = load_dataset(
        config.data_dir, config.selection(), config.render, config.include_defective
    )
    missing = [d for d in dataset.defects if d.kind == "missing_image"]
    if missing and not config.skip_missing_images:
        raise DataError(
            f"{len(missing)} selected pair(s) have no image, e.g. {missing[0].message}. "
            "Run `vscbench data fetch` (or `vscbench data verify` for details), narrow the "
            "selection, or pass --skip-missing-images to run the rest and list them as defects."
        )
    panel = config.panel()
    method = method_for(config)  # checked before anything is written
    _check_resumable(out, config)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / CONFIG_FILE, config.public())

    store = SampleStore(out / SAMPLES_FILE)
    records = store.load()
    jobs: list[tuple[dict[str, Any], Callable[[], Any] | None]] = []
    to_generate: list[Item] = []
    for item in dataset.items:
        old = records.get(item.id)
        if old is not None and not old.get("error") and old.get("response") is not None:
            if not panel.complete(old):
                jobs.append((old, None))  # answered, but not (fully) judged: judge again
            continue
        to_generate.append(item)  # new, or failed last time: (re)generate
    judged = len(jobs)
    if to_generate:
        generate = generate_for(config)
        for item in to_generate:
            record = new_record(item, dataset.image_relpath(item))
            jobs.append(
                (record, partial(_respond, method, item, dataset.images[item.id], generate, record))
            )

    try:
        # enough pairs in flight to fill a local model's batches
        concurrency = max(config.max_connections, config.batch_size)
        asyncio.run(_run_all(jobs, panel, concurrency, store.append, progress))
    finally:
        store.close()
    records = store.load()
    ordered = [records.pop(i.id) for i in dataset.items if i.id in records]
    ordered += records.values()  # earlier selections of this run directory stay
    metrics = write_results(out, config, panel, data_summary(dataset), ordered, store)
    return RunResult(out, metrics, len(to_generate), judged, store.skipped_lines)


def load_config(run_dir: Path) -> RunConfig:
    """The configuration a run directory was made with."""
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise RunDirError(f"{run_dir}: no {CONFIG_FILE}; is this a vscbench run directory?")
    stored = json.loads(path.read_text("utf-8"))
    known = {k: v for k, v in stored.items() if k in RunConfig.__dataclass_fields__}
    for key in ("splits", "variants", "categories", "types", "judges", "steer_layers"):
        if key in known:
            known[key] = tuple(known[key])
    return RunConfig(**known)


def score(
    run_dir: str | Path,
    judges: Sequence[str],
    judge_base_url: str | None = None,
    judge_prompt: str | None = None,
    max_connections: int = 16,
    progress: ProgressFn | None = None,
    judge_cache: bool = True,
) -> RunResult:
    """Re-judge every stored answer with ``judges``; nothing is generated.

    Works from the run directory alone (the data directory is not needed): the data
    summary of the last ``metrics.json`` is carried over.
    """
    out = Path(run_dir)
    config = load_config(out)
    config.judges = tuple(judges)
    config.judge_base_url, config.judge_prompt = judge_base_url, judge_prompt
    config.max_connections, config.judge_cache = max_connections, judge_cache
    panel = config.panel()

    store = SampleStore(out / SAMPLES_FILE)
    ordered = list(store.load().values())
    for record in ordered:
        record.pop("judges", None)  # verdicts of judges no longer asked for
    judge_records(ordered, panel, max_connections, progress)
    previous = out / METRICS_FILE
    data = json.loads(previous.read_text("utf-8")).get("data", {}) if previous.exists() else {}
    write_json_atomic(out / CONFIG_FILE, config.public())
    metrics = write_results(out, config, panel, data, ordered, store)
    return RunResult(out, metrics, 0, len(ordered), store.skipped_lines)
