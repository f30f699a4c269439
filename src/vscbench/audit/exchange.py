"""Labels from elsewhere: the sample as a CSV and as Label Studio tasks, and back.

``--export FILE`` writes three files beside each other: ``STEM.csv`` (one row per
sampled pair, an empty ``label`` column), ``STEM.json`` (Label Studio tasks, each
image embedded as a data URI so nothing needs serving) and ``STEM.xml`` (the Label
Studio labelling config: the five classes with keys 1-5). Neither shows the judge's
verdict: people label blind wherever they label.

``--import FILE`` reads a CSV with ``pair_id`` and ``label`` columns (``labeller``
optional), or a Label Studio export (its JSON, or JSON-MIN). Every row is checked before
anything is written: a pair that is not in the run, or not in its sample, a label that is
none of the five, or an answer that changed since the export stops the import with the
row and the fix, and nothing of the file is kept.
"""

from __future__ import annotations

import base64
import csv
import json
import mimetypes
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vscbench.audit.design import AuditError
from vscbench.audit.labels import (
    LABELS,
    Label,
    allowed_labels,
    check_labeller,
    label_entry,
    parse_label,
    response_sha,
)
from vscbench.audit.session import Audit

CSV_COLUMNS = (
    "pair_id",
    "position",
    "variant",
    "prompt",
    "query",
    "image",
    "response",
    "answer_sha256",
    "label",
    "labeller",
)
#: Spreadsheets run a cell that starts with one of these as a formula; a model's answer
#: is not to be trusted with that, so such cells get a leading apostrophe.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Imports larger than this are refused before reading (a sample is a few MB at most).
MAX_IMPORT_BYTES = 256 * 1024 * 1024


def _cell(text: object) -> str:
    value = "" if text is None else str(text)
    return "'" + value if value.startswith(FORMULA_START) else value


def _pair_fields(audit: Audit, pair: str) -> dict[str, Any]:
    record = audit.records[pair]
    query = record.get("judge_query")
    return {
        "pair_id": pair,
        "variant": record.get("variant"),
        "prompt": record.get("prompt"),
        "query": query if query != record.get("prompt") else "",
        "response": record.get("response"),
        "answer_sha256": response_sha(record.get("response")),
    }


def _data_uri(path: Path | None) -> str:
    if path is None:
        return ""
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def labelling_config() -> str:
    """Label Studio's labelling config: query, image, answer and the five classes."""
    view = ET.Element("View")
    for header, name in (
        ("Prompt as sent", "prompt"),
        ("The query in plain text (if the prompt differs)", "query"),
    ):
        ET.SubElement(view, "Header", value=header)
        ET.SubElement(view, "Text", name=name, value=f"${name}")
    ET.SubElement(view, "Image", name="image", value="$image", maxWidth="640px")
    ET.SubElement(view, "Header", value="The model's answer")
    ET.SubElement(view, "Text", name="response", value="$response")
    choices = ET.SubElement(
        view, "Choices", name="label", toName="response", choice="single", required="true"
    )
    for label in LABELS:
        ET.SubElement(
            choices,
            "Choice",
            value=label.title,
            alias=label.name,
            hotkey=label.key,
            hint=label.hint,
        )
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def export(audit: Audit, target: Path) -> list[Path]:
    """Write the sample as ``STEM.csv``, ``STEM.json`` and ``STEM.xml``; return them."""
    if target.suffix.lower() not in (".csv", ".json"):
        raise AuditError(
            f"--export {target}: give a file name ending in .csv or .json (the CSV, the "
            "Label Studio tasks and their labelling config are written side by side)"
        )
    design = audit.require_design()
    paths = [target.with_suffix(suffix) for suffix in (".csv", ".json", ".xml")]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with paths[0].open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, CSV_COLUMNS)
            writer.writeheader()
            for position, pair in enumerate(design.order, 1):
                fields = _pair_fields(audit, pair)
                image = audit.image(pair)
                row = {k: _cell(v) for k, v in fields.items()}
                row.update(
                    position=position,
                    image=str(image) if image else audit.records[pair].get("image") or "",
                )
                writer.writerow(row)
        tasks = []
        for pair in design.order:
            data = {k: str(v or "") for k, v in _pair_fields(audit, pair).items()}
            data["image"] = _data_uri(audit.image(pair))
            tasks.append({"data": data})
        paths[1].write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
        paths[2].write_text(labelling_config(), encoding="utf-8")
    except OSError as exc:
        raise AuditError(
            f"--export {target}: cannot write ({exc.strerror}); choose a writable folder"
        ) from None
    return paths


# --- import ---------------------------------------------------------------------------


@dataclass
class Row:
    """One label read from a file, before it is checked against the run."""

    where: str  # "FILE row 3" / "FILE task 2, annotation 1", for errors
    pair: object
    label: object
    labeller: str | None
    answer_sha: object = None


@dataclass
class ImportResult:
    labels: int
    labellers: list[str]
    unlabelled: int  # rows without a label (left for later)


