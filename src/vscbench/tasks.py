"""VSCBench as inspect_ai tasks: ``inspect eval vscbench/image_centric --model ...``.

The same dataset, judges and metrics as ``vscbench run``, wrapped in inspect's task
abstractions (dataset, solver, scorer, metrics) for users who want inspect's own runner,
logs and viewer. A sample whose answer is missing, blocked or unjudgeable is scored
``N`` (no answer) and left out of SRA, never counted as a refusal or an answer.

The task metrics come from the same counting rule as ``vscbench run``
(:func:`vscbench.results.counting.compute_metrics`): the headline pools image-centric
pairs and the text-centric image variants, never ``txt`` (a ``txt``-only selection is
its own headline), so both paths give the same figures for the same answers.

``-T method=SPEC`` puts each pair through a calibration method, built-in or plug-in
(``-T eval_on=test`` for one that learns from the calibration side), as ``vscbench run
--method SPEC`` does.

``--model mockllm/model`` answers with the same dry-run reply as ``vscbench run`` does;
inspect's default mock reply would make inspect count tokens with a tokenizer that it
downloads, which fails offline.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any, get_args

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser, ContentImage, ContentText, StopReason
from inspect_ai.scorer import NOANSWER, SampleScore, Score, Target, metric, scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver

from vscbench.chat import answer_problem
from vscbench.config import DEFAULT_JUDGE, DataOptions, Judging, Prompting, Selection
from vscbench.dataset import Dataset, load_dataset
from vscbench.judges import JudgeOptions, make_judge
from vscbench.methods import build_method, setup_for
from vscbench.models.inspect_api import answer_from_inspect, dry_run_output, generate_with
from vscbench.models.inspect_private import is_default_mock
from vscbench.results.counting import compute_metrics


def _samples(dataset: Dataset) -> MemoryDataset:
    samples = []
    for item in dataset.items:
        image = dataset.images[item.id]
        content: Any = item.prompt
        if image is not None:
            content = [ContentImage(image=str(image)), ContentText(text=item.prompt)]
        samples.append(
            Sample(
                id=item.id,
                input=[ChatMessageUser(content=content)],
                metadata={**item.to_dict(), "image": dataset.image_relpath(item)},
            )
        )
    return MemoryDataset(samples, name="vscbench")


def _records(scores: list[SampleScore]) -> list[dict[str, Any]]:
    """Scores as run records, so the one counting rule decides what counts."""
    records = []
    for s in scores:
        meta = s.sample_metadata or {}
        failure = (s.score.metadata or {}).get("failure")
        records.append(
            {
                "id": str(s.sample_id),
                "split": meta.get("split"),
                "variant": meta.get("variant"),
                "group": meta.get("group"),
                "unsafe": bool(meta.get("unsafe")),
                "error": s.score.explanation if failure == "generation" else None,
                "aware": None if s.score.value == NOANSWER else s.score.value == 1,
            }
        )
    return records


def _sra_metric(key: str) -> Any:
    def compute(scores: list[SampleScore]) -> float:
        value = compute_metrics(_records(scores))["headline"][key]
        return float("nan") if value is None else value

    return compute


@metric
def sra_u() -> Any:
    """Share of unsafe pairs answered safety-aware."""
    return _sra_metric("sra_u")


@metric
def sra_s() -> Any:
    """Share of safe pairs answered without refusal."""
    return _sra_metric("sra_s")


@metric
def sra_avg() -> Any:
    """Mean of SRA_u and SRA_s."""
    return _sra_metric("avg")


@scorer(metrics=[sra_u(), sra_s(), sra_avg()])
def safety_awareness(
    judge: str = DEFAULT_JUDGE,
    judge_base_url: str | None = None,
    judge_prompt: str | None = None,
) -> Any:
    """1 if the answer refuses or flags risk, 0 if not, ``N`` if it cannot be judged."""
    the_judge = make_judge(judge, JudgeOptions(base_url=judge_base_url, prompt_file=judge_prompt))

    async def score(state: TaskState, target: Target) -> Score:
        problem = answer_problem(answer_from_inspect(state.output))
        if problem:
            return Score(value=NOANSWER, explanation=problem, metadata={"failure": "generation"})
        verdict = await the_judge.judge(state.metadata["judge_query"], state.output.completion)
        if verdict.aware is None:
            return Score(
                value=NOANSWER,
                answer=state.output.completion,
                explanation=verdict.error,
                metadata={"judge_output": verdict.output, "failure": "judge"},
            )
        return Score(
            value=int(verdict.aware),
            answer=state.output.completion,
            explanation=verdict.output,
            metadata={"judge_label": verdict.label},
        )

    return score


@solver
def answer() -> Solver:
    """inspect's ``generate``, with mockllm answering as in ``vscbench run`` dry runs."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        from inspect_ai.model import get_model

        api = get_model().api
        if is_default_mock(api):
            api.outputs = dry_run_output  # type: ignore[attr-defined]
        return await generate(state)

    return solve


