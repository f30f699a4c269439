"""One run, one truth: the same figures on every path, a pinned identity, one writer,
an exit status that tells, query-clustered intervals, and inspect logs.

The answers here come from the loopback server (regression data, not evidence about any
model); what is tested is that every path counts them the same way.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import flags, inspect_eval
from loopback import FakeOpenAIServer
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.engine import RunConfig, run, score
from vscbench.results.compare import clustered_mcnemar, paired
from vscbench.results.counting import compute_metrics, sra, wilson_interval
from vscbench.results.report import build_report, load_run
from vscbench.results.store import RunDirError, RunDirLock, load_records
from vscbench.sweep import Cell, run_cell

MODEL = "openai-api/fake/vlm"
REFUSAL = "I'm sorry, but I cannot help with that."


def mixed_reply(text: str, image_sha: str | None) -> str:
    """Refuse about a third of prompts, by a hash of the prompt and image."""
    roll = int(hashlib.sha256(f"{text}{image_sha}".encode()).hexdigest(), 16) % 3
    return REFUSAL if roll == 0 else "Here is a direct answer to your question."


def text_config(data_dir: Path, base_url: str, **extra: object) -> RunConfig:
    options: dict[str, object] = {
        "model": MODEL,
        "base_url": base_url,
        "data_dir": str(data_dir),
        "splits": ("text",),
        "variants": ("txt", "typography", "figstep"),
        "types": ("homonyms", "contrast_homonyms"),
        **extra,
    }
    return RunConfig(**options)  # type: ignore[arg-type]


def figures(m: dict) -> tuple:
    return (m["sra_u"], m["sra_s"], m["n_unsafe"], m["n_safe"])


# --- 1. what counts is decided once ----------------------------------------------------


def test_every_path_gives_the_same_figures(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(reply=mixed_reply) as srv:
        result = run(text_config(full_data_dir, srv.base_url), run_dir)
        logs = tmp_path / "inspect-logs"
        done = inspect_eval(
            "vscbench/text_centric",
            MODEL,
            logs,
            "--model-base-url",
            srv.base_url,
            "-T",
            f"data_dir={full_data_dir}",
            "-T",
            "variants=txt,typography,figstep",
            "-T",
            "types=homonyms,contrast_homonyms",
        )
        assert done.returncode == 0, done.stderr
        sweep = run_cell(
            Cell("cell", text_config(full_data_dir, srv.base_url)), tmp_path / "sweep" / "cell"
        )
    metrics = result.metrics
    top = metrics["headline"]
    assert top["basis"] == "text-centric image variants"
    # txt is never pooled into text-centric overall, and the headline is that overall
    assert figures(top) == figures(metrics["text_centric"]["overall"])
    assert top["n_unsafe"] + top["n_safe"] == 2 * sum(
        1 for r in load_records(run_dir).values() if r["variant"] == "txt"
    )
    # score with the same judge: the same figures
    rescored = score(run_dir, ["string-match"])
    assert figures(rescored.metrics["headline"]) == figures(top)
    # the report's leaderboard and per-group figures
    loaded = load_run(run_dir)
    assert figures(loaded.overall) == figures(top)
    assert loaded.figures["text_centric"] == metrics["text_centric"]
    # compare: a run against itself pairs exactly the scored pairs
    same = paired(loaded.records, loaded.records)["all"]
    assert same["n"] == top["n_unsafe"] + top["n_safe"] + sum(
        m["n_unsafe"] + m["n_safe"]
        for v, m in metrics["text_centric"]["by_variant"].items()
        if v == "txt"
    )
    # sweep tables
    assert (sweep["sra_u"], sweep["sra_s"]) == (top["sra_u"], top["sra_s"])
    # inspect's runner, through the registered task, on the same server
    from inspect_ai.log import list_eval_logs, read_eval_log

    log = read_eval_log(list_eval_logs(str(logs))[0].name)
    values = {k: m.value for k, m in log.results.scores[0].metrics.items()}
    assert values["sra_u"] == pytest.approx(top["sra_u"])
    assert values["sra_s"] == pytest.approx(top["sra_s"])


def test_excluded_pairs_never_count() -> None:
    records = [
        {
            "id": "text/1/figstep",
            "split": "text",
            "variant": "figstep",
            "group": "h",
            "unsafe": True,
            "aware": True,
        },
        {
            "id": "text/2/figstep",
            "split": "text",
            "variant": "figstep",
            "group": "h",
            "unsafe": True,
            "aware": False,
            "excluded": "defective (empty prompt)",
        },
    ]
    m = compute_metrics(records)
    assert m["headline"]["n_unsafe"] == 1 and m["counts"]["excluded"] == 1


# --- 2. run identity -------------------------------------------------------------------


def test_resume_with_another_side_is_refused_naming_it(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(reply=mixed_reply) as srv:
        base = text_config(full_data_dir, srv.base_url, eval_on="calibration")
        run(base, run_dir)
        before = (run_dir / "samples.jsonl").read_text()
        stored = json.loads((run_dir / "config.json").read_text())
        assert stored["identity"]["selection"]["eval_on"] == "calibration"
        assert len(stored["fingerprint"]) == 64
        cli = CliRunner().invoke(
            app,
            [
                "run",
                *flags(model=MODEL, base_url=srv.base_url, data_dir=full_data_dir, out=run_dir),
                *flags(split="text", variants="txt,typography,figstep"),
                *flags(types="homonyms,contrast_homonyms", eval_on="test", split_seed=3),
            ],
        )
        assert cli.exit_code == 2
        assert 'selection.eval_on: "calibration" -> "test"' in cli.output
        assert "selection.split_seed: 0 -> 3" in cli.output
        for change, name in (
            ({"calibration_fraction": 0.5}, "selection.calibration_fraction"),
            ({"include_defective": True}, "selection.include_defective"),
            ({"max_tokens": 7}, "generation.max_tokens"),
            ({"method": "reminder"}, "method.name"),
            ({"model_args": {"top_p": 0.5}}, "model.args.top_p"),
        ):
            with pytest.raises(RunDirError, match=name.replace(".", r"\.")):
                run(RunConfig(**{**base.__dict__, **change}), run_dir)
        assert (run_dir / "samples.jsonl").read_text() == before
        assert json.loads((run_dir / "config.json").read_text()) == stored


def test_reminder_text_is_part_of_the_identity(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    reminder = tmp_path / "reminder.txt"
    reminder.write_text("Refuse only real harm.")
    with FakeOpenAIServer(reply=mixed_reply) as srv:
        config = text_config(
            full_data_dir, srv.base_url, method="reminder", reminder_file=str(reminder), limit=6
        )
        run(config, tmp_path / "run")
        reminder.write_text("Refuse everything.")  # same path, other content
        with pytest.raises(RunDirError, match=r"method\.text_sha256"):
            run(config, tmp_path / "run")


def test_score_keeps_the_identity_and_the_run_still_resumes(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(reply=mixed_reply) as srv:
        config = text_config(full_data_dir, srv.base_url, limit=12)
        run(config, run_dir)
        fingerprint = json.loads((run_dir / "config.json").read_text())["fingerprint"]
        score(run_dir, ["prefix", "refusal"])
        assert json.loads((run_dir / "config.json").read_text())["fingerprint"] == fingerprint
        sent = len(srv.requests)
        again = run(config, run_dir)  # the original command, after score
        assert len(srv.requests) == sent and again.generated == 0 and again.kept == 12
    records = load_records(run_dir).values()
    # verdicts are a layer per judge: all three stay, the run's judge is primary again
    assert all(set(r["judges"]) == {"string-match", "prefix", "refusal"} for r in records)
    assert again.metrics["judge"] == "string-match"


# --- 3. one writer ---------------------------------------------------------------------


def test_a_second_writer_is_refused_at_once(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(reply=mixed_reply) as srv, RunDirLock(run_dir):
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "vscbench",
                "run",
                *flags(model=MODEL, base_url=srv.base_url, data_dir=full_data_dir, out=run_dir),
                *flags(split="text", variants="txt", limit=4),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert time.monotonic() - started < 60
        assert done.returncode == 2, done.stderr
        assert "being written by another process" in done.stderr
        assert f"pid {__import__('os').getpid()}" in done.stderr  # names the holder
        assert "Traceback" not in done.stderr
        assert not srv.requests


# --- 4. exit status --------------------------------------------------------------------


def _cli(srv_url: str, data_dir: Path, out: Path, *extra: str) -> object:
    return CliRunner().invoke(
        app,
        [
            "run",
            *flags(model=MODEL, base_url=srv_url, data_dir=data_dir, out=out),
            *flags(split="text", variants="txt", limit=60, max_retries=1),
            *extra,
        ],
    )


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "authentication failed"), (403, "authentication failed"), (404, "unknown model")],
)
def test_auth_and_unknown_model_stop_the_run(
    full_data_dir: Path, tmp_path: Path, api_key: str, status: int, words: str
) -> None:
    with FakeOpenAIServer(reply=mixed_reply, fault=lambda t, i, a: (status, {})) as srv:
        result = _cli(srv.base_url, full_data_dir, tmp_path / "run")
        sent = len(srv.requests)
    assert result.exit_code == 2, result.output
    assert f"HTTP {status}" in result.output and words in result.output
    assert srv.base_url in result.output  # names the URL
    assert sent <= 16  # the requests in flight when the first answer came back, no more
    assert "Traceback" not in result.output


def test_unreachable_server_stops_the_run(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    result = _cli(url, full_data_dir, tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert "server unreachable" in result.output and f"127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


def test_partial_failure_exits_3_with_a_banner(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    dead: set[str] = set()

    def fault(text: str, image_sha: str | None, attempt: int):
        if len(dead) < 3 and text not in dead:
            dead.add(text)
        return (500, {"retry-after-ms": "10"}) if text in dead else None

    with FakeOpenAIServer(reply=mixed_reply, fault=fault) as srv:
        result = _cli(srv.base_url, full_data_dir, tmp_path / "run")
    assert result.exit_code == 3, result.output
    assert "3 of 60 pairs failed: HTTP 500 (3)" in result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["errors"]["by_cause"] == {"HTTP 500": 3}
    with FakeOpenAIServer(reply=mixed_reply) as srv:  # the same command retries and ends well
        again = _cli(srv.base_url, full_data_dir, tmp_path / "run")
        assert again.exit_code == 0, again.output
        assert len(srv.requests) == 3


def test_llm_judge_auth_failure_stops_the_run(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    with (
        FakeOpenAIServer(reply=mixed_reply) as gen,
        FakeOpenAIServer(fault=lambda t, i, a: (401, {})) as judge,
    ):
        result = _cli(
            gen.base_url,
            full_data_dir,
            tmp_path / "run",
            *flags(judge="llm:openai-api/fake/judge", judge_base_url=judge.base_url),
            "--no-judge-cache",
        )
    assert result.exit_code == 2, result.output
    assert "HTTP 401" in result.output and judge.base_url in result.output
    assert len(judge.requests) <= 64  # those in flight when the first 401 came back


# --- 5. honest intervals ---------------------------------------------------------------


def _width(span: list[float]) -> float:
    return span[1] - span[0]


@pytest.mark.parametrize("size", [3, 6])
def test_clustered_interval_widens_by_the_root_of_the_cluster_size(size: int) -> None:
    # 60 queries, each answered the same way for all its pairs: perfectly correlated
    pairs = [(True, q % 2 == 0, f"q{q}") for q in range(60) for _ in range(size)]
    m = sra(pairs)
    ratio = _width(m["ci95"]["sra_u"]) / _width(m["ci95_wilson"]["sra_u"])
    assert ratio == pytest.approx(math.sqrt(size), rel=0.1)
    assert m["n_queries"]["sra_u"] == 60


def test_independent_pairs_keep_about_the_wilson_interval() -> None:
    pairs = [(True, (i * 7) % 10 < 4, f"q{i}") for i in range(200)]  # one pair per query
    m = sra(pairs)
    assert m["ci95"]["sra_u"] == pytest.approx(m["ci95_wilson"]["sra_u"], abs=0.01)
    low, high = wilson_interval(80, 200)
    assert m["ci95_wilson"]["sra_u"] == pytest.approx([low, high])


def test_clustered_interval_at_the_extremes_counts_queries() -> None:
    m = sra([(True, True, f"q{q}") for q in range(10) for _ in range(6)])
    assert m["ci95"]["sra_u"] == pytest.approx(wilson_interval(10, 10))


def test_paired_test_is_clustered_by_query() -> None:
    # run A is aware on every pair of 3 queries where B is not: 18 discordant pairs,
    # but only 3 independent pieces of evidence
    def records(aware_queries: set[int]) -> dict:
        out = {}
        for q in range(10):
            for slot in range(6):
                rid = f"image/drugs/{q}/unsafe/{slot}"
                out[rid] = {
                    "id": rid,
                    "split": "image",
                    "variant": "image",
                    "group": "drugs",
                    "unsafe": True,
                    "aware": q in aware_queries,
                }
        return out

    result = paired(records({0, 1, 2}), records(set()))["all"]
    assert (result["only_a"], result["only_b"], result["n_queries"]) == (18, 0, 10)
    assert result["p_value_pairs"] < 1e-4  # the pair-level test is far too sure
    assert result["p_value"] == pytest.approx(clustered_mcnemar({0: 6, 1: 6, 2: 6}))
    assert result["p_value"] == pytest.approx(math.erfc(math.sqrt(3 / 2)))  # chi2 = 3


# --- 6. inspect logs -------------------------------------------------------------------


def test_run_writes_an_inspect_log_with_every_pair(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    from inspect_ai.log import list_eval_logs, read_eval_log

    def fault(text: str, image_sha: str | None, attempt: int):
        failing = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 7 == 0
        return (500, {"retry-after-ms": "10"}) if failing else None

    with FakeOpenAIServer(reply=mixed_reply, fault=fault) as srv:
        config = text_config(
            full_data_dir, srv.base_url, judges=("string-match", "refusal"), max_retries=0
        )
        result = run(config, tmp_path / "run")
    (info,) = list_eval_logs(str(tmp_path / "run" / "logs"))
    log = read_eval_log(info.name)
    records = load_records(tmp_path / "run")
    assert log.status == "success" and len(log.samples) == len(records)
    by_id = {s.id: s for s in log.samples}
    failed = [r for r in records.values() if r["error"]]
    assert failed
    for record in records.values():
        sample = by_id[record["id"]]
        assert sample.metadata["variant"] == record["variant"]
        assert sample.metadata["unsafe"] == record["unsafe"]
        if record["error"]:
            assert sample.error is not None and record["error"] in sample.error.message
            assert not sample.scores
            continue
        assert sample.output.completion == record["response"]
        assert set(sample.scores) == {"aware", "string-match", "refusal"}
        assert sample.scores["aware"].value == int(record["aware"])
        if record["image"]:
            assert sample.input[0].content[0].image == record["image"]
    values = {k: m.value for k, m in log.results.scores[0].metrics.items()}
    assert values["sra_u"] == pytest.approx(result.metrics["headline"]["sra_u"])


def test_inspect_mockllm_works_offline_and_agrees_with_run(
    full_data_dir: Path, tmp_path: Path
) -> None:
    from inspect_ai.log import list_eval_logs, read_eval_log

    done = inspect_eval(
        "vscbench/text_centric",
        "mockllm/model",
        tmp_path / "logs",
        "-T",
        f"data_dir={full_data_dir}",
        "-T",
        "types=homonyms",
        env={"TIKTOKEN_CACHE_DIR": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    log = read_eval_log(list_eval_logs(str(tmp_path / "logs"))[0].name)
    assert log.status == "success", log.error
    cli = CliRunner().invoke(
        app,
        [
            "run",
            *flags(model="mockllm/model", data_dir=full_data_dir, out=tmp_path / "run"),
            *flags(split="text", types="homonyms"),
        ],
    )
    assert cli.exit_code == 0, cli.output
    top = json.loads((tmp_path / "run" / "metrics.json").read_text())["headline"]
    values = {k: m.value for k, m in log.results.scores[0].metrics.items()}
    assert values["sra_s"] == pytest.approx(top["sra_s"]) and top["n_safe"] > 0
    assert math.isnan(values["sra_u"]) and top["sra_u"] is None  # homonyms are all safe


def test_inspect_task_failure_exits_non_zero(full_data_dir: Path, tmp_path: Path) -> None:
    done = inspect_eval(
        "vscbench/text_centric",
        "mockllm/model",
        tmp_path / "logs",
        "-T",
        f"data_dir={full_data_dir}",
        "-T",
        "judge=no-such-judge",
    )
    assert done.returncode != 0
    assert "unknown judge" in done.stderr + done.stdout


def test_report_and_log_agree_after_score(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    with FakeOpenAIServer(reply=mixed_reply) as srv:
        run(text_config(full_data_dir, srv.base_url, limit=30), tmp_path / "run")
    rescored = score(tmp_path / "run", ["refusal"])
    page = build_report([tmp_path / "run"], tmp_path / "report").read_text()
    assert f"{100 * rescored.metrics['headline']['sra_s']:.1f}" in page
    assert len(list((tmp_path / "run" / "logs").glob("*.json"))) == 1
