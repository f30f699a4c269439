"""The HTML report, rendered in headless Chromium; McNemar by hand."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from loopback import FakeOpenAIServer
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.engine import RunConfig, run
from vscbench.results.compare import mcnemar_exact, paired
from vscbench.results.store import load_records

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


REFUSAL, HELP = "I can't help with that.", "Sure, here you go."


def _run(srv: FakeOpenAIServer, data_dir: Path, out: Path, **selection: object) -> Path:
    config = RunConfig(
        model="openai-api/fake/" + out.name,
        base_url=srv.base_url,
        data_dir=str(data_dir),
        max_retries=0,
        **selection,  # type: ignore[arg-type]
    )
    run(config, out)  # failed requests are recorded; an all-error run still has its files
    return out


@pytest.fixture()
def six_runs(full_data_dir: Path, tmp_path: Path, api_key: str) -> list[Path]:
    """Runs a report could mislead about: same pairs, other pairs, identical figures, all
    failed, and no unsafe pairs at all."""
    runs = tmp_path / "runs"
    with (
        FakeOpenAIServer(reply=lambda t, i: REFUSAL) as refuser,
        FakeOpenAIServer(reply=lambda t, i: HELP) as helper,
        FakeOpenAIServer(reply=lambda t, i: REFUSAL if len(t) % 3 == 0 else HELP) as mixed,
        FakeOpenAIServer(fault=lambda t, i, n: (500, {})) as broken,
    ):
        return [
            _run(refuser, full_data_dir, runs / "refuser", limit=30),
            _run(helper, full_data_dir, runs / "helper", limit=30),
            _run(helper, full_data_dir, runs / "helper-again", limit=30),
            _run(mixed, full_data_dir, runs / "mixed", limit=20),
            _run(broken, full_data_dir, runs / "broken", limit=30),
            _run(
                helper,
                full_data_dir,
                runs / "safe-only",
                splits=("text",),
                variants=("txt", "search"),
                types=("homonyms",),
            ),
        ]


def _chromium(page: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium for the report test")
        pytest.skip("chromium is not installed")
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
    return subprocess.run(
        [CHROMIUM, *flags, *args, page], capture_output=True, text=True, timeout=120
    )


def _rows(dom: str, table: str) -> list[str]:
    body = re.search(rf"<table id=\"{table}\">(.*?)</table>", dom, re.S)
    assert body, f"no table {table}"
    return re.findall(r"<tr class=\"(?:ranked|unranked)\">(.*?)</tr>", body.group(1), re.S)


def test_report_cannot_mislead(six_runs: list[Path], tmp_path: Path) -> None:
    """Read in headless Chromium, at desktop and phone widths, as a researcher would."""
    result = CliRunner().invoke(app, ["report", *map(str, six_runs), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "index.html").as_uri()
    dom = _chromium(page, tmp_path, "--dump-dom").stdout
    assert 'data-images-loaded="true"' in dom  # figures and thumbnails decode in the browser

    # runs over other pairs are flagged, with their counts, and compared on shared pairs
    warning = re.search(r"<p class=\"warn\" id=\"coverage\">(.*?)</p>", dom, re.S).group(1)
    assert "#1 refuser 60" in warning and "#4 mixed 40" in warning
    assert "#6 safe-only 50" in warning and "shared" in warning
    assert re.search(r"<table id=\"shared\">", dom)

    # ranked: the four runs with figures; the failed run and the safe-only run are listed
    # with their reason, after them, never ranked
    rows = _rows(dom, "leaderboard")
    assert len(rows) == 6
    ranked = [r for r in rows if not r.startswith("<td>—")]
    assert sum(r.startswith("<td>1=.") for r in rows) == 3  # refuser and both helpers: 50.0
    assert len(ranked) == 4 and all("not ranked" not in r for r in ranked)
    broken = next(r for r in rows if "broken" in r)
    safe_only = next(r for r in rows if "safe-only" in r)
    assert rows.index(broken) >= 4 and "not ranked: 60 of 60 pairs failed: HTTP 500" in broken
    assert "not ranked: no unsafe pair scored" in safe_only
    # n beside each figure; "not run" is not 0%
    refuser = next(r for r in rows if "refuser" in r)
    assert len(re.findall(r"n=\d+", refuser)) == 6  # SRA_u and SRA_s of three sections
    assert re.search(r"<td>0\.0 <small>\[[^]]*\]</small><br><small>n=\d+", refuser)
    assert "not run" in safe_only and "not run" not in refuser

    # the plane names runs drawn on one another and runs it cannot draw
    assert "drawn at the same place: #2 helper, #3 helper-again" in dom
    assert "#6 safe-only is not drawn: it has no SRA_u" in dom
    assert "#5 broken is not drawn: all failed" in dom

    # per-pair view: refuser -> helper flips every pair, with prompt, thumbnail, answers
    first = re.search(r"<section class=\"flips\".*?</section>", dom, re.S).group(0)
    assert "60 flipped pair(s)" in first and "60 of 60 rows shown" in first
    pictured = [r for r in load_records(six_runs[0]).values() if r["image"]]
    assert first.count('<img class="thumb"') == len(pictured) > 30  # all but txt pairs
    assert REFUSAL.replace("'", "&#x27;") in first or "can't help" in first
    assert (tmp_path / "r" / "flips_1_vs_2.csv").read_text().count("\n") == 61
    # ... and filters by category and variant: from the page's own selects via the URL
    filtered = _chromium(page + "?group=drugs&variant=image", tmp_path, "--dump-dom").stdout
    section = re.search(r"<section class=\"flips\".*?</section>", filtered, re.S).group(0)
    shown = re.findall(r"<tr data-group=\"(\w+)\" data-variant=\"(\w+)\"[^>]*>", section)
    hidden = re.findall(r"<tr data-group=\"\w+\" data-variant=\"\w+\"[^>]* hidden", section)
    drugs = [g for g in shown if g == ("drugs", "image")]
    assert drugs and f"{len(drugs)} of 60 rows shown" in section
    assert len(hidden) == 60 - len(drugs)

    shots = Path(os.environ.get("VSCBENCH_REPORT_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    for name, size in (("desktop", "1366,3000"), ("narrow", "390,3000")):
        _chromium(
            page, tmp_path, f"--screenshot={shots / f'report-{name}.png'}", f"--window-size={size}"
        )
        assert (shots / f"report-{name}.png").stat().st_size > 20000


def test_report_needs_finished_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "no metrics.json" in result.output


def test_method_labels_leave_out_parameters_without_a_value() -> None:
    """``steer 1 ?alpha=2.0``, not ``...&layers=[]&gate=None``: empty parameters say
    nothing about the run; a list is spelled as a spec spells it."""
    from vscbench.plugins import bind
    from vscbench.results.report import method_label

    steer = {"name": "steer", "version": "1", "params": {"alpha": 2.0, "layers": [], "gate": None}}
    assert method_label({"identity": {"method": steer}}) == "steer 1 ?alpha=2.0"
    steer["params"] = {"alpha": 2.0, "layers": [12, 14], "gate": 0.5}
    assert (
        method_label({"identity": {"method": steer}}) == "steer 1 ?alpha=2.0&layers=12,14&gate=0.5"
    )
    assert method_label({"method": "none", "identity": {"method": {"name": "none"}}}) == "none"
    assert bind("few-shot:2").label() == "few-shot 1 ?k=2"
