"""Hostile input and faults (issue 20): nothing crashes, hangs, leaks, escapes or is lost."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from conftest import flags
from faults import FaultServer, completion
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inspect_ai.log import read_eval_log
from loopback import FakeOpenAIServer

from vscbench.chat import FatalModelError
from vscbench.data.layout import IMAGE_DIR, IMAGE_SHEET
from vscbench.data.sheets import load_sheets
from vscbench.dataset import Selection, load_dataset
from vscbench.engine import RunConfig, RunDirError, run, score
from vscbench.results.inspect_log import write_inspect_log
from vscbench.results.store import HOLDER_FILE, SAMPLES_FILE, SampleStore, load_records
from vscbench.tables import read_table

MODEL = "openai-api/fake/vlm"
Reply = Callable[[str, str | None], str]


def _txt_run(data_dir: Path, run_dir: Path, reply: Reply, limit: int = 6) -> None:
    """``limit`` text-only pairs answered by a loopback server with ``reply(text, image)``."""
    with FakeOpenAIServer(reply=reply) as srv:
        config = RunConfig(
            model=MODEL,
            base_url=srv.base_url,
            data_dir=str(data_dir),
            splits=("text",),
            variants=("txt",),
            limit=limit,
        )
        run(config, run_dir)


#: every code point, lone surrogates (category Cs) and NUL included
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)


def _record(i: int, response: str) -> dict:
    return {
        "id": f"pair-{i}",
        "split": "text",
        "variant": "txt",
        "group": "g",
        "unsafe": True,
        "prompt": response,
        "image": None,
        "response": response,
        "error": None,
        "judge": None,
        "judges": {},
    }


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=ANY_TEXT)
def test_any_string_round_trips_through_store_and_inspect_log(tmp_path: Path, text: str) -> None:
    """Arbitrary strings are written and read back identically: samples.jsonl and the log."""
    folder = tmp_path / f"run-{abs(hash(text))}"
    store = SampleStore(folder / SAMPLES_FILE)
    store.append(_record(0, text))
    store.close()
    assert store.load()["pair-0"]["response"] == text
    store.rewrite([_record(0, text), _record(1, text + "x")])
    loaded = store.load()
    assert loaded["pair-0"]["response"] == text and loaded["pair-1"]["prompt"] == text + "x"
    assert store.notes == []
    log = write_inspect_log(folder, list(loaded.values()), {}, {"fingerprint": "f" * 64})
    samples = read_eval_log(str(log)).samples or []  # inspect's own reader and schema
    viewable = re.sub("[\ud800-\udfff]", "\ufffd", text)  # what inspect can hold
    assert samples[0].output.completion == viewable
    assert samples[1].input[0].content == viewable + "x"


HOSTILE_REPLIES = [
    "Sure \ud800 here",  # a lone surrogate (valid JSON: "\ud800")
    "I cannot\x00 help with that.",  # NUL
    "Sure: \u202egnissecorp\u202c done",  # RTL override
    "\udfff\udbff",  # reversed surrogates
]


def test_hostile_replies_are_stored_judged_and_resumed(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """A reply with a lone surrogate, NUL or RTL override is stored, judged and resumed."""
    replies = iter(HOSTILE_REPLIES * 10)
    sent: dict[str, str] = {}

    def reply(text: str, image_sha: str | None) -> str:
        sent[text] = sent.get(text) or next(replies)
        return sent[text]

    config = dict(model=MODEL, data_dir=str(full_data_dir), splits=("text",))
    config.update(variants=("txt",), limit=8, max_connections=4)
    with FakeOpenAIServer(reply=reply) as srv:
        result = run(RunConfig(base_url=srv.base_url, **config), tmp_path / "run")
        again = run(RunConfig(base_url=srv.base_url, **config), tmp_path / "run")
    records = load_records(tmp_path / "run")
    assert len(records) == 8 and result.generated == 8 and again.generated == 0
    for record in records.values():
        assert record["response"] == sent[record["prompt"]]
        assert record["error"] is None and record["aware"] is not None
    refused = {r["response"]: r["aware"] for r in records.values()}
    assert refused["I cannot\x00 help with that."] is True
    assert refused["Sure \ud800 here"] is False
    (tmp_path / "run" / SAMPLES_FILE).read_bytes().decode("ascii")  # escaped on disk


# --- item 2: damaged run files ---------------------------------------------------------


def _store_with(tmp_path: Path, n: int) -> SampleStore:
    store = SampleStore(tmp_path / SAMPLES_FILE)
    for i in range(n):
        store.append(_record(i, f"reply é {i}"))
    store.close()
    return store


def test_a_torn_final_line_is_ignored_with_a_note_at_any_byte(tmp_path: Path) -> None:
    store = _store_with(tmp_path, 3)
    whole = store.path.read_bytes()
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_start + 1, len(whole) - 1):  # every byte of the last line
        store.path.write_bytes(whole[:cut])
        records = store.load()
        assert sorted(records) == ["pair-0", "pair-1"], cut
        assert store.notes == [
            f"{store.path}: line 3 is incomplete (cut off by an "
            "interrupted run); ignored, its pair is generated again"
        ]
        store.append(_record(2, "again"))  # the torn tail is cut, never glued onto
        store.close()
        assert store.load()["pair-2"]["response"] == "again" and len(store.notes) == 1
        fresh = SampleStore(store.path)
        assert len(fresh.load()) == 3 and fresh.notes == []


def test_an_unreadable_middle_line_is_kept_byte_for_byte(tmp_path: Path) -> None:
    store = _store_with(tmp_path, 4)
    lines = store.path.read_bytes().split(b"\n")
    lines[1] = lines[1][:20] + b"\xff" + lines[1][20:]  # one bad byte, mid-line
    store.path.write_bytes(b"\n".join(lines))
    records = store.load()
    assert sorted(records) == ["pair-0", "pair-2", "pair-3"]
    assert len(store.notes) == 1 and f"{store.path}: line 2 cannot be read" in store.notes[0]
    store.rewrite(records.values())
    assert lines[1] + b"\n" in store.path.read_bytes()  # kept, not deleted
    assert len(store.path.read_bytes().split(b"\n")) == 5


def test_score_keeps_and_reports_a_damaged_line(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """`score` on a run with a bad byte mid-file: line count unchanged, line named."""
    run_dir = tmp_path / "run"
    _txt_run(full_data_dir, run_dir, lambda t, i: "I cannot help with that.")
    path = run_dir / SAMPLES_FILE
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b'"id"', b'"\xc3(id"', 1)
    damaged = b"\n".join(lines)
    path.write_bytes(damaged)
    with pytest.raises(RunDirError, match="1 of 6 selected pairs have no record"):
        score(run_dir, ["string-match"])  # the damaged line's pair has no readable record
    result = score(run_dir, ["string-match"], allow_incomplete=True)
    after = path.read_bytes()
    assert after.count(b"\n") == damaged.count(b"\n") and lines[2] in after.split(b"\n")
    assert result.skipped_lines == 1
    assert result.metrics["damaged_lines"] == [
        f"{path}: line 3 cannot be read (not a UTF-8 JSON record); kept as it is and left "
        "out of the figures; repair or delete it by hand"
    ]


# --- item 3: image paths stay inside the data directory --------------------------------


def test_image_paths_from_a_sheet_stay_inside_the_data_directory(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``../``, absolute and symlinked-out paths are defects naming row and field, never opened."""
    import openpyxl
    from PIL import Image

    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), "red").save(secret)
    sheet = data_dir / IMAGE_SHEET
    book = openpyxl.load_workbook(sheet)
    page = book.active
    header = [c.value for c in page[1]]
    page.cell(2, header.index("unsafe_img_0") + 1, "../../../secret.png")
    page.cell(3, header.index("safe_img_1") + 1, str(secret))
    book.save(sheet)
    linked = load_sheets(data_dir).items
    victim = next(i for i in linked if i.row == 3 and i.id.endswith("/safe/2"))
    (data_dir / victim.image).unlink()
    (data_dir / victim.image).symlink_to(secret)

    opened: list[str] = []
    real_open = Image.open
    monkeypatch.setattr(
        Image, "open", lambda fp, *a, **k: opened.append(str(fp)) or real_open(fp, *a, **k)
    )
    ds = load_dataset(data_dir, Selection(splits=("image",)))
    outside = {(d.row, d.field): d for d in ds.defects if d.kind == "image_outside_data_dir"}
    assert set(outside) == {(0, "unsafe_img_0"), (1, "safe_img_1"), (3, "safe_img_2")}
    assert "vscbench_image_centric.xlsx row 0 (spreadsheet line 2) field 'unsafe_img_0'" in (
        outside[(0, "unsafe_img_0")].describe()
    )
    for defect in outside.values():
        (item_id,) = defect.items
        assert item_id not in ds.images and item_id in ds.excluded
    assert not [p for p in opened if Path(p).resolve() == secret.resolve()]
    assert all(
        Path(p).resolve().is_relative_to(data_dir.resolve()) for p in ds.images.values() if p
    )


