"""The labelling page: a thin Starlette adapter over :class:`~vscbench.audit.session.Audit`.

It serves on 127.0.0.1 only, behind a random token that is part of the address it
prints (as Jupyter does), so another user of the machine or a web page open in the same
browser cannot read the answers or add labels. It never sends the judge's verdict on a
pair before the person has labelled it: the page cannot show what it does not have.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from vscbench.audit import template_env
from vscbench.audit.design import AuditError
from vscbench.audit.labels import BY_NAME, LABELS
from vscbench.audit.session import Audit

HERE = Path(__file__).parent
HOST = "127.0.0.1"
#: Longest request body the page sends (a label); anything bigger is refused unread.
MAX_BODY = 4096


class Labelling:
    """The state one page works on: the audit, who labels, and the secret in its URL."""

    def __init__(
        self, audit: Audit, labeller: str, on_complete: Callable[[], None] | None = None
    ) -> None:
        self.audit = audit
        self.design = audit.require_design()
        self.labeller = labeller
        self.token = secrets.token_urlsafe(24)
        self.on_complete = on_complete
        self.lock = threading.Lock()  # one label at a time, in the order they arrive

    def mine(self) -> tuple[dict[str, str], set[str]]:
        """This labeller's latest label per sampled pair, and the pairs they skipped."""
        log, latest = self.audit.read_labels()
        labels = {p: lab.name for (who, p), lab in latest.items() if who == self.labeller}
        return labels, log.skipped(self.labeller) - set(labels)

    def resume_at(self, labels: dict[str, str], skipped: set[str]) -> int:
        """Where a new sitting starts: the first pair neither labelled nor skipped, then
        the first skipped one, else past the end (all done)."""
        order = self.design.order
        for wanted in (lambda p: p not in labels and p not in skipped, lambda p: p not in labels):
            index = next((i for i, p in enumerate(order) if wanted(p)), None)
            if index is not None:
                return index
        return len(order)

    def pair(self, index: int, labels: dict[str, str]) -> dict[str, Any]:
        pair = self.design.order[index]
        record = self.audit.records[pair]
        query = record.get("judge_query")
        out: dict[str, Any] = {
            "index": index,
            "id": pair,
            "variant": record.get("variant"),
            "prompt": record.get("prompt") or "",
            "query": query if query and query != record.get("prompt") else None,
            "response": record.get("response") or "",
            "truncated": bool(record.get("truncated")),
            "image": None if not record.get("image") else self.audit.image(pair) is not None,
            "image_path": record.get("image"),
            "label": labels.get(pair),
        }
        if pair in labels:  # revealed only once this person has labelled the pair
            out["verdict"] = self.verdict(pair, labels[pair])
        return out

    def verdict(self, pair: str, label_name: str) -> dict[str, Any]:
        record = self.audit.records[pair]
        label = BY_NAME[label_name]
        return {
            "judge": record.get("judge"),
            "aware": bool(record.get("aware")),
            "refusal": record.get("judge_refusal"),
            "judge_label": record.get("judge_label"),
            "side": "unsafe" if record.get("unsafe") else "safe",
            "group": record.get("group"),
            "agrees": label.aware == bool(record.get("aware")),
        }


def make_app(state: Labelling) -> Starlette:
    """The page, its JSON API and the images, for one labeller."""
    templates = Jinja2Templates(env=template_env())

    def authorised(request: Request) -> bool:
        given = request.headers.get("x-audit-token") or request.query_params.get("token", "")
        return secrets.compare_digest(given.encode(), state.token.encode())

    def refuse() -> Response:
        return JSONResponse({"error": "open the address vscbench audit printed"}, 403)

    def index_of(request: Request) -> int | None:
        index = request.path_params["index"]
        return index if 0 <= index < len(state.design.order) else None

    async def page(request: Request) -> Response:
        if not authorised(request):
            return Response(
                "Open the address `vscbench audit` printed (it carries the page's key).",
                403,
                media_type="text/plain",
            )
        return templates.TemplateResponse(
            request,
            "audit.html",
            {
                "run": state.audit.run_dir.name,
                "labeller": state.labeller,
                "labels": LABELS,
                "total": len(state.design.order),
            },
        )

    async def status(request: Request) -> Response:
        if not authorised(request):
            return refuse()
        labels, skipped = state.mine()
        return JSONResponse(
            {
                "labeller": state.labeller,
                "total": len(state.design.order),
                "labelled": len(labels),
                "position": state.resume_at(labels, skipped),
                "labelled_positions": [i for i, p in enumerate(state.design.order) if p in labels],
            }
        )

    async def pair(request: Request) -> Response:
        if not authorised(request):
            return refuse()
        index = index_of(request)
        if index is None:
            return JSONResponse({"error": "no such pair"}, 404)
        labels, _ = state.mine()
        return JSONResponse(state.pair(index, labels))

    async def label(request: Request) -> Response:
        if not authorised(request):
            return refuse()
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "request too large"}, 413)
        try:
            data = await request.json()
            index = int(data["index"])
            name = data["label"]
            if not 0 <= index < len(state.design.order):
                raise ValueError
            chosen = None if name is None else BY_NAME[name]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected {index, label}"}, 400)
        pair_id = state.design.order[index]
        with state.lock:
            state.audit.give(pair_id, state.labeller, chosen, "page")
            labels, _ = state.mine()
        done = len(labels) == len(state.design.order)
        if done and chosen is not None and state.on_complete is not None:
            state.on_complete()
        out: dict[str, Any] = {"labelled": len(labels), "total": len(state.design.order)}
        if chosen is not None:
            out["verdict"] = state.verdict(pair_id, chosen.name)
        return JSONResponse(out)

    async def image(request: Request) -> Response:
        if not authorised(request):
            return refuse()
        index = index_of(request)
        path = None if index is None else state.audit.image(state.design.order[index])
        if path is None:
            return JSONResponse({"error": "no image on this machine"}, 404)
        return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})

    async def summary(request: Request) -> Response:
        if not authorised(request):
            return refuse()
        result = state.audit.summary()
        return JSONResponse({k: result.get(k) for k in ("people", "judge", "labelled", "stale")})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/status", status),
            Route("/api/pair/{index:int}", pair),
            Route("/api/label", label, methods=["POST"]),
            Route("/api/summary", summary),
            Route("/image/{index:int}", image),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=[HOST, "localhost"])],
    )


def can_open_browser() -> bool:
    """Whether a graphical browser can open here (never a text one in the terminal)."""
    if sys.platform.startswith(("darwin", "win")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def serve(state: Labelling, port: int, browser: bool, say: Callable[[str], None]) -> None:
    """Serve the page on 127.0.0.1 until Ctrl-C, saying where; open a browser if asked."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise AuditError(
            f"--port {port}: cannot listen on {HOST} ({exc.strerror}); give another --port, "
            "or 0 for any free one"
        ) from None
    sock.listen(64)
    url = f"http://{HOST}:{sock.getsockname()[1]}/?token={state.token}"
    say(f"labelling page: {url}")
    say("press Ctrl-C here when you are done; every label is already saved")
    if browser and can_open_browser():
        webbrowser.open(url)
    config = uvicorn.Config(make_app(state), log_level="warning", access_log=False)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn shuts down, then passes Ctrl-C on
        uvicorn.Server(config).run(sockets=[sock])
