"""Shared fixtures: the real metadata sheets, XSTest's labelled completions, a data
directory with synthetic images, loopback servers (OpenAI-compatible, plain files).

The tests find real data the way the package does, so that a fresh clone with internet
runs them: ``../shared`` beside the checkout (this project's machines), else a folder
named by a variable, else the package's pinned, sha256-checked download into the user
cache (the two sheets only, never the image archive; XSTest from a pinned commit of its
repository). Without any of them, a session that needs the sheets stops before its first
test with one line saying so; tests that need only XSTest skip with that line.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from fixtures import synthetic_data_dir
from loopback import FakeOpenAIServer

from vscbench.data.fetch import DataNotFound, Place, locate
from vscbench.data.layout import IMAGE_SHEET, SHEET_FILES, TEXT_SHEET, default_data_dir
from vscbench.data.xstest import find_xstest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
ENV_SHARED = "VSCBENCH_SHARED_DATA"
API_KEY_VAR = "FAKE_API_KEY"
API_KEY = "sk-test-do-not-log-4f9a1c"
_SHEETS = pytest.StashKey[Path]()


def find_sheets() -> Path:
    """The real sheets: ``../shared``, ``$VSCBENCH_SHARED_DATA``, else the user cache (the
    package's own download, as ``vscbench run`` makes it). Raises DataNotFound."""
    named = os.environ.get(ENV_SHARED)
    places = [
        Place("../shared/data/vscbench beside the repository checkout", SHARED / "vscbench"),
        Place(f"export {ENV_SHARED}=DIR", Path(named).expanduser() if named else None, True),
    ]
    return locate(SHEET_FILES, places, default_data_dir())


def find_xstest_data() -> Path:
    """XSTest's completions: ``../shared``, ``$VSCBENCH_XSTEST_DATA``, else the user cache."""
    return find_xstest(
        Place("../shared/data/xstest beside the repository checkout", SHARED / "xstest")
    )


def _sheets(config: pytest.Config) -> Path:
    """Found once per session; without them the session stops (every data test needs them)."""
    if _SHEETS not in config.stash:
        try:
            config.stash[_SHEETS] = find_sheets()
        except DataNotFound as exc:
            pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"metadata sheets: {config.stash[_SHEETS]}")
    return config.stash[_SHEETS]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Find the sheets before the first test, and only if a selected test needs them."""
    if any("sheets_dir" in getattr(item, "fixturenames", ()) for item in items):
        _sheets(config)


@pytest.fixture(scope="session")
def sheets_dir(pytestconfig: pytest.Config) -> Path:
    return _sheets(pytestconfig)


@pytest.fixture(scope="session")
def xstest_dir() -> Path:
    try:
        return find_xstest_data()
    except DataNotFound as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def full_data_dir(tmp_path_factory: pytest.TempPathFactory, sheets_dir: Path) -> Path:
    """The real sheets plus a synthetic photo for every upstream photo they name."""
    return synthetic_data_dir(sheets_dir, tmp_path_factory.mktemp("data"))


@pytest.fixture()
def data_dir(full_data_dir: Path, tmp_path: Path) -> Path:
    """A private copy, for tests that write rendered images or break files."""
    root = tmp_path / "data"
    shutil.copytree(full_data_dir, root)
    return root


class Files(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` with Range support; ``cut`` truncates one file once (a dropped
    connection); ``log`` records (path, Range header) of every request."""

    files: ClassVar[dict[str, bytes]] = {}
    cut: ClassVar[dict[str, int]] = {}
    log: ClassVar[list[tuple[str, str | None]]] = []
    drive_page: ClassVar[bool] = False

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        rng = self.headers.get("Range")
        self.log.append((self.path, rng))
        if self.drive_page and path == "/drive" and "confirm=abc" not in self.path:
            page = (
                b'<html><form id="download-form" action="/drive" method="get">'
                b'<input type="hidden" name="id" value="X">'
                b'<input type="hidden" name="confirm" value="abc"></form></html>'
            )
            self._send(200, page, "text/html; charset=utf-8")
            return
        body = self.files.get("/drive" if path == "/drive" else path)
        if body is None:
            self._send(404, b"missing", "text/plain")
            return
        start = int(re.match(r"bytes=(\d+)-", rng).group(1)) if rng else 0
        if start >= len(body) and rng:
            self._send(416, b"", "text/plain")
            return
        status = 206 if rng else 200
        chunk = body[start:]
        limit = self.cut.pop(path, None)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        self.wfile.write(chunk[:limit] if limit is not None else chunk)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def files_server(sheets_dir: Path) -> Iterator[str]:
    """A loopback file server holding the two real sheets at ``/<name>``; its base URL."""
    Files.files = {f"/{n}": (sheets_dir / n).read_bytes() for n in (IMAGE_SHEET, TEXT_SHEET)}
    Files.cut, Files.log, Files.drive_page = {}, [], False
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture()
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(API_KEY_VAR, API_KEY)
    return API_KEY


def flags(**options: object) -> list[str]:
    """``flags(data_dir=d, limit=8)`` -> ``["--data-dir", "d", "--limit", "8"]``."""
    out: list[str] = []
    for key, value in options.items():
        out += [f"--{key.replace('_', '-')}", str(value)]
    return out


def inspect_eval(
    task: str, model: str, log_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``inspect eval`` in a subprocess, as a user would run it."""
    return subprocess.run(
        [
            "inspect",
            "eval",
            task,
            "--model",
            model,
            "--log-dir",
            str(log_dir),
            "--display",
            "none",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