# --- item 4: no secret on disk or screen -------------------------------------------------

PLANTED = ("PLANTEDHEADERVALUE", "PLANTEDPASSWORD", "PLANTEDARGVALUE", "sk-PLANTEDTOKEN0123456789")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("sk-PLANTEDTOKEN0123456789", True),
        ("sk-proj-AbCdEfGhIjKlMnOp1234", True),
        ("hf_abcdefghijklmnopqrstu12345", True),
        ("ghp_abcdefghijklmnop1234567890", True),
        ("AKIAIOSFODNN7EXAMPLE", True),
        # words that share a key's prefix stay readable: a hidden flag name hides the fix
        ("--skip-missing-images", False),
        ("hf-lm-some-model__steer-vectors-62b5dc9edc45-alpha-2", False),
        ("ghost-writer-extraordinaire", False),
        ("rk-summary-for-everyone", False),
    ],
)
def test_what_looks_like_a_key(text: str, secret: bool) -> None:
    from vscbench.redaction import REDACTED, redact_text

    assert (redact_text(f"pass {text} now") == f"pass {REDACTED} now") is secret


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vscbench", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _secret_args(base_url: str) -> list[str]:
    url = base_url.replace("http://", "http://alice:PLANTEDPASSWORD@")
    return [
        "--base-url",
        url,
        "-M",
        'default_headers={"X-Custom": "PLANTEDHEADERVALUE"}',
        "-M",
        "api_key=PLANTEDARGVALUE",
        "-M",
        "user_tag=sk-PLANTEDTOKEN0123456789",
    ]


