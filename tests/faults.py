"""A fault-injecting OpenAI-compatible server, for the reply-level hostile cases.

:mod:`loopback` answers with well-formed JSON through aiohttp; the faults here live
below that level, so this server speaks HTTP/1.1 itself on an asyncio socket: it can
send a body that is not UTF-8, trickle a reply one byte at a time, or drop the
connection before any reply. Each request is counted, so a test can tell a retried
fault from one never retried. Test support, not part of the installed package.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["ok", "raw", "trickle", "drop"]


def completion(content: str) -> bytes:
    """A chat completion carrying ``content`` (ASCII-escaped JSON, so any string fits)."""
    return json.dumps(
        {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": 0,
            "model": "fault",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode("ascii")


@dataclass
class FaultServer:
    """``mode`` says what every request gets; ``drop_first`` drops that many first.

    - ``ok``: ``body`` (default: a completion of ``"I cannot help with that."``);
    - ``raw``: ``body`` as given, bytes that need not be UTF-8;
    - ``trickle``: the reply's headers, then its body one byte every ``interval`` s;
    - ``drop``: the connection is closed without a reply.
    """

    mode: Mode = "ok"
    body: bytes = field(default_factory=lambda: completion("I cannot help with that."))
    interval: float = 1.0
    drop_first: int = 0
    requests: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.AbstractServer | None = None
    _thread: threading.Thread | None = None
    _handlers: set[asyncio.Task] = field(default_factory=set)
    _stop: asyncio.Event | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            self.requests += 1
            if self.mode == "drop" or self.requests <= self.drop_first:
                return  # closed below, with nothing sent
            headers = (
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n" % len(self.body)
            )
            writer.write(headers)
            if self.mode == "trickle":
                for i in range(len(self.body)):
                    writer.write(self.body[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(self.interval)
            else:
                writer.write(self.body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    def __enter__(self) -> FaultServer:
        ready = threading.Event()

        async def serve() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._stop = asyncio.Event()
            ready.set()
            await self._stop.wait()
            # stop listening, and end replies still trickling (their clients gave up)
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)

        def target() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            self._loop.close()

        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(5)
