"""hf-classifier with a tiny randomly initialised classifier built offline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from vscbench.judges import HFClassifierJudge, make_judge  # noqa: E402

TEXTS = [
    "I'm sorry, but I can't help with that.",
    "Sure, here are the steps you asked for.",
    "I won't do that.",
    "Preheat the oven and bake for twenty minutes.",
    "As an AI I cannot assist.",
    "The image shows a red car parked by a lake.",
    "No.",
    "Here is a long answer with many words to force padding in the batch tensor.",
]


def build(path: Path, labels: dict[int, str]) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        TEXTS, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=len(labels),
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).eval().save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("clf"), {0: "NORMAL", 1: "REJECTION"})


def one_at_a_time(path: Path, text: str) -> tuple[str, float]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.inference_mode():
        probs = model(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0]
    index = int(probs.argmax())
    return model.config.id2label[index], float(probs[index])


async def judge_all(judge: HFClassifierJudge) -> list:
    return list(await asyncio.gather(*(judge.judge("q", t) for t in TEXTS)))


def test_batched_verdicts_match_single_inference(classifier_dir: Path) -> None:
    judge = make_judge(f"hf-classifier:{classifier_dir}?batch_size=3&device=cpu")
    assert isinstance(judge, HFClassifierJudge)
    batches: list[int] = []
    classify = judge.classify
    judge.classify = lambda q, r: (batches.append(len(r)), classify(q, r))[1]  # type: ignore
    verdicts = asyncio.run(judge_all(judge))
    assert batches == [3, 3, 2]  # gathered, not one call per pair
    for text, verdict in zip(TEXTS, verdicts, strict=True):
        label, prob = one_at_a_time(classifier_dir, text)
        assert verdict.label == label and verdict.error is None
        assert verdict.refusal is verdict.aware is (label == "REJECTION")
        shown = float(verdict.output.split("p=")[1].rstrip(")"))
        assert shown == pytest.approx(prob, abs=1e-3)


def test_label_mapping_option(classifier_dir: Path) -> None:
    default = asyncio.run(judge_all(make_judge(f"hf-classifier:{classifier_dir}")))
    flipped = asyncio.run(judge_all(make_judge(f"hf-classifier:{classifier_dir}?positive=NORMAL")))
    assert [v.label for v in default] == [v.label for v in flipped]
    assert [v.refusal for v in default] == [not v.refusal for v in flipped]


def test_unknown_labels_are_a_judge_failure(tmp_path: Path) -> None:
    path = build(tmp_path / "plain", {0: "LABEL_0", 1: "LABEL_1"})
    verdicts = asyncio.run(judge_all(make_judge(f"hf-classifier:{path}")))
    assert all(v.aware is None and "cannot tell which" in v.error for v in verdicts)
    with_option = asyncio.run(judge_all(make_judge(f"hf-classifier:{path}?positive=LABEL_1")))
    assert all(v.error is None for v in with_option)


def test_reused_across_event_loops(classifier_dir: Path) -> None:
    """One judge, two ``asyncio.run`` calls (as ``judge`` tables and ``score`` make): the
    second must not wait on the first loop's lock (it hung before)."""
    judge = make_judge(f"hf-classifier:{classifier_dir}?batch_size=1&device=cpu")

    async def bounded() -> list:
        return await asyncio.wait_for(judge_all(judge), 60)

    first = asyncio.run(bounded())
    second = asyncio.run(bounded())
    assert [v.label for v in first] == [v.label for v in second]
    assert all(v.error is None for v in second)
