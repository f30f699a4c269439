"""Utility on a VQA table, and sweeps run here and on a local Ray instance."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from loopback import FakeOpenAIServer
from PIL import Image
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.engine import RunConfig, run, score
from vscbench.results.report import build_report
from vscbench.utility import exact_match

ANSWERS = {
    "What colour is this?": "Red",
    "How many items are shown?": "Two",
    "What is the animal?": "A cat",
}


@pytest.fixture()
def vqa(tmp_path: Path) -> Path:
    root = tmp_path / "vqa"
    root.mkdir()
    rows = []
    for i, (question, answer) in enumerate(ANSWERS.items()):
        Image.new("RGB", (16, 16), (200, 20 * i, 0)).save(root / f"{i}.png")
        rows.append({"image": f"{i}.png", "question": question, "answer": answer})
    rows.append({"image": "", "question": "What is 2 + 2?", "answer": "4"})
    pd.DataFrame(rows).to_csv(root / "vqa.csv", index=False)
    return root / "vqa.csv"


def reply(text: str, image_sha: str | None) -> str:
    for question, answer in ANSWERS.items():
        if text.endswith(question):
            return f"{answer}." if "cat" not in answer else "It is a dog."
    if "Reference answer" in text:
        return "yes" if "Model answer: Red" in text else "no"
    return "I cannot help."  # safety pairs and the arithmetic question


def test_exact_match() -> None:
    assert exact_match("Red.", "red") and exact_match("The cat sat.", "a cat")
    assert not exact_match("Reddish", "red") and not exact_match("", "")


def test_utility_exact_and_judged(
    full_data_dir: Path, tmp_path: Path, vqa: Path, api_key: str
) -> None:
    with FakeOpenAIServer(reply=reply) as srv:
        config = RunConfig(
            model="openai-api/fake/vlm",
            base_url=srv.base_url,
            data_dir=str(full_data_dir),
            splits=("image",),
            limit=6,
            method="reminder",
        )
        run(config, tmp_path / "run")
        srv.requests.clear()
        result = CliRunner().invoke(
            app, ["utility", "--run", str(tmp_path / "run"), "--vqa", str(vqa)]
        )
        assert result.exit_code == 0, result.output
        # the reminder's system prompt went with every utility question too
        assert {tuple(r.roles) for r in srv.requests} == {("system", "user")}
        assert sum(r.images for r in srv.requests) == 3
        judged = CliRunner().invoke(
            app,
            [
                "utility",
                "--model",
                "openai-api/fake/vlm",
                "--base-url",
                srv.base_url,
                "--vqa",
                str(vqa),
                "--out",
                str(tmp_path / "judged"),
                "--scoring",
                "llm:openai-api/fake/judge",
                "--judge-base-url",
                srv.base_url,
            ],
        )
        assert judged.exit_code == 0, judged.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["utility"]["score"] == pytest.approx(2 / 4)  # Red, Two right
    assert metrics["utility"]["n"] == 4 and metrics["utility"]["method"] == "reminder"
    assert json.loads((tmp_path / "judged" / "utility.json").read_text())["score"] == 0.25
    score(tmp_path / "run", ["prefix"])  # re-scoring keeps the utility figure
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["utility"]["n"] == 4
    build_report([tmp_path / "run"], tmp_path / "report")
    assert (tmp_path / "report" / "utility_tradeoff.png").exists()


def write_plan(tmp_path: Path, base_url: str, data_dir: Path, vqa: Path, out: str) -> Path:
    plan = {
        "out": out,
        "data_dir": str(data_dir),
        "models": ["openai-api/fake/vlm"],
        "methods": ["none", "reminder", "self-check"],
        "run": {"splits": ["image"], "limit": 6, "eval_on": "test", "base_url": base_url},
        "utility": {"vqa": str(vqa)},
    }
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_sweep_here_then_on_ray(
    full_data_dir: Path, tmp_path: Path, vqa: Path, api_key: str
) -> None:
    with FakeOpenAIServer(reply=reply) as srv:
        plan = write_plan(tmp_path, srv.base_url, full_data_dir, vqa, "local")
        result = CliRunner().invoke(app, ["sweep", str(plan)])
        assert result.exit_code == 0, result.output
        cells = sorted(p.name for p in (tmp_path / "local").iterdir() if p.is_dir())
        assert cells == [
            "openai-api-fake-vlm__none",
            "openai-api-fake-vlm__reminder",
            "openai-api-fake-vlm__self-check",
        ]
        before = len(srv.requests)
        again = CliRunner().invoke(app, ["sweep", str(plan)])
        assert again.exit_code == 0 and len(srv.requests) == before  # resumed: nothing new

        pytest.importorskip("ray")
        plan = write_plan(tmp_path, srv.base_url, full_data_dir, vqa, "ray")
        on_ray = CliRunner().invoke(app, ["sweep", str(plan), "--ray-address", "local"])
        assert on_ray.exit_code == 0, on_ray.output
    index = json.loads((tmp_path / "ray" / "sweep.json").read_text())
    local = json.loads((tmp_path / "local" / "sweep.json").read_text())
    assert [c["cell"] for c in index["cells"]] == [c["cell"] for c in local["cells"]]
    assert [c["sra_u"] for c in index["cells"]] == [c["sra_u"] for c in local["cells"]]
    assert all(c["utility"] == 0.5 for c in index["cells"])
    # the Ray workers ran in temporary directories of their own; every file came back
    for cell in index["cells"]:
        ray_dir, local_dir = tmp_path / "ray" / cell["cell"], tmp_path / "local" / cell["cell"]
        ray_lines = (ray_dir / "samples.jsonl").read_text().splitlines()
        assert len(ray_lines) == len((local_dir / "samples.jsonl").read_text().splitlines()) == 6
        assert (ray_dir / "utility.json").is_file() and list((ray_dir / "logs").glob("*.json"))
        assert cell["dir"] == str(ray_dir)


def test_bad_plan(tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(
        yaml.safe_dump({"models": ["m"], "methods": ["none"], "run": {"colour": "red"}})
    )
    result = CliRunner().invoke(app, ["sweep", str(plan)])
    assert result.exit_code == 2 and "unknown run setting(s) ['colour']" in result.output
