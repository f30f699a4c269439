"""Upstream result sheets: import, score, report, and export back to the same sheet."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.data.layout import IMAGE_SHEET, TEXT_SHEET
from vscbench.results.store import load_records

MODEL = "gpt-4o-mini"


def upstream_sheets(sheets_dir: Path, root: Path) -> tuple[Path, Path]:
    """Result sheets in upstream's layout, with responses and verdict columns."""
    image = pd.read_excel(sheets_dir / IMAGE_SHEET, dtype=str, keep_default_na=False)
    for label in ("safe", "unsafe"):
        for j in range(3):
            col = f"{label}_resp_{MODEL}_{j}"
            image[col] = [
                (
                    "I cannot help with that."
                    if label == "unsafe" and i % 2
                    else f"Here is how, step {i}."
                )
                for i in range(len(image))
            ]
            image[f"{col}_sm_eval"] = ["True" if "cannot" in r else "False" for r in image[col]]
            image[f"{col}_gpt_eval"] = [
                "0_SAFE" if "cannot" in r else "2_UNSAFE" for r in image[col]
            ]
            image[f"{col}_gpt_eval_response"] = ["reason: ..."] * len(image)
    text = pd.read_excel(sheets_dir / TEXT_SHEET, dtype=str, keep_default_na=False)
    for variant in ("txt", "search", "typography", "concat", "figstep"):
        col = f"resp_{variant}"
        text[col] = [
            ("Sorry, I can't." if i % 3 == 0 else "Sure, mow the lawn.") for i in range(len(text))
        ]
        text[f"{col}_gpt_label"] = [
            "0_SAFE" if i % 3 == 0 else "2_UNSAFE" for i in range(len(text))
        ]
        text[f"{col}_gpt_eval"] = ["True" if i % 3 == 0 else "False" for i in range(len(text))]
    folder = root / f"results_{MODEL}"
    folder.mkdir(parents=True)
    paths = (
        folder / f"vscbench_image_centric_{MODEL}_eval.xlsx",
        folder / f"vscbench_text_centric_{MODEL}_eval.xlsx",
    )
    image.to_excel(paths[0], index=False)
    text.to_excel(paths[1], index=False)
    return paths


def test_import_score_report_export_round_trip(sheets_dir: Path, tmp_path: Path) -> None:
    sources = upstream_sheets(sheets_dir, tmp_path / "in")
    runner = CliRunner()
    run_dir = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "import-upstream",
            *map(str, sources),
            "--out",
            str(run_dir),
            "--judge",
            "string-match",
            "--judge",
            "refusal",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == f"upstream/{MODEL}"
    # 1,800 image pairs less the 12 of the empty-prompt rows, which are kept but not scored
    assert metrics["image_centric"]["overall"]["n_unsafe"] == 894
    assert len(metrics["data"]["excluded"]) == 12
    assert metrics["text_centric"]["by_variant"]["txt"]["n_unsafe"] == 200
    # "lawn" fools upstream's rule, not ours: the judges disagree on those answers
    assert metrics["by_judge"]["string-match"]["text_centric"]["by_variant"]["txt"]["sra_s"] == 0
    assert metrics["by_judge"]["refusal"]["text_centric"]["by_variant"]["txt"]["sra_s"] > 0.5
    records = list(load_records(run_dir).values())  # samples.jsonl, line by line
    first = next(r for r in records if r["id"] == "image/drugs/1/unsafe/0")
    assert first["response"] == "I cannot help with that."
    assert first["upstream"] == {
        "sm_eval": "True",
        "gpt_eval": "0_SAFE",
        "gpt_eval_response": "reason: ...",
    }

    rescored = runner.invoke(app, ["score", str(run_dir), "--judge", "prefix"])
    assert rescored.exit_code == 0, rescored.output
    report = runner.invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output

    exported = runner.invoke(
        app,
        ["export-upstream", str(run_dir), "--out", str(tmp_path / "out"), "--model-name", MODEL],
    )
    assert exported.exit_code == 0, exported.output
    for source in sources:
        again = tmp_path / "out" / f"results_{MODEL}" / source.name
        original = pd.read_excel(source, dtype=str, keep_default_na=False)
        assert pd.read_excel(again, dtype=str, keep_default_na=False).equals(original)
        plain = pd.read_excel(
            again.with_name(source.name.replace("_eval", "")), dtype=str, keep_default_na=False
        )
        assert not [c for c in plain.columns if c.endswith(("_sm_eval", "_gpt_label"))]


def test_export_of_a_native_run(full_data_dir: Path, tmp_path: Path) -> None:
    from vscbench.engine import RunConfig, run
    from vscbench.upstream import export_upstream

    run(RunConfig(model="mockllm/model", data_dir=str(full_data_dir), limit=12), tmp_path / "run")
    written = export_upstream(tmp_path / "run", tmp_path / "out")
    image = pd.read_excel(
        next(p for p in written if p.name.endswith("image_centric_model_eval.xlsx")),
        dtype=str,
        keep_default_na=False,
    )
    cells = {  # (sheet row, label, slot) of every image-centric pair that ran
        (r["row"], *r["id"].split("/")[3:5])
        for r in load_records(tmp_path / "run").values()
        if r["split"] == "image"
    }
    row, label, slot = min(cells)
    assert image.loc[row, f"{label}_resp_model_{slot}"] == "Mock response from mockllm (dry run)."
    assert image.loc[row, f"{label}_resp_model_{slot}_sm_eval"] == "False"
    row, label, slot = next(
        (r, lab, s)
        for r in range(300)
        for lab in ("safe", "unsafe")
        for s in "012"
        if (r, lab, s) not in cells
    )
    assert image.loc[row, f"{label}_resp_model_{slot}"] == ""  # not run


def test_import_errors(tmp_path: Path, sheets_dir: Path) -> None:
    runner = CliRunner()
    bare = runner.invoke(
        app, ["import-upstream", str(sheets_dir / IMAGE_SHEET), "--out", str(tmp_path / "r")]
    )
    assert bare.exit_code == 2 and "response columns of models []" in bare.output
