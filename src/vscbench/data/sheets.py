"""Read the two metadata sheets into :class:`~vscbench.items.Item` records.

Structural problems (a missing sheet or column, an unknown category) raise
:class:`DataError` naming the file, row and field, because no run can be trusted on top
of them. Problems that affect single items (an empty prompt, an image reused) are
returned as :class:`Defect` records so a run can exclude or flag them and say so in its
summary, instead of failing or silently dropping anything.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vscbench.data.layout import IMAGE_DIR, SHEETS, TEXT_DIR, DataError
from vscbench.files import sha256_file, temporary_for
from vscbench.items import (
    FIGSTEP_PROMPT,
    IMAGE_CATEGORIES,
    TEXT_VARIANTS,
    Item,
    image_item_id,
    text_item_id,
)

IMAGE_SLOTS = tuple(f"{label}_img_{slot}" for label in ("safe", "unsafe") for slot in range(3))
IMAGE_COLUMNS = ("Category", "Prompt", *IMAGE_SLOTS)
TEXT_COLUMNS = (
    "type",
    "focus",
    "prompt_origin",
    "prompt_mm",
    "object",
    "search_img",
    "typography_img",
    "concat_img",
    "prompt_figstep",
    "figstep_img",
)
#: Per text-centric variant: (prompt column, image column); figstep has a fixed prompt.
TEXT_VARIANT_COLUMNS: dict[str, tuple[str | None, str | None]] = {
    "txt": ("prompt_origin", None),
    "search": ("prompt_mm", "search_img"),
    "typography": ("prompt_mm", "typography_img"),
    "concat": ("prompt_mm", "concat_img"),
    "figstep": (None, "figstep_img"),
}

#: Defect kinds that make an item unusable unless the user opts in.
EXCLUDING_DEFECTS = frozenset({"empty_prompt"})


@dataclass(frozen=True)
class Defect:
    """A problem in the data that a run works around and must report."""

    kind: str
    source: str
    message: str
    row: int | None = None
    field: str | None = None
    items: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["items"] = list(self.items)
        return out

    def describe(self) -> str:
        where = self.source
        if self.row is not None:
            where += f" row {self.row} (spreadsheet line {self.row + 2})"
        if self.field:
            where += f" field {self.field!r}"
        return f"[{self.kind}] {where}: {self.message}"


@dataclass
class Sheets:
    """Items of both splits with the defects found while reading them."""

    items: list[Item]
    defects: list[Defect]
    sha256: dict[str, str]


#: What a spreadsheet takes for the start of a formula (OWASP's CSV-injection list, with
#: the full-width forms some spreadsheets also accept).
FORMULA_START = tuple("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
#: What XML 1.0 cannot carry (control characters, CR, lone surrogates), and a literal
#: ``_xHHHH_`` that would read as an escape: written in OOXML's own ``_xHHHH_`` form.
_OOXML_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
_OOXML_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")


def read_xlsx(path: Path) -> pd.DataFrame:
    """Every cell of an .xlsx sheet as text (empty cells as ""): the one xlsx reader.

    ``_xHHHH_`` escapes are decoded, as spreadsheets show them, so what
    :func:`write_xlsx` wrote reads back as the original text.
    """
    try:
        frame = pd.read_excel(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # openpyxl raises several unrelated types for bad files
        raise DataError(f"{path}: not a readable .xlsx sheet ({exc})") from exc
    return frame.map(_ooxml_unescape).rename(columns=_ooxml_unescape)


def _ooxml_unescape(value: object) -> object:
    if not isinstance(value, str) or "_x" not in value:
        return value
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m[1], 16)), value)


def _ooxml_escape(text: str) -> str:
    return _OOXML_UNSAFE.sub(lambda m: f"_x{ord(m[0]):04X}_", text)


def write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as data, never as formulas: the one xlsx writer.

    Replies are written to spreadsheets people open, so every cell is a string cell
    (``None``/NaN empty), and one that starts like a formula (``=``, ``+``, ``-``,
    ``@``, tab, CR) carries the quote prefix, xlsx's form of OWASP's leading ``'``:
    shown and read as the text it is, never evaluated. Characters XML cannot carry are
    escaped as ``_xHHHH_``; :func:`read_xlsx` reads every cell back as it was.
    """
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for c, name in enumerate(frame.columns, start=1):
        _text_cell(sheet.cell(1, c), name)
    for r, row in enumerate(frame.itertuples(index=False), start=2):
        for c, value in enumerate(row, start=1):
            _text_cell(sheet.cell(r, c), value)
    tmp = temporary_for(path)
    book.save(tmp)
    tmp.replace(path)


