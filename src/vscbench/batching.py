"""Gather concurrent single requests into batches for a blocking batch function.

Callers ``await submit(x)`` one item at a time, as the engine's per-pair coroutines do;
items that are ready in the same turn of the event loop (up to ``batch_size``) go to
``fn`` together, in a worker thread, one batch at a time. This is what lets a local
model or classifier use padded batches without the engine knowing about batching.

A batcher may outlive an event loop (a judge reused by two ``asyncio.run`` calls, as
``judge`` tables and ``score`` do): its queue, schedule flag and lock belong to the loop
that created them, and a new loop starts them afresh instead of waiting on a dead one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    def __init__(self, fn: Callable[[list[T]], Sequence[R]], batch_size: int) -> None:
        self.fn = fn
        self.batch_size = max(1, int(batch_size))
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._scheduled = False
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # state of an earlier (finished) loop is void here
            self._loop, self._pending, self._scheduled = loop, [], False
            self._lock = asyncio.Lock()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self.batch_size:
            self._flush()
        elif not self._scheduled:
            # let every item that is ready in this turn of the loop join the batch
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size :]
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        if batch:
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        assert self._lock is not None  # set by submit on this loop
        async with self._lock:  # one batch on the device at a time
            try:
                results = await asyncio.to_thread(self.fn, [item for item, _ in batch])
            except Exception as exc:  # the whole batch failed: each caller sees why
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
