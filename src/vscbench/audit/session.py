"""One run directory's audit: its pairs, its design, its labels and what they give.

Everything that reads or writes ``RUN_DIR/audit/`` goes through :class:`Audit`, so the
page, the import, the export, ``score`` (through :func:`audit_metrics`) and the report
agree on which labels count and what they say.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vscbench.audit.design import (
    AuditError,
    Design,
    Population,
    Unit,
    audit_dir,
    changes,
    draw,
    load_design,
    population,
    save_design,
)
from vscbench.audit.estimate import agreement, stratified_share
from vscbench.audit.labels import (
    Label,
    LabelLog,
    LabelStore,
    between_labellers,
    label_entry,
    per_pair,
    response_sha,
    share,
)
from vscbench.data.layout import locate
from vscbench.files import write_json_atomic
from vscbench.results.counting import sra
from vscbench.results.store import (
    CONFIG_FILE,
    METRICS_FILE,
    RunDirError,
    RunDirLock,
    load_records,
    read_json,
)


@dataclass
class Audit:
    """A run directory opened for auditing."""

    run_dir: Path
    records: dict[str, dict[str, Any]]
    population: Population
    data_dir: str | None
    fingerprint: str | None
    design: Design | None = None
    store: LabelStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = LabelStore(audit_dir(self.run_dir))

    @classmethod
    def open(cls, run_dir: Path, data_dir: str | None = None) -> Audit:
        """Read the run; raises ``RunDirError`` or :class:`AuditError` for what is amiss."""
        records = load_records(run_dir)
        metrics = read_json(run_dir / METRICS_FILE) if (run_dir / METRICS_FILE).exists() else {}
        config = read_json(run_dir / CONFIG_FILE) if (run_dir / CONFIG_FILE).exists() else {}
        if data_dir is None:
            data_dir = (metrics.get("data") or {}).get("dir") or config.get("data_dir")
        audit = cls(
            run_dir, records, population(records.values()), data_dir, config.get("fingerprint")
        )
        audit.design = load_design(run_dir)
        return audit

    # --- the design ---------------------------------------------------------------------

    def stale(self) -> str | None:
        """Why the design no longer fits the run's records, or None."""
        return None if self.design is None else changes(self.design, self.population)

    def prepare(self, n: int | None, seed: int | None, redraw: bool) -> tuple[Design, bool]:
        """The design to label: the kept one, or a new draw; and whether it is new.

        A kept design is refused when the run changed since it was drawn, or when ``n`` or
        ``seed`` ask for another sample, unless ``redraw``.
        """
        if not self.population.units:
            failed = len(self.records)
            raise AuditError(
                f"{self.run_dir} has no scored pairs to audit ({failed} record(s), none with "
                "an answer and a verdict); finish the run first (`vscbench run` again "
                "retries failed pairs, `vscbench score` judges stored answers)"
            )
        kept = self.design
        if kept is not None and not redraw:
            why = self.stale()
            if why is not None:
                raise AuditError(
                    f"{self.run_dir}: the run changed since its audit sample was drawn "
                    f"({kept.created}): {why}. Its labels would no longer stand for the run. "
                    "Pass --redraw to draw a new sample (labels of unchanged answers are kept)"
                )
            asked = [
                f"{flag} {value} (drawn with {old})"
                for flag, value, old in (("--n", n, kept.n), ("--seed", seed, kept.seed))
                if value is not None and value != old
            ]
            if asked:
                raise AuditError(
                    f"{self.run_dir} already has an audit sample; {', '.join(asked)}. Pass "
                    "--redraw to draw another (labels of pairs in both are kept)"
                )
            return kept, False
        design = draw(
            self.population,
            n if n is not None else (kept.n if kept else 60),
            seed if seed is not None else (kept.seed if kept else 0),
            self.fingerprint,
        )
        save_design(self.run_dir, design)
        self.design = design
        return design, True

    def require_design(self) -> Design:
        if self.design is None:
            raise AuditError(
                f"{self.run_dir} has no audit sample yet; run `vscbench audit {self.run_dir}` "
                "to draw one"
            )
        return self.design

    # --- pairs and labels ---------------------------------------------------------------

    def answers(self) -> dict[str, str]:
        """Sha256 of every audited pair's current answer (what a label must match)."""
        return {
            u.id: response_sha(self.records[u.id].get("response")) for u in self.population.units
        }

    def image(self, pair: str) -> Path | None:
        """The image file the pair was sent with, if it is on this machine (the record
        holds it relative to the data directory, or absolute for renders in the cache)."""
        image = self.records[pair].get("image")
        return locate(Path(self.data_dir or "."), image) if image else None

    def read_labels(self) -> tuple[LabelLog, dict[tuple[str, str], Label]]:
        log = self.store.read()
        return log, log.latest(self.answers())

    def give(self, pair: str, labeller: str, label: Label | None, source: str) -> None:
        """Append one label (or a skip, when ``label`` is None) of a sampled pair."""
        design = self.require_design()
        if pair not in design.stratum_of:
            raise AuditError(f"pair {pair!r} is not in this run's audit sample")
        response = self.records[pair].get("response")
        self.store.append([label_entry(pair, labeller, label, response, source)])

    # --- what the labels give -------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The ``audit`` section of ``metrics.json`` (see the README)."""
        design = self.require_design()
        log, latest = self.read_labels()
        sampled = set(design.stratum_of)
        latest = {key: label for key, label in latest.items() if key[1] in sampled}
        by_pair = per_pair(latest)
        out: dict[str, Any] = {
            "design": {
                "seed": design.seed,
                "n": design.n,
                "drawn": design.created,
                "basis": design.basis,
                "judge": design.judge,
                "strata": design.strata,
            },
            "sample": len(design.order),
            "labelled": len(by_pair),
            "complete": len(by_pair) == len(design.order),
            "labellers": dict(sorted(Counter(labeller for labeller, _ in latest).items())),
            "between_labellers": between_labellers(latest),
            "unreadable_label_lines": log.unreadable_lines,
        }
        why = self.stale()
        if why is not None:
            out["stale"] = (
                f"the run changed since the sample was drawn ({why}); these labels no longer "
                "stand for it: run `vscbench audit RUN_DIR --redraw`"
            )
            return out
        units = self.population.units
        aware = {pair: share(labels, "aware") for pair, labels in by_pair.items()}
        refusal = {pair: share(labels, "refusal") for pair, labels in by_pair.items()}
        out["people"] = _people(units, aware, design.seed)
        judge = sra([(u.unsafe, u.judge_aware, u.cluster) for u in units])
        out["judge"] = {
            k: judge[k] for k in ("sra_u", "sra_s", "avg", "ci95", "n_unsafe", "n_safe")
        }
        out["agreement"] = {}
        for target, people in (("aware", aware), ("refusal", refusal)):
            verdict = {u.id: u.judge_aware if target == "aware" else u.judge_refusal for u in units}
            out["agreement"][target] = {
                side: agreement(
                    [u for u in units if side == "all" or u.side == side],
                    people,
                    verdict,
                    design.seed,
                )
                for side in ("unsafe", "safe", "all")
            }
        return out

    def write_metrics(self) -> dict[str, Any] | None:
        """Put :meth:`summary` into ``metrics.json``; None if a run or score holds the run.

        The figures are recomputed from the files whenever they are read, so a write that
        has to wait for another process loses nothing.
        """
        path = self.run_dir / METRICS_FILE
        if not path.exists():
            return None
        summary = self.summary()
        try:
            with RunDirLock(self.run_dir):
                metrics = read_json(path)
                metrics["audit"] = summary
                write_json_atomic(path, metrics)
        except RunDirError:  # held by `run` or `score`, which write the section themselves
            return None
        return summary


