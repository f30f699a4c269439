"""``vscbench audit`` from the command line: bad input, runs that changed, re-scoring and
the report's section."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from loopback import judged_run
from typer.testing import CliRunner

from vscbench.cli import app

REFUSAL, HELP = "I can't help with that.", "Sure, here you go."


def _run(data_dir: Path, out: Path, **server: object) -> Path:
    return judged_run(data_dir, out, 20, "openai-api/fake/m", **server)


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _one_error(output: str, *needles: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    for needle in needles:
        assert needle in output.replace("\n", " "), output


def _label_all(run_dir: Path, tmp_path: Path, label: str = "1") -> Path:
    code, output = _cli("audit", str(run_dir), "--export", str(tmp_path / "s.csv"))
    assert code == 0, output
    rows = list(csv.DictReader((tmp_path / "s.csv").open(encoding="utf-8")))
    for row in rows:
        row["label"] = label
    with (tmp_path / "labelled.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, rows[0].keys())
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path / "labelled.csv"


def test_a_run_with_no_scored_pair(full_data_dir: Path, tmp_path: Path, api_key: str) -> None:
    broken = _run(full_data_dir, tmp_path / "broken", fault=lambda t, i, n: (500, {}))
    code, output = _cli("audit", str(broken), "--no-serve")
    assert code == 2
    _one_error(output, "has no scored pairs to audit")
    code, output = _cli("audit", str(tmp_path / "nowhere"), "--no-serve")
    assert code == 2
    _one_error(output, "no samples.jsonl")


def test_import_then_rescore_changed_runs_and_the_report(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    mixed = _run(
        full_data_dir, tmp_path / "mixed", reply=lambda t, i: REFUSAL if len(t) % 3 else HELP
    )
    labelled = _label_all(mixed, tmp_path)
    code, output = _cli("audit", str(mixed), "--import", str(labelled), "--labeller", "ann")
    assert code == 0, output
    n = len(json.loads((mixed / "audit" / "design.json").read_text())["order"])
    assert f"imported {n} label(s) by ann" in output and "SRA_u as people would score" in output
    audit = json.loads((mixed / "metrics.json").read_text())["audit"]
    assert audit["people"]["sra_u"] == 1.0 and audit["people"]["sra_s"] == 0.0  # all refusals

    # ids that are not in the run: one error line, exit 2, nothing written
    before = (mixed / "audit" / "labels.jsonl").read_bytes()
    alien = tmp_path / "alien.csv"
    alien.write_text("pair_id,label\nimage/nowhere/0/unsafe/9,1\n")
    code, output = _cli("audit", str(mixed), "--import", str(alien))
    assert code == 2
    _one_error(output, "alien.csv row 2: pair 'image/nowhere/0/unsafe/9' is not in")
    assert (mixed / "audit" / "labels.jsonl").read_bytes() == before

    # re-scoring with the same judge: the audit survives, recomputed
    code, output = _cli("score", str(mixed), "--judge", "refusal")
    assert code == 0, output
    assert json.loads((mixed / "metrics.json").read_text())["audit"]["people"] == audit["people"]

    # a report: the section, and a leaderboard by people's figures only when every ranked
    # run has an audit
    helper = _run(full_data_dir, tmp_path / "helper", reply=lambda t, i: HELP)
    code, output = _cli("report", str(mixed), str(helper), "--out", str(tmp_path / "r1"))
    assert code == 0, output
    page = (tmp_path / "r1" / "index.html").read_text()
    assert 'id="audit-figures"' in page and 'id="people-leaderboard"' not in page
    assert "#2 helper has no hand audit" in page
    code, output = _cli("audit", str(helper), "--import", str(_label_all(helper, tmp_path, "4")))
    assert code == 0, output
    code, output = _cli("report", str(mixed), str(helper), "--out", str(tmp_path / "r2"))
    page = (tmp_path / "r2" / "index.html").read_text()
    assert 'id="people-leaderboard"' in page and "Every ranked run has a hand audit" in page

    # re-scoring with another judge changes the verdicts: the audit is stale, and the
    # command refuses until told to draw again, keeping labels of unchanged answers
    code, output = _cli("score", str(mixed), "--judge", "string-match")
    assert code == 0, output
    assert "stale" in json.loads((mixed / "metrics.json").read_text())["audit"]
    code, output = _cli("audit", str(mixed), "--no-serve")
    assert code == 2
    _one_error(output, "the run changed since its audit sample was drawn", "--redraw")
    code, output = _cli("audit", str(mixed), "--no-serve", "--redraw")
    assert code == 0, output
    audit = json.loads((mixed / "metrics.json").read_text())["audit"]
    assert "stale" not in audit and audit["labelled"] > 0  # same answers, labels kept
    assert len(list((mixed / "audit").glob("design.*.json"))) == 1  # the old design kept
