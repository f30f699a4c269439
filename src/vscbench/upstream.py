"""Convert between upstream result sheets and vscbench run directories.

Upstream writes one spreadsheet per split and model: the metadata sheet plus response
columns (image-centric ``safe_resp_<model>_<j>`` / ``unsafe_resp_<model>_<j>``,
text-centric ``resp_<variant>``) and, after judging, verdict columns (``<col>_sm_eval``,
``<col>_gpt_eval``, ``<col>_gpt_eval_response``; text ``<col>_gpt_label``,
``<col>_gpt_eval``). Importing keeps upstream's verdicts verbatim in each record
(``upstream``) and judges the responses again with our judges; exporting writes the
same layout back. Caveat carried from upstream: it replaced failed or empty responses
with a canned refusal, so imported errors cannot be told from refusals.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from vscbench.config import DEFAULT_JUDGE, RunConfig
from vscbench.data.sheets import (
    IMAGE_COLUMNS,
    DataError,
    excluded_ids,
    load_image_centric,
    load_text_centric,
    read_xlsx,
    write_xlsx,
)
from vscbench.engine import panel_for, write_results
from vscbench.files import sha256_file, write_json_atomic
from vscbench.items import TEXT_VARIANTS, Item
from vscbench.judges.rules import StringMatchJudge
from vscbench.results.identity import fingerprint
from vscbench.results.records import new_record
from vscbench.results.store import CONFIG_FILE, SAMPLES_FILE, SampleStore

IMAGE_RESP = re.compile(r"^(safe|unsafe)_resp_(.+)_([0-2])$")
IMAGE_EVALS = ("sm_eval", "gpt_eval", "gpt_eval_response")
TEXT_EVALS = ("gpt_label", "gpt_eval")
SOURCE_DIR = "upstream"


def _split_of(frame: pd.DataFrame, path: Path) -> str:
    if set(IMAGE_COLUMNS) <= set(frame.columns):
        return "image"
    if "prompt_origin" in frame.columns:
        return "text"
    raise DataError(f"{path}: neither an image-centric nor a text-centric result sheet")


def _models(frame: pd.DataFrame) -> set[str]:
    return {m.group(2) for c in frame.columns if (m := IMAGE_RESP.match(c))}


def response_column(item: Item, model: str) -> str:
    if item.split == "image":
        _, _, _, label, slot = item.id.split("/")
        return f"{label}_resp_{model}_{slot}"
    return f"resp_{item.variant}"


def import_upstream(
    paths: list[Path],
    out: Path,
    model: str | None = None,
    judges: tuple[str, ...] = (DEFAULT_JUDGE,),
) -> dict[str, Any]:
    """Make a run directory from upstream result sheets; returns its metrics."""
    if (out / SAMPLES_FILE).exists():
        raise DataError(f"{out} already holds a run; import into a new directory")
    records: list[dict[str, Any]] = []
    defects = []
    names: set[str] = set()
    (out / SOURCE_DIR).mkdir(parents=True, exist_ok=True)
    for path in paths:
        frame = read_xlsx(path)
        split = _split_of(frame, path)
        loader = load_image_centric if split == "image" else load_text_centric
        items, found = loader(path)
        defects.extend(found)
        if split == "image":
            candidates = _models(frame)
            if model is None and len(candidates) != 1:
                raise DataError(
                    f"{path}: response columns of models {sorted(candidates)}; "
                    "name one with --model-name"
                )
            name = model or next(iter(candidates))
        else:
            name = model or path.stem.removeprefix("vscbench_text_centric_").removesuffix("_eval")
        names.add(name)
        skip = excluded_ids(found)
        for item in items:
            column = response_column(item, name)
            if column not in frame.columns:
                continue  # a variant or slot upstream did not run
            record = new_record(item, item.image)
            response = frame[column].iloc[item.row]
            record["response"] = response if response.strip() else None
            if record["response"] is None:
                record["error"] = "empty response in the upstream sheet"
            if item.id in skip:
                record["excluded"] = "defective (empty prompt)"
            suffixes = IMAGE_EVALS if split == "image" else TEXT_EVALS
            record["upstream"] = {
                s: frame[f"{column}_{s}"].iloc[item.row]
                for s in suffixes
                if f"{column}_{s}" in frame.columns
            }
            records.append(record)
        shutil.copy(path, out / SOURCE_DIR / f"{split}.xlsx")
    if not records:
        raise DataError("no response columns found in " + ", ".join(map(str, paths)))
    config = RunConfig(
        model=f"upstream/{'+'.join(sorted(names))}",
        judges=judges,
        splits=tuple(sorted({r["split"] for r in records})),
    )
    panel = panel_for(config.judging, config.requests)
    panel.judge_all(records, config.requests.max_connections)
    stored_config = {
        **config.public(),
        "imported_from": list(map(str, paths)),
        # answers made elsewhere: identified by the sheets they came from
        "identity": {"imported_sha256": {str(p): sha256_file(p) for p in paths}},
    }
    stored_config["fingerprint"] = fingerprint(stored_config["identity"])
    write_json_atomic(out / CONFIG_FILE, stored_config)
    data = {
        "dir": None,
        "sha256": {},
        "defects": [d.to_dict() for d in defects],
        "excluded": {r["id"]: r["excluded"] for r in records if r.get("excluded")},
    }
    return write_results(out, stored_config, panel, data, records, SampleStore(out / SAMPLES_FILE))


def export_upstream(
    run_dir: Path, out: Path, model: str | None = None, data_dir: str | None = None
) -> list[Path]:
    """Write a run in upstream's layout: ``results_<model>/vscbench_<split>_<model>*.xlsx``."""
    from vscbench.data.layout import SHEETS, resolve_data_dir
    from vscbench.engine import load_config

    config = load_config(run_dir, method_runs=False)  # writes the answers, runs nothing
    name = model or config.target.model.split("/")[-1]
    records = list(SampleStore(run_dir / SAMPLES_FILE).load().values())
    folder = out / f"results_{name}"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for split in ("image", "text"):
        mine = [r for r in records if r["split"] == split]
        if not mine:
            continue
        source = run_dir / SOURCE_DIR / f"{split}.xlsx"
        if not source.exists():
            source = resolve_data_dir(data_dir or config.data.data_dir) / SHEETS[split].name
        frame = read_xlsx(source)
        for record in mine:
            row = _row_of(record)
            column = _column_of(record, name)
            if column not in frame.columns:
                frame[column] = ""
            frame.loc[row, column] = record.get("response") or ""
            for suffix, value in _verdicts(record, split).items():
                key = f"{column}_{suffix}"
                if key not in frame.columns:
                    frame[key] = ""
                frame.loc[row, key] = value
        stem = f"vscbench_{'image' if split == 'image' else 'text'}_centric_{name}"
        responses_only = frame[
            [
                c
                for c in frame.columns
                if not any(c.endswith(f"_{s}") for s in (*IMAGE_EVALS, *TEXT_EVALS))
            ]
        ]
        for path, table in (
            (folder / f"{stem}.xlsx", responses_only),
            (folder / f"{stem}_eval.xlsx", frame),
        ):
            write_xlsx(table, path)
            written.append(path)
    return written


def _row_of(record: dict[str, Any]) -> int:
    if record.get("row") is None:
        raise DataError(f"{record['id']}: the record has no sheet row")
    return int(record["row"])


def _column_of(record: dict[str, Any], model: str) -> str:
    if record["split"] == "image":
        _, _, _, label, slot = record["id"].split("/")
        return f"{label}_resp_{model}_{slot}"
    if record["variant"] not in TEXT_VARIANTS:
        raise DataError(f"{record['id']}: unknown variant {record['variant']!r}")
    return f"resp_{record['variant']}"


def _verdicts(record: dict[str, Any], split: str) -> dict[str, str]:
    """Upstream's own verdicts when imported, else ours in its columns."""
    if record.get("upstream") is not None:
        return dict(record["upstream"])
    aware = record.get("aware")
    if aware is None:
        return {}
    if split == "image":
        key = "sm_eval" if record.get("judge") == StringMatchJudge.name else "gpt_eval"
        out = {key: str(bool(aware))}
        if key == "gpt_eval":
            out["gpt_eval_response"] = record.get("judge_output") or ""
        return out
    return {"gpt_label": record.get("judge_label") or "", "gpt_eval": str(bool(aware))}
