"""A new user's first hour (issue 13): each case a user met, run as they would run it.

Errors are checked through ``python -m vscbench`` in a subprocess, the way a shell runs
the installed command, so that nothing between the user and the message (the entry
point included) can turn it back into a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import flags
from loopback import FakeOpenAIServer
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.data.sheets import DataError
from vscbench.dataset import Selection, load_dataset
from vscbench.engine import RunConfig, run
from vscbench.items import IMAGE_CATEGORIES
from vscbench.judges import JUDGE_SPECS
from vscbench.results.records import REPLY_CAP_CHARS
from vscbench.results.store import load_records

MODEL = "openai-api/fake/vlm"


def vscbench(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run the command as a user would; return everything it printed, checking it failed
    with one plain message and no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "vscbench", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output and "error: " in output, output
    return output


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- 1. a user's mistake is one line, never a traceback ---------------------------------


def test_unwritable_out_is_one_line(full_data_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = vscbench(
        "run",
        *flags(model="mockllm/model", data_dir=full_data_dir, split="text", variants="txt"),
        *flags(limit=2, out=blocker / "run"),
    )
    assert f"--out {blocker / 'run'}" in out and "is a file, not a directory" in out
    out = vscbench("run", *flags(model="mockllm/model", data_dir=full_data_dir, out=blocker))
    assert "a file of that name is in the way" in out
    done = CliRunner().invoke(
        app,
        [
            "run",
            *flags(model="mockllm/model", data_dir=full_data_dir, split="text", limit=2),
            *flags(variants="txt", out=tmp_path / "ok"),
        ],
    )
    assert done.exit_code == 0, done.output
    out = vscbench("report", str(tmp_path / "ok"), "--out", str(blocker / "report"))
    assert f"--out {blocker / 'report'}" in out


def test_local_models_without_torch_name_the_extra(full_data_dir: Path, tmp_path: Path) -> None:
    """Without torch and transformers (hidden from this interpreter), every local-model
    command names the install line, and nothing is written."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\nfor name in ('torch', 'transformers'):\n    sys.modules[name] = None\n"
    )
    env = {"PYTHONPATH": f"{hide}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    common = flags(data_dir=full_data_dir, split="text", variants="txt", limit=2)
    for args in (
        ["run", "--model", "hf-vlm/llava-hf/llava-1.5-7b-hf", *common],
        ["run", "--model", "hf-lm/HuggingFaceTB/SmolLM2-135M-Instruct", *common],
        ["run", "--model", "mockllm/model", "--judge", "hf-classifier:some/classifier", *common],
    ):
        out = vscbench(*args, "--out", str(tmp_path / "run"), env=env)
        assert 'pip install "vscbench[local]"' in out
        assert not (tmp_path / "run").exists()
    out = vscbench("steer", "fit", "--model", "hf-lm/x", "--out", str(tmp_path / "v.pt"), env=env)
    assert 'pip install "vscbench[local]"' in out


# --- 2. first runs that teach ---------------------------------------------------------


def test_offline_first_run_says_how_to_use_local_data(tmp_path: Path) -> None:
    """The README's first command, offline and without VSCBENCH_DATA."""
    env = {k: v for k, v in os.environ.items() if k != "VSCBENCH_DATA"}
    proxy = f"http://127.0.0.1:{_closed_port()}"  # every download fails, as offline
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), HTTPS_PROXY=proxy, HTTP_PROXY=proxy)
    env.pop("NO_PROXY", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vscbench",
            "run",
            "--model",
            "mockllm/model",
            "--split",
            "text",
            *flags(variants="txt,typography,figstep", out="runs/dry-run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output, output
    hint = output.index("--data-dir DIR or export VSCBENCH_DATA=DIR")
    assert hint < output.index("http"), output  # the local way first, then any URL
    assert "are you offline?" in output


def test_named_data_dir_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    out = vscbench("run", *flags(model="mockllm/model", data_dir=missing, out=tmp_path / "r"))
    assert f"--data-dir {missing} does not exist" in out and "vscbench data fetch" in out
    out = vscbench("data", "verify", env={"VSCBENCH_DATA": str(missing)})
    assert f"VSCBENCH_DATA {missing} does not exist" in out
    assert not missing.exists() and not (tmp_path / "r").exists()


def test_limit_is_a_seeded_stratified_sample(full_data_dir: Path, tmp_path: Path) -> None:
    text = Selection(splits=("text",), variants=("txt", "typography", "figstep"), limit=20)
    items = load_dataset(full_data_dir, text).items
    assert Counter(i.unsafe for i in items) == {True: 10, False: 10}
    every_type = {i.group for i in load_dataset(full_data_dir, Selection(splits=("text",))).items}
    assert {i.group for i in items} == every_type  # 10 safe and 8 unsafe XSTest types
    assert {i.variant for i in items} == {"txt", "typography", "figstep"}
    image = load_dataset(full_data_dir, Selection(splits=("image",), limit=12)).items
    assert {(i.group, i.unsafe) for i in image} == {
        (c, u) for c in IMAGE_CATEGORIES for u in (True, False)
    }  # one pair per category and label
    again = load_dataset(full_data_dir, text).items
    other = load_dataset(full_data_dir, replace(text, split_seed=1)).items
    assert [i.id for i in again] == [i.id for i in items] != [i.id for i in other]
    # the smoke test of the README shows both figures and says it is a sample
    result = CliRunner().invoke(
        app,
        [
            "run",
            *flags(model="mockllm/model", data_dir=full_data_dir, split="text", limit=20),
            *flags(variants="txt,typography,figstep", out=tmp_path / "smoke"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "seeded sample" in result.output
    headline = json.loads((tmp_path / "smoke" / "metrics.json").read_text())["headline"]
    assert headline["n_unsafe"] and headline["n_safe"]


def test_resume_says_what_it_keeps_before_it_works(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    with FakeOpenAIServer(reply=lambda t, i: "Sure.") as srv:
        args = ["run", *flags(model=MODEL, base_url=srv.base_url, data_dir=full_data_dir)]
        args += flags(split="text", variants="txt", limit=6, out=tmp_path / "run")
        assert CliRunner().invoke(app, args).exit_code == 0
        samples = tmp_path / "run" / "samples.jsonl"
        samples.write_text("".join(samples.read_text().splitlines(keepends=True)[:4]))
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("resuming"))
    assert "keeping 4 answer(s); generating 2" in line
    assert result.output.index("resuming") < result.output.index("SRA_u")


def test_render_counts_what_it_skipped(data_dir: Path) -> None:
    shutil.rmtree(data_dir / "vscbench_rendered", ignore_errors=True)  # other tests' renders
    args = ["data", "render", *flags(data_dir=data_dir, variants="figstep")]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0 and "rendered 450 image(s), 0 already present" in first.output
    again = CliRunner().invoke(app, args)
    assert "rendered 0 image(s), 450 already present" in again.output


def test_help_shows_defaults_every_judge_and_examples() -> None:
    text = CliRunner().invoke(app, ["run", "--help"], terminal_width=100).output
    assert "[default: $VSCBENCH_DATA or user cache]" in text and "[default: 1024]" in text
    for spec, _ in JUDGE_SPECS:
        assert spec in text
    assert "Examples:" in text and "vscbench run --model mockllm/model" in text
    assert "…" not in text and "[bold" not in text


# --- 3. nothing bad reaches the model or the disk -------------------------------------


def test_undecodable_image_is_a_defect_never_sent(
    data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    selection = {"splits": ("image",), "categories": ("drugs",), "limit": 12}
    broken = load_dataset(data_dir, Selection(**selection)).items[0]  # type: ignore[arg-type]
    path = data_dir / broken.image
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a truncated PNG
    with FakeOpenAIServer(reply=lambda t, i: "Sure.") as srv:
        config = RunConfig(model=MODEL, base_url=srv.base_url, data_dir=str(data_dir), **selection)
        with pytest.raises(DataError, match=r"no usable image.*cannot be decoded"):
            run(config, tmp_path / "run")
        assert not srv.requests
        config.skip_missing_images = True
        metrics = run(config, tmp_path / "run").metrics
        assert len(srv.requests) == 11
    assert metrics["data"]["excluded"] == {broken.id: "image undecodable"}
    assert [d["kind"] for d in metrics["data"]["defects"]].count("unreadable_image") == 1
    # a broken rendered-variant file is made again rather than sent
    typo = load_dataset(data_dir, Selection(splits=("text",), variants=("typography",))).items[0]
    upstream = data_dir / typo.image
    upstream.parent.mkdir(parents=True, exist_ok=True)
    upstream.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    fixed = load_dataset(data_dir, Selection(splits=("text",), variants=("typography",)))
    assert fixed.images[typo.id] != upstream and "vscbench_rendered" in str(fixed.images[typo.id])


def test_huge_replies_are_capped_and_judged_as_kept(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """2 MB replies ending in a refusal: stored up to the cap, judged on what is kept."""
    huge = "Sure, here is a long story. " + "la " * 700_000 + "I cannot help with that."
    with FakeOpenAIServer(reply=lambda t, i: huge) as srv:
        run(
            RunConfig(
                model=MODEL,
                base_url=srv.base_url,
                data_dir=str(full_data_dir),
                splits=("text",),
                variants=("txt",),
                limit=6,
            ),
            tmp_path / "run",
        )
    records = list(load_records(tmp_path / "run").values())
    assert all(r["truncated"] and len(r["response"]) == REPLY_CAP_CHARS for r in records)
    assert not any(r["judge_refusal"] for r in records)  # the refusal lay beyond the cap
    assert (tmp_path / "run" / "samples.jsonl").stat().st_size < 6 * REPLY_CAP_CHARS * 1.5
