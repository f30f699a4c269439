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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

from vscbench.audit.session import audit_metrics
from vscbench.backends import is_local, is_text_only, make_generate, require_local_extra
from vscbench.chat import Answer, FatalModelError, Generate, Settings, answer_problem
from vscbench.data.sheets import DataError
from vscbench.dataset import UNUSABLE_IMAGE, Dataset, Selection, load_dataset
from vscbench.images import RenderMode
from vscbench.items import Item
from vscbench.judges import JudgeOptions, make_judge
from vscbench.judges.panel import JudgePanel, pairwise_agreement, per_judge_records
from vscbench.methods import Method, Plain, Reminder, SelfCheck, few_shot, parse_method
from vscbench.providers import describe_error, fatal_cause
from vscbench.results.counting import compute_metrics
from vscbench.results.identity import differences, file_sha256, fingerprint, redact
from vscbench.results.inspect_log import write_inspect_log
from vscbench.results.store import (
    CONFIG_FILE,
    METRICS_FILE,
    SAMPLES_FILE,
    RunDirError,
    RunDirLock,
    SampleStore,
    cap_reply,
    new_record,
    read_json,
    write_json_atomic,
)

#: Where a method keeps what it asked the model before the pairs (few-shot answers).
METHOD_STATE_FILE = "method_state.json"
LIST_FIELDS = ("splits", "variants", "categories", "types", "judges", "steer_layers")


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
    gate: float | None = None  # steer only prompts the vectors file's probe scores >= this

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
        data["model_args"] = redact(self.model_args)
        for key in LIST_FIELDS:
            data[key] = list(data[key])
        return data


def run_identity(config: RunConfig, dataset: Dataset, method: Method) -> dict[str, Any]:
    """Everything that defines a run's answers (see :mod:`vscbench.results.identity`)."""
    steering = None
    if config.steer:
        steering = {
            "sha256": file_sha256(config.steer),
            "alpha": config.alpha,
            "layers": list(config.steer_layers),
            "gate": config.gate,
        }
    return {
        "selection": {
            "splits": list(config.splits),
            "variants": list(config.variants),
            "categories": list(config.categories),
            "types": list(config.types),
            # a sample, not the first N: recorded so runs limited the old way are refused
            "limit": None if config.limit is None else {"n": config.limit, "sample": "stratified"},
            "eval_on": config.eval_on,
            "split_seed": config.split_seed,
            "calibration_fraction": config.calibration_fraction,
            "include_defective": config.include_defective,
            "skip_missing_images": config.skip_missing_images,
        },
        "data": {"sha256": dict(sorted(dataset.sha256.items())), "render": config.render},
        "model": {"name": config.model, "args": redact(config.model_args)},
        "generation": {
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            "seed": config.seed,
        },
        "method": method.identity(),
        "steering": steering,
    }


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    generated: int = 0
    judged: int = 0
    skipped_lines: int = 0
    kept: int = 0  # answers already in the run directory, not generated again


ProgressFn = Callable[[dict[str, Any]], None]


# --- the loop -----------------------------------------------------------------------


async def _process(
    record: dict[str, Any],
    generate: Callable[[], Awaitable[Answer]] | None,
    panel: JudgePanel,
    gate: asyncio.Semaphore,
    reuse_verdicts: bool,
) -> dict[str, Any]:
    if generate is not None:
        for key in ("response", "truncated", "error", "stop_reason", "usage"):
            record[key] = None
        async with gate:
            try:
                answer = await generate()
            except Exception as exc:  # retries are exhausted: record, never judge
                fatal = fatal_cause(exc)
                if fatal is not None:  # every further request would fail the same way
                    raise fatal from exc
                record["error"] = describe_error(exc)
            else:
                record["stop_reason"] = answer.stop_reason
                record["usage"] = answer.usage
                record["error"] = answer_problem(answer)
                if record["error"] is None:  # the judges see exactly what is kept
                    record["response"], record["truncated"] = cap_reply(answer.text)
    await panel.apply(record, reuse=reuse_verdicts)
    return record


async def _run_all(
    jobs: Sequence[tuple[dict[str, Any], Callable[[], Any] | None]],
    panel: JudgePanel,
    concurrency: int,
    on_done: Callable[[dict[str, Any]], None],
    progress: ProgressFn | None,
    reuse_verdicts: bool = True,
) -> None:
    gate = asyncio.Semaphore(concurrency)
    # bound the coroutines alive at once so large images are not all loaded together
    window = asyncio.Semaphore(concurrency * 4)
    counts = {"done": 0, "errors": 0, "judge_errors": 0, "total": len(jobs)}

    async def one(record: dict[str, Any], generate: Callable[[], Any] | None) -> None:
        try:
            await _process(record, generate, panel, gate, reuse_verdicts)
            on_done(record)
            counts["done"] += 1
            counts["errors"] += bool(record.get("error"))
            counts["judge_errors"] += not record.get("error") and not panel.complete(record)
            if progress:
                progress(counts)
        finally:
            window.release()

    try:
        async with asyncio.TaskGroup() as group:
            for record, generate in jobs:
                await window.acquire()
                group.create_task(one(record, generate))
    except BaseExceptionGroup as group_error:  # surface the cause, not the group
        fatal = group_error.subgroup(FatalModelError)
        if fatal is not None:
            raise fatal.exceptions[0] from None
        raise


