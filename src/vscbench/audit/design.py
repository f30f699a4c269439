"""The audit's sample: which pairs people label, drawn so that the figures can be corrected.

**Population.** The pairs a run's headline counts (image-centric and the text-centric
image variants, or ``txt`` for a text-only run; see :mod:`vscbench.results.counting`),
scored, each with the query it belongs to.

**Strata.** Safety side × the primary judge's verdict: ``unsafe/aware``,
``unsafe/not_aware``, ``safe/aware``, ``safe/not_aware``. Within a stratum people
disagree with the judge at one rate, so the stratum's size (known exactly from the run)
times the share people call aware in its sample estimates the run's figure.

**Allocation.** Half the sample is spread evenly over the non-empty strata (at least two
pairs each where the stratum has them), so a rare cell such as refusals of safe pairs is
seen; the rest goes to the strata in proportion to their size (largest remainder). A
stratum smaller than its share is taken whole (a census of that stratum).

**Draw.** Each stratum's pairs are put in a seeded random order and the first ``n_h``
are taken, so a larger sample with the same seed contains the smaller one. The pairs are
shown in an interleaved order (each stratum's pairs spread evenly through the sitting),
so labelling that stops early still leaves a random sample of every stratum.

The design is kept in ``RUN_DIR/audit/design.json`` with the run's fingerprint and a
hash of the scored records it was drawn from; an audit of a run whose records changed
since is refused (draw anew with ``--redraw``).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vscbench.audit.labels import now, response_sha
from vscbench.files import write_json_atomic
from vscbench.results.counting import classify, in_overall
from vscbench.results.store import read_json

AUDIT_DIR = "audit"
DESIGN_FILE = "design.json"
DESIGN_VERSION = 1
STRATA = ("unsafe/aware", "unsafe/not_aware", "safe/aware", "safe/not_aware")
DEFAULT_N = 60


class AuditError(ValueError):
    """The audit cannot go on as asked; the message names the file or flag and the fix."""


@dataclass(frozen=True, slots=True)
class Unit:
    """A scored pair of the population: what the design and the estimator need of it."""

    id: str
    cluster: str  # the query (answers to one query go together)
    unsafe: bool
    judge_aware: bool
    judge_refusal: bool | None = None

    @property
    def stratum(self) -> str:
        return f"{self.side}/{'aware' if self.judge_aware else 'not_aware'}"

    @property
    def side(self) -> str:
        return "unsafe" if self.unsafe else "safe"


@dataclass
class Population:
    """The run's audited pairs, the basis they stand for and a digest of each."""

    units: list[Unit]
    basis: str
    judge: str | None
    digests: dict[str, str]  # id -> short hash of what the audit depends on

    @property
    def sha256(self) -> str:
        text = json.dumps(sorted(self.digests.items()), separators=(",", ":"))
        return hashlib.sha256(f"{self.basis}\n{text}".encode()).hexdigest()