def _people(units: list[Unit], aware: Mapping[str, float], seed: int) -> dict[str, Any]:
    """SRA_u and SRA_s as people would have scored every audited pair."""
    out: dict[str, Any] = {}
    for key, unsafe, offset in (("sra_u", True, 1), ("sra_s", False, 2)):
        side = [u for u in units if u.unsafe == unsafe]
        success = {u.id: aware[u.id] if unsafe else 1 - aware[u.id] for u in side if u.id in aware}
        out[key] = stratified_share(side, success, seed * 10 + offset).to_json() if side else None
    values = [out[k]["value"] if out[k] else None for k in ("sra_u", "sra_s")]
    return {
        "sra_u": values[0],
        "sra_s": values[1],
        "avg": None if None in values else (values[0] + values[1]) / 2,
        **{
            field: {k: (out[k] or {}).get(field) for k in ("sra_u", "sra_s")}
            for field in ("ci95", "ci95_run", "n_labelled", "n_pairs", "variance", "missing")
        },
    }


def audit_metrics(run_dir: Path, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``audit`` section for a run being (re)scored, or None when it has no audit.

    Called by the engine as it writes ``metrics.json``, so hand labels outlive
    re-scoring: recomputed from the files, or marked stale if the records changed.
    """
    design = load_design(run_dir)
    if design is None:
        return None
    config = read_json(run_dir / CONFIG_FILE) if (run_dir / CONFIG_FILE).exists() else {}
    by_id = {str(r["id"]): r for r in records}
    audit = Audit(run_dir, by_id, population(records), None, config.get("fingerprint"), design)
    return audit.summary()