def judge_records(
    records: Sequence[dict[str, Any]],
    panel: JudgePanel,
    concurrency: int = 16,
    progress: ProgressFn | None = None,
    reuse_verdicts: bool = False,
) -> None:
    """Judge stored answers in place (nothing is generated).

    Each judge of ``panel`` adds or replaces its own verdict; other judges' verdicts
    stay. With ``reuse_verdicts`` a judge that already decided a record is not asked.
    """
    asyncio.run(
        _run_all(
            [(r, None) for r in records],
            panel,
            concurrency,
            lambda r: None,
            progress,
            reuse_verdicts,
        )
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
        if not config.reminder_file:
            return Reminder()
        try:
            text = Path(config.reminder_file).read_text("utf-8")
        except OSError as exc:
            raise ValueError(
                f"--reminder-file {config.reminder_file}: cannot read ({exc.strerror})"
            ) from None
        if not text.strip():
            raise ValueError(f"--reminder-file {config.reminder_file} is empty")
        return Reminder(text)
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
    require_local_extra("steering (--steer)")
    from vscbench.local.steering import load_steering

    return load_steering(Path(config.steer), config.alpha, config.steer_layers or None, config.gate)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_resumable(run_dir: Path, identity: dict[str, Any]) -> str:
    """Refuse a run directory made with other answers in mind; return its creation time."""
    path = run_dir / CONFIG_FILE
    if not path.exists() or not SampleStore(run_dir / SAMPLES_FILE).load():
        return _now()  # no answers yet (a first attempt that stopped early): nothing to mix
    stored = read_json(path)
    if "identity" not in stored:
        raise RunDirError(
            f"{run_dir} was made by an older vscbench that did not record what defines its "
            "answers, so it cannot be resumed safely; use a new --out"
        )
    changed = differences(stored["identity"], identity)
    if changed:
        raise RunDirError(
            f"{run_dir} holds answers made with other settings; resuming would mix them. "
            f"Differences: {'; '.join(changed)}. Use a new --out (judges can be changed "
            "on stored answers with `vscbench score`)."
        )
    return str(stored.get("created") or _now())


def data_summary(dataset: Dataset) -> dict[str, Any]:
    return {
        "dir": str(dataset.data_dir),
        "sha256": dataset.sha256,
        "defects": [d.to_dict() for d in dataset.defects],
        "excluded": dict(sorted(dataset.excluded.items())),
    }


def write_results(
    run_dir: Path,
    stored_config: dict[str, Any],
    panel: JudgePanel,
    data: dict[str, Any],
    ordered: list[dict[str, Any]],
    store: SampleStore,
) -> dict[str, Any]:
    """Compact ``samples.jsonl``, write ``metrics.json`` and the inspect log."""
    store.rewrite(ordered)
    metrics = {
        "model": stored_config.get("model"),
        "judge": panel.names[0],
        "config": stored_config,
        "fingerprint": stored_config.get("fingerprint"),
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
        utility = read_json(previous).get("utility")
        if utility is not None:
            metrics["utility"] = utility
    audit = audit_metrics(run_dir, ordered)  # so do hand labels (recomputed, or marked stale)
    if audit is not None:
        metrics["audit"] = audit
    metrics["counts"] = {
        **metrics["counts"],
        "records": len(ordered),
        "unreadable_lines": store.skipped_lines,
    }
    write_json_atomic(run_dir / METRICS_FILE, metrics)
    write_inspect_log(run_dir, ordered, metrics, stored_config)
    return metrics


def run(
    config: RunConfig,
    run_dir: str | Path,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Generate what ``run_dir`` lacks, judge it, and write the metrics.

    Raises :class:`RunDirError` when the directory holds answers of another identity or
    another process is writing it, and :class:`~vscbench.chat.FatalModelError` when the
    model cannot be reached at all (what was recorded until then is kept and scored).
    """
    out = Path(run_dir)
    panel = config.panel()  # a mistyped judge is refused before any data is read
    dataset = load_dataset(
        config.data_dir, config.selection(), config.render, config.include_defective
    )
    missing = [d for d in dataset.defects if d.kind in UNUSABLE_IMAGE]
    if missing and not config.skip_missing_images:
        raise DataError(
            f"{len(missing)} selected pair(s) have no usable image (missing or undecodable), "
            f"e.g. {missing[0].message}. Run `vscbench data fetch` (or `vscbench data "
            "verify` for details), narrow the selection, or pass --skip-missing-images to "
            "run the rest and list them as defects."
        )
    if is_local(config.model):
        require_local_extra(config.model)  # before anything is written
    if config.steer and not Path(config.steer).is_file():
        raise ValueError(
            f"--steer {config.steer}: no such file; make one with `vscbench steer fit`"
        )
    if is_text_only(config.model):
        pictured = [i.id for i in dataset.items if dataset.images.get(i.id) is not None]
        if pictured:
            raise ValueError(
                f"{config.model} is a text-only model (hf-lm/), but {len(pictured)} selected "
                f"pair(s) carry an image (e.g. {pictured[0]}); select --split text "
                "--variants txt, or use a VLM"
            )
    method = method_for(config)  # checked before anything is written
    identity = run_identity(config, dataset, method)
    with RunDirLock(out):
        created = _check_resumable(out, identity)
        stored_config = {
            **config.public(),
            "created": created,
            "fingerprint": fingerprint(identity),
            "identity": identity,
        }
        write_json_atomic(out / CONFIG_FILE, stored_config)
        return _generate_and_score(config, dataset, method, panel, out, stored_config, progress)


def _generate_and_score(
    config: RunConfig,
    dataset: Dataset,
    method: Method,
    panel: JudgePanel,
    out: Path,
    stored_config: dict[str, Any],
    progress: ProgressFn | None,
) -> RunResult:
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
    generate: Generate | None = None
    if to_generate:
        generate = generate_for(config)
        for item in to_generate:
            record = new_record(item, dataset.image_relpath(item))
            jobs.append(
                (record, partial(_respond, method, item, dataset.images[item.id], generate, record))
            )

    kept = len(dataset.items) - len(to_generate)
    if progress:  # the plan first, so a resumed run says what it keeps before it works
        progress(
            {
                "done": 0,
                "errors": 0,
                "judge_errors": 0,
                "total": len(jobs),
                "kept": kept,
                "to_generate": len(to_generate),
                "to_judge": judged,
            }
        )

    async def main() -> None:
        if generate is not None:
            try:
                await method.prepare(generate, out / METHOD_STATE_FILE)
            except Exception as exc:
                fatal = fatal_cause(exc)
                if fatal is not None:
                    raise fatal from exc
                raise
        # enough pairs in flight to fill a local model's batches
        concurrency = max(config.max_connections, config.batch_size)
        await _run_all(jobs, panel, concurrency, store.append, progress)

    fatal: FatalModelError | None = None
    try:
        asyncio.run(main())
    except FatalModelError as exc:
        fatal = exc  # what was recorded is kept and scored below, then the run stops
    finally:
        store.close()
    records = store.load()
    ordered = [records.pop(i.id) for i in dataset.items if i.id in records]
    ordered += records.values()  # records of pairs no longer selected stay in the file
    metrics = write_results(out, stored_config, panel, data_summary(dataset), ordered, store)
    if fatal is not None:
        raise fatal
    return RunResult(out, metrics, len(to_generate), judged, store.skipped_lines, kept)


def load_config(run_dir: Path) -> RunConfig:
    """The configuration a run directory was made with."""
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise RunDirError(f"{run_dir}: no {CONFIG_FILE}; is this a vscbench run directory?")
    stored = read_json(path)
    known = {k: v for k, v in stored.items() if k in RunConfig.__dataclass_fields__}
    for key in LIST_FIELDS:
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
    """Judge every stored answer with ``judges``; nothing is generated.

    Each of ``judges`` adds or replaces its verdicts; other judges' verdicts stay in
    the records, and the run's identity (its answers) is untouched, so the original
    ``run`` command still resumes. Works from the run directory alone: the data
    summary of the last ``metrics.json`` is carried over.
    """
    out = Path(run_dir)
    with RunDirLock(out):
        config = load_config(out)
        stored_config = read_json(out / CONFIG_FILE)
        config.judges = tuple(judges)
        config.judge_base_url, config.judge_prompt = judge_base_url, judge_prompt
        config.max_connections, config.judge_cache = max_connections, judge_cache
        panel = config.panel()
        store = SampleStore(out / SAMPLES_FILE)
        ordered = list(store.load().values())
        judge_records(ordered, panel, max_connections, progress)
        previous = out / METRICS_FILE
        data = read_json(previous).get("data", {}) if previous.exists() else {}
        for key in ("judges", "judge_base_url", "judge_prompt", "judge_cache"):
            stored_config[key] = config.public()[key]
        write_json_atomic(out / CONFIG_FILE, stored_config)
        metrics = write_results(out, stored_config, panel, data, ordered, store)
    return RunResult(out, metrics, 0, len(ordered), store.skipped_lines)
