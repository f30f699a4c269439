"""Prompt methods on a loopback model server and on a tiny local model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from loopback import FakeOpenAIServer

from vscbench.engine import RunConfig, run
from vscbench.methods import CAPTION, REMINDER, SELF_CHECK, parse_method
from vscbench.results.store import load_records

MODEL = "openai-api/fake/vlm"


def _records(run_dir: Path) -> list[dict]:
    return list(load_records(run_dir).values())  # samples.jsonl, line by line


def config(data_dir: Path, base_url: str, **kw: object) -> RunConfig:
    return RunConfig(
        model=MODEL, base_url=base_url, data_dir=str(data_dir), splits=("image",), limit=12, **kw
    )


def test_reminder_sends_a_system_prompt(full_data_dir: Path, tmp_path: Path, api_key: str) -> None:
    custom = tmp_path / "reminder.txt"
    custom.write_text("Only refuse real harm.")
    with FakeOpenAIServer(reply=lambda t, i: "Sure.") as srv:
        run(config(full_data_dir, srv.base_url, method="reminder"), tmp_path / "a")
        assert {tuple(r.roles) for r in srv.requests} == {("system", "user")}
        assert all(r.text.startswith(REMINDER) for r in srv.requests)
        srv.requests.clear()
        run(
            config(full_data_dir, srv.base_url, method="reminder", reminder_file=str(custom)),
            tmp_path / "b",
        )
        assert all(r.text.startswith("Only refuse real harm.") for r in srv.requests)


def test_few_shot_uses_calibration_rows_only(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    def reply(text: str, image_sha: str | None) -> str:
        return "Sure. The picture shows a kitchen knife; hold it by the handle."

    with FakeOpenAIServer(reply=reply) as srv:
        with pytest.raises(ValueError, match="--eval-on test"):
            run(config(full_data_dir, srv.base_url, method="few-shot:2"), tmp_path / "x")
        result = run(
            config(full_data_dir, srv.base_url, method="few-shot:2", eval_on="test"),
            tmp_path / "run",
        )
        prepared = len(srv.requests)
        # a resumed run shows the same demonstrations without asking for them again
        run(
            config(full_data_dir, srv.base_url, method="few-shot:2", eval_on="test"),
            tmp_path / "run",
        )
        assert len(srv.requests) == prepared
    assert result.metrics["counts"]["records"] == 12
    # first the model's own plain answers to the two safe demonstration images
    asking, pairs = srv.requests[:2], srv.requests[2:]
    assert {tuple(r.roles) for r in asking} == {("user",)} and {r.images for r in asking} == {1}
    # then two contrastive pairs as earlier turns: 4 demonstration images + the pair's own
    assert {r.images for r in pairs} == {5}
    assert {tuple(r.roles) for r in pairs} == {("user", "assistant") * 4 + ("user",)}
    state = json.loads((tmp_path / "run" / "method_state.json").read_text())
    assert set(state["answers"].values()) == {reply("", None)}  # a real answer is shown
    records = _records(tmp_path / "run")
    demos = records[0]["method_trace"]["demonstrations"]
    assert len(demos) == 4 and all(r["method_trace"]["demonstrations"] == demos for r in records)
    assert set(state["answers"]) == {d for d in demos if "/safe/" in d}
    demo_queries = {"/".join(d.split("/")[:3]) for d in demos}
    test_queries = {"/".join(r["id"].split("/")[:3]) for r in records}
    assert not demo_queries & test_queries  # no leak between the sides
    assert Counter(d.split("/")[3] for d in demos) == {"unsafe": 2, "safe": 2}


def test_few_shot_passes_over_refused_demonstrations(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """A safe image the model refuses would teach over-refusal: the next row is taken."""
    refused: list[str] = []

    def reply(text: str, image_sha: str | None) -> str:
        if not refused:
            refused.append(text)
            return "I'm sorry, but I can't help with that."
        return "Here is a direct answer: it is a garden hose."

    with FakeOpenAIServer(reply=reply) as srv:
        run(
            config(full_data_dir, srv.base_url, method="few-shot:1", eval_on="test"),
            tmp_path / "run",
        )
    state = json.loads((tmp_path / "run" / "method_state.json").read_text())
    assert list(state["answers"].values()) == ["Here is a direct answer: it is a garden hose."]
    assert srv.requests[0].text == refused[0] != srv.requests[1].text


def test_self_check_recaptions_harmful_answers(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    def reply(text: str, image_sha: str | None) -> str:
        if SELF_CHECK in text:
            return "yes" if "Step 1" in text else "no"
        if CAPTION in text:
            return "A box of pills on a table."
        if text.startswith("Image description:"):
            return "I can't help with dosing for strong effects."
        return "Step 1: take all of them." if len(text) % 2 else "Store it in a dry place."

    with FakeOpenAIServer(reply=reply) as srv:
        run(config(full_data_dir, srv.base_url, method="self-check"), tmp_path / "run")
    for record in _records(tmp_path / "run"):
        trace = record["method_trace"]
        if trace["first_answer"].startswith("Step 1"):
            assert trace["self_check"] == "yes" and "caption" in trace
            assert record["response"] == "I can't help with dosing for strong effects."
            assert record["aware"] is True
        else:
            assert trace["self_check"] == "no" and "caption" not in trace
            assert record["response"] == trace["first_answer"]
    flagged = sum(r["method_trace"]["self_check"] == "yes" for r in _records(tmp_path / "run"))
    assert 0 < flagged < 12
    assert len(srv.requests) == 12 * 2 + flagged * 2  # answer + check, then caption + answer


def test_parse_method() -> None:
    assert parse_method("few-shot:3") == ("few-shot", 3)
    for bad in ("few-shot", "few-shot:0", "cot", "reminder:2"):
        with pytest.raises(ValueError, match="unknown method"):
            parse_method(bad)


def test_methods_on_a_tiny_local_model(full_data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from fixtures import build_tiny_vlm

    model = f"hf-vlm/{build_tiny_vlm('llava', tmp_path / 'm')}"
    for method in ("reminder", "few-shot:1", "self-check"):
        result = run(
            RunConfig(
                model=model,
                data_dir=str(full_data_dir),
                splits=("image",),
                limit=6,
                eval_on="test",
                method=method,
                max_tokens=4,
            ),
            tmp_path / method.replace(":", "-"),
        )
        assert result.metrics["counts"]["records"] == 6, method
        assert result.metrics["config"]["method"] == method
    records = _records(tmp_path / "few-shot-1")
    demos = records[0]["method_trace"]["demonstrations"]
    assert len(demos) == 2 and not {query_key_of(d) for d in demos} & {
        query_key_of(r["id"]) for r in records
    }


def query_key_of(item_id: str) -> str:
    return "/".join(item_id.split("/")[:3])
