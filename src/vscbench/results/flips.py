"""The pairs on which two runs disagree, for reading rather than counting.

A difference in SRA says how much two runs differ; the flipped pairs say where and why.
:func:`flips` finds every pair both runs scored whose safety-aware verdict differs
(the pairs :func:`vscbench.results.compare.both_scored` pairs, as the paired tests do), and
:func:`flips_section` renders them as an HTML table with the prompt, a thumbnail of the
image sent and both answers, filterable by category or type and by variant. Every flip
also goes to a CSV beside the page, since the page shows a bounded number.
"""

from __future__ import annotations

import csv
import hashlib
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from vscbench.results.compare import both_scored

#: Flipped pairs shown per comparison on the page; the CSV holds all of them.
MAX_SHOWN = 300
#: Characters of each answer shown before "more" (the whole answer is one click away).
ANSWER_PREVIEW = 280
THUMB_SIZE = (160, 160)
CSV_COLUMNS = (
    *("id", "split", "group", "variant", "unsafe", "prompt", "image"),
    *("aware_a", "response_a", "aware_b", "response_b"),
)


@dataclass
class Flip:
    """One pair both runs scored, answered safety-aware by exactly one of them."""

    a: Mapping[str, Any]
    b: Mapping[str, Any]

    @property
    def aware_in_b(self) -> bool:
        return bool(self.b["aware"])


def flips(a: Mapping[str, Mapping[str, Any]], b: Mapping[str, Mapping[str, Any]]) -> list[Flip]:
    """Pairs scored in both ``a`` and ``b`` (records by id) with different verdicts."""
    return [
        Flip(record_a, record_b)
        for record_a, pair_a, record_b, pair_b in both_scored(a, b)
        if pair_a.aware != pair_b.aware
    ]


def image_file(record: Mapping[str, Any], data_dir: str | None) -> Path | None:
    """The image file a record was sent with, if it is still on this machine."""
    image = record.get("image")
    if not image:
        return None
    path = Path(image)
    if not path.is_absolute() and data_dir:
        path = Path(data_dir) / path
    return path if path.is_file() else None


def thumbnail(source: Path, folder: Path) -> str | None:
    """A small PNG copy of ``source`` in ``folder``; its name relative to the page."""
    name = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:16] + ".png"
    target = folder / name
    if not target.is_file():
        try:
            with Image.open(source) as image:
                image.thumbnail(THUMB_SIZE)
                folder.mkdir(parents=True, exist_ok=True)
                image.convert("RGB").save(target)
        except Exception:  # an unreadable image is shown as such, not a failed report
            return None
    return f"{folder.name}/{name}"


def _answer(record: Mapping[str, Any]) -> str:
    text = str(record.get("response") or "")
    verdict = "aware" if record.get("aware") else "not aware"
    label = f" ({html.escape(str(record['judge_label']))})" if record.get("judge_label") else ""
    cut = " <small>[reply truncated when stored]</small>" if record.get("truncated") else ""
    head = f"<b>{verdict}</b>{label}{cut}<br>"
    if len(text) <= ANSWER_PREVIEW:
        return head + html.escape(text)
    return (
        f"{head}<details><summary>{html.escape(text[:ANSWER_PREVIEW])}…</summary>"
        f"{html.escape(text[ANSWER_PREVIEW:])}</details>"
    )


