"""What ``vscbench audit RUN_DIR`` does, as one function the command line calls.

Draw the sample (or check the kept one still fits the run), then one of: write it out for
labelling elsewhere (``--export``), read labels back (``--import``), or serve the
labelling page until Ctrl-C; then put what the labels give into ``metrics.json`` and
print it.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vscbench.audit.design import AuditError, Design
from vscbench.audit.labels import check_labeller
from vscbench.audit.session import Audit
from vscbench.results.store import METRICS_FILE

Say = Callable[[str], None]


def default_labeller() -> str:
    try:
        return getpass.getuser() or "labeller"
    except (KeyError, OSError):  # no user name in this environment (some containers)
        return "labeller"


@dataclass
class AuditOptions:
    run_dir: Path
    n: int | None = None  # None: the kept design's, or 60
    seed: int | None = None  # None: the kept design's, or 0
    labeller: str | None = None
    port: int = 0
    browser: bool = True
    serve: bool = True
    redraw: bool = False
    export: Path | None = None
    import_file: Path | None = None
    data_dir: Path | None = None


def audit_command(options: AuditOptions, say: Say) -> dict[str, Any] | None:
    """Run ``vscbench audit`` and return the ``audit`` section it wrote (if any).

    Raises :class:`AuditError`, ``RunDirError`` or ``ValueError`` for the user's mistakes,
    each with a message that names the file or flag and the fix.
    """
    if options.export is not None and options.import_file is not None:
        raise AuditError("give --export or --import, not both")
    labeller = check_labeller(options.labeller or default_labeller())
    audit = Audit.open(options.run_dir, str(options.data_dir) if options.data_dir else None)

    if options.import_file is not None:
        from vscbench.audit.exchange import import_labels

        if options.redraw or options.n is not None or options.seed is not None:
            raise AuditError(
                "--import reads labels of the sample already drawn; leave out --n, --seed "
                "and --redraw"
            )
        audit.require_design()
        audit.prepare(None, None, redraw=False)  # refuses a run that changed since the draw
        result = import_labels(audit, options.import_file, labeller)
        say(
            f"imported {result.labels} label(s) by {', '.join(result.labellers) or 'nobody'} "
            f"from {options.import_file}"
            + (f"; {result.unlabelled} row(s) had no label yet" if result.unlabelled else "")
        )
        return _finish(audit, say)

    design, new = audit.prepare(options.n, options.seed, options.redraw)
    _describe(audit, design, new, say)
    if options.export is not None:
        from vscbench.audit.exchange import export

        for path in export(audit, options.export):
            say(f"wrote {path}")
        say(f"label them, then: vscbench audit {options.run_dir} --import FILE")
        return None
    if options.serve:
        from vscbench.audit.app import Labelling, serve

        state = Labelling(audit, labeller, on_complete=audit.write_metrics)
        labels, _ = state.mine()
        if labels:
            say(f"{labeller} has labelled {len(labels)} of {len(design.order)}; going on")
        serve(state, options.port, options.browser, say)
    return _finish(audit, say)


def _describe(audit: Audit, design: Design, new: bool, say: Say) -> None:
    strata = ", ".join(
        f"{name} {s['sample']} of {s['population']:,}"
        for name, s in design.strata.items()
        if s["population"]
    )
    total = sum(s["population"] for s in design.strata.values())
    what = "drew" if new else "using the"
    say(
        f"{what} audit sample of {len(design.order)} pairs (seed {design.seed}) from the "
        f"{total:,} {design.basis} of {audit.run_dir}: {strata}"
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _span(interval: list[float] | None) -> str:
    return "" if not interval else f" [{_pct(interval[0])}, {_pct(interval[1])}]"


def _finish(audit: Audit, say: Say) -> dict[str, Any]:
    """Write the figures to ``metrics.json`` (when no other process holds the run) and
    say what they are."""
    written = audit.write_metrics()
    summary = written if written is not None else audit.summary()
    say(
        f"{summary['labelled']} of {summary['sample']} sampled pairs labelled"
        + (f" by {', '.join(summary['labellers'])}" if summary["labellers"] else "")
    )
    if "stale" in summary:
        say("warning: " + summary["stale"])
        return summary
    people, judge = summary["people"], summary["judge"]
    for key, name in (("sra_u", "SRA_u"), ("sra_s", "SRA_s")):
        missing = people["missing"][key]
        if people[key] is None:
            why = f"no label yet in {', '.join(missing)}" if missing else "no pairs"
            say(f"{name} as people would score the run: not yet ({why})")
            continue
        say(
            f"{name} as people would score the run: {_pct(people[key])}%"
            f"{_span(people['ci95'][key])} (the judge: {_pct(judge[key])}%"
            f"{_span(judge['ci95'][key])})"
        )
    for target in ("aware", "refusal"):
        figures = summary["agreement"][target]["all"]
        if figures.get("accuracy"):
            acc, kappa = figures["accuracy"], figures["kappa"]["value"]
            say(
                f"judge vs people on {target}: accuracy {_pct(acc['value'])}%"
                f"{_span(acc['ci95'])}, kappa {'—' if kappa is None else f'{kappa:.2f}'}"
            )
    for pair in summary["between_labellers"]:
        if pair["n"]:
            kappa = "—" if pair["kappa"] is None else f"{pair['kappa']:.2f}"
            say(f"labellers {pair['a']} and {pair['b']}: {pair['n']} shared pairs, kappa {kappa}")
    if written is None and (audit.run_dir / METRICS_FILE).exists():
        say(
            f"note: {audit.run_dir} is being written by another process; metrics.json gets "
            "these figures when it finishes"
        )
    return summary
