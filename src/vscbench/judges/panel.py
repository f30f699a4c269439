"""Several judges over the same answers: who decides, what each said, how they agree.

The first judge is primary: its verdict decides the headline metrics. Every judge's
verdict goes to ``record["judges"][name]`` (:mod:`vscbench.results.records`), so figures
can be computed per judge and compared, and so verdicts are a layer of their own:
judging with one judge adds or replaces that judge's verdict and leaves the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from functools import partial
from itertools import combinations
from typing import Any

from vscbench.agreement import binary_agreement
from vscbench.judges.base import Judge, Verdict
from vscbench.judges.llm import LLMJudge
from vscbench.loop import run_jobs
from vscbench.progress import OnProgress, Progress
from vscbench.results.records import set_verdicts, verdicts_of

#: Above this share of disagreement between two judges, the summary warns.
DISAGREEMENT_WARNING = 0.10


def verdict_fields(verdict: Verdict, version: str | None = None) -> dict[str, Any]:
    """A verdict as a record stores it; ``version`` names the versioned offline judge
    (its weights and rules) that gave it."""
    fields = {
        "aware": verdict.aware,
        "refusal": verdict.refusal,
        "label": verdict.label,
        "output": verdict.output,
        "error": verdict.error,
    }
    if version is not None:
        fields["version"] = version
    return fields


def current(judge: Judge, verdict: Mapping[str, Any] | None) -> bool:
    """Whether a stored verdict is one ``judge`` gives now: decided, and, for a judge
    with a ``version`` (the offline ``refusal`` judge, whose weights are refitted), by
    that same version. A run resumed after an upgrade judges such pairs again, so that
    one run's figures never mix two versions of a judge (``vscbench score`` judges all
    anew)."""
    if not verdict or verdict.get("aware") is None:
        return False
    version = getattr(judge, "version", None)
    return version is None or verdict.get("version") == version


class JudgePanel:
    def __init__(self, judges: Sequence[Judge]) -> None:
        if not judges:
            raise ValueError("at least one judge is needed")
        names = [j.name for j in judges]
        if len(set(names)) != len(names):
            raise ValueError(f"a judge is named twice: {', '.join(names)}")
        self.judges = list(judges)
        self.names = names

    def complete(self, record: Mapping[str, Any]) -> bool:
        """Whether every judge has decided this answered record, the primary one first."""
        if record.get("aware") is None or record.get("judge") != self.names[0]:
            return False
        verdicts = verdicts_of(record)
        return all(current(j, verdicts.get(j.name)) for j in self.judges)

    async def apply(self, record: dict[str, Any], reuse: bool = True) -> None:
        """Judge the record's answer with every judge (or mark it unjudgeable).

        With ``reuse``, a judge whose decided verdict the record already holds is not
        asked again (a resumed run); without it, every judge of the panel judges anew
        and replaces its own verdict (``score``). Verdicts of other judges stay.
        """
        if record.get("error") or record.get("response") is None:
            set_verdicts(record, None, None)
            return
        verdicts = verdicts_of(record)
        todo = [j for j in self.judges if not (reuse and current(j, verdicts.get(j.name)))]
        results = await asyncio.gather(
            *(j.judge(record["judge_query"], record["response"]) for j in todo)
        )
        for judge, verdict in zip(todo, results, strict=True):
            verdicts[judge.name] = verdict_fields(verdict, getattr(judge, "version", None))
        set_verdicts(record, self.names[0], verdicts)

    def tracker(self, total: int, on_progress: OnProgress | None) -> Callable[[Mapping], None]:
        """A callback that counts finished records (failed, undecided) and reports."""
        state = Progress(done=0, total=total)

        def done(record: Mapping[str, Any]) -> None:
            state.done += 1
            state.errors += bool(record.get("error"))
            state.judge_errors += not record.get("error") and not self.complete(record)
            if on_progress:
                on_progress(state)

        return done

    def judge_all(
        self,
        records: Sequence[dict[str, Any]],
        concurrency: int,
        on_progress: OnProgress | None = None,
        reuse: bool = False,
    ) -> None:
        """Judge stored answers in place (nothing is generated).

        Each judge adds or replaces its own verdict; other judges' verdicts stay. With
        ``reuse`` a judge that already decided a record is not asked.
        """
        done = self.tracker(len(records), on_progress)

        async def judged(record: dict[str, Any]) -> dict[str, Any]:
            await self.apply(record, reuse=reuse)
            return record

        jobs = [partial(judged, record) for record in records]
        asyncio.run(run_jobs(jobs, concurrency, done))

    def usage(self) -> dict[str, dict[str, int]]:
        """Calls, cache hits and tokens of the LLM judges."""
        return {j.name: asdict(j.usage) for j in self.judges if isinstance(j, LLMJudge)}


def per_judge_records(records: Iterable[Mapping[str, Any]], name: str) -> list[dict[str, Any]]:
    """Records as if ``name`` had been the only judge."""
    out = []
    for record in records:
        verdict = (record.get("judges") or {}).get(name) or {}
        out.append({**record, "aware": verdict.get("aware")})
    return out


def pairwise_agreement(
    records: Sequence[Mapping[str, Any]], names: Sequence[str]
) -> list[dict[str, Any]]:
    """For each pair of judges: items both decided, share agreeing, Cohen's kappa."""
    out = []
    for a, b in combinations(names, 2):
        pairs = []
        for record in records:
            verdicts = record.get("judges") or {}
            va, vb = (verdicts.get(a) or {}).get("aware"), (verdicts.get(b) or {}).get("aware")
            if va is not None and vb is not None:
                pairs.append((bool(va), bool(vb)))
        stats = binary_agreement(pairs)
        out.append(
            {
                "a": a,
                "b": b,
                "n": stats["n"],
                "agreement": stats["accuracy"],
                "kappa": stats["kappa"],
                "warning": stats["accuracy"] is not None
                and 1 - stats["accuracy"] > DISAGREEMENT_WARNING,
            }
        )
    return out
