"""steer fit, run --steer, and steer sweep on a tiny local model, end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import flags  # noqa: E402
from fixtures import build_tiny_vlm  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from vscbench.cli import app  # noqa: E402
from vscbench.models.steering import fit as fit_module  # noqa: E402
from vscbench.models.steering.vectors import vectors_meta  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"hf-vlm/{build_tiny_vlm('llava', tmp_path_factory.mktemp('llava'))}"


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def responses(run_dir: Path) -> dict[str, str]:
    lines = (run_dir / "samples.jsonl").read_text().splitlines()
    return {r["id"]: r["response"] for r in map(json.loads, lines)}


def test_fit_then_run_steered(model: str, full_data_dir: Path, tmp_path: Path) -> None:
    vectors = tmp_path / "v.pt"
    invoke(
        "steer",
        "fit",
        "--model",
        model,
        "--data-dir",
        str(full_data_dir),
        "--out",
        str(vectors),
        "--limit",
        "24",
        "--position",
        "mean",
    )
    meta = vectors_meta(vectors)
    assert meta["layers"] == [0, 1, 2, 3] and meta["side"] == "calibration"
    assert meta["n_unsafe"] > 0 and meta["n_safe"] > 0 and len(meta["data_hash"]) == 16
    common = [
        "run",
        *flags(
            model=model,
            data_dir=full_data_dir,
            split="text",
            variants="txt",
            limit=8,
            max_tokens=6,
            eval_on="test",
        ),
    ]
    invoke(*common, "--out", str(tmp_path / "plain"))
    invoke(*common, "--out", str(tmp_path / "zero"), "--steer", str(vectors), "--alpha", "0")
    invoke(
        *common,
        "--out",
        str(tmp_path / "strong"),
        "--steer",
        str(vectors),
        "--alpha",
        "5000",
        "--layers",
        "1",
    )
    assert responses(tmp_path / "zero") == responses(tmp_path / "plain")
    assert responses(tmp_path / "strong") != responses(tmp_path / "plain")
    config = json.loads((tmp_path / "strong" / "config.json").read_text())
    assert config["method"] == f"steer?vectors={vectors}&alpha=5000.0&layers=1"  # --steer
    assert config["identity"]["method"]["params"] == {"alpha": 5000.0, "layers": [1], "gate": None}
    refused = CliRunner().invoke(
        app,
        [
            *common,
            "--out",
            str(tmp_path / "strong"),
            "--steer",
            str(vectors),
            "--alpha",
            "2",
            "--layers",
            "1",
        ],
    )
    assert refused.exit_code == 2 and "alpha" in refused.output
    # a run of the version before steering was a method resumes as the steer method's
    legacy = tmp_path / "legacy"
    shutil.copytree(tmp_path / "strong", legacy)
    as_before_steer_was_a_method(legacy, vectors)
    before = (legacy / "samples.jsonl").read_text()
    resumed = invoke(
        *common, "--out", str(legacy), "--steer", str(vectors), "--alpha", "5000", "--layers", "1"
    )
    assert "Traceback" not in resumed and (legacy / "samples.jsonl").read_text() == before
    elsewhere = tmp_path / "moved.pt"  # named by content: a moved vectors file resumes too
    shutil.copy(vectors, elsewhere)
    invoke(
        *common, "--out", str(legacy), "--steer", str(elsewhere), "--alpha", "5000", "--layers", "1"
    )


def as_before_steer_was_a_method(run_dir: Path, vectors: Path) -> None:
    """Rewrite ``config.json`` as vscbench wrote it when steering was a run setting."""
    from vscbench.results.identity import fingerprint

    path = run_dir / "config.json"
    config = json.loads(path.read_text())
    steer = config["identity"]["method"]
    config["identity"]["method"] = {"name": "none"}
    config["identity"]["steering"] = {"sha256": steer["inputs"]["vectors"], **steer["params"]}
    config["fingerprint"] = fingerprint(config["identity"])
    params = steer["params"]
    config.update(method="none", steer=str(vectors), alpha=params["alpha"])
    config.update(steer_layers=params["layers"], gate=params["gate"])
    path.write_text(json.dumps(config))


def test_head_level_fit(model: str, full_data_dir: Path, tmp_path: Path) -> None:
    vectors = tmp_path / "heads.pt"
    output = invoke(
        "steer",
        "fit",
        "--model",
        model,
        "--data-dir",
        str(full_data_dir),
        "--out",
        str(vectors),
        "--limit",
        "40",
        "--level",
        "head",
        "--top-k",
        "3",
        "--layers",
        "1,2",
    )
    meta = vectors_meta(vectors)
    assert meta["level"] == "head" and len(meta["heads"]) == 3
    assert {h["layer"] for h in meta["heads"]} <= {1, 2}
    assert "probe accuracy" in output
    common = [
        "run",
        *flags(
            model=model, data_dir=full_data_dir, split="text", variants="txt", limit=6, max_tokens=6
        ),
    ]
    invoke(*common, "--out", str(tmp_path / "plain"))
    invoke(*common, "--out", str(tmp_path / "heads"), "--steer", str(vectors), "--alpha", "5000")
    assert responses(tmp_path / "heads") != responses(tmp_path / "plain")


def test_sweep_reuses_activations(
    model: str, full_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[int]] = []
    real = fit_module.collect
    monkeypatch.setattr(
        fit_module,
        "collect",
        lambda vlm, req, layers, *a, **k: (
            calls.append(list(layers)),
            real(vlm, req, layers, *a, **k),
        )[1],
    )
    args = [
        "steer",
        "sweep",
        "--model",
        model,
        "--data-dir",
        str(full_data_dir),
        "--split",
        "image",
        "--limit",
        "16",
        "--max-tokens",
        "4",
        "--alphas",
        "0,8",
        "--layers",
        "1",
        "--layers",
        "1,2",
    ]
    output = invoke(*args, "--out", str(tmp_path / "sweep"))
    dirs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    (vectors,) = (tmp_path / "sweep").glob("vectors-*.pt")
    digest = vectors.stem.split("-")[1]
    assert [d.split("__", 1)[1] for d in dirs] == [
        f"steer-{digest}__a0__layers1",
        f"steer-{digest}__a0__layers1-2",
        f"steer-{digest}__a8__layers1",
        f"steer-{digest}__a8__layers1-2",
    ]
    assert calls == [[1, 2]]  # collected once for all settings
    assert "SRA_u" in output
    invoke(*args, "--out", str(tmp_path / "again"))
    assert calls == [[1, 2]]  # the second sweep read the cached activations
    # the report draws each sweep's trade-off curve
    from vscbench.results.report import build_report, sweeps

    runs = [tmp_path / "sweep" / d for d in dirs]
    build_report(runs, tmp_path / "report")
    assert (tmp_path / "report" / "tradeoff.png").stat().st_size > 5000
    from vscbench.results.report import load_run

    assert len(sweeps([load_run(r) for r in runs])) == 2  # one curve per layer set


def test_refit_never_reuses_old_answers(model: str, full_data_dir: Path, tmp_path: Path) -> None:
    """A head-level sweep in a layer-level sweep's folder makes its own vectors and runs."""
    args = [
        "steer",
        "sweep",
        "--model",
        model,
        "--data-dir",
        str(full_data_dir),
        "--split",
        "image",
        "--limit",
        "16",
        "--max-tokens",
        "4",
        "--alphas",
        "4",
        "--layers",
        "1",
        "--out",
        str(tmp_path / "sweep"),
    ]
    invoke(*args)
    first = {p.name: (p / "samples.jsonl").read_text() for p in (tmp_path / "sweep").glob("*__*")}
    invoke(*args, "--level", "head", "--top-k", "2")
    vectors = sorted((tmp_path / "sweep").glob("vectors-*.pt"))
    assert len(vectors) == 2  # the layer-level file was not overwritten
    cells = {p.name: p for p in (tmp_path / "sweep").glob("*__*")}
    new = set(cells) - set(first)
    assert len(cells) == 2 and len(new) == 1
    for name, text in first.items():  # the old cell is untouched
        assert (cells[name] / "samples.jsonl").read_text() == text
    (head_cell,) = new
    config = json.loads((cells[head_cell] / "config.json").read_text())
    vectors_sha = config["identity"]["method"]["inputs"]["vectors"]
    assert vectors_sha.startswith(head_cell.split("steer-")[1][:12])
    assert len((cells[head_cell] / "samples.jsonl").read_text().splitlines()) > 0


