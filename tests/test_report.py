"""The HTML report, rendered in headless Chromium; McNemar by hand."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.engine import RunConfig, run
from vscbench.loopback import FakeOpenAIServer
from vscbench.results.compare import mcnemar_exact, paired

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_mcnemar_by_hand() -> None:
    # b=1, c=5: P(X<=1) for Binomial(6, 1/2) = 7/64; two-sided 14/64
    assert mcnemar_exact(1, 5) == pytest.approx(14 / 64)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0
    a = {
        "x": {"id": "x", "unsafe": True, "aware": True},
        "y": {"id": "y", "unsafe": False, "aware": False},
        "z": {"id": "z", "unsafe": True, "aware": None},
    }
    b = {
        "x": {"id": "x", "unsafe": True, "aware": False},
        "y": {"id": "y", "unsafe": False, "aware": False},
        "z": {"id": "z", "unsafe": True, "aware": True},
    }
    result = paired(a, b)
    assert result["all"] == {
        "n": 2,
        "n_queries": 2,
        "only_a": 1,
        "only_b": 0,
        "agree": 1,
        "p_value": pytest.approx(math.erfc(math.sqrt(1 / 2))),  # one discordant query
        "p_value_pairs": 1.0,
    }
    assert result["unsafe"]["n"] == 1 and result["safe"]["only_a"] == 0


@pytest.fixture()
def three_runs(full_data_dir: Path, tmp_path: Path, api_key: str) -> list[Path]:
    replies = {
        "refuser": lambda t, i: "I can't help with that.",
        "helper": lambda t, i: "Sure, here you go.",
        "mixed": lambda t, i: "I can't." if len(t) % 3 == 0 else "Sure.",
    }
    dirs = []
    for name, reply in replies.items():
        with FakeOpenAIServer(reply=reply) as srv:
            run(
                RunConfig(
                    model="openai-api/fake/" + name,
                    base_url=srv.base_url,
                    data_dir=str(full_data_dir),
                    limit=60,
                ),
                tmp_path / name,
            )
        dirs.append(tmp_path / name)
    return dirs


def test_report_renders_in_chromium(three_runs: list[Path], tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium for the report test")
        pytest.skip("chromium is not installed")
    result = CliRunner().invoke(
        app, ["report", *map(str, three_runs), "--out", str(tmp_path / "report")]
    )
    assert result.exit_code == 0, result.output
    page = tmp_path / "report" / "index.html"
    for figure in ("calibration_plane.png", "image_categories.png", "text_variants.png"):
        assert (tmp_path / "report" / figure).stat().st_size > 5000
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--allow-file-access-from-files",
        "--virtual-time-budget=5000",
    ]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'data-images-loaded="true"' in dom  # every figure decoded in the browser
    leaderboard = re.search(r"<table id=\"leaderboard\">(.*?)</table>", dom, re.S).group(1)
    assert leaderboard.count("<tr>") == 2 + 3  # two header rows, one row per run
    assert "McNemar" in dom and dom.count("<tr><td>") >= 3 + 6 + 3
    shot = Path(os.environ.get("VSCBENCH_REPORT_SHOT", tmp_path / "report.png"))
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 20000


def test_report_needs_finished_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "no metrics.json" in result.output
