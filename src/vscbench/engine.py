"""The evaluation engine: send every pair to a model, judge the answer, record it.

Models are reached through inspect_ai's model layer, so every provider it has works
(OpenAI, Anthropic, Google, OpenAI-compatible servers by base URL, mockllm, ...) with
its retries (429/5xx/timeouts, with backoff and ``Retry-After``) and connection limits.
The loop around it is our own rather than ``inspect_ai.eval``: a benchmark of 4,050
single-turn requests needs little of a general agent runner, and the runner's per-sample
bookkeeping costs several milliseconds of CPU per sample, which on a small machine
leaves a fast server waiting (see ``bench/throughput.py``). The inspect tasks in
:mod:`vscbench.tasks` remain for anyone who wants inspect's own runner and log viewer.

A run directory holds ``config.json`` (written first), ``samples.jsonl`` (appended as
pairs finish) and ``metrics.json`` (written last). Running the same command again
generates only what is missing or failed; ``score`` re-judges stored answers.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

from vscbench.dataset import Dataset, Selection, load_dataset
from vscbench.images import RenderMode
from vscbench.items import Item
from vscbench.judges import Judge, LLMJudge, StringMatchJudge, Verdict, load_template
from vscbench.metrics import compute_metrics
from vscbench.records import SampleStore, new_record, write_json_atomic

CONFIG_FILE = "config.json"
SAMPLES_FILE = "samples.jsonl"
METRICS_FILE = "metrics.json"

#: Settings that change what a stored answer means; a resumed run must match them.
PINNED_SETTINGS = ("model", "temperature", "max_tokens", "seed", "judge", "judge_prompt")
DRY_RUN_RESPONSE = "Mock response from mockllm (dry run)."
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
    render: RenderMode = "auto"
    include_defective: bool = False
    judge: str = "string-match"
    judge_base_url: str | None = None
    judge_prompt: str | None = None
    judge_max_tokens: int = 512
    temperature: float | None = 0.0
    max_tokens: int | None = 1024
    seed: int | None = None
    max_connections: int = 16
    max_retries: int = 5
    timeout: int | None = None

    def selection(self) -> Selection:
        return Selection(self.splits, self.variants, self.categories, self.types, self.limit)

    def public(self) -> dict[str, Any]:
        """The config as recorded on disk, with secret-looking model args redacted."""
        data = asdict(self)
        data["model_args"] = {
            k: ("<redacted>" if any(h in k.lower() for h in SECRET_HINTS) else v)
            for k, v in self.model_args.items()
        }
        for key in ("splits", "variants", "categories", "types"):
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


# --- model access (inspect_ai) ------------------------------------------------------


def _placeholder_key(model: str, base_url: str | None) -> dict[str, Any]:
    """Local OpenAI-compatible servers (vLLM, Ollama, ...) often need no key.

    inspect insists on ``<SERVICE>_API_KEY`` for ``openai-api/<service>/...``; when a base
    URL is given and that variable is unset, pass the conventional placeholder instead of
    failing. A server that does want a key then answers 401, which is reported.
    """
    parts = model.split("/")
    if base_url and parts[0] == "openai-api" and len(parts) >= 3:
        var = parts[1].upper().replace("-", "_") + "_API_KEY"
        if not os.environ.get(var):
            return {"api_key": "EMPTY"}
    return {}


def _dry_run_output(*_: Any) -> Any:
    """mockllm's reply for dry runs, with usage filled in.

    Without usage, mockllm estimates tokens with tiktoken, which downloads its
    vocabulary on first use and so breaks offline dry runs.
    """
    from inspect_ai.model import ModelOutput, ModelUsage

    output = ModelOutput.from_content(model="mockllm", content=DRY_RUN_RESPONSE)
    output.usage = ModelUsage(input_tokens=0, output_tokens=0, total_tokens=0)
    return output


def get_inspect_model(
    model: str,
    base_url: str | None,
    model_args: Mapping[str, Any],
    **generate: Any,
) -> Any:
    from inspect_ai.model import GenerateConfig, get_model

    args = {**_placeholder_key(model, base_url), **model_args}
    if model.startswith("mockllm/") and "custom_outputs" not in args:
        args["custom_outputs"] = _dry_run_output
    config = GenerateConfig(**{k: v for k, v in generate.items() if v is not None})
    return get_model(model, base_url=base_url, config=config, **args)


def make_judge(
    spec: str,
    base_url: str | None = None,
    prompt_file: str | None = None,
    max_tokens: int = 512,
    max_connections: int = 16,
    max_retries: int | None = 5,
    timeout: int | None = None,
) -> Judge:
    """``string-match`` or ``llm:<inspect model>`` (any provider inspect has)."""
    if spec == "string-match":
        return StringMatchJudge()
    if spec.startswith("llm:") and len(spec) > 4:
        name = spec[4:]
        template = load_template(prompt_file)
        holder: dict[str, Any] = {}

        async def complete(prompt: str) -> str:
            # created on first use, inside the event loop that will use it
            if "model" not in holder:
                holder["model"] = get_inspect_model(
                    name,
                    base_url,
                    {},
                    temperature=0.01,
                    max_tokens=max_tokens,
                    max_connections=max_connections,
                    max_retries=max_retries,
                    timeout=timeout,
                )
            output = await holder["model"].generate(prompt)
            problem = output_problem(output)
            if problem:
                raise RuntimeError(problem)
            return str(output.completion)

        return LLMJudge(name, complete, template)
    raise ValueError(f"unknown judge {spec!r}; use 'string-match' or 'llm:MODEL'")


def judge_for(config: RunConfig) -> Judge:
    return make_judge(
        config.judge,
        config.judge_base_url,
        config.judge_prompt,
        config.judge_max_tokens,
        config.max_connections,
        config.max_retries,
        config.timeout,
    )


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of the failure itself, not of the retry wrapper around it."""
    from tenacity import RetryError

    if isinstance(exc, RetryError) and exc.last_attempt.failed:
        inner = exc.last_attempt.exception()
        if inner is not None:
            exc = inner
    status = getattr(exc, "status_code", None)
    prefix = f"HTTP {status} " if status else ""
    return f"{prefix}{type(exc).__name__}: {exc}"


