"""End-to-end runs against an OpenAI-compatible server on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import API_KEY_VAR, flags, inspect_eval
from loopback import FakeOpenAIServer, echo_reply
from typer.testing import CliRunner, Result

from vscbench.cli import app
from vscbench.data.sheets import DataError
from vscbench.dataset import Selection, load_dataset
from vscbench.engine import RunConfig, RunDirError, run, score
from vscbench.results.store import load_records

MODEL = "openai-api/fake/vlm"
REFUSAL = "I cannot help with that."


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _records(run_dir: Path) -> list[dict]:
    return list(load_records(run_dir).values())  # samples.jsonl, line by line


def _unsafe_keys(data_dir: Path, selection: Selection) -> set[tuple[str, str | None]]:
    ds = load_dataset(data_dir, selection)
    return {
        (i.prompt, _sha(ds.images[i.id]) if ds.images[i.id] else None) for i in ds.items if i.unsafe
    }


def test_both_splits_end_to_end(full_data_dir: Path, tmp_path: Path, api_key: str) -> None:
    """Every pair reaches the server with its own image; refusals and answers are scored."""
    data_dir = tmp_path / "data"
    data_dir.symlink_to(full_data_dir)
    unsafe = _unsafe_keys(full_data_dir, Selection())

    def reply(text: str, image_sha: str | None) -> str:
        echo = echo_reply(text, image_sha)
        return f"{REFUSAL} {echo}" if (text, image_sha) in unsafe else f"Sure. {echo}"

    with FakeOpenAIServer(reply=reply) as srv:
        config = RunConfig(
            model=MODEL, base_url=srv.base_url, data_dir=str(data_dir), max_connections=32
        )
        result = run(config, tmp_path / "run")
    records = _records(tmp_path / "run")
    assert len(records) == 4038 == len({r["id"] for r in records})  # 4,050 less 12 defective
    for record in records:
        image = (data_dir / record["image"]) if record["image"] else None
        expected = echo_reply(record["prompt"], _sha(image) if image else None)
        assert record["response"].endswith(expected), record["id"]
        assert record["aware"] is record["unsafe"] and record["error"] is None
    variants = Counter(r["variant"] for r in records)
    assert variants == {
        "image": 1788,
        "txt": 450,
        "search": 450,
        "typography": 450,
        "concat": 450,
        "figstep": 450,
    }
    rendered = {r["image"].split("/")[0] for r in records if r["variant"] in ("concat", "figstep")}
    assert rendered == {"vscbench_rendered"}

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics == result.metrics
    overall = metrics["image_centric"]["overall"]
    assert (overall["sra_u"], overall["sra_s"], overall["n_unsafe"], overall["n_safe"]) == (
        1.0,
        1.0,
        894,
        894,
    )
    assert set(metrics["image_centric"]["by_category"]) == {
        "discrimination",
        "drugs",
        "illegal_activity",
        "porngraphy",
        "religion",
        "violence",
    }
    assert metrics["text_centric"]["by_variant"]["figstep"]["n_unsafe"] == 200
    assert len(metrics["text_centric"]["by_type"]["search"]) == 18
    assert metrics["errors"] == {"generation": 0, "judge": 0, "by_cause": {}}
    assert metrics["data"]["sha256"]["vscbench_text_centric.xlsx"].startswith("dbac4ced")
    assert len(metrics["data"]["excluded"]) == 12
    # the key reached the server and nothing in the run directory
    assert {r.authorization for r in srv.requests} == {f"Bearer {api_key}"}
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert api_key not in path.read_text(errors="replace"), path


def test_failures_are_recorded_not_judged(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """429/500 are retried (Retry-After honoured); what still fails is an error, not a verdict."""
    selection = Selection(splits=("text",), variants=("txt", "typography"), limit=40)
    items = load_dataset(full_data_dir, selection).items
    prompts = [i.prompt for i in items]
    rate_limited = set(prompts[0:40:5])
    flaky = set(prompts[1:40:5])
    dead = prompts[2]
    empty, blocked = prompts[3], prompts[4]

    def fault(text: str, image_sha: str | None, attempt: int):
        if text == dead:
            return 500, {"retry-after-ms": "20"}
        if text in rate_limited and attempt == 1:
            return 429, {"Retry-After": "1"}
        if text in flaky and attempt <= 2:
            return 500, {"retry-after-ms": "20"}
        return None

    def reply(text: str, image_sha: str | None):
        if text == empty:
            return ""
        if text == blocked:
            return "", "content_filter"
        return REFUSAL

    with FakeOpenAIServer(reply=reply, fault=fault) as srv:
        config = RunConfig(
            model=MODEL,
            base_url=srv.base_url,
            data_dir=str(full_data_dir),
            splits=("text",),
            variants=("txt", "typography"),
            limit=40,
            max_retries=2,
            max_connections=8,
        )
        result = run(config, tmp_path / "run")
    records = {r["id"]: r for r in _records(tmp_path / "run")}
    assert len(records) == 40
    failed = {i: r for i, r in records.items() if r["error"]}
    by_prompt = {r["prompt"] for r in failed.values()}
    assert by_prompt == {dead, empty, blocked}
    for record in failed.values():
        assert record["aware"] is None and record["judge"] is None and record["response"] is None
    assert any("content filter" in r["error"] for r in failed.values())
    assert any("empty response" in r["error"] for r in failed.values())
    judged = [r for r in records.values() if not r["error"]]
    assert all(r["aware"] is True for r in judged)
    m = result.metrics
    assert m["errors"]["generation"] == len(failed)
    split = m["text_centric"]["by_variant"]
    assert sum(v["n_unsafe"] + v["n_safe"] for v in split.values()) == len(judged)
    # Retry-After: 1 was honoured between the two attempts of each rate-limited prompt
    for text in rate_limited:
        times = [r.time for r in srv.requests if r.text == text][:2]
        assert times[1] - times[0] >= 0.9
    # typography pairs share a prompt; a request is its prompt and its image
    ok_requests = Counter((r.text, r.image_sha) for r in srv.requests if r.status == 200)
    assert all(n == 1 for n in ok_requests.values())


def _cli_run(srv: FakeOpenAIServer, data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vscbench",
        "run",
        *flags(
            model=MODEL,
            base_url=srv.base_url,
            data_dir=data_dir,
            out=run_dir,
            split="text",
            variants="txt,typography",
            limit=120,
        ),
        *extra,
    ]


def test_resume_after_kill(full_data_dir: Path, tmp_path: Path, api_key: str) -> None:
    run_dir = tmp_path / "run"
    env = {**os.environ, API_KEY_VAR: api_key}
    with FakeOpenAIServer(latency=0.05, reply=lambda t, i: REFUSAL) as srv:
        proc = subprocess.Popen(
            _cli_run(srv, full_data_dir, run_dir, "--max-connections", "4"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        samples = run_dir / "samples.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if samples.exists() and samples.read_text().count("\n") >= 30:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = {json.loads(line)["id"] for line in samples.read_text().splitlines()}
        assert 30 <= len(first) < 120 and not (run_dir / "metrics.json").exists()
        with samples.open("a") as fh:
            fh.write('{"id": "text/119/typography", "respo')  # a line cut off mid-write
        done = subprocess.run(
            _cli_run(srv, full_data_dir, run_dir, "--max-connections", "4"),
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    records = _records(run_dir)
    ids = [r["id"] for r in records]
    assert len(ids) == 120 == len(set(ids))
    assert all(r["aware"] is True for r in records)
    requests = Counter(r.text + str(r.image_sha) for r in srv.requests)
    by_id = {r["id"]: r for r in records}
    for item_id in first:
        record = by_id[item_id]
        image = full_data_dir / record["image"] if record["image"] else None
        assert requests[record["prompt"] + str(_sha(image) if image else None)] == 1, item_id
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["counts"]["unreadable_lines"] == 1


def test_resume_refuses_other_settings_and_score_rejudges(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    run_dir = tmp_path / "run"
    answers = {
        "refuse": REFUSAL,
        "flag": "This is dangerous, but here goes.",
        "comply": "Step 1: do it.",
        "garbled": "Here is what I think.",
    }
    kinds = list(answers)

    def reply(text: str, image_sha: str | None) -> str:
        return answers[kinds[len(text) % 4]]

    with FakeOpenAIServer(reply=reply) as gen:
        config = RunConfig(
            model=MODEL,
            base_url=gen.base_url,
            data_dir=str(full_data_dir),
            splits=("text",),
            variants=("txt",),
            limit=40,
        )
        run(config, run_dir)
        with pytest.raises(RunDirError, match="temperature"):
            run(RunConfig(**{**config.__dict__, "temperature": 0.7}), run_dir)
        result = CliRunner().invoke(
            app, ["run", *flags(model="openai-api/fake/other", out=run_dir, data_dir=full_data_dir)]
        )
        assert result.exit_code == 2 and "other settings" in result.output
        generated = len(gen.requests)

    labels = {
        REFUSAL: "0_SAFE",
        answers["flag"]: "Reason: warns. 1_SAFE",
        answers["comply"]: "2_UNSAFE",
        answers["garbled"]: "I am unsure.",
    }

    def judge_reply(text: str, image_sha: str | None) -> str:
        return next(label for answer, label in labels.items() if answer in text)

    with FakeOpenAIServer(reply=judge_reply) as judge_srv:
        rescored = score(
            run_dir,
            ["llm:openai-api/fake/judge"],
            judge_base_url=judge_srv.base_url,
            judge_cache=False,
        )
    assert len(gen.requests) == generated  # nothing generated again
    records = _records(run_dir)
    assert len(judge_srv.requests) == len(records) == 40
    for record in records:
        expected = {
            REFUSAL: True,
            answers["flag"]: True,
            answers["comply"]: False,
            answers["garbled"]: None,
        }[record["response"]]
        assert record["aware"] is expected
        assert record["judge"] == "llm:openai-api/fake/judge"
        if expected is None:
            assert record["judge_error"] == "judge output has no label"
    garbled = sum(r["response"] == answers["garbled"] for r in records)
    assert rescored.metrics["errors"] == {"generation": 0, "judge": garbled, "by_cause": {}}
    assert rescored.metrics["judge"] == "llm:openai-api/fake/judge"
    config_on_disk = json.loads((run_dir / "config.json").read_text())
    assert config_on_disk["judges"] == ["llm:openai-api/fake/judge"]
    usage = rescored.metrics["judge_usage"]["llm:openai-api/fake/judge"]
    assert usage["calls"] == 40 and usage["cache_hits"] == 0 and usage["input_tokens"] > 0


def test_mockllm_dry_run_cli(full_data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            *flags(model="mockllm/model", data_dir=full_data_dir, limit=12, out=tmp_path / "dry"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "image-centric" in result.output and "seeded sample of at most 12" in result.output
    metrics = json.loads((tmp_path / "dry" / "metrics.json").read_text())
    assert metrics["image_centric"]["overall"]["n_unsafe"] == 6
    by_variant = metrics["text_centric"]["by_variant"]
    assert sum(v["n_safe"] for v in by_variant.values()) == 6 and len(by_variant) == 5


def test_inspect_eval_uses_registered_task(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    with FakeOpenAIServer(reply=lambda t, i: REFUSAL) as srv:
        done = inspect_eval(
            "vscbench/image_centric",
            MODEL,
            tmp_path / "logs",
            "-T",
            f"data_dir={full_data_dir}",
            "-T",
            "categories=drugs",
            "--limit",
            "12",
            "--model-base-url",
            srv.base_url,
            env={API_KEY_VAR: api_key},
        )
        assert done.returncode == 0, done.stderr
    from inspect_ai.log import list_eval_logs, read_eval_log

    log = read_eval_log(list_eval_logs(str(tmp_path / "logs"))[0])
    assert log.status == "success" and len(log.samples) == 12
    metrics = log.results.scores[0].metrics
    assert metrics["sra_u"].value == 1.0 and metrics["sra_s"].value == 0.0
    images = {s.id: s.metadata["image"] for s in log.samples}
    assert images["image/drugs/0/unsafe/2"].endswith("unsafe_drugs_0_2.png")
    assert len({r.image_sha for r in srv.requests}) == 12


def test_missing_images_stop_the_run_unless_skipped(data_dir: Path, tmp_path: Path) -> None:
    config = RunConfig(
        model="mockllm/model",
        data_dir=str(data_dir),
        splits=("image",),
        categories=("drugs",),
        limit=12,
    )
    gone = load_dataset(data_dir, config.selection).items[0]
    (data_dir / gone.image).unlink()
    name = Path(gone.image).name
    with pytest.raises(DataError, match=rf"1 selected pair\(s\) have no usable image.*{name}"):
        run(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    config.skip_missing_images = True
    metrics = run(config, tmp_path / "run").metrics
    assert metrics["counts"]["records"] == 11
    assert metrics["data"]["excluded"] == {gone.id: "image missing"}
    assert [d["kind"] for d in metrics["data"]["defects"]].count("missing_image") == 1


def _two_judges_txt_run(
    srv: FakeOpenAIServer, data_dir: Path, out: Path, limit: int, api_key: str
) -> Result:
    """``vscbench run`` on the first ``limit`` txt pairs, judged by refusal (primary) and
    string-match, answered by ``srv``."""
    args = flags(
        model=MODEL,
        base_url=srv.base_url,
        data_dir=data_dir,
        split="text",
        variants="txt",
        limit=limit,
        out=out,
        judge="refusal",
    )
    return CliRunner().invoke(
        app, ["run", *args, "--judge", "string-match"], env={API_KEY_VAR: api_key}
    )


def test_several_judges_agreement_and_warning(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """Figures per judge, pairwise agreement, and a warning past 10% disagreement."""
    replies = ["I can't help with that.", "Sure: mow the lawn first, then water it."]

    def reply(text: str, image_sha: str | None) -> str:
        return replies[len(text) % 2]

    with FakeOpenAIServer(reply=reply) as srv:
        result = _two_judges_txt_run(srv, full_data_dir, tmp_path / "run", 30, api_key)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["judge"] == "refusal" and set(metrics["by_judge"]) == {"refusal", "string-match"}
    lawn = sum(r["response"] == replies[1] for r in _records(tmp_path / "run"))
    assert 0 < lawn < 30
    (pair,) = metrics["judge_agreement"]
    assert (pair["a"], pair["b"], pair["n"]) == ("refusal", "string-match", 30)
    assert pair["agreement"] == pytest.approx(1 - lawn / 30) and pair["warning"]
    by = metrics["by_judge"]
    assert by["string-match"]["text_centric"]["by_variant"]["txt"]["sra_s"] == 0.0
    assert by["refusal"]["text_centric"] == metrics["text_centric"]
    assert "warning" in result.output and "refusal vs string-match" in result.output
    records = _records(tmp_path / "run")
    assert all(set(r["judges"]) == {"refusal", "string-match"} for r in records)


def test_resume_judges_again_what_an_older_refusal_judge_decided(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """A run resumed after the offline judge's weights changed judges those pairs again
    (nothing is generated), so one run never mixes two versions of a judge; the other
    judges' verdicts stay as they are."""
    from vscbench.judges.refusal import RefusalJudge

    run_dir = tmp_path / "run"
    samples = run_dir / "samples.jsonl"
    with FakeOpenAIServer(reply=lambda text, image_sha: REFUSAL) as srv:
        first = _two_judges_txt_run(srv, full_data_dir, run_dir, 12, api_key)
        assert first.exit_code == 0, first.output
        sent = len(srv.requests)
        lines = [json.loads(line) for line in samples.read_text().splitlines()]
        version = RefusalJudge().version
        assert all(line["judges"]["refusal"]["version"] == version for line in lines)
        assert not any("version" in line["judges"]["string-match"] for line in lines)
        for line in lines[:5]:  # as an older refusal judge had decided them
            line["judges"]["refusal"].update(
                version="refusal-000000000000", aware=False, refusal=False, label="compliance"
            )
            line["judges"]["string-match"]["output"] = "kept"
        samples.write_text("".join(json.dumps(line) + "\n" for line in lines))
        again = _two_judges_txt_run(srv, full_data_dir, run_dir, 12, api_key)
        assert again.exit_code == 0, again.output
        assert len(srv.requests) == sent  # nothing generated again
    records = _records(run_dir)
    assert len(records) == 12
    assert all(r["judges"]["refusal"]["version"] == version for r in records)
    assert all(r["aware"] is True and r["judge"] == "refusal" for r in records)
    assert sum(r["judges"]["string-match"]["output"] == "kept" for r in records) == 5
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["text_centric"]["by_variant"]["txt"]["sra_s"] == 0.0  # all refused again


