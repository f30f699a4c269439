"""Hand audits of a run's verdicts: a seeded stratified sample of its pairs, labelled by
people (on a local page, in a spreadsheet or in Label Studio), and the figures people
would have given, estimated with honest intervals.

Core: :mod:`~vscbench.audit.design` (the sample), :mod:`~vscbench.audit.labels` (the
labels file, agreement between people), :mod:`~vscbench.audit.estimate` (the estimator),
:mod:`~vscbench.audit.exchange` (CSV and Label Studio), :mod:`~vscbench.audit.session`
(one run's audit). Adapters: :mod:`~vscbench.audit.app` (the page) and
:mod:`~vscbench.audit.command` (``vscbench audit``); the report's section is
``vscbench.results.report.audit``, fed by ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def template_env() -> jinja2.Environment:
    """Jinja2 with autoescaping on: answers and prompts are text, never markup."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
