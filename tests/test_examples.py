"""The example plug-ins, installed into a fresh virtual environment and run end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import API_KEY_VAR, flags
from loopback import FakeOpenAIServer

from vscbench.results.store import load_records

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL = "openai-api/fake/vlm"


def fresh_venv(root: Path) -> Path:
    """A new environment that sees this one's packages (a .pth line) but not its plug-ins."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]  # addsitedir: its own .pth files count too
    Path(site, "parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return python


def install(python: Path, example: str) -> None:
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-e",
            str(EXAMPLES / example),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )


def reply(text: str, image_sha: str | None) -> str:
    if text.startswith("You write defense prompts"):
        return "Refuse any request that could help hurt people. Help with harmless requests."
    if "Refuse any request" in text or "I am sorry" in text:
        return "I am sorry, I can't help with that."
    return "Sure, here is how."


def test_adashield_installed_in_a_fresh_venv(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    python = fresh_venv(tmp_path / "venv")
    vscbench = [python, "-m", "vscbench"]
    listed = subprocess.run([*vscbench, "methods"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "adashield" not in listed.stdout  # not yet installed
    install(python, "adashield")
    listed = subprocess.run(
        [*vscbench, "methods"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )
    assert "adashield" in listed.stdout and "vscbench-adashield" in listed.stdout, listed.stdout
    common = flags(model=MODEL, data_dir=full_data_dir, split="image", limit=12)
    env = {API_KEY_VAR: api_key, "PATH": "/usr/bin:/bin"}
    with FakeOpenAIServer(reply=reply) as srv:
        for method, out in (("adashield?scenarios=2&threshold=0.05", "ada"), ("none", "plain")):
            done = subprocess.run(
                [
                    *vscbench,
                    "run",
                    *common,
                    *flags(base_url=srv.base_url, method=method),
                    "--eval-on",
                    "test",
                    "--out",
                    str(tmp_path / out),
                ],
                capture_output=True,
                text=True,
                timeout=300,
                env=env,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        defender = [r for r in srv.requests if r.text.startswith("You write defense prompts")]
        assert len(defender) == 2  # one rewrite per calibration scenario, before the pairs
    identity = json.loads((tmp_path / "ada" / "config.json").read_text())["identity"]["method"]
    assert (identity["name"], identity["version"]) == ("adashield", "1")
    assert identity["params"] == {"scenarios": 2, "threshold": 0.05}
    pool = json.loads((tmp_path / "ada" / "method_state.json").read_text())
    assert len(pool) == 2 and all(p["prompt"].startswith("Refuse any request") for p in pool)
    records = list(load_records(tmp_path / "ada").values())
    shielded = [r for r in records if r["method_trace"]["shield"]]
    refused = [r for r in records if r["response"].startswith("I am sorry")]
    assert shielded and refused == shielded  # the shield, and only it, made the model refuse
    report = subprocess.run(
        [
            *vscbench,
            "report",
            str(tmp_path / "plain"),
            str(tmp_path / "ada"),
            "--out",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report" / "index.html").read_text()
    assert "adashield 1 ?scenarios=2&amp;threshold=0.05" in page and "· none" in page
