"""VSCBench as inspect_ai tasks: ``inspect eval vscbench/image_centric --model ...``.

The same dataset, judges and metrics as ``vscbench run``, wrapped in inspect's task
abstractions (dataset, solver, scorer, metrics) for users who want inspect's own runner,
logs and viewer. A sample whose answer is missing, blocked or unjudgeable is scored
``N`` (no answer) and left out of SRA, never counted as a refusal or an answer.

The task metrics come from the same counting rule as ``vscbench run``
(:func:`vscbench.results.counting.compute_metrics`): the headline pools image-centric
pairs and the text-centric image variants, never ``txt`` (a ``txt``-only selection is
its own headline), so both paths give the same figures for the same answers.

``--model mockllm/model`` answers with the same dry-run reply as ``vscbench run`` does;
inspect's default mock reply would make inspect count tokens with a tokenizer that it
downloads, which fails offline.
"""

from __future__ import annotations

from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser, ContentImage, ContentText
from inspect_ai.scorer import NOANSWER, SampleScore, Score, Target, metric, scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver

from vscbench.chat import answer_problem
from vscbench.config import DEFAULT_JUDGE, DataOptions, Judging, Selection
from vscbench.dataset import Dataset, load_dataset
from vscbench.judges import JudgeOptions, make_judge
from vscbench.models.inspect_api import answer_from_inspect, dry_run_output
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


def _task(selection: Selection, data: DataOptions, judging: Judging) -> Task:
    dataset = load_dataset(data.data_dir, selection, data.render, data.include_defective)
    scorer = safety_awareness(judging.judges[0], judging.judge_base_url, judging.judge_prompt)
    return Task(dataset=_samples(dataset), solver=answer(), scorer=scorer)


@task
def image_centric(
    data_dir: str | None = None,
    categories: str | list[str] | None = None,
    judge: str = DEFAULT_JUDGE,
    judge_base_url: str | None = None,
    judge_prompt: str | None = None,
    include_defective: bool = False,
) -> Task:
    """300 queries, each with 3 safe and 3 unsafe images (1,800 pairs)."""
    selection = Selection(splits=("image",), categories=categories)  # type: ignore[arg-type]
    return _task(
        selection=selection,
        data=DataOptions(data_dir=data_dir, include_defective=include_defective),
        judging=Judging(judges=(judge,), judge_base_url=judge_base_url, judge_prompt=judge_prompt),
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
) -> Task:
    """450 XSTest queries as text only and with search/typography/concat/figstep images."""
    selection = Selection(splits=("text",), types=types)  # type: ignore[arg-type]
    if variants:
        selection.variants = variants  # type: ignore[assignment]
    data = DataOptions(data_dir=data_dir, render=render, include_defective=include_defective)
    return _task(
        selection=selection,
        data=data,
        judging=Judging(judges=(judge,), judge_base_url=judge_base_url, judge_prompt=judge_prompt),
    )