def test_gated_sweep_beside_ungated(model: str, full_data_dir: Path, tmp_path: Path) -> None:
    """--gate-layer fits a probe; --gates adds gated cells for positive alphas."""
    invoke(
        "steer",
        "sweep",
        "--model",
        model,
        "--data-dir",
        str(full_data_dir),
        "--split",
        "image",
        "--limit",
        "24",
        "--max-tokens",
        "4",
        "--alphas",
        "0,8",
        "--layers",
        "2",
        "--gate-layer",
        "1",
        "--gates",
        "0.5",
        "--out",
        str(tmp_path / "s"),
    )
    cells = sorted(p.name.split("__", 2)[2] for p in (tmp_path / "s").glob("*__steer-*"))
    assert cells == ["a0__layers2", "a8__layers2", "a8__layers2__gate0.5"]
    gated = next((tmp_path / "s").glob("*__gate0.5"))
    config = json.loads((gated / "config.json").read_text())
    assert config["identity"]["method"]["params"]["gate"] == 0.5
    (vectors,) = (tmp_path / "s").glob("vectors-*.pt")
    assert vectors_meta(vectors)["gate"]["layer"] == 1
    assert 0 <= vectors_meta(vectors)["gate"]["probe_accuracy"] <= 1
    # a vectors file without a probe cannot gate
    fit_out = tmp_path / "plain.pt"
    invoke(
        "steer",
        "fit",
        "--model",
        model,
        "--data-dir",
        str(full_data_dir),
        "--data-split",
        "image",
        "--limit",
        "24",
        "--layers",
        "2",
        "--out",
        str(fit_out),
    )
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--model",
            model,
            "--data-dir",
            str(full_data_dir),
            "--split",
            "image",
            "--limit",
            "6",
            "--steer",
            str(fit_out),
            "--gate",
            "0.5",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2 and "no gate probe" in result.output