def _text_cell(cell: Any, value: object) -> None:
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    if not text:
        return
    cell.value = _ooxml_escape(text)
    cell.data_type = "s"  # assigned text starting with "=" would otherwise be a formula
    if text.startswith(FORMULA_START):
        cell.quotePrefix = True


def _read_sheet(path: Path, columns: Iterable[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(
            f"{path}: metadata sheet not found (run `vscbench data fetch` or pass --data-dir)"
        )
    frame = read_xlsx(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path.name}: missing column(s) {', '.join(map(repr, missing))}")
    return frame


def _clean(value: object) -> str:
    return str(value).strip()


def load_image_centric(path: Path) -> tuple[list[Item], list[Defect]]:
    """Image-centric sheet: one query per row, three safe and three unsafe images."""
    frame = _read_sheet(path, IMAGE_COLUMNS)
    source = path.name
    items: list[Item] = []
    defects: list[Defect] = []
    per_category: dict[str, int] = defaultdict(int)
    for row, record in enumerate(frame.to_dict("records")):
        category = _clean(record["Category"])
        if category not in IMAGE_CATEGORIES:
            raise DataError(
                f"{source} row {row} (spreadsheet line {row + 2}) field 'Category': "
                f"unknown category {category!r}; expected one of {', '.join(IMAGE_CATEGORIES)}"
            )
        index = per_category[category]
        per_category[category] += 1
        prompt = _clean(record["Prompt"])
        row_items: list[Item] = []
        folder = f"{IMAGE_DIR}/{category}"
        files: dict[str, list[str]] = defaultdict(list)
        for label in ("safe", "unsafe"):
            for slot in range(3):
                column = f"{label}_img_{slot}"
                name = _clean(record[column])
                item_id = image_item_id(category, index, label, slot)
                if not name:
                    defects.append(_no_file_named(source, row, column, item_id))
                    continue
                files[name].append(column)
                row_items.append(
                    Item(
                        id=item_id,
                        split="image",
                        variant="image",
                        group=category,
                        unsafe=label == "unsafe",
                        prompt=prompt,
                        image=f"{folder}/{name}",
                        judge_query=prompt,
                        row=row,
                        source=source,
                    )
                )
        if not prompt:
            defects.append(_empty(source, row, "Prompt", tuple(i.id for i in row_items)))
        for name, columns in files.items():
            if len(columns) > 1:
                defects.append(
                    Defect(
                        "duplicate_image_in_row",
                        source,
                        f"{name} is used by {', '.join(columns)}",
                        row,
                        columns[0],
                        tuple(i.id for i in row_items if i.image == f"{folder}/{name}"),
                    )
                )
        items.extend(row_items)
    defects.extend(_shared_across_rows(items, source))
    return items, defects


def load_text_centric(path: Path) -> tuple[list[Item], list[Defect]]:
    """Text-centric sheet: XSTest queries, each as text only and with four images."""
    frame = _read_sheet(path, TEXT_COLUMNS)
    source = path.name
    items: list[Item] = []
    defects: list[Defect] = []
    for row, record in enumerate(frame.to_dict("records")):
        xstest_type = _clean(record["type"])
        if not xstest_type:
            raise DataError(
                f"{source} row {row} (spreadsheet line {row + 2}) field 'type': empty; "
                "the safety label is derived from it"
            )
        unsafe = "contrast" in xstest_type
        judge_query = _clean(record["prompt_origin"])
        for variant in TEXT_VARIANTS:
            prompt_col, image_col = TEXT_VARIANT_COLUMNS[variant]
            item_id = text_item_id(row, variant)
            prompt = _clean(record[prompt_col]) if prompt_col else FIGSTEP_PROMPT
            if not prompt:
                defects.append(_empty(source, row, prompt_col, (item_id,)))
            image = None
            render_text = {
                "typography": record["object"],
                "concat": record["object"],
                "figstep": record["prompt_figstep"],
            }.get(variant)
            if image_col:
                name = _clean(record[image_col])
                if not name:
                    defects.append(_no_file_named(source, row, image_col, item_id))
                    continue
                image = f"{TEXT_DIR}/{variant}/{name}"
            items.append(
                Item(
                    id=item_id,
                    split="text",
                    variant=variant,
                    group=xstest_type,
                    unsafe=unsafe,
                    prompt=prompt,
                    image=image,
                    judge_query=judge_query,
                    row=row,
                    source=source,
                    render_text=_clean(render_text) if render_text is not None else None,
                    photo=(
                        f"{TEXT_DIR}/search/{_clean(record['search_img'])}"
                        if variant == "concat" and _clean(record["search_img"])
                        else None
                    ),
                )
            )
        if not judge_query:
            items_of_row = tuple(text_item_id(row, v) for v in TEXT_VARIANTS)
            defects.append(_empty(source, row, "prompt_origin", items_of_row, "judge query"))
    defects.extend(_shared_across_rows(items, source))
    return items, defects


def _empty(
    source: str, row: int, field: str | None, items: tuple[str, ...], what: str = "query text"
) -> Defect:
    return Defect("empty_prompt", source, f"the {what} is empty", row, field, items)


def _no_file_named(source: str, row: int, column: str, item_id: str) -> Defect:
    return Defect("missing_image_reference", source, "no image file named", row, column, (item_id,))


def _shared_across_rows(items: list[Item], source: str) -> list[Defect]:
    """One defect per image file referenced from more than one sheet row."""
    rows_by_image: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        if item.image:
            rows_by_image[item.image][item.row].append(item.id)
    defects = []
    for image, rows in rows_by_image.items():
        if len(rows) > 1:
            row_list = sorted(rows)
            defects.append(
                Defect(
                    "image_shared_across_rows",
                    source,
                    f"{image} is used by rows {', '.join(map(str, row_list))}",
                    row_list[0],
                    None,
                    tuple(i for r in row_list for i in rows[r]),
                )
            )
    return defects


def load_sheets(data_dir: Path, splits: Iterable[str] = ("image", "text")) -> Sheets:
    """Load the requested splits from ``data_dir``, checking checksums and row counts."""
    items: list[Item] = []
    defects: list[Defect] = []
    sha: dict[str, str] = {}
    loaders = {"image": load_image_centric, "text": load_text_centric}
    for split in splits:
        spec = SHEETS[split]
        path = data_dir / spec.name
        split_items, split_defects = loaders[split](path)
        sha[spec.name] = digest = sha256_file(path)
        if digest != spec.sha256:
            split_defects.insert(
                0,
                Defect(
                    "checksum_mismatch",
                    spec.name,
                    f"sha256 {digest} differs from the pinned release {spec.sha256}; "
                    "figures are not comparable with published ones",
                ),
            )
        rows = len({i.row for i in split_items})
        if rows != spec.rows:
            split_defects.insert(
                0, Defect("row_count", spec.name, f"{rows} rows, the release has {spec.rows}")
            )
        items.extend(split_items)
        defects.extend(split_defects)
    return Sheets(items, defects, sha)


def excluded_ids(defects: Iterable[Defect]) -> set[str]:
    """Ids of items a run leaves out by default (see ``--include-defective``)."""
    return {i for d in defects if d.kind in EXCLUDING_DEFECTS for i in d.items}