def test_judge_cache_across_scores_and_compact_budget(
    full_data_dir: Path, tmp_path: Path, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VSCBENCH_JUDGE_CACHE", str(tmp_path / "cache.sqlite"))
    with FakeOpenAIServer(reply=lambda t, i: REFUSAL) as gen:
        run(
            RunConfig(
                model=MODEL,
                base_url=gen.base_url,
                data_dir=str(full_data_dir),
                splits=("text",),
                variants=("txt",),
                limit=20,
            ),
            tmp_path / "run",
        )
    with FakeOpenAIServer(reply=lambda t, i: "0_SAFE") as judge_srv:
        spec = "llm-compact:openai-api/fake/judge"
        first = score(tmp_path / "run", [spec], judge_base_url=judge_srv.base_url)
        assert len(judge_srv.requests) == 20
        assert {r.max_tokens for r in judge_srv.requests} == {8}
        second = score(tmp_path / "run", [spec], judge_base_url=judge_srv.base_url)
        assert len(judge_srv.requests) == 20  # every verdict came from the cache
    assert first.metrics["judge_usage"][spec]["calls"] == 20
    assert second.metrics["judge_usage"][spec] == {
        "calls": 0,
        "cache_hits": 20,
        "input_tokens": 0,
        "output_tokens": 0,
    }
    assert second.metrics["text_centric"] == first.metrics["text_centric"]


def test_llm_judge_keeps_to_max_connections(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    with FakeOpenAIServer(reply=lambda t, i: REFUSAL) as gen:
        run(
            RunConfig(
                model=MODEL,
                base_url=gen.base_url,
                data_dir=str(full_data_dir),
                splits=("text",),
                variants=("txt",),
                limit=24,
                max_connections=3,
            ),
            tmp_path / "run",
        )
        assert gen.peak_in_flight <= 3
    with FakeOpenAIServer(latency=0.05, reply=lambda t, i: "0_SAFE") as judge_srv:
        score(
            tmp_path / "run",
            ["llm:openai-api/fake/judge"],
            judge_base_url=judge_srv.base_url,
            max_connections=2,
            judge_cache=False,
        )
    assert len(judge_srv.requests) == 24 and judge_srv.peak_in_flight == 2


def test_missing_api_key_is_one_line(
    full_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """inspect's prerequisite error becomes one plain line naming the variable, exit 2."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = CliRunner().invoke(
        app,
        [
            "run",
            *flags(model="openai/gpt-4o-mini", data_dir=full_data_dir, out=tmp_path / "run"),
            *flags(split="text", variants="txt", limit=2),
        ],
    )
    assert result.exit_code == 2
    assert "OPENAI_API_KEY" in result.output and "[bold]" not in result.output
    assert "Traceback" not in result.output


def test_an_html_reply_is_an_error_not_a_crash(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """A 200 with an HTML body (a proxy's login page, say) is recorded as a failure."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Page(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b"<html><body>Please log in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = CliRunner().invoke(
            app,
            [
                "run",
                *flags(model=MODEL, base_url=f"http://127.0.0.1:{server.server_port}/v1"),
                *flags(data_dir=full_data_dir, out=tmp_path / "run", split="text"),
                *flags(variants="txt", limit=3),
            ],
        )
    finally:
        server.shutdown()
    assert result.exit_code == 3, result.output
    assert "3 of 3 pairs failed" in result.output and "Traceback" not in result.output
    assert all("not a chat completion" in r["error"] for r in _records(tmp_path / "run"))
