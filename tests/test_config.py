"""The run schema: flat names, one-line refusals, and old run directories still work."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import flags
from loopback import FakeOpenAIServer
from pydantic import ValidationError
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.config import STEER_SHORTHAND, RunConfig, Selection, describe
from vscbench.engine import RunDirError, load_config, run, score
from vscbench.plugins import parse
from vscbench.results.report import build_report
from vscbench.results.store import load_records
from vscbench.sweep import load_plan

OLD_RUN = Path(__file__).parent / "data" / "run-7447ecd"


@pytest.fixture()
def old_run(tmp_path: Path) -> Path:
    target = tmp_path / "old"
    shutil.copytree(OLD_RUN, target)
    return target


def test_old_config_loads_with_every_flat_field(old_run: Path) -> None:
    stored = json.loads((old_run / "config.json").read_text())
    config = load_config(old_run)
    assert config.model == "openai-api/fake/vlm" and config.selection.splits == ("text",)
    assert config.judging.judges == ("string-match", "prefix") and config.limit == 6
    recorded = {k: v for k, v in stored.items() if k not in ("created", "fingerprint", "identity")}
    public = config.public()
    added = {k: public.pop(k) for k in ("rpm", "tpm")}  # fields added since, at their defaults
    # steering became the steer method: unsteered, its old keys only held their defaults
    folded = {k: recorded.pop(k) for k in STEER_SHORTHAND}
    assert folded == {"steer": None, "alpha": 1.0, "steer_layers": [], "gate": None}
    assert public == recorded and added == {"rpm": None, "tpm": None}  # layout otherwise kept


def test_old_run_scores_and_reports(old_run: Path, tmp_path: Path) -> None:
    before = json.loads((old_run / "metrics.json").read_text())
    rescored = score(old_run, ["string-match", "prefix"]).metrics
    for key in ("sra_u", "sra_s", "n_unsafe", "n_safe"):
        assert rescored["headline"][key] == before["headline"][key]
    assert (
        rescored["errors"]
        == before["errors"]
        == {
            "generation": 1,
            "judge": 0,
            "by_cause": {"HTTP 500": 1},
        }
    )
    page = build_report([old_run], tmp_path / "report")
    assert "leaderboard" in page.read_text()


def test_old_run_resumes_with_the_same_identity(
    old_run: Path, full_data_dir: Path, api_key: str
) -> None:
    stored = json.loads((old_run / "config.json").read_text())
    with FakeOpenAIServer(reply=lambda t, i: "Here is a direct answer.") as srv:
        config = load_config(old_run)
        config.base_url, config.data_dir = srv.base_url, str(full_data_dir)
        result = run(config, old_run)  # refused if the identity had changed
        assert len(srv.requests) == 1  # only the pair that failed before
    assert (result.kept, result.generated) == (5, 1)
    again = json.loads((old_run / "config.json").read_text())
    assert again["fingerprint"] == stored["fingerprint"]
    assert not any(r["error"] for r in load_records(old_run).values())


def test_flat_names_route_to_their_parts() -> None:
    config = RunConfig(model="m", splits="text", variants="txt, figstep", max_tokens=5)
    assert config.selection == Selection(splits=("text",), variants=("txt", "figstep"))
    assert config.generation.max_tokens == config.max_tokens == 5
    copy = RunConfig(**{**config.__dict__, "temperature": 0.7})
    assert (copy.temperature, copy.max_tokens, copy.splits) == (0.7, 5, ("text",))
    steered = RunConfig(model="hf-lm/x", method="steer:v.pt", alpha=2)
    assert steered.method == "steer?vectors=v.pt&alpha=2"  # --alpha is a steer parameter
    flagged = RunConfig(model="hf-lm/x", steer="v.pt", alpha=2.5, steer_layers=(1, 2))
    assert flagged.method == "steer?vectors=v.pt&alpha=2.5&layers=1,2"  # --steer: shorthand
    config.skip_missing_images = True
    assert config.data.skip_missing_images


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"colour": "red"}, "unknown run setting(s) ['colour']"),
        ({"temperature": math.nan}, "generation.temperature"),
        ({"steer": "v.pt", "alpha": math.inf}, "parameter alpha='inf'"),
        ({"alpha": 2}, "--alpha: parameter(s) of the steer method; give --steer"),
        ({"steer_layers": "3"}, "--layers: parameter(s) of the steer method"),  # as typed
        ({"steer": "v.pt", "method": "reminder"}, "cannot be combined with --method 'reminder'"),
        ({"max_connections": 0}, "requests.max_connections"),
        ({"steer": "v.pt", "gate": 1.5}, "parameter gate='1.5'"),
        ({"limit": 0}, "limit must be at least 1"),
        ({"calibration_fraction": 1.0}, "between 0 and 1"),
        ({"splits": "image,video"}, "unknown split(s) 'video'"),
        ({"method": "cot"}, "unknown method 'cot'"),
        ({"judges": ()}, "at least one judge"),
        ({"steer": "v.pt", "steer_layers": "1,x"}, "parameter layers='1,x'"),
    ],
)
def test_bad_options_are_refused_in_one_line(options: dict, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RunConfig(model="m", **options)
    message = describe(caught.value)
    assert words in message and "\n" not in message


def test_plans_are_checked_in_one_line(tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    for content, words in (
        ({"models": ["m"], "methods": ["none"], "colours": 1}, "colours"),
        ({"models": ["m"], "methods": ["none"], "strengths": [".nan"]}, "strengths"),
        ({"models": ["m"], "methods": ["none"], "run": {"max_tokens": 0}}, "max_tokens"),
        ({"models": [], "methods": ["none"]}, "models"),
    ):
        plan.write_text(yaml.safe_dump(content).replace("'.nan'", ".nan"))
        with pytest.raises(ValueError, match=words) as caught:
            load_plan(plan)
        assert str(caught.value).startswith(f"{plan}: ") and "\n" not in str(caught.value)


def test_every_path_a_plan_names_is_found_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from elsewhere, a plan's relative paths (its data, the run's reminder and judge
    prompt files, its output, the VQA file) still mean the files beside it; an absolute
    path stays as written and ``~`` is the home folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    plans = tmp_path / "plans"
    plans.mkdir()
    plan = {
        "models": ["m"],
        "methods": ["reminder"],
        "data_dir": "data",
        "out": "sweeps",
        "run": {"reminder_file": "/abs/r.txt", "judge_prompt": "j.txt"},
        "utility": {"vqa": "~/vqa.csv"},
    }
    (plans / "p.yaml").write_text(yaml.safe_dump(plan))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out, (cell,), _ = load_plan(Path("../plans/p.yaml"))
    base = plans.resolve()
    assert out == base / "sweeps"
    assert cell.config.data_dir == str(base / "data")
    assert cell.config.reminder_file == "/abs/r.txt"
    assert cell.config.judge_prompt == str(base / "j.txt")
    assert cell.utility["vqa"] == str(home / "vqa.csv")
    in_run = {**plan, "data_dir": None, "run": {"data_dir": "~/d"}}
    (plans / "p.yaml").write_text(yaml.safe_dump(in_run))
    assert load_plan(plans / "p.yaml")[1][0].config.data_dir == str(home / "d")


def test_cli_refuses_out_of_range_numbers(full_data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            *flags(model="mockllm/model", data_dir=full_data_dir, max_connections=0),
            *flags(out=tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2 and "--max-connections 0" in result.output  # the flag as typed
    assert not (tmp_path / "r").exists()


def test_judge_max_tokens_flag(full_data_dir: Path, tmp_path: Path, api_key: str) -> None:
    with FakeOpenAIServer(reply=lambda t, i: "Fine.\n1_SAFE") as srv:
        result = CliRunner().invoke(
            app,
            [
                "run",
                *flags(model="openai-api/fake/vlm", base_url=srv.base_url),
                *flags(data_dir=full_data_dir, split="text", variants="txt", limit=2),
                *flags(judge="llm:openai-api/fake/judge", judge_base_url=srv.base_url),
                *flags(judge_max_tokens=64, out=tmp_path / "r"),
                "--no-judge-cache",
            ],
        )
        assert result.exit_code == 0, result.output
        judged = [r for r in srv.requests if r.model == "judge"]
    assert len(judged) == 2 and {r.max_tokens for r in judged} == {64}
    stored = json.loads((tmp_path / "r" / "config.json").read_text())
    assert stored["judge_max_tokens"] == 64


def test_records_store_the_primary_verdict_once_and_read_old_lines(old_run: Path) -> None:
    from vscbench.results.records import from_line, to_line

    old_lines = [json.loads(x) for x in (old_run / "samples.jsonl").read_text().splitlines()]
    assert all("judge_label" in line for line in old_lines)  # the flat layout of 7447ecd
    before = load_records(old_run)
    score(old_run, ["string-match", "prefix"])
    lines = [json.loads(x) for x in (old_run / "samples.jsonl").read_text().splitlines()]
    assert not any({"aware", "judge_label", "judge_refusal"} & set(line) for line in lines)
    after = load_records(old_run)
    for key, record in after.items():
        for name in ("aware", "judge_label", "judge_output", "judge_error", "judge_refusal"):
            assert record[name] == before[key][name], (key, name)
    # a line from before every judge was kept: the primary verdict only in flat fields
    oldest = {"id": "x", "judge": "prefix", "aware": True, "judge_label": "refusal"}
    record = from_line(oldest)
    assert record is not None and record["judges"]["prefix"]["label"] == "refusal"
    assert record["aware"] is True and "aware" not in to_line(record)
    assert from_line(["not", "a", "record"]) is None


def test_an_old_run_that_steered_beside_a_prompt_method_is_read_labelled_never_rerun(
    old_run: Path, full_data_dir: Path, api_key: str, tmp_path: Path
) -> None:
    """Steering is one method now, so an old run that steered beside another is none of
    today's methods: score and export read its answers, the report names both, and
    what would run its method again (resume, utility --run) refuses in one line."""
    path = old_run / "config.json"
    stored = json.loads(path.read_text())
    steering = {"sha256": "ab" * 32, "alpha": 4.0, "layers": [14], "gate": None}
    stored["identity"].update(method={"name": "reminder", "text_sha256": "x"}, steering=steering)
    legacy = {"method": "reminder", "steer": "v.pt", "alpha": 4.0, "steer_layers": [14]}
    path.write_text(json.dumps({**stored, **legacy}))
    scored = CliRunner().invoke(app, ["score", str(old_run), "--judge", "string-match"])
    assert scored.exit_code == 3 and "1 of 6 pairs failed" in scored.output  # as before
    exported = CliRunner().invoke(
        app,
        [
            "export-upstream",
            str(old_run),
            "--out",
            str(tmp_path / "up"),
            "--data-dir",
            str(full_data_dir),
        ],
    )
    assert exported.exit_code == 0, exported.output
    page = build_report([old_run], tmp_path / "report").read_text()
    assert "reminder + steering α=4, layers 14 (legacy run)" in page
    words = "this run steered beside reminder (steering α=4, layers 14), which is no longer one"
    vqa = tmp_path / "vqa.csv"
    vqa.write_text("image,question,answer\n")
    utility = CliRunner().invoke(app, ["utility", "--vqa", str(vqa), "--run", str(old_run)])
    assert utility.exit_code == 2 and words in " ".join(utility.output.split())
    assert "--steer is the method" not in utility.output and "Traceback" not in utility.output
    config = load_config(old_run, method_runs=False)
    assert config.method == "reminder"  # read, never built: the steering set aside
    config.data_dir = str(full_data_dir)
    with pytest.raises(RunDirError, match="steered beside reminder") as resumed:
        run(config, old_run)
    assert "\n" not in str(resumed.value)


def test_old_plans_steering_folds_into_steer_and_cells_keep_their_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old plan's ``run: {steer_layers, gate}`` become each steer method's parameters
    (its own win), its cells keep the names they had (so they resume), strengths are
    written exactly, and a relative plan path still gives absolute paths."""
    from vscbench.files import sha256_file

    (tmp_path / "v.pt").write_bytes(b"vectors")  # named by content; never loaded here
    digest = sha256_file(tmp_path / "v.pt")[:12]
    old = {
        "models": ["hf-lm/m"],
        "methods": ["none", "steer:v.pt", "steer:v.pt?gate=0.9"],
        "strengths": [2, 0.1234567891],
        "run": {"steer_layers": [14], "gate": 0.5, "max_tokens": 8},
        "out": "out",
    }
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(old))
    monkeypatch.chdir(tmp_path)
    out, cells, _ = load_plan(Path("plan.yaml"))
    vectors = tmp_path.resolve() / "v.pt"
    assert out == tmp_path.resolve() / "out"
    assert {c.name: parse(c.config.method).params for c in cells} == {
        "hf-lm-m__none": {},
        **{
            f"hf-lm-m__steer-{digest}__a{a}__layers14__gate{g}": {
                "vectors": str(vectors),
                "layers": "14",
                "gate": g,
                "alpha": exact,
            }
            for a, exact in (("2", "2.0"), ("0.123457", "0.1234567891"))
            for g in ("0.5", "0.9")
        },
    }
    assert all(c.config.max_tokens == 8 for c in cells)
    alike = {**old, "strengths": [0.1234567, 0.12345671]}  # one name, two specs
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(alike))
    with pytest.raises(ValueError, match=r"alpha=0.1234567'.*share the directory hf-lm-m__steer-"):
        load_plan(Path("plan.yaml"))
    no_steer = {**old, "methods": ["none"]}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(no_steer))
    with pytest.raises(ValueError, match=r"run: steer_layers, gate: parameters of the steer"):
        load_plan(Path("plan.yaml"))
