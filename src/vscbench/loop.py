"""The one generate-and-score loop: runs, re-judging, judged tables and utility use it.

:func:`run_jobs` runs many small async jobs with a bounded number alive at once (so a
large run never holds every image in memory), hands each result over as it finishes,
and stops everything on a :class:`~vscbench.chat.FatalModelError`, which it raises
itself rather than inside an exception group. :func:`answer` is the generation half of
a job: one item through a method and a model, failures recorded, never judged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from vscbench.chat import Answer, FatalModelError, ModelCallError, answer_problem

T = TypeVar("T")


async def run_jobs(
    jobs: Iterable[Callable[[], Awaitable[T]]],
    concurrency: int,
    on_done: Callable[[T], None],
) -> None:
    """Run every job, at most ``4 x concurrency`` alive at once; ``on_done`` each result."""
    window = asyncio.Semaphore(max(1, concurrency) * 4)

    async def one(job: Callable[[], Awaitable[T]]) -> None:
        try:
            on_done(await job())
        finally:
            window.release()

    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                await window.acquire()
                group.create_task(one(job))
    except BaseExceptionGroup as group_error:  # surface the cause, not the group
        fatal = group_error.subgroup(FatalModelError)
        if fatal is not None:
            raise fatal.exceptions[0] from None
        raise


@dataclass
class Outcome:
    """What asking gave: an answer (possibly not one, see ``error``) or a failure."""

    answer: Answer | None
    error: str | None


async def answer(respond: Callable[[], Awaitable[Answer]], gate: asyncio.Semaphore) -> Outcome:
    """Ask once (``respond`` runs the method against the model) under ``gate``.

    A failure after the backend's retries, or an answer that is not one (error, blocked,
    empty), is the outcome's ``error``; a fatal failure stops everything.
    """
    async with gate:
        try:
            got = await respond()
        except FatalModelError:
            raise
        except ModelCallError as exc:
            return Outcome(None, str(exc))
        except Exception as exc:  # a method's own failure is this pair's, too
            return Outcome(None, f"{type(exc).__name__}: {exc}")
    return Outcome(got, answer_problem(got))
