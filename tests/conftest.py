"""Shared fixtures: the real metadata sheets, a data directory with synthetic images,
and a loopback OpenAI-compatible server."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures import synthetic_data_dir
from loopback import FakeOpenAIServer

from vscbench.data.layout import IMAGE_SHEET

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VSCBENCH_SHARED_DATA", REPO.parent / "shared" / "data" / "vscbench"))
API_KEY_VAR = "FAKE_API_KEY"
API_KEY = "sk-test-do-not-log-4f9a1c"


@pytest.fixture(scope="session")
def sheets_dir() -> Path:
    if not (SHARED / IMAGE_SHEET).is_file():
        pytest.fail(
            f"the real metadata sheets are expected in {SHARED} (../shared beside the repo)"
        )
    return SHARED


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