def _assert_clean(run_dir: Path, *outputs: str) -> None:
    for path in run_dir.rglob("*"):
        if path.is_file():
            body = path.read_bytes().decode("utf-8", "replace")
            assert not [s for s in PLANTED if s in body], path
    for output in outputs:
        assert not [s for s in PLANTED if s in output], output


def test_planted_secrets_reach_neither_disk_nor_screen(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """Headers, URL user-info and credential-like model args: every file, every output."""
    run_dir = tmp_path / "run"
    selection = flags(data_dir=full_data_dir, split="text", variants="txt", limit=4)
    with FakeOpenAIServer(reply=lambda t, i: "I cannot help with that.") as srv:
        args = ["run", *flags(model=MODEL, out=run_dir), *selection, *_secret_args(srv.base_url)]
        done = _cli(*args)
        assert done.returncode == 0, done.stderr
        assert srv.requests and srv.requests[0].model == "vlm"  # the secrets did reach the server
        scored = _cli("score", str(run_dir))
        assert scored.returncode == 0, scored.stderr
        # another process holds the lock: the holder file and the refusal message
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(run_dir), *args],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        held = (run_dir / HOLDER_FILE).read_text()
        refused = _cli(*args)
        holder.kill()
        holder.wait()
    assert refused.returncode == 2 and "being written by another process" in refused.stderr
    assert "<redacted>" in held and "vscbench" in held
    config = json.loads((run_dir / "config.json").read_text())
    assert config["base_url"].startswith("http://<redacted>@127.0.0.1")
    assert config["model_args"]["default_headers"] == {"X-Custom": "<redacted>"}
    assert config["model_args"]["api_key"] == config["model_args"]["user_tag"] == "<redacted>"
    _assert_clean(run_dir, done.stdout, done.stderr, scored.stdout, scored.stderr, held)
    _assert_clean(run_dir, refused.stdout, refused.stderr)
    # an error naming the URL: the server is gone
    gone = _cli(
        "run", *flags(model=MODEL, out=tmp_path / "gone"), *selection, *_secret_args(srv.base_url)
    )
    assert gone.returncode != 0 and "unreachable" in gone.stderr, gone.stderr
    _assert_clean(tmp_path / "gone", gone.stdout, gone.stderr)


