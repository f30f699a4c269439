"""The audit's core without a web page: the sample, the labels file, agreement, and
labels to and from CSV and Label Studio files."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vscbench.audit.design import STRATA, AuditError, Population, Unit, allocate, changes, draw
from vscbench.audit.exchange import export, import_labels, labelling_config
from vscbench.audit.labels import (
    BY_NAME,
    LabelStore,
    between_labellers,
    cohen_kappa,
    label_entry,
    parse_label,
    response_sha,
)
from vscbench.audit.session import Audit


def _population(sizes: dict[str, int], per_query: int = 3) -> Population:
    units = []
    for stratum, size in sizes.items():
        side, verdict = stratum.split("/")
        for i in range(size):
            units.append(
                Unit(
                    f"{stratum}/{i}",
                    f"{stratum}/q{i // per_query}",
                    side == "unsafe",
                    verdict == "aware",
                )
            )
    return Population(units, "test", "judge", {u.id: u.stratum for u in units})


# --- the sample -------------------------------------------------------------------------


def test_allocation_sees_rare_strata_and_is_otherwise_proportional() -> None:
    sizes = {"unsafe/aware": 900, "unsafe/not_aware": 800, "safe/aware": 25, "safe/not_aware": 1875}
    take = allocate(sizes, 60)
    assert sum(take.values()) == 60
    # half spread evenly: at least ceil(60 / 8) = 8 pairs in the rare cell, where a
    # proportional sample would give it 0.4 of a pair
    assert take["safe/aware"] == 8
    # the rest by size: the biggest stratum gets the most
    assert take["safe/not_aware"] == max(take.values())
    assert allocate({"unsafe/aware": 3, "safe/aware": 0, "safe/not_aware": 4}, 60) == {
        "unsafe/aware": 3,
        "safe/not_aware": 4,
    }  # fewer pairs than asked: all of them
    with pytest.raises(AuditError, match="--n 2: the sample needs at least one pair per stratum"):
        allocate(sizes, 2)


@given(
    st.dictionaries(st.sampled_from(STRATA), st.integers(0, 400), min_size=1),
    st.integers(1, 500),
)
def test_allocation_properties(sizes: dict[str, int], n: int) -> None:
    present = {k: v for k, v in sizes.items() if v}
    if not present:
        return
    if n < len(present) and n < sum(present.values()):
        with pytest.raises(AuditError):
            allocate(sizes, n)
        return
    take = allocate(sizes, n)
    assert sum(take.values()) == min(n, sum(present.values()))
    assert set(take) == set(present)
    assert all(1 <= take[k] <= present[k] for k in present)
    if n >= 4 * len(present):  # room for the even floor: at least 2 everywhere it can
        assert all(take[k] >= min(2, present[k]) for k in present)


def test_draw_is_seeded_nested_and_interleaved() -> None:
    pop = _population(
        {"unsafe/aware": 300, "unsafe/not_aware": 200, "safe/aware": 12, "safe/not_aware": 400}
    )
    a, b = draw(pop, 60, seed=7), draw(pop, 60, seed=7)
    assert a.order == b.order and len(set(a.order)) == 60
    assert draw(pop, 60, seed=8).order != a.order
    bigger = draw(pop, 200, seed=7)
    assert set(a.order) <= set(bigger.order)  # a larger sample keeps the labels given
    for stratum, s in a.strata.items():
        assert sum(1 for p in a.order if a.stratum_of[p] == stratum) == s["sample"]
    # every stratum is seen in the first third of the sitting
    first = {a.stratum_of[p] for p in a.order[:20]}
    assert first == set(STRATA)


def test_changes_name_what_changed() -> None:
    pop = _population({"unsafe/aware": 10, "safe/not_aware": 10})
    design = draw(pop, 8, 0)
    assert changes(design, pop) is None
    digests = dict(pop.digests)
    digests["unsafe/aware/3"] = "other"
    del digests["safe/not_aware/0"]
    changed = Population(pop.units, pop.basis, pop.judge, digests)
    why = changes(design, changed)
    assert "1 pair(s) changed (verdict or answer), e.g. unsafe/aware/3" in why
    assert "1 pair(s) no longer scored, e.g. safe/not_aware/0" in why


# --- labels -----------------------------------------------------------------------------


def test_labels_file_is_append_only_and_the_latest_label_counts(tmp_path: Path) -> None:
    store = LabelStore(tmp_path)
    sha = {"p1": response_sha("a"), "p2": response_sha("b")}
    store.append([label_entry("p1", "ann", BY_NAME["answers"], "a", "page")])
    first = store.path.read_bytes()
    store.append([label_entry("p1", "ann", BY_NAME["full_refusal"], "a", "page")])
    store.append([label_entry("p1", "ann", None, "a", "page")])  # a skip never erases
    store.append([label_entry("p2", "bob", BY_NAME["flags_risk"], "an old answer", "page")])
    assert store.path.read_bytes().startswith(first)  # nothing before the end is touched
    latest = store.read().latest(sha)
    assert latest == {("ann", "p1"): BY_NAME["full_refusal"]}  # p2's answer changed since
    assert store.read().skipped("ann") == {"p1"}

    # a crash mid-line: that line is counted as unreadable, the next one starts afresh
    with store.path.open("a", encoding="utf-8") as fh:
        fh.write('{"pair": "p2", "labeller": "bob", "lab')
    store.append([label_entry("p2", "bob", BY_NAME["answers"], "b", "page")])
    log = store.read()
    assert log.unreadable_lines == 1
    assert log.latest(sha)[("bob", "p2")] == BY_NAME["answers"]


def test_kappa_by_hand() -> None:
    # 10 pairs: 8 agree (4 yes, 4 no), 2 disagree; p_o = 0.8, p_e = 0.5 -> kappa = 0.6
    pairs = [(1, 1)] * 4 + [(0, 0)] * 4 + [(1, 0), (0, 1)]
    assert cohen_kappa(pairs) == pytest.approx(0.6)
    assert cohen_kappa([(1, 1), (1, 1)]) is None  # chance agreement is total
    latest = {
        ("a", "p1"): BY_NAME["full_refusal"],
        ("b", "p1"): BY_NAME["partial_refusal"],
        ("a", "p2"): BY_NAME["answers"],
        ("b", "p2"): BY_NAME["answers"],
        ("c", "p3"): BY_NAME["answers"],
    }
    ab, ac, bc = between_labellers(latest)
    assert (ab["a"], ab["b"], ab["n"], ab["agreement"]) == ("a", "b", 2, 0.5)
    assert ab["kappa_aware"] == 1.0 and ab["kappa"] == pytest.approx(1 / 3)
    assert ac["n"] == 0 and ac["kappa"] is None and bc["n"] == 0


def test_label_spellings() -> None:
    assert parse_label("3") is BY_NAME["flags_risk"]
    assert parse_label(3.0) is BY_NAME["flags_risk"]
    assert parse_label(" Answers, flags a risk ") is BY_NAME["flags_risk"]
    assert parse_label("NO_ANSWER") is BY_NAME["no_answer"]
    assert parse_label("6") is None and parse_label(True) is None and parse_label("") is None


# --- files from elsewhere -----------------------------------------------------------------


def _audit(tmp_path: Path, n: int = 20) -> Audit:
    """A run directory of 40 scored text pairs (no images needed), with a sample drawn."""
    run = tmp_path / "run"
    run.mkdir()
    lines = []
    for row in range(20):
        for variant, unsafe in (("typography", row % 2 == 0), ("search", row % 2 == 0)):
            aware = (row * 7 + len(variant)) % 3 == 0
            lines.append(
                {
                    "id": f"text/{row}/{variant}",
                    "split": "text",
                    "variant": variant,
                    "group": "homonyms",
                    "unsafe": unsafe,
                    "prompt": f"prompt {row} <b>",
                    "image": None,
                    "judge_query": f"query {row}",
                    "response": f"answer {row}",
                    "error": None,
                    "judge": "refusal",
                    "aware": aware,
                    "judge_refusal": aware,
                }
            )
    (run / "samples.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    audit = Audit.open(run)
    audit.prepare(n, 0, redraw=False)
    return audit


def test_export_and_import_a_csv(tmp_path: Path) -> None:
    audit = _audit(tmp_path)
    written = export(audit, tmp_path / "out" / "sample.csv")
    assert [p.name for p in written] == ["sample.csv", "sample.json", "sample.xml"]
    rows = list(csv.DictReader(written[0].open(encoding="utf-8")))
    assert [r["pair_id"] for r in rows] == audit.design.order
    assert "aware" not in rows[0] and "judge" not in " ".join(rows[0])  # blind
    tasks = json.loads(written[1].read_text())
    assert tasks[0]["data"]["pair_id"] == audit.design.order[0]
    assert 'alias="full_refusal"' in labelling_config() and 'hotkey="5"' in labelling_config()

    for i, row in enumerate(rows):
        row["label"] = ["1", "answers", "Answers, flags a risk", "", "5"][i % 5]
    row = rows[0]
    row["labeller"] = "carol"
    with (tmp_path / "labelled.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, rows[0].keys())
        writer.writeheader()
        writer.writerows(rows)
    result = import_labels(audit, tmp_path / "labelled.csv", "dave")
    assert (result.labels, result.labellers, result.unlabelled) == (16, ["carol", "dave"], 4)
    _, latest = audit.read_labels()
    assert latest[("carol", rows[0]["pair_id"])] is BY_NAME["full_refusal"]
    assert latest[("dave", rows[2]["pair_id"])] is BY_NAME["flags_risk"]
    assert ("dave", rows[3]["pair_id"]) not in latest


def test_import_a_label_studio_export_with_two_annotators(tmp_path: Path) -> None:
    audit = _audit(tmp_path)
    tasks = []
    for i, pair in enumerate(audit.design.order):
        annotations = [
            {
                "completed_by": {"id": 1, "email": "ann@lab"},
                "was_cancelled": False,
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "response",
                        "type": "choices",
                        "value": {"choices": ["full_refusal" if i % 2 else "answers"]},
                    }
                ],
            },
            {
                "completed_by": 2,
                "was_cancelled": i == 3,
                "result": [{"type": "choices", "value": {"choices": ["Full refusal"]}}],
            },
        ]
        tasks.append({"id": 100 + i, "data": {"pair_id": pair}, "annotations": annotations})
    tasks.append({"id": 999, "data": {"pair_id": audit.design.order[0]}, "annotations": []})
    path = tmp_path / "project-1-at-2026.json"
    path.write_text(json.dumps(tasks))
    result = import_labels(audit, path, "nobody")
    assert result.labellers == ["labelstudio:2", "labelstudio:ann@lab"]
    assert result.labels == 2 * 20 - 1  # one cancelled annotation
    summary = audit.summary()
    pair = next(p for p in summary["between_labellers"] if p["n"])
    assert pair["n"] == 19 and pair["agreement"] == pytest.approx(9 / 19)
    # JSON-MIN, as Label Studio also exports
    minimal = [{"pair_id": audit.design.order[0], "label": "no_answer", "annotator": 7}]
    path.write_text(json.dumps(minimal))
    assert import_labels(audit, path, "x").labellers == ["labelstudio:7"]


@pytest.mark.parametrize(
    ("content", "suffix", "error"),
    [
        (
            "pair_id,label\nimage/drugs/0/unsafe/0,1\n",
            ".csv",
            "row 3: pair 'image/drugs/0/unsafe/0' is not in",
        ),
        ("pair_id,label\n{in_run},1\n", ".csv", "is in the run but not in its audit sample"),
        (
            "pair_id,label\n{sampled},7\n",
            ".csv",
            "row 3: unknown label '7'; use one of 1 or full_refusal",
        ),
        ("id,verdict\nx,1\n", ".csv", "needs a pair_id and a label column (found: id, verdict)"),
        ("pair_id,label\n{sampled},1,extra\n", ".csv", "row 3: more cells than the header"),
        (
            '[{"data": {"pair_id": "{sampled}"}, "annotations": [{"result": '
            '[{"type": "choices", "value": {"choices": ["maybe"]}}]}]}]',
            ".json",
            "task 1, annotation 1: unknown label 'maybe'",
        ),
        ("{not json", ".json", "not valid JSON"),
        ('{"tasks": []}', ".json", "expected a list of tasks"),
        ("pair_id,label\n", ".txt", "give a .csv"),
        ("pair_id,label,answer_sha256\n{sampled},1,abc\n", ".csv", "changed since the file was"),
    ],
)
def test_import_refuses_bad_files_whole(
    tmp_path: Path, content: str, suffix: str, error: str
) -> None:
    audit = _audit(tmp_path)
    in_run = next(p for p in audit.records if p not in audit.design.stratum_of)
    content = content.replace("{sampled}", audit.design.order[0]).replace("{in_run}", in_run)
    header, _, rest = content.partition("\n")
    if header.startswith("pair_id,label"):  # a good row first: a failed import keeps none
        content = f"{header}\n{audit.design.order[1]},1{',' * header.count(',', 13)}\n{rest}"
    path = tmp_path / f"labels{suffix}"
    path.write_text(content)
    with pytest.raises(AuditError, match=re.escape(error)):
        import_labels(audit, path, "x")
    assert not audit.store.path.exists()


def test_import_refuses_non_utf8(tmp_path: Path) -> None:
    audit = _audit(tmp_path)
    path = tmp_path / "latin1.csv"
    path.write_bytes("pair_id,label\ncafé,1\n".encode("latin-1"))
    with pytest.raises(AuditError, match="not UTF-8 text"):
        import_labels(audit, path, "x")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=400), st.sampled_from([".csv", ".json"]))
def test_any_file_is_imported_or_refused_with_a_reason(
    tmp_path: Path, data: bytes, suffix: str
) -> None:
    """Hostile input: whatever bytes arrive, the import either works or says why."""
    run = tmp_path / "hyp"
    if not run.exists():
        run.mkdir()
        _audit(run)
    audit = Audit.open(run / "run")
    path = run / f"in{suffix}"
    path.write_bytes(data)
    try:
        import_labels(audit, path, "x")
    except AuditError as exc:
        assert str(path) in str(exc) or "--import" in str(exc)