def output_problem(output: Any) -> str | None:
    """Why a model output is not an answer (error, blocked, empty), or ``None``."""
    if getattr(output, "error", None):
        return f"model error: {output.error}"
    if output.stop_reason == "content_filter":
        return "blocked by the provider's content filter"
    if not str(output.completion).strip():
        return f"empty response (stop_reason={output.stop_reason})"
    return None


async def build_messages(item: Item, image: Path | None) -> list[Any]:
    """One user turn: the image (if any, inlined as a data URI) then the text."""
    from inspect_ai.model import ChatMessageUser, ContentImage, ContentText
    from inspect_ai.util import materialize_media

    if image is None:
        return [ChatMessageUser(content=item.prompt)]
    data_uri = await materialize_media(str(image))
    return [ChatMessageUser(content=[ContentImage(image=data_uri), ContentText(text=item.prompt)])]


async def _generate(model: Any, item: Item, image: Path | None) -> Any:
    return await model.generate(await build_messages(item, image))


def _usage(output: Any) -> dict[str, int] | None:
    usage = getattr(output, "usage", None)
    if usage is None:
        return None
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}


# --- the loop -----------------------------------------------------------------------


def apply_verdict(record: dict[str, Any], judge: Judge, verdict: Verdict) -> None:
    record.update(
        judge=judge.name,
        judge_label=verdict.label,
        judge_output=verdict.output,
        judge_error=verdict.error,
        aware=verdict.aware,
    )