HOLD_LOCK = """
import sys, time
from pathlib import Path
from vscbench.results.store import RunDirLock
run_dir = Path(sys.argv[1])
sys.argv = ["vscbench", *sys.argv[2:]]
with RunDirLock(run_dir):
    print("held", flush=True)
    time.sleep(120)
"""


# --- item 5: exports are data, not formulas ---------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example", "click")',
    "=1+1",
    "+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1",
    "\r=1",
    "'=quoted already",
    "\uff1d1+1",
    "nul\x00 and bell\x07 and cr\r inside",
    "lone \ud800 surrogate",
    "literal _x0041_ escape",
    "plain answer",
]


def _cell_types(path: Path) -> set[str]:
    import openpyxl

    sheet = openpyxl.load_workbook(path).active
    return {cell.data_type for row in sheet.iter_rows() for cell in row if cell.value is not None}


def test_judge_out_xlsx_holds_text_not_formulas(tmp_path: Path) -> None:
    """`judge --out x.xlsx`: every cell a string; replies come back as they were."""
    source = tmp_path / "pairs.jsonl"
    source.write_text(
        "\n".join(json.dumps({"query": f"q{i}", "response": r}) for i, r in enumerate(FORMULAS))
    )
    out = tmp_path / "judged.xlsx"
    done = _cli("judge", *flags(input=source, out=out, judge="string-match"))
    assert done.returncode == 0, done.stderr
    assert _cell_types(out) == {"s"}
    back = read_table(out)
    assert back["response"].tolist() == FORMULAS
    assert back["query"].tolist() == [f"q{i}" for i in range(len(FORMULAS))]


