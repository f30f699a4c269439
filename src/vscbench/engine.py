"""The evaluation engine: send every pair to a model, judge the answer, record it.

Models are reached through :mod:`vscbench.models` (inspect_ai's providers, the ``openai``
SDK for OpenAI-compatible servers, or local models), with their retries for
429/5xx/timeouts. The loop around them (:mod:`vscbench.loop`) is our own rather than
``inspect_ai.eval``: a benchmark of 4,050 single-turn requests needs little of a general
agent runner, and that runner's per-sample bookkeeping costs several milliseconds of CPU
per sample, which on a small machine leaves a fast server waiting (see
``bench/throughput.py``). The inspect tasks in :mod:`vscbench.tasks` remain for anyone
who wants inspect's own runner and log viewer.

A run directory holds ``config.json`` (written first), ``samples.jsonl`` (appended as
pairs finish) and ``metrics.json`` (written last). Running the same command again
generates only what is missing or failed; ``score`` re-judges stored answers.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vscbench import pacing
from vscbench.audit.session import audit_metrics
from vscbench.chat import FatalModelError, Generate, Settings
from vscbench.config import Judging, Requests, RunConfig, describe, refuse_legacy_steering
from vscbench.data.sheets import DataError
from vscbench.dataset import UNUSABLE_IMAGE, Dataset, load_dataset
from vscbench.files import write_json_atomic
from vscbench.items import Item
from vscbench.judges.panel import JudgePanel, pairwise_agreement, per_judge_records
from vscbench.judges.registry import JudgeOptions, make_panel
from vscbench.loop import answer, run_jobs
from vscbench.methods import Bound, build_method, setup_for
from vscbench.models.names import is_local, is_text_only
from vscbench.models.registry import backend_for, make_generate
from vscbench.progress import OnProgress, Progress
from vscbench.results.counting import compute_metrics
from vscbench.results.identity import differences, fingerprint, upgrade
from vscbench.results.inspect_log import write_inspect_log
from vscbench.results.records import ANSWER_FIELDS, cap_reply, new_record
from vscbench.results.store import (
    CONFIG_FILE,
    METRICS_FILE,
    SAMPLES_FILE,
    RunDirError,
    RunDirLock,
    SampleStore,
    read_json,
)

__all__ = ["RunConfig", "RunDirError", "RunResult", "load_config", "run", "score"]

#: Where a method keeps what it asked the model before the pairs (few-shot answers).
METHOD_STATE_FILE = "method_state.json"


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    generated: int = 0
    judged: int = 0
    skipped_lines: int = 0
    kept: int = 0  # answers already in the run directory, not generated again


def panel_for(
    judging: Judging, requests: Requests, rpm: float | None = None, tpm: float | None = None
) -> JudgePanel:
    """A run's judges (a mistyped one is refused before any data is read); ``rpm``/``tpm``
    are their provider's limits (``score``)."""
    options = replace(JudgeOptions.of(judging, requests), rpm=rpm, tpm=tpm)
    return make_panel(judging.judges, options)


def generate_for(config: RunConfig, intervention: Any = None) -> Generate:
    """The model call of a run: its backend, generation settings and the activation-level
    method's ``intervention`` (``steer`` or a plug-in's), applied around each batch."""
    settings = Settings(
        **asdict(config.generation), **asdict(config.requests), steering=intervention
    )
    target = config.target
    return make_generate(target.model, target.base_url, target.model_args, settings)


async def _process(
    record: dict[str, Any],
    respond: Any,
    panel: JudgePanel,
    gate: asyncio.Semaphore | None,
) -> dict[str, Any]:
    """Generate (unless ``respond`` is ``None``: judge a kept answer), then judge."""
    if respond is not None and gate is not None:
        record.update(dict.fromkeys(ANSWER_FIELDS))
        outcome = await answer(respond, gate)
        record["error"] = outcome.error
        if outcome.answer is not None:
            record["stop_reason"] = outcome.answer.stop_reason
            record["usage"] = outcome.answer.usage
        if outcome.error is None and outcome.answer is not None:
            # the judges see exactly what is kept
            record["response"], record["truncated"] = cap_reply(outcome.answer.text)
    await panel.apply(record, reuse=True)
    return record


