"""Label any table of (query, response) pairs with judges, and score judges against people.

Tables are CSV, JSONL or XLSX (by file extension); every input column is kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vscbench.agreement import binary_agreement
from vscbench.config import Requests
from vscbench.data.sheets import read_xlsx, write_xlsx
from vscbench.files import write_json_atomic
from vscbench.judges.panel import JudgePanel
from vscbench.progress import OnProgress

FORMATS = (".csv", ".jsonl", ".xlsx")
#: Judge calls in flight when labelling a table (the run's default connections).
DEFAULT_CONCURRENCY = Requests().max_connections


def read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unsupported table format; use {', '.join(FORMATS)}")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix == ".jsonl":
            return _read_jsonl(path)
    except ValueError:
        raise
    except Exception as exc:  # pandas raises many parser error types
        raise ValueError(f"{path}: cannot read table ({exc})") from exc
    return read_xlsx(path)


def _read_jsonl(path: Path) -> pd.DataFrame:
    """JSON lines through the standard parser, which keeps every string as it is (pandas'
    own drops lone surrogates), with an error naming the line."""
    rows = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(f"{path} line {number}: not a JSON object ({exc})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path} line {number}: not a JSON object")
            rows.append(row)
    return pd.DataFrame.from_records(rows)


def write_table(frame: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=True)
    elif suffix == ".xlsx":
        write_xlsx(frame, path)
    else:
        raise ValueError(f"{path}: unsupported table format; use {', '.join(FORMATS)}")


def _require(frame: pd.DataFrame, path: str, *columns: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: no column(s) {', '.join(map(repr, missing))}; it has "
            f"{', '.join(map(repr, frame.columns))}"
        )


def judge_frame(
    frame: pd.DataFrame,
    panel: JudgePanel,
    query_col: str = "query",
    response_col: str = "response",
    source: str = "input",
    concurrency: int | None = None,
    progress: OnProgress | None = None,
) -> pd.DataFrame:
    """``frame`` with ``<judge>_aware``, ``_refusal``, ``_label``, ``_evidence``, ``_error``.

    An empty or missing reply is not judged: like ``run``, every judge's ``_error``
    says why ("empty response": a table has no stop reason) and it counts as neither verdict.
    """
    _require(frame, source, query_col, response_col)
    records: list[dict[str, Any]] = []
    problems: dict[int, str] = {}  # row -> why its reply is not one, as `run` says it
    for row, (query, response) in enumerate(
        zip(frame[query_col], frame[response_col], strict=True)
    ):
        text = response if isinstance(response, str) else ""
        problem = "empty response" if not text.strip() else None  # a table has no stop reason
        if not isinstance(response, str):
            problem = f"no response text in field {response_col!r}"
        if problem:
            problems[row] = problem
        records.append({"judge_query": "" if query is None else str(query), "response": text})

    to_judge = [r for row, r in enumerate(records) if row not in problems]
    panel.judge_all(to_judge, concurrency or DEFAULT_CONCURRENCY, progress)
    out = frame.copy()
    for name in panel.names:
        verdicts = [
            {"error": problems[row]} if row in problems else (r.get("judges") or {}).get(name) or {}
            for row, r in enumerate(records)
        ]
        for field, column in (
            ("aware", "aware"),
            ("refusal", "refusal"),
            ("label", "label"),
            ("output", "evidence"),
            ("error", "error"),
        ):
            out[f"{name}_{column}"] = [v.get(field) for v in verdicts]
    return out


REFERENCE_COL = "reference_aware"


def with_reference(judged: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Rows the ``reference`` judge decided, with its ``aware`` verdict as the label.

    Where no human labels exist, the 4-class LLM judge is the reference path: each other
    judge's agreement with it says how far the cheap judge can stand in for it.
    """
    decided = judged[judged[f"{reference}_error"].isna()].copy()
    decided[REFERENCE_COL] = decided[f"{reference}_aware"].map(
        lambda v: "aware" if bool(v) else "not_aware"
    )
    return decided


def evaluate_judges(
    judged: pd.DataFrame,
    names: Sequence[str],
    label_col: str,
    positive: Sequence[str],
    prediction: str = "refusal",
    source: str = "input",
) -> dict[str, Any]:
    """Agreement of each judge's ``prediction`` (refusal or aware) with human labels.

    Rows a judge could not decide are left out of its figures and counted.
    """
    _require(judged, source, label_col)
    labels = judged[label_col].astype(str)
    absent = sorted(set(positive) - set(labels))
    if len(absent) == len(set(positive)):
        raise ValueError(
            f"{source}: no row is labelled {', '.join(map(repr, absent))} in "
            f"{label_col!r} (labels: {', '.join(sorted(set(labels)))})"
        )
    truth = labels.isin(set(positive))
    report: dict[str, Any] = {
        "n": len(judged),
        "positive": list(positive),
        "absent_positive": absent,
        "label_counts": labels.value_counts().to_dict(),
        "judges": {},
    }
    for name in names:
        predicted = judged[f"{name}_{prediction}"]
        decided = predicted.notna() & judged[f"{name}_error"].isna()
        pairs = [
            (bool(t), bool(p)) for t, p in zip(truth[decided], predicted[decided], strict=True)
        ]
        report["judges"][name] = {**binary_agreement(pairs), "undecided": int((~decided).sum())}
    return report


def disagreements(
    judged: pd.DataFrame,
    name: str,
    label_col: str,
    positive: Sequence[str],
    prediction: str = "refusal",
) -> pd.DataFrame:
    """Rows where ``name`` and the human label differ, for reading."""
    truth = judged[label_col].astype(str).isin(set(positive))
    predicted = judged[f"{name}_{prediction}"]
    mask = predicted.notna() & (predicted.astype(bool) != truth)
    return judged[mask]


def evaluate_table(
    frame: pd.DataFrame,
    panel: JudgePanel,
    label_col: str,
    positive: Sequence[str],
    prediction: str = "refusal",
    reference: str | None = None,
    query_col: str = "query",
    response_col: str = "response",
    source: str = "input",
) -> tuple[dict[str, Any], pd.DataFrame, list[str]]:
    """Judge ``frame`` with ``panel`` and score each judge against the labels (or, with
    ``reference``, against that judge's ``aware``): (report, judged rows, judges scored)."""
    judged = judge_frame(frame, panel, query_col, response_col, source)
    names = list(panel.names)
    if reference is not None:
        judged = with_reference(judged, reference)
        names = [n for n in names if n != reference]
    return evaluate_judges(judged, names, label_col, positive, prediction, source), judged, names


def write_evaluation(
    folder: Path,
    report: dict[str, Any],
    judged: pd.DataFrame,
    names: Sequence[str],
    label_col: str,
    positive: Sequence[str],
    prediction: str,
) -> Path:
    """``report.json`` and ``disagreements_<judge>.csv`` for reading; the report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "report.json", report)
    for name in names:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
        disagreements(judged, name, label_col, positive, prediction).to_csv(
            folder / f"disagreements_{safe}.csv", index=False
        )
    return folder / "report.json"