async def _process(
    record: dict[str, Any],
    generate: Callable[[], Any] | None,
    judge: Judge,
    gate: asyncio.Semaphore,
) -> dict[str, Any]:
    if generate is not None:
        for key in ("response", "error", "stop_reason", "usage"):
            record[key] = None
        async with gate:
            try:
                output = await generate()
            except Exception as exc:  # retries are exhausted: record, never judge
                record["error"] = describe_error(exc)
            else:
                record["stop_reason"] = str(output.stop_reason)
                record["usage"] = _usage(output)
                problem = output_problem(output)
                if problem:
                    record["error"] = problem
                else:
                    record["response"] = str(output.completion)
    if record.get("error"):
        apply_verdict(record, judge, Verdict(aware=None))
        record["judge"] = None
    else:
        apply_verdict(record, judge, await judge.judge(record["judge_query"], record["response"]))
    return record


async def _run_all(
    jobs: Sequence[tuple[dict[str, Any], Callable[[], Any] | None]],
    judge: Judge,
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
            await _process(record, generate, judge, gate)
            on_done(record)
            counts["done"] += 1
            counts["errors"] += bool(record.get("error"))
            counts["judge_errors"] += bool(record.get("judge_error"))
            if progress:
                progress(counts)
        finally:
            window.release()

    async with asyncio.TaskGroup() as group:
        for record, generate in jobs:
            await window.acquire()
            group.create_task(one(record, generate))


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


def _finish(
    run_dir: Path,
    config: RunConfig,
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
    judge = judge_for(config)
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
            if old.get("aware") is None:
                jobs.append((old, None))  # answered, but the judge failed: judge again
            continue
        to_generate.append(item)  # new, or failed last time: (re)generate
    judged = len(jobs)
    if to_generate:
        model = get_inspect_model(
            config.model,
            config.base_url,
            config.model_args,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            seed=config.seed,
            max_connections=config.max_connections,
            max_retries=config.max_retries,
            timeout=config.timeout,
        )
        for item in to_generate:
            record = new_record(item, dataset.image_relpath(item))
            jobs.append((record, partial(_generate, model, item, dataset.images[item.id])))

    try:
        asyncio.run(_run_all(jobs, judge, config.max_connections, store.append, progress))
    finally:
        store.close()
    records = store.load()
    ordered = [records.pop(i.id) for i in dataset.items if i.id in records]
    ordered += records.values()  # earlier selections of this run directory stay
    metrics = _finish(out, config, data_summary(dataset), ordered, store)
    return RunResult(out, metrics, len(to_generate), judged, store.skipped_lines)


def load_config(run_dir: Path) -> RunConfig:
    """The configuration a run directory was made with."""
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise RunDirError(f"{run_dir}: no {CONFIG_FILE}; is this a vscbench run directory?")
    stored = json.loads(path.read_text("utf-8"))
    known = {k: v for k, v in stored.items() if k in RunConfig.__dataclass_fields__}
    for key in ("splits", "variants", "categories", "types"):
        if key in known:
            known[key] = tuple(known[key])
    return RunConfig(**known)


def score(
    run_dir: str | Path,
    judge: str,
    judge_base_url: str | None = None,
    judge_prompt: str | None = None,
    max_connections: int = 16,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Re-judge every stored answer with ``judge``; nothing is generated.

    Works from the run directory alone (the data directory is not needed): the data
    summary of the last ``metrics.json`` is carried over.
    """
    out = Path(run_dir)
    config = load_config(out)
    config.judge, config.judge_base_url, config.judge_prompt = judge, judge_base_url, judge_prompt
    config.max_connections = max_connections
    the_judge = judge_for(config)

    store = SampleStore(out / SAMPLES_FILE)
    ordered = list(store.load().values())
    asyncio.run(
        _run_all([(r, None) for r in ordered], the_judge, max_connections, lambda r: None, progress)
    )
    previous = out / METRICS_FILE
    data = json.loads(previous.read_text("utf-8")).get("data", {}) if previous.exists() else {}
    write_json_atomic(out / CONFIG_FILE, config.public())
    metrics = _finish(out, config, data, ordered, store)
    return RunResult(out, metrics, 0, len(ordered), store.skipped_lines)