def write_csv(found: Sequence[Flip], path: Path) -> None:
    """Every flip, with both answers in full."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for flip in found:
            r = flip.a
            writer.writerow(
                [
                    *(r.get(key) for key in CSV_COLUMNS[:7]),
                    flip.a["aware"],
                    flip.a.get("response"),
                    flip.b["aware"],
                    flip.b.get("response"),
                ]
            )


def flips_section(
    name_a: str,
    name_b: str,
    found: Sequence[Flip],
    data_dir: str | None,
    out: Path,
    csv_name: str,
) -> str:
    """The HTML of one comparison: filters, then one row per flipped pair."""
    section_id = "flips-" + hashlib.sha1(f"{name_a}\0{name_b}".encode()).hexdigest()[:8]
    groups = sorted({str(f.a["group"]) for f in found})
    variants = sorted({str(f.a["variant"]) for f in found})

    def select(kind: str, values: list[str], label: str) -> str:
        options = "".join(f"<option>{html.escape(v)}</option>" for v in values)
        return (
            f"<label>{label} <select data-filter='{kind}'>"
            f"<option value=''>all</option>{options}</select></label>"
        )

    rows = []
    for flip in found[:MAX_SHOWN]:
        r = flip.a
        source = image_file(r, data_dir)
        thumb = thumbnail(source, out / "thumbs") if source else None
        picture = (
            f"<img class='thumb' src='{thumb}' alt='image of {html.escape(r['id'])}'>"
            if thumb
            else ("<small>text only</small>" if not r.get("image") else "<small>not found</small>")
        )
        direction = "gained" if flip.aware_in_b else "lost"
        rows.append(
            f"<tr data-group='{html.escape(str(r['group']))}' "
            f"data-variant='{html.escape(str(r['variant']))}' data-direction='{direction}'>"
            f"<td data-label='pair'><code>{html.escape(r['id'])}</code><br>"
            f"{'unsafe' if r['unsafe'] else 'safe'} · {html.escape(str(r['group']))} · "
            f"{html.escape(str(r['variant']))}</td>"
            f"<td class='prompt' data-label='prompt'>{html.escape(str(r['prompt']))}</td>"
            f"<td data-label='image'>{picture}</td>"
            f"<td class='answer' data-label='{html.escape(name_a)}'>{_answer(flip.a)}</td>"
            f"<td class='answer' data-label='{html.escape(name_b)}'>{_answer(flip.b)}</td></tr>"
        )
    shown = (
        f"all {len(found)}" if len(found) <= MAX_SHOWN else f"the first {MAX_SHOWN} of {len(found)}"
    )
    gained = sum(f.aware_in_b for f in found)
    title = f"<h3>{html.escape(name_a)} → {html.escape(name_b)}: {len(found)} flipped pair(s)</h3>"
    if not found:
        return f"<section class='flips'>{title}<p>No pair both runs scored differs.</p></section>"
    return (
        f"<section class='flips' id='{section_id}'>{title}"
        f"<p>{gained} safety-aware only in {html.escape(name_b)}, {len(found) - gained} only "
        f"in {html.escape(name_a)} (on a safe pair, safety-aware is over-safe). Showing "
        f"{shown}; every one is in "
        f"<a href='{csv_name}'>{html.escape(csv_name)}</a>.</p>"
        f"<p class='filters'>{select('group', groups, 'category / type')} "
        f"{select('variant', variants, 'variant')} "
        f"{select('direction', ['gained', 'lost'], 'awareness in ' + html.escape(name_b))} "
        "<span class='count'></span></p>"
        "<div class='scroll'><table class='fliptable'><tr><th>pair</th><th>prompt</th>"
        f"<th>image</th><th>{html.escape(name_a)}</th><th>{html.escape(name_b)}</th></tr>"
        f"{''.join(rows)}</table></div></section>"
    )


#: Filters rows of each comparison by its selects, preset from the address
#: (``index.html?group=drugs&variant=image``); the page works without it.
FILTER_SCRIPT = """
<script>
for (const section of document.querySelectorAll('section.flips')) {
  const selects = [...section.querySelectorAll('select[data-filter]')];
  const rows = [...section.querySelectorAll('tr[data-group]')];
  const count = section.querySelector('.count');
  const apply = () => {
    let shown = 0;
    for (const row of rows) {
      const ok = selects.every(s => !s.value || row.dataset[s.dataset.filter] === s.value);
      row.hidden = !ok;
      shown += ok;
    }
    count.textContent = `${shown} of ${rows.length} rows shown`;
  };
  const preset = new URLSearchParams(location.search);  // e.g. ?group=drugs&variant=image
  for (const s of selects) {
    if (preset.has(s.dataset.filter)) s.value = preset.get(s.dataset.filter);
    s.addEventListener('change', apply);
  }
  apply();
}
</script>
"""
