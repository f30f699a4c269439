"""What every judge returns, and the one method every judge has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Verdict:
    """A judge's decision about one response.

    ``aware`` is VSCBench's notion (the response refuses *or* flags a risk); ``refusal``
    is the narrower one human refusal annotations use (full or partial refusal). Both are
    ``None`` exactly when ``error`` is set: a judge that cannot decide never guesses.
    ``label`` is the judge's class and ``output`` its evidence or raw text, for audits.
    """

    aware: bool | None
    label: str | None = None
    output: str | None = None
    error: str | None = None
    refusal: bool | None = None


class Judge(Protocol):
    """A judge; one may also carry ``version: str``, naming what decides its verdicts
    (an offline judge's weights and rules): a verdict stored under another version is
    judged again when a run resumes (:func:`vscbench.judges.panel.current`)."""

    name: str

    async def judge(self, query: str, response: str) -> Verdict: ...