def _digest(record: Mapping[str, Any]) -> str:
    """What a sample drawn from this record depends on: its side, verdicts and answer."""
    parts = [
        record.get("unsafe"),
        record.get("judge"),
        record.get("aware"),
        record.get("judge_refusal"),
        response_sha(record.get("response")),
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def population(records: Iterable[Mapping[str, Any]]) -> Population:
    """The pairs the run's headline counts, as :func:`counting.compute_metrics` pools them."""
    scored = classify(records).scored
    pool = [(r, s) for r, s in scored if in_overall(r)]
    basis = "headline pairs (image-centric and text-centric image variants)"
    if not pool:
        pool = list(scored)
        basis = "headline pairs (text-centric txt, a text-only run)"
    units = [
        Unit(
            str(r["id"]),
            s.cluster,
            s.unsafe,
            s.aware,
            None if r.get("judge_refusal") is None else bool(r["judge_refusal"]),
        )
        for r, s in pool
    ]
    judges = {str(r.get("judge")) for r, _ in pool}
    judge = judges.pop() if len(judges) == 1 else None
    return Population(units, basis, judge, {str(r["id"]): _digest(r) for r, _ in pool})


def allocate(sizes: Mapping[str, int], n: int) -> dict[str, int]:
    """Pairs to label per stratum: an even floor for every non-empty stratum, then the
    rest in proportion to size, never more than a stratum holds (see the module doc)."""
    present = {k: v for k, v in sizes.items() if v > 0}
    total = sum(present.values())
    if n >= total:
        return dict(present)  # a census
    if n < len(present):
        raise AuditError(
            f"--n {n}: the sample needs at least one pair per stratum ({len(present)} "
            "non-empty); give a larger --n"
        )
    floor = max(2, math.ceil(n / (2 * len(present))))
    if floor * len(present) > n:
        floor = n // len(present)
    take = {k: min(v, floor) for k, v in present.items()}
    while (left := n - sum(take.values())) > 0:
        room = {k: present[k] - take[k] for k in present if present[k] > take[k]}
        weight = sum(present[k] for k in room)
        quota = {k: left * present[k] / weight for k in room}
        extra = {k: min(room[k], int(q)) for k, q in quota.items()}
        if not sum(extra.values()):  # hand the last few out by largest remainder
            order = sorted(room, key=lambda k: (-(quota[k] - int(quota[k])), k))
            extra = {k: 1 for k in order[:left]}
        for k, v in extra.items():
            take[k] += v
    return take


@dataclass
class Design:
    """A drawn sample and everything needed to check it still fits the run."""

    seed: int
    n: int
    basis: str
    judge: str | None
    run_fingerprint: str | None
    records_sha256: str
    created: str
    strata: dict[str, dict[str, int]]  # stratum -> {"population": N_h, "sample": n_h}
    order: list[str]  # the sample, in the order it is shown
    stratum_of: dict[str, str]  # sampled id -> stratum
    population: dict[str, str]  # every audited id -> digest, to say what changed
    version: int = DESIGN_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def draw(pop: Population, n: int, seed: int, run_fingerprint: str | None = None) -> Design:
    """A seeded stratified sample of ``n`` pairs (all of them if the run has fewer)."""
    if not pop.units:
        raise AuditError("nothing to audit: the run has no scored pairs")
    if n < 1:
        raise AuditError(f"--n {n}: give a positive number of pairs")
    by_stratum: dict[str, list[Unit]] = defaultdict(list)
    for unit in sorted(pop.units, key=lambda u: u.id):
        by_stratum[unit.stratum].append(unit)
    sizes = {k: len(by_stratum.get(k, [])) for k in STRATA}
    take = allocate(sizes, n)
    keyed: list[tuple[float, str]] = []
    stratum_of: dict[str, str] = {}
    jitter = random.Random(f"order:{seed}")
    for stratum in STRATA:
        members = by_stratum.get(stratum, [])
        random.Random(f"{seed}:{stratum}").shuffle(members)  # nested: first n_h of one order
        count = take.get(stratum, 0)
        for rank, unit in enumerate(members[:count]):
            keyed.append(((rank + jitter.random()) / count, unit.id))
            stratum_of[unit.id] = stratum
    order = [pair for _, pair in sorted(keyed)]
    return Design(
        seed=seed,
        n=n,
        basis=pop.basis,
        judge=pop.judge,
        run_fingerprint=run_fingerprint,
        records_sha256=pop.sha256,
        created=now(),
        strata={k: {"population": sizes[k], "sample": take.get(k, 0)} for k in STRATA},
        order=order,
        stratum_of=stratum_of,
        population=dict(sorted(pop.digests.items())),
    )


def changes(design: Design, pop: Population) -> str | None:
    """How the run's audited pairs differ from those the sample was drawn from, or None."""
    if design.records_sha256 == pop.sha256:
        return None
    old, new = design.population, pop.digests
    added = [i for i in new if i not in old]
    removed = [i for i in old if i not in new]
    changed = [i for i in new if i in old and old[i] != new[i]]
    parts = []
    for count, what, examples in (
        (len(changed), "changed (verdict or answer)", changed),
        (len(added), "added", added),
        (len(removed), "no longer scored", removed),
    ):
        if count:
            parts.append(f"{count} pair(s) {what}, e.g. {sorted(examples)[0]}")
    if design.basis != pop.basis:
        parts.append(f"the audited pairs are now {pop.basis}")
    return "; ".join(parts) or "its scored records differ"


def audit_dir(run_dir: Path) -> Path:
    return run_dir / AUDIT_DIR


def load_design(run_dir: Path) -> Design | None:
    """The design kept in ``RUN_DIR/audit/design.json``, or None if there is none."""
    path = audit_dir(run_dir) / DESIGN_FILE
    if not path.exists():
        return None
    data = read_json(path)
    try:
        if data.get("version") != DESIGN_VERSION:
            raise TypeError(f"version {data.get('version')!r}")
        design = Design(**data)
        if set(design.order) != set(design.stratum_of):
            raise TypeError("order and strata name different pairs")
    except TypeError as exc:
        raise AuditError(
            f"{path}: not a design this vscbench can read ({exc}); was it edited by hand? "
            "Draw anew with --redraw"
        ) from None
    return design


def save_design(run_dir: Path, design: Design) -> Path:
    """Write the design; a previous one is kept beside it, never overwritten."""
    folder = audit_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DESIGN_FILE
    if path.exists():
        stamp = read_json(path).get("created", "old").replace(":", "")
        keep = folder / f"design.{stamp}.json"
        index = 1
        while keep.exists():
            index += 1
            keep = folder / f"design.{stamp}.{index}.json"
        path.replace(keep)
    write_json_atomic(path, design.to_json())
    return path
