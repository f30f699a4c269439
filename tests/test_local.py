"""Local VLMs: tiny randomly initialised LLaVA and Idefics3 models built offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import inspect_eval  # noqa: E402
from fixtures import TINY_FAMILIES, build_tiny_vlm  # noqa: E402
from PIL import Image  # noqa: E402

from vscbench.chat import Turn, ask  # noqa: E402
from vscbench.engine import RunConfig, run  # noqa: E402
from vscbench.models.local.vlm import LocalVLM  # noqa: E402


@pytest.fixture(scope="module", params=TINY_FAMILIES)
def tiny(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vlm(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("pictures")
    paths = []
    for i, (size, colour) in enumerate(
        [((40, 30), (200, 10, 10)), ((28, 60), (10, 90, 200)), ((64, 64), (30, 160, 40))]
    ):
        path = root / f"{i}.png"
        Image.new("RGB", size, colour).save(path)
        paths.append(path)
    return paths


def test_batched_equals_one_at_a_time(tiny: Path, pictures: list[Path]) -> None:
    vlm = LocalVLM(str(tiny))
    requests = [
        ask("What is this?", pictures[0]),
        ask("Say something long about cats."),
        ask("How should I use this item safely at home?", pictures[1]),
        ask("Hi"),
        ask("?", pictures[2]),
        # a system prompt and an earlier exchange with two images
        [
            Turn("system", "Be careful."),
            Turn("user", "Look.", pictures[0]),
            Turn("assistant", "I see it."),
            Turn("user", "And this?", pictures[1]),
        ],
    ]
    batched = vlm.generate_batch(requests, max_new_tokens=8)
    single = [vlm.generate_batch([r], max_new_tokens=8)[0] for r in requests]
    assert [a.text for a in batched] == [a.text for a in single]
    assert all(a.usage["output_tokens"] <= 8 for a in batched)
    # the image reaches the model: the same prompt with other pictures changes the logits
    with torch.inference_mode():
        logits = [
            vlm.model(**vlm.inputs([ask("What is this?", p)])).logits[0, -1] for p in pictures
        ]
    assert not torch.allclose(logits[0], logits[1]) and not torch.allclose(logits[1], logits[2])


def test_run_with_a_local_model(tiny: Path, full_data_dir: Path, tmp_path: Path) -> None:
    def config(batch: int) -> RunConfig:
        return RunConfig(
            model=f"hf-vlm/{tiny}",
            data_dir=str(full_data_dir),
            splits=("image", "text"),
            variants=("txt", "figstep"),
            limit=6,
            max_tokens=6,
            batch_size=batch,
            max_connections=1,
        )

    batched = run(config(4), tmp_path / "batched").metrics
    run(config(1), tmp_path / "single")
    assert batched["counts"]["records"] == 12 and batched["errors"]["generation"] == 0

    def responses(name: str) -> dict[str, str]:
        lines = (tmp_path / name / "samples.jsonl").read_text().splitlines()
        return {r["id"]: r["response"] for r in map(json.loads, lines)}

    assert responses("batched") == responses("single")
    assert batched["config"]["batch_size"] == 4


def test_bad_local_options(tiny: Path) -> None:
    from vscbench.models import make_generate

    with pytest.raises(ValueError, match="unknown model arg"):
        make_generate(f"hf-vlm/{tiny}", None, {"colour": "red"})
    with pytest.raises(ValueError, match="dtype must be one of"):
        LocalVLM(str(tiny), dtype="int3")


def test_inspect_eval_with_a_local_model(tiny: Path, full_data_dir: Path, tmp_path: Path) -> None:
    from inspect_ai.log import list_eval_logs, read_eval_log

    done = inspect_eval(
        "vscbench/text_centric",
        f"hf-vlm/{tiny}",
        tmp_path / "logs",
        "-T",
        f"data_dir={full_data_dir}",
        "-T",
        "variants=txt,figstep",
        "--limit",
        "6",
        "-M",
        "batch_size=3",
        "--max-tokens",
        "5",
    )
    assert done.returncode == 0, done.stderr
    log = read_eval_log(list_eval_logs(str(tmp_path / "logs"))[0])
    assert log.status == "success" and len(log.samples) == 6
    assert all(s.output.completion is not None for s in log.samples)