def _csv_rows(path: Path, text: str) -> Iterator[Row]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    id_column = next((c for c in ("pair_id", "id") if c in columns), None)
    if id_column is None or "label" not in columns:
        raise AuditError(
            f"{path}: a CSV import needs a pair_id and a label column (found: "
            f"{', '.join(columns) or 'no header'}); start from `vscbench audit RUN_DIR "
            "--export FILE.csv`"
        )
    reader.fieldnames = columns
    for number, row in enumerate(reader, 2):  # the header is row 1
        if None in row:
            raise AuditError(f"{path} row {number}: more cells than the header has columns")
        labeller = (row.get("labeller") or "").strip() or None
        yield Row(
            f"{path} row {number}",
            row.get(id_column),
            row.get("label"),
            labeller,
            row.get("answer_sha256") or None,
        )


def _who(annotation: dict[str, Any]) -> str | None:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return None if who in (None, "") else f"labelstudio:{who}"


def _choice(result: object) -> object:
    """The chosen class of a Label Studio annotation's ``result`` list."""
    if not isinstance(result, list):
        return None
    for item in result:
        if isinstance(item, dict) and item.get("type", "choices") == "choices":
            choices = (item.get("value") or {}).get("choices")
            if isinstance(choices, list) and len(choices) == 1:
                return choices[0]
            return choices
    return None


def _json_rows(path: Path, text: str) -> Iterator[Row]:
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuditError(f"{path}: not valid JSON ({exc}); export JSON from Label Studio") from None
    if not isinstance(tasks, list):
        raise AuditError(
            f"{path}: expected a list of tasks (Label Studio's JSON or JSON-MIN export)"
        )
    for number, task in enumerate(tasks, 1):
        where = f"{path} task {number}"
        if not isinstance(task, dict):
            raise AuditError(f"{where}: expected an object, got {type(task).__name__}")
        if "annotations" in task:  # Label Studio's JSON export
            data = task.get("data") if isinstance(task.get("data"), dict) else {}
            annotations = task["annotations"]
            if not isinstance(annotations, list):
                raise AuditError(f"{where}: 'annotations' is not a list")
            for index, annotation in enumerate(annotations, 1):
                if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
                    continue
                yield Row(
                    f"{where}, annotation {index}",
                    data.get("pair_id"),
                    _choice(annotation.get("result")),
                    _who(annotation),
                    data.get("answer_sha256") or None,
                )
        elif "label" in task:  # JSON-MIN: the task's data with the choice beside it
            annotator = task.get("annotator")
            yield Row(
                where,
                task.get("pair_id"),
                task.get("label"),
                None if annotator in (None, "") else f"labelstudio:{annotator}",
                task.get("answer_sha256") or None,
            )
        # a task without annotations was not labelled: nothing to import


def read_import(path: Path) -> list[Row]:
    """Every label a CSV or Label Studio file holds (unchecked)."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise AuditError(
            f"--import {path}: give a .csv (with pair_id and label columns) or a Label "
            "Studio export (.json)"
        )
    try:
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise AuditError(f"--import {path}: larger than {MAX_IMPORT_BYTES >> 20} MB")
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AuditError(f"--import {path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise AuditError(
            f"--import {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise AuditError(f"--import {path}: cannot read ({exc.strerror})") from None
    try:
        return list((_csv_rows if suffix == ".csv" else _json_rows)(path, text))
    except csv.Error as exc:
        raise AuditError(f"{path}: not a readable CSV ({exc})") from None


def import_labels(audit: Audit, path: Path, labeller: str) -> ImportResult:
    """Check every label of ``path`` against the run, then append them all, or none."""
    design = audit.require_design()
    entries: list[dict[str, Any]] = []
    unlabelled = 0
    for row in read_import(path):
        if row.label is None or (isinstance(row.label, str) and not row.label.strip()):
            unlabelled += 1
            continue
        pair = row.pair if isinstance(row.pair, str) else None
        if pair is None or pair not in audit.records:
            raise AuditError(
                f"{row.where}: pair {row.pair!r} is not in {audit.run_dir}; was the file "
                "exported from another run?"
            )
        if pair not in design.stratum_of:
            raise AuditError(
                f"{row.where}: pair {pair!r} is in the run but not in its audit sample, so "
                "its label cannot stand for a stratum; label the pairs "
                "`vscbench audit RUN_DIR --export FILE` lists"
            )
        label: Label | None = parse_label(row.label)
        if label is None:
            raise AuditError(
                f"{row.where}: unknown label {row.label!r}; use one of {allowed_labels()}"
            )
        response = audit.records[pair].get("response")
        if row.answer_sha is not None and row.answer_sha != response_sha(response):
            raise AuditError(
                f"{row.where}: the answer to {pair} changed since the file was exported; "
                "export the sample again and label the new answer"
            )
        try:
            who = check_labeller(row.labeller) if row.labeller else labeller
        except ValueError:
            raise AuditError(
                f"{row.where}: labeller {row.labeller!r} is not a name of 1 to 64 printable "
                "characters"
            ) from None
        entries.append(label_entry(pair, who, label, response, f"import:{path.name}"))
    audit.store.append(entries)
    return ImportResult(len(entries), sorted({e["labeller"] for e in entries}), unlabelled)