def test_export_upstream_holds_text_not_formulas(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    replies = iter(FORMULAS * 2)
    sent: dict[str, str] = {}

    def reply(text: str, image_sha: str | None) -> str:
        sent[text] = sent.get(text) or next(replies)
        return sent[text]

    run_dir = tmp_path / "run"
    _txt_run(full_data_dir, run_dir, reply, limit=10)
    done = _cli("export-upstream", str(run_dir), *flags(out=tmp_path / "up"))
    assert done.returncode == 0, done.stderr
    written = sorted((tmp_path / "up").rglob("*.xlsx"))
    assert written
    records = load_records(run_dir)
    for path in written:
        assert _cell_types(path) == {"s"}, path
        frame = read_table(path)
        for record in records.values():
            assert frame.loc[record["row"], "resp_txt"] == record["response"]


# --- item 6: deadlines and dropped connections ------------------------------------------


def test_timeout_bounds_a_trickling_reply(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """A server sending one byte a second: --timeout 2 ends each attempt after 2 s."""
    with FaultServer(mode="trickle", interval=1.0) as srv:
        config = RunConfig(
            model=MODEL,
            base_url=srv.base_url,
            data_dir=str(full_data_dir),
            splits=("text",),
            variants=("txt",),
            limit=2,
            timeout=2,
            max_retries=1,
        )
        started = time.monotonic()
        run(config, tmp_path / "run")
        took = time.monotonic() - started
    records = load_records(tmp_path / "run")
    assert all("Timeout" in r["error"] and r["aware"] is None for r in records.values())
    assert srv.requests == 4  # each pair: the attempt and its one retry
    assert took < 30  # the body is ~300 bytes: trickled whole it would take 5 minutes


def test_a_dropped_connection_is_retried_not_unreachable(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    config = dict(data_dir=str(full_data_dir), splits=("text",), variants=("txt",), limit=3)
    with FaultServer(drop_first=2) as srv:
        run(
            RunConfig(
                model=MODEL, base_url=srv.base_url, max_retries=2, max_connections=1, **config
            ),
            tmp_path / "a",
        )
    records = load_records(tmp_path / "a")
    assert all(r["error"] is None and r["aware"] is True for r in records.values())
    assert srv.requests == 5  # two dropped, then one each
    with FaultServer(mode="drop") as srv:  # every reply dropped, no retries: pair errors
        result = run(
            RunConfig(model=MODEL, base_url=srv.base_url, max_retries=0, **config), tmp_path / "b"
        )
    assert result.metrics["errors"]["generation"] == 3
    errors = {r["error"] for r in load_records(tmp_path / "b").values()}
    assert errors and not [e for e in errors if "unreachable" in e]
    # nothing listening at all: that stops the run as unreachable
    closed = RunConfig(model=MODEL, base_url=srv.base_url, max_retries=0, **config)
    with pytest.raises(FatalModelError, match="server unreachable"):
        run(closed, tmp_path / "c")


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--timeout", "0"],
        ["run", "--timeout", "-5"],
        ["run", "--max-connections", "0"],
        ["score", "--max-connections", "0"],
    ],
)
def test_zero_or_negative_limits_are_exit_2(argv: list[str], tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    where = (
        ["--model", "mockllm/model", "--out", str(tmp_path / "run")]
        if argv[0] == "run"
        else [str(tmp_path / "run")]
    )
    done = _cli(argv[0], *where, *argv[1:])
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {argv[1]} {argv[2]}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# --- item 9: judge, judge-eval and run agree on an empty reply --------------------------

EMPTY_REPLIES = ["", "   \n", "I cannot help with that.", "Sure, here it is."]


def test_judge_judge_eval_and_run_agree_on_an_empty_reply(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    source = tmp_path / "pairs.csv"
    pd.DataFrame(
        {
            "query": [f"q{i}" for i in range(4)],
            "response": EMPTY_REPLIES,
            "label": ["refusal", "compliance", "refusal", "compliance"],
        }
    ).to_csv(source, index=False)
    out = tmp_path / "judged.jsonl"
    done = _cli("judge", *flags(input=source, out=out, judge="string-match"))
    assert done.returncode == 0, done.stderr
    judged = pd.read_json(out, lines=True)
    errors = judged["string-match_error"].tolist()
    assert errors[0].startswith("empty response") and errors[1].startswith("empty response")
    assert (
        judged["string-match_aware"].tolist()[:2] == [None, None]
        or judged["string-match_aware"][:2].isna().all()
    )
    assert judged["string-match_refusal"].tolist()[2:] == [True, False]
    evaluated = _cli(
        "judge-eval",
        *flags(
            input=source,
            label_col="label",
            positive="refusal",
            judge="string-match",
            out=tmp_path / "ev",
        ),
    )
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(next((tmp_path / "ev").rglob("*.json")).read_text())
    assert report["judges"]["string-match"]["undecided"] == 2
    # run: the same empty reply is an error, not a verdict, with the same words
    _txt_run(full_data_dir, tmp_path / "run", lambda t, i: "", limit=2)
    for record in load_records(tmp_path / "run").values():
        assert record["aware"] is None and record["error"].startswith("empty response")


# --- item 7: incomplete runs and empty selections -----------------------------------------


def test_score_and_report_refuse_an_incomplete_run_unless_asked(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """A run killed part-way (records for 3 of 6 pairs, no metrics.json)."""
    run_dir = tmp_path / "run"
    _txt_run(full_data_dir, run_dir, lambda t, i: "I cannot help with that.")
    samples = run_dir / SAMPLES_FILE
    samples.write_bytes(b"".join(samples.read_bytes().splitlines(keepends=True)[:3]))
    (run_dir / "metrics.json").unlink()
    refused = _cli("score", str(run_dir))
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: {run_dir} is incomplete: 3 of 6 selected pairs")
    assert "--allow-incomplete" in refused.stderr
    allowed = _cli("score", str(run_dir), "--allow-incomplete")
    assert allowed.returncode == 0, allowed.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["incomplete"] == {"records": 3, "pairs": 6}
    report = _cli("report", str(run_dir), *flags(out=tmp_path / "report"))
    assert report.returncode == 2 and "is incomplete (3 of 6" in report.stderr
    shown = _cli("report", str(run_dir), *flags(out=tmp_path / "report"), "--allow-incomplete")
    assert shown.returncode == 0, shown.stderr
    page = (tmp_path / "report" / "index.html").read_text()
    assert "incomplete: 3 of 6 selected pairs have a record" in page


def test_an_empty_selection_is_exit_2(data_dir: Path, tmp_path: Path) -> None:
    """Every image of one category missing, --skip-missing-images: 0 pairs to run."""
    for path in (data_dir / IMAGE_DIR / "drugs").iterdir():
        path.unlink()
    done = _cli(
        "run",
        *flags(model="mockllm/model", data_dir=data_dir, out=tmp_path / "run"),
        *flags(split="image", categories="drugs"),
        "--skip-missing-images",
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: the selection yields 0 pairs to run (")
    assert "image missing" in done.stderr and not (tmp_path / "run" / "config.json").exists()


# --- item 8: comparisons across judges and samples are marked ------------------------------


def test_report_marks_different_judges_samples_and_shows_the_query(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    dirs = {"a": tmp_path / "a", "b": tmp_path / "b"}
    base = dict(data_dir=str(full_data_dir), splits=("text",), variants=("txt", "figstep"))
    with FakeOpenAIServer(reply=lambda t, i: "I cannot help with that.") as srv:
        run(RunConfig(model=MODEL, base_url=srv.base_url, limit=8, **base), dirs["a"])
    with FakeOpenAIServer(reply=lambda t, i: "Sure, the steps are as follows.") as srv:
        run(
            RunConfig(
                model=MODEL,
                base_url=srv.base_url,
                limit=8,
                judges=("prefix", "string-match"),
                **base,
            ),
            dirs["b"],
        )
    done = _cli("report", str(dirs["a"]), str(dirs["b"]), *flags(out=tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "report" / "index.html").read_text()
    assert "scored by different primary judges" in page
    assert "#1 a: string-match" in page and "#2 b: prefix" in page
    assert (
        'id="shared-judge"' in page
        and "every run under the judge they all carry, string-match" in page
    )
    assert page.count("a --limit 8 sample") == 2
    figstep = next(r for r in load_records(dirs["a"]).values() if r["variant"] == "figstep")
    assert f"query: {figstep['judge_query']}" in page


def test_invalid_utf8_from_the_server_is_kept_and_judged(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """Bytes 0xff 0xfe inside a reply: stored as surrogate escapes, judged, read back."""
    body = completion("Sure XX here").replace(b"XX", b"\xff\xfe")
    with FaultServer(mode="raw", body=body) as srv:
        config = RunConfig(
            model=MODEL,
            base_url=srv.base_url,
            data_dir=str(full_data_dir),
            splits=("text",),
            variants=("txt",),
            limit=2,
        )
        run(config, tmp_path / "run")
    for record in load_records(tmp_path / "run").values():
        assert record["error"] is None and record["aware"] is False
        assert record["response"].encode("utf-8", "surrogateescape") == b"Sure \xff\xfe here"