async def _respond(
    method: Bound, item: Item, image: Path | None, generate: Generate, record: dict[str, Any]
) -> Any:
    trace: dict[str, Any] = {}
    try:
        return await method.respond(item, image, generate, trace)
    finally:
        if trace:
            record["method_trace"] = trace


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
    try:
        refuse_legacy_steering(stored)
    except ValueError as exc:
        raise RunDirError(f"{run_dir}: {exc}") from None
    changed = differences(upgrade(stored["identity"]), identity)
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
    rate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compact ``samples.jsonl``, write ``metrics.json`` and the inspect log.

    ``rate`` is what this command's requests met (:func:`vscbench.pacing.rate_report`);
    a command that sent none keeps the block of the one before.
    """
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
    previous = read_json(run_dir / METRICS_FILE) if (run_dir / METRICS_FILE).exists() else {}
    rate = rate or previous.get("rate")  # a command that sent nothing keeps the last one's
    if rate is not None:
        metrics["rate"] = rate
    utility = previous.get("utility")  # a utility score measured for this run outlives re-scoring
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
    if store.notes:
        metrics["damaged_lines"] = store.notes
    gap = missing_pairs(stored_config, ordered)
    if gap:
        metrics["incomplete"] = {"records": len(ordered), "pairs": stored_config["pairs"]}
    write_json_atomic(run_dir / METRICS_FILE, metrics)
    write_inspect_log(run_dir, ordered, metrics, stored_config)
    return metrics


def missing_pairs(stored_config: dict[str, Any], records: Sequence[Any]) -> int:
    """How many selected pairs have no record yet (0 for runs that predate the count)."""
    planned = stored_config.get("pairs")
    return max(0, int(planned) - len(records)) if isinstance(planned, int) else 0


def _check_runnable(config: RunConfig, dataset: Dataset) -> None:
    """Refuse, before anything is written, what the run could not do."""
    missing = [d for d in dataset.defects if d.kind in UNUSABLE_IMAGE]
    if missing and not config.data.skip_missing_images:
        raise DataError(
            f"{len(missing)} selected pair(s) have no usable image (missing or undecodable), "
            f"e.g. {missing[0].message}. Run `vscbench data fetch` (or `vscbench data "
            "verify` for details), narrow the selection, or pass --skip-missing-images to "
            "run the rest and list them as defects."
        )
    if not dataset.items:  # a run of nothing would "succeed" with no figures at all
        why = Counter(dataset.excluded.values())
        left = "; ".join(f"{n} {reason}" for reason, n in why.most_common()) or "none matched"
        raise ValueError(
            f"the selection yields 0 pairs to run ({left}); widen --split, --variants, "
            "--categories or --types, or fix the data (`vscbench data verify`)"
        )
    model = config.target.model
    backend_for(model).check(model)  # its optional dependency, before anything is written
    if is_text_only(model):
        pictured = [i.id for i in dataset.items if dataset.images.get(i.id) is not None]
        if pictured:
            raise ValueError(
                f"{model} is a text-only model (hf-lm/), but {len(pictured)} selected "
                f"pair(s) carry an image (e.g. {pictured[0]}); select --split text "
                "--variants txt, or use a VLM"
            )


def run(config: RunConfig, run_dir: str | Path, progress: OnProgress | None = None) -> RunResult:
    """Generate what ``run_dir`` lacks, judge it, and write the metrics.

    Raises :class:`RunDirError` when the directory holds answers of another identity or
    another process is writing it, and :class:`~vscbench.chat.FatalModelError` when the
    model cannot be reached at all (what was recorded until then is kept and scored).
    """
    out = Path(run_dir)
    panel = panel_for(config.judging, config.requests)
    data = config.data
    dataset = load_dataset(data.data_dir, config.selection, data.render, data.include_defective)
    _check_runnable(config, dataset)
    method = build_method(
        config.prompting, config.selection, is_local(config.target.model)
    )  # before any write
    identity = config.identity(dataset.sha256, method.identity())
    with RunDirLock(out):
        created = _check_resumable(out, identity)
        stored_config = {
            **config.public(),
            "created": created,
            "fingerprint": fingerprint(identity),
            "identity": identity,
            "pairs": len(dataset.items),  # what a complete run has a record for
        }
        write_json_atomic(out / CONFIG_FILE, stored_config)
        return _generate_and_score(config, dataset, method, panel, out, stored_config, progress)


def _generate_and_score(
    config: RunConfig,
    dataset: Dataset,
    method: Bound,
    panel: JudgePanel,
    out: Path,
    stored_config: dict[str, Any],
    progress: OnProgress | None,
) -> RunResult:
    store = SampleStore(out / SAMPLES_FILE)
    records = store.load()
    kept = [records[i.id] for i in dataset.items if _answered(records.get(i.id))]
    to_judge = [r for r in kept if not panel.complete(r)]  # answered, not (fully) judged
    to_generate = [i for i in dataset.items if not _answered(records.get(i.id))]
    if progress:  # the plan first, so a resumed run says what it keeps before it works
        plan = Progress(done=0, total=len(to_judge) + len(to_generate), kept=len(kept))
        plan.to_generate, plan.to_judge = len(to_generate), len(to_judge)
        progress(plan)
    # enough pairs in flight to fill a local model's batches
    concurrency = max(config.requests.max_connections, config.requests.batch_size)

    async def main() -> None:
        jobs = [partial(_process, r, None, panel, None) for r in to_judge]
        if to_generate:
            generate = generate_for(config, method.intervention)
            await method.prepare(
                setup_for(generate, out / METHOD_STATE_FILE, config.selection, config.data)
            )
            gate = asyncio.Semaphore(concurrency)
            for item in to_generate:
                record = new_record(item, dataset.image_relpath(item))
                respond = partial(_respond, method, item, dataset.images[item.id], generate, record)
                jobs.append(partial(_process, record, respond, panel, gate))
        done = panel.tracker(len(jobs), progress)
        await run_jobs(jobs, concurrency, lambda r: (store.append(r), done(r)))

    fatal: FatalModelError | None = None
    before = pacing.snapshot()
    try:
        asyncio.run(main())
    except FatalModelError as exc:
        fatal = exc  # what was recorded is kept and scored below, then the run stops
    finally:
        store.close()
    rate = pacing.rate_report(before, pacing.snapshot())
    records = store.load()
    ordered = [records.pop(i.id) for i in dataset.items if i.id in records]
    ordered += records.values()  # records of pairs no longer selected stay in the file
    summary = data_summary(dataset)
    metrics = write_results(out, stored_config, panel, summary, ordered, store, rate)
    if fatal is not None:
        raise fatal
    n_kept = len(kept)
    return RunResult(out, metrics, len(to_generate), len(to_judge), store.skipped_lines, n_kept)


def _answered(record: dict[str, Any] | None) -> bool:
    """A kept answer: not new, not failed last time (those are generated again)."""
    return record is not None and not record.get("error") and record.get("response") is not None


def load_config(run_dir: Path, method_runs: bool = True) -> RunConfig:
    """The configuration a run directory was made with (any version's ``config.json``).

    ``method_runs``: whether the caller runs the run's method again (``utility --run``);
    ``score`` and ``export-upstream`` only read the answers, so they also take an old
    run whose method cannot run now (:meth:`RunConfig.from_stored`).
    """
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise RunDirError(f"{run_dir}: no {CONFIG_FILE}; is this a vscbench run directory?")
    try:
        return RunConfig.from_stored(read_json(path), method_runs)
    except ValidationError as exc:
        raise RunDirError(f"{path} cannot be used by this version: {describe(exc)}") from None
    except ValueError as exc:  # an old run that steered beside a prompt method
        raise RunDirError(f"{run_dir}: {exc}") from None


def score(
    run_dir: str | Path,
    judges: Sequence[str],
    judge_base_url: str | None = None,
    judge_prompt: str | None = None,
    max_connections: int | None = None,
    progress: OnProgress | None = None,
    judge_cache: bool = True,
    judge_max_tokens: int | None = None,
    allow_incomplete: bool = False,
    rpm: float | None = None,
    tpm: float | None = None,
) -> RunResult:
    """Judge every stored answer with ``judges``; nothing is generated.

    ``rpm``/``tpm`` are the LLM judges' provider limits, when known.

    Each of ``judges`` adds or replaces its verdicts; other judges' verdicts stay in
    the records, and the run's identity (its answers) is untouched, so the original
    ``run`` command still resumes. Works from the run directory alone: the data
    summary of the last ``metrics.json`` is carried over. A run that lacks records of
    selected pairs is refused unless ``allow_incomplete`` (its metrics then say so).
    """
    out = Path(run_dir)
    with RunDirLock(out):
        config = load_config(out, method_runs=False)  # judges the answers, runs no method
        stored_config = read_json(out / CONFIG_FILE)
        config.judging = Judging(
            judges=tuple(judges),
            judge_base_url=judge_base_url,
            judge_prompt=judge_prompt,
            judge_max_tokens=judge_max_tokens,
            judge_cache=judge_cache,
        )
        if max_connections is not None:
            config.requests.max_connections = max_connections
        panel = panel_for(config.judging, config.requests, rpm, tpm)
        store = SampleStore(out / SAMPLES_FILE)
        ordered = list(store.load().values())
        gap = missing_pairs(stored_config, ordered)
        if gap and not allow_incomplete:
            raise RunDirError(
                f"{out} is incomplete: {gap} of {stored_config['pairs']} selected pairs have "
                "no record (was the run interrupted?); resume it with the same `vscbench "
                "run` command, or pass --allow-incomplete to score what is there"
            )
        before = pacing.snapshot()
        panel.judge_all(ordered, config.requests.max_connections, progress)
        rate = pacing.rate_report(before, pacing.snapshot())
        previous = out / METRICS_FILE
        data = read_json(previous).get("data", {}) if previous.exists() else {}
        public = config.public()
        for key in ("judges", "judge_base_url", "judge_prompt", "judge_max_tokens", "judge_cache"):
            stored_config[key] = public[key]
        write_json_atomic(out / CONFIG_FILE, stored_config)
        metrics = write_results(out, stored_config, panel, data, ordered, store, rate)
    return RunResult(out, metrics, 0, len(ordered), store.skipped_lines)
