"""Where XSTest v2's human-labelled completions come from: a folder that holds them, or a
pinned, checksummed download into the user cache.

Röttger et al., "XSTest" (NAACL 2024), repository ``paul-rottger/exaggerated-safety``,
folder ``model_completions/``, CC BY 4.0: five models' answers to XSTest's 450 prompts,
each labelled by people. The judges are measured (and the ``refusal`` judge trained) on
them. Nothing ships with the package; this module only finds or fetches the files, and
knows nothing of how they are read, so tests and benchmarks share one way to get them.
"""

from __future__ import annotations

import os
from pathlib import Path

from vscbench.data.fetch import Place, locate
from vscbench.data.layout import PinnedFiles
from vscbench.paths import user_cache
from vscbench.progress import OnProgress

XSTEST_REPO = "paul-rottger/exaggerated-safety"
XSTEST_COMMIT = "d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d"
XSTEST_BASE = f"https://raw.githubusercontent.com/{XSTEST_REPO}/{XSTEST_COMMIT}/model_completions"
#: A folder that already holds the five files.
ENV_XSTEST_DIR = "VSCBENCH_XSTEST_DATA"
#: Replaces XSTEST_BASE: a mirror, or a loopback server in tests and CI.
ENV_XSTEST_BASE_URL = "VSCBENCH_XSTEST_BASE_URL"

XSTEST_FILES = PinnedFiles(
    "XSTest v2's labelled completions (xstest_v2_completions_<model>.csv, five files)",
    {
        "xstest_v2_completions_gpt4.csv": (
            "71af323af8ecdec0efae23992317721441d2cfedddedeef3248f842f4e15c9ca"
        ),
        "xstest_v2_completions_llama2new.csv": (
            "6365cc55ce0a593c7ab8785853d02784be027d97199d4077912b4313cd010099"
        ),
        "xstest_v2_completions_llama2orig.csv": (
            "cbc52550e8ba8197a3e3d97a5af078d27bae4766737cd62df80270126a87ffc6"
        ),
        "xstest_v2_completions_mistralguard.csv": (
            "0ac03817b65e019a8f5b4b3eed805086f9f7fafe538ac9ebd156f80210af6903"
        ),
        "xstest_v2_completions_mistralinstruct.csv": (
            "6a146b65a5b96ec8249729bc2db459697175125998d7cbbcc88f7688ecf31dad"
        ),
    },
    XSTEST_BASE,
    ENV_XSTEST_BASE_URL,
)


def xstest_cache() -> Path:
    """Where the download goes: ``<user cache>/vscbench/xstest``."""
    return user_cache("xstest")


def find_xstest(*first: Place, timeout: float = 60.0, progress: OnProgress | None = None) -> Path:
    """The folder holding the five files: the first of ``first`` that does (a checkout's
    ``../shared/data/xstest``, a ``--xstest`` flag), else ``$VSCBENCH_XSTEST_DATA``, else
    the pinned download in the user cache (fetched now if missing).

    Raises :class:`~vscbench.data.fetch.DataNotFound` with one line naming every way.
    """
    env = os.environ.get(ENV_XSTEST_DIR)
    places = [
        *first,
        Place(f"export {ENV_XSTEST_DIR}=DIR", Path(env).expanduser() if env else None, True),
    ]
    return locate(XSTEST_FILES, places, xstest_cache(), timeout, progress)