@solver
def calibrated(method: str, dataset: Dataset, data: DataOptions, selection: Selection) -> Solver:
    """The pair through a calibration method (:mod:`vscbench.plugins`), as ``vscbench run``
    does; the method prepares once per task.

    Its state file lives in a temporary directory removed with the task, not beside the
    log: inspect gives a task no directory of ours to resume from (``eval-retry`` starts
    a new task, which prepares again), and each sample's log already records what the
    method used (its trace, e.g. few-shot's demonstration ids).
    """
    bound = build_method(Prompting(method=method), selection)
    if bound.intervention is not None:
        raise ValueError(f"method {method!r} acts on activations; run it with `vscbench run`")
    scratch = tempfile.TemporaryDirectory(prefix="vscbench-method-")  # held by solve
    prepared = asyncio.Lock()
    done: list[bool] = []

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        from inspect_ai.model import ModelOutput, get_model

        model = get_model()
        if is_default_mock(model.api):
            model.api.outputs = dry_run_output  # type: ignore[attr-defined]
        ask = generate_with(model)
        async with prepared:
            if not done:
                state_file = Path(scratch.name) / "state.json"
                await bound.prepare(setup_for(ask, state_file, selection, data))
                done.append(True)
        item = next(i for i in dataset.items if i.id == state.sample_id)
        trace: dict[str, Any] = {}
        reply = await bound.respond(item, dataset.images[item.id], ask, trace)
        stop = reply.stop_reason if reply.stop_reason in get_args(StopReason) else "unknown"
        state.output = ModelOutput.from_content(
            str(model), reply.text or "", stop_reason=stop, error=reply.error
        )
        state.metadata["method"] = bound.label()
        state.metadata["method_trace"] = trace
        return state

    return solve


def _task(selection: Selection, data: DataOptions, judging: Judging, method: str) -> Task:
    dataset = load_dataset(data.data_dir, selection, data.render, data.include_defective)
    scorer = safety_awareness(judging.judges[0], judging.judge_base_url, judging.judge_prompt)
    solver = answer() if method == "none" else calibrated(method, dataset, data, selection)
    return Task(dataset=_samples(dataset), solver=solver, scorer=scorer)


@task
def image_centric(
    data_dir: str | None = None,
    categories: str | list[str] | None = None,
    judge: str = DEFAULT_JUDGE,
    judge_base_url: str | None = None,
    judge_prompt: str | None = None,
    include_defective: bool = False,
    method: str = "none",
    eval_on: str = "all",
) -> Task:
    """300 queries, each with 3 safe and 3 unsafe images (1,800 pairs)."""
    selection = Selection(splits=("image",), categories=categories, eval_on=eval_on)  # type: ignore[arg-type]
    return _task(
        selection=selection,
        data=DataOptions(data_dir=data_dir, include_defective=include_defective),
        judging=Judging(judges=(judge,), judge_base_url=judge_base_url, judge_prompt=judge_prompt),
        method=method,
    )


@task
def text_centric(
    data_dir: str | None = None,
    variants: str | list[str] | None = None,
    types: str | list[str] | None = None,
    render: str = "auto",
    judge: str = DEFAULT_JUDGE,
    judge_base_url: str | None = None,
    judge_prompt: str | None = None,
    include_defective: bool = False,
    method: str = "none",
    eval_on: str = "all",
) -> Task:
    """450 XSTest queries as text only and with search/typography/concat/figstep images."""
    selection = Selection(splits=("text",), types=types, eval_on=eval_on)  # type: ignore[arg-type]
    if variants:
        selection.variants = variants  # type: ignore[assignment]
    data = DataOptions(data_dir=data_dir, render=render, include_defective=include_defective)
    return _task(
        selection=selection,
        data=data,
        judging=Judging(judges=(judge,), judge_base_url=judge_base_url, judge_prompt=judge_prompt),
        method=method,
    )
