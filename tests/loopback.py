"""A loopback OpenAI-compatible server, for tests, benchmarks and demonstrations.

It answers ``POST /v1/chat/completions`` after a fixed latency, with a reply chosen by a
function of the request's text and the sha256 of its image, so a test can check that
each image reached the right prompt. Faults (429 with ``Retry-After``, 500, ...) can be
injected per request, and requests- and tokens-per-minute limits enforced the way
OpenAI enforces them (``loopback_limits.py`` beside this file). ``GET /stats`` counts
the answers by status. Needs ``aiohttp`` (the ``test`` extra).

Test support, not part of the installed package: tests import it as ``loopback`` (the
tests folder is on pytest's path), benchmarks and the docs' demo put ``tests/`` on
``sys.path`` first. Run it standalone with
``python tests/loopback.py --port 8000 --latency 0.1`` (``--rpm 1200`` and the other
limit options: ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loopback_limits import ProviderLimits, prompt_tokens

#: (prompt text, image sha256) -> reply text, or (reply text, finish_reason)
Reply = Callable[[str, str | None], str | tuple[str, str]]
#: (prompt text, image sha256, attempt number for this key from 1) -> (status, headers) or None
Fault = Callable[[str, str | None, int], tuple[int, dict[str, str]] | None]


def echo_reply(text: str, image_sha: str | None) -> str:
    """Reply that names what arrived: lets a test match prompts to images."""
    text_sha = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"ECHO text={text_sha} image={(image_sha or 'none')[:16]}"


@dataclass
class Request:
    text: str
    image_sha: str | None
    status: int
    authorization: str | None
    model: str
    max_tokens: int | None = None
    time: float = field(default_factory=time.monotonic)
    roles: list[str] = field(default_factory=list)  # of the request's messages
    images: int = 0  # image parts across the request's messages


@dataclass
class FakeOpenAIServer:
    """Start with :meth:`start` (background thread) or :meth:`serve` (foreground)."""

    latency: float = 0.0
    reply: Reply = echo_reply
    fault: Fault | None = None
    limits: ProviderLimits | None = None
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    _attempts: dict[tuple[str, str | None], int] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stopped: asyncio.Event | None = None
    in_flight: int = 0
    peak_in_flight: int = 0  # most requests served at once
    first_arrival: float | None = None  # time.monotonic() of the first request

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @staticmethod
    def _parse(body: dict[str, Any]) -> tuple[str, str | None]:
        texts: list[str] = []
        image_sha = None
        for message in body.get("messages", []):
            content = message.get("content")
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for part in parts or []:
                if part.get("type") == "text":
                    texts.append(part["text"])
                elif part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    payload = url.split(",", 1)[1] if url.startswith("data:") else url
                    image_sha = hashlib.sha256(base64.b64decode(payload)).hexdigest()
        return "\n".join(texts), image_sha

    async def _chat(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.json()
        text, image_sha = self._parse(body)
        key = (text, image_sha)
        attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
        auth = request.headers.get("Authorization")
        messages = body.get("messages", [])
        images = sum(
            1
            for m in messages
            if isinstance(m.get("content"), list)
            for part in m["content"]
            if part.get("type") == "image_url"
        )
        if self.first_arrival is None:
            self.first_arrival = time.monotonic()

        def record(status: int) -> None:
            self.requests.append(
                Request(
                    text,
                    image_sha,
                    status,
                    auth,
                    body.get("model", ""),
                    body.get("max_tokens"),
                    roles=[m.get("role") for m in messages],
                    images=images,
                )
            )

        limit_headers: dict[str, str] = {}
        if self.limits is not None:  # admitted (or refused) on arrival, as OpenAI does
            cost = prompt_tokens(text, images) + (body.get("max_tokens") or 0)
            refusal, limit_headers = self.limits.admit(cost)
            if refusal is not None:
                record(429)
                return web.json_response(
                    {
                        "error": {
                            "message": refusal,
                            "type": "requests" if "RPM" in refusal else "tokens",
                            "code": "rate_limit_exceeded",
                        }
                    },
                    status=429,
                    headers=limit_headers,
                )
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        fault = self.fault(text, image_sha, attempt) if self.fault else None

        if fault is not None:
            status, headers = fault
            record(status)
            return web.json_response(
                {"error": {"message": f"injected fault {status}", "type": "server_error"}},
                status=status,
                headers={**limit_headers, **headers},
            )
        record(200)
        content = self.reply(text, image_sha)
        finish = "stop"
        if isinstance(content, tuple):
            content, finish = content
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": finish,
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens(text, images),
                    "completion_tokens": len(content.split()),
                    "total_tokens": prompt_tokens(text, images) + len(content.split()),
                },
            },
            headers=limit_headers,
        )

    async def _stats(self, request: Any) -> Any:
        """Answers by status, first arrival and last answer (``time.monotonic``)."""
        from aiohttp import web

        return web.json_response(
            {
                "status": dict(Counter(str(r.status) for r in self.requests)),
                "first": self.first_arrival,
                "last": max((r.time for r in self.requests), default=None),
                "admitted_tokens": self.limits.admitted_tokens if self.limits else None,
            }
        )

    async def _run(self, ready: threading.Event | None = None) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/stats", self._stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._stopped = asyncio.Event()
        if ready:
            ready.set()
        else:
            print(f"listening on {self.base_url}", flush=True)
        try:
            await self._stopped.wait()
        finally:
            await runner.cleanup()

    def start(self) -> FakeOpenAIServer:
        ready = threading.Event()

        def target() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._run(ready))

        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._stopped:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread:
            self._thread.join(10)

    def serve(self) -> None:
        asyncio.run(self._run())

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def judged_run(data_dir: Any, out: Any, limit: int, model: str, **server: Any) -> Any:
    """A small run against this server (``server``: its ``reply`` or ``fault``), judged
    by ``refusal``, with no retries: the run a test of what follows a run starts from."""
    from vscbench.engine import RunConfig, run

    with FakeOpenAIServer(**server) as srv:
        config = RunConfig(
            model=model,
            base_url=srv.base_url,
            data_dir=str(data_dir),
            limit=limit,
            max_retries=0,
            judges=("refusal",),
        )
        run(config, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--rpm", type=float, help="requests per minute allowed")
    parser.add_argument("--tpm", type=float, help="tokens per minute allowed")
    parser.add_argument(
        "--window", type=float, default=1.0, help="seconds of the per-minute rate a burst may use"
    )
    parser.add_argument(
        "--other-rpm", type=float, default=0.0, help="requests/min a simulated second client uses"
    )
    parser.add_argument(
        "--other-tpm", type=float, default=0.0, help="tokens/min a simulated second client uses"
    )
    args = parser.parse_args()
    limits = None
    if args.rpm is not None or args.tpm is not None:
        limits = ProviderLimits(args.rpm, args.tpm, args.window, args.other_rpm, args.other_tpm)
    FakeOpenAIServer(latency=args.latency, port=args.port, limits=limits).serve()


if __name__ == "__main__":
    main()
