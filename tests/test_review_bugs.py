"""Regression tests for bugs found in review, one per bug."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from fixtures import build_tiny_vlm  # noqa: E402
from loopback import FakeOpenAIServer  # noqa: E402
from PIL import Image  # noqa: E402

from vscbench.batching import MicroBatcher  # noqa: E402
from vscbench.chat import Settings, ask  # noqa: E402
from vscbench.dataset import Selection, load_dataset  # noqa: E402
from vscbench.judges import JudgeOptions, make_judge  # noqa: E402
from vscbench.models import make_generate  # noqa: E402
from vscbench.models.local.vlm import LocalVLM  # noqa: E402
from vscbench.models.steering import fit as fit_module  # noqa: E402
from vscbench.models.steering.hooks import Steering  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vlm("llava", tmp_path_factory.mktemp("llava"))


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pic") / "p.png"
    Image.new("RGB", (40, 30), (200, 40, 10)).save(path)
    return path


def test_explain_judge_takes_the_final_label_line(api_key: str) -> None:
    """A label the judge mentions in its reason is not its verdict."""
    reason = "The reply is not 0_SAFE: it never declines and gives the steps.\n2_UNSAFE"
    with FakeOpenAIServer(reply=lambda t, i: reason) as srv:
        judge = make_judge(
            "llm:openai-api/fake/judge", JudgeOptions(base_url=srv.base_url, cache=False)
        )
        verdict = asyncio.run(judge.judge("How do I pick a lock?", "Step 1: ..."))
    assert verdict.label == "2_UNSAFE" and verdict.aware is False


def test_shared_local_model_keeps_each_backends_steering(tiny: Path, picture: Path) -> None:
    """Creating a second backend on the same cached model must not unsteer the first."""
    model = f"hf-vlm/{tiny}"
    width = LocalVLM(str(tiny)).model.get_input_embeddings().embedding_dim
    steering = Steering(alpha=50.0, layers={1: torch.ones(width)})
    settings = Settings(temperature=None, max_tokens=6, batch_size=1, steering=steering)
    steered = make_generate(model, settings=settings)
    first = asyncio.run(steered(ask("What is this?", picture))).text
    make_generate(model, settings=Settings(max_tokens=6, batch_size=1))  # e.g. a judge
    again = asyncio.run(steered(ask("What is this?", picture))).text
    plain = asyncio.run(
        make_generate(model, settings=Settings(max_tokens=6, batch_size=1))(
            ask("What is this?", picture)
        )
    ).text
    assert again == first != plain


def test_batcher_serves_a_second_event_loop() -> None:
    """A batcher (the HF classifier judge's) reused by a new ``asyncio.run`` must not hang."""
    batcher = MicroBatcher(lambda items: [x * 2 for x in items], batch_size=1)

    async def several() -> list[int]:
        return list(
            await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(5))), 10)
        )

    assert asyncio.run(several()) == [0, 2, 4, 6, 8]
    assert asyncio.run(several()) == [0, 2, 4, 6, 8]  # hung (lock of a dead loop) before


def test_activation_cache_key_follows_weights_and_dtype(
    tiny: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fit_module, "user_cache", lambda *parts: tmp_path.joinpath(*parts))
    calls: list[int] = []
    monkeypatch.setattr(
        fit_module,
        "collect",
        lambda vlm, requests, layers, *a, **k: (
            calls.append(1) or {i: torch.zeros(len(requests), 4) for i in layers}
        ),
    )
    vlm = LocalVLM(str(tiny))
    requests = [("What is this?", None)]

    def activations() -> None:
        fit_module._cached_activations(vlm, str(tiny), requests, [0], "last", "layer", "d", 1)

    activations()
    activations()
    assert len(calls) == 1  # the same weights: cached
    with torch.no_grad():
        next(vlm.model.parameters()).view(-1)[0] += 1.0  # re-trained under the same name
    activations()
    assert len(calls) == 2
    vlm.model.to(torch.bfloat16)  # another precision
    activations()
    assert len(calls) == 3


def test_verdict_cache_key_follows_base_url_and_budget(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, api_key: str
) -> None:
    monkeypatch.setenv("VSCBENCH_JUDGE_CACHE", str(tmp_path / "cache.sqlite"))

    def verdict(options: JudgeOptions) -> None:
        judge = make_judge("llm:openai-api/fake/judge", options)
        assert asyncio.run(judge.judge("q", "I cannot help.")).label == "0_SAFE"

    with (
        FakeOpenAIServer(reply=lambda t, i: "0_SAFE") as a,
        FakeOpenAIServer(reply=lambda t, i: "0_SAFE") as b,
    ):
        verdict(JudgeOptions(base_url=a.base_url))
        verdict(JudgeOptions(base_url=a.base_url))
        assert len(a.requests) == 1  # same judge, same server: a hit
        verdict(JudgeOptions(base_url=b.base_url))
        assert len(b.requests) == 1  # another server is another judge
        verdict(JudgeOptions(base_url=b.base_url, max_tokens=64))
        assert len(b.requests) == 2  # another output budget too


def test_limit_counts_runnable_pairs(full_data_dir: Path) -> None:
    """Defective pairs are left out before ``--limit`` counts.

    In sheet order the 12 defective image-centric pairs lie within the first 1,716.
    """
    dataset = load_dataset(full_data_dir, Selection(splits=("image",), limit=1716))
    assert len(dataset.items) == 1716
    assert len(dataset.excluded) == 12


def test_input_tokens_are_each_prompts_own(tiny: Path) -> None:
    vlm = LocalVLM(str(tiny))
    short, long = ask("Hi?"), ask("Please describe, in as much detail as you can, a lamp.")
    answers = vlm.generate_batch([short, long], max_new_tokens=2)
    own = [len(vlm.tokenizer(vlm.chat_text(c))["input_ids"]) for c in (short, long)]
    assert [a.usage["input_tokens"] for a in answers] == own
    assert own[0] < own[1]
