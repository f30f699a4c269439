"""A persistent cache of LLM-judge verdicts, so a response is never judged twice.

Keyed by (judge name, prompt template, query, response, scope), where the scope holds
the judge's server, temperature and output budget: changing the judge model, its mode,
its prompt or any of those misses the cache; re-running or re-scoring the same answers
with the same judge hits it.
Only decided verdicts are stored; failures are retried next time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from vscbench.judges.base import Verdict
from vscbench.paths import user_cache

ENV_CACHE = "VSCBENCH_JUDGE_CACHE"


def default_cache_path() -> Path:
    return user_cache("judge_cache.sqlite", env=ENV_CACHE)


def cache_key(
    judge: str, template: str, query: str, response: str, scope: dict[str, object] | None = None
) -> str:
    payload = json.dumps(
        [
            judge,
            hashlib.sha256(template.encode()).hexdigest(),
            query,
            response,
            sorted((scope or {}).items()),
        ],
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class JudgeCache:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, judge TEXT, "
            "aware INTEGER, refusal INTEGER, label TEXT, output TEXT)"
        )
        self._db.commit()

    def get(self, key: str) -> Verdict | None:
        row = self._db.execute(
            "SELECT aware, refusal, label, output FROM verdicts WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return Verdict(aware=bool(row[0]), refusal=bool(row[1]), label=row[2], output=row[3])

    def put(self, key: str, judge: str, verdict: Verdict) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?)",
            (
                key,
                judge,
                int(bool(verdict.aware)),
                int(bool(verdict.refusal)),
                verdict.label,
                verdict.output,
            ),
        )
        self._db.commit()
