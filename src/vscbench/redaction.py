"""Keeping credentials off disk and off the screen.

A run writes its settings into ``config.json``, ``metrics.json``, the inspect log and the
lock's holder file, and prints URLs and command lines in errors; all of those outlive
the run and get shared. Whatever may carry a credential passes through here first:
model arguments (by name: ``api_key``, ``token``...; by value: ``sk-...``, ``Bearer
...``; and every header value of ``default_headers``), URLs (their ``user:pass@``
part) and free text (an error message, a command line). Redaction is by pattern, so it
errs on the side of hiding: a harmless value that looks like a key is hidden too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"
#: A name containing one of these (case-insensitive) holds a secret.
SECRET_HINTS = ("key", "token", "secret", "password", "passwd", "auth", "credential", "cookie")
#: Model arguments whose values are HTTP headers: every header value is hidden.
HEADER_ARGS = ("default_headers", "headers", "extra_headers")

#: A provider's key: its prefix with the separator it always has (so words such as
#: "skip-missing-images" or "ghost-..." are not keys), then at least 12 key characters,
#: one of them a digit (so "hf-lm-some-model" and hyphenated words are not keys either).
_TOKEN = (
    r"(?:(?:sk|pk|rk)[-_]|hf_|gh[opsur]_|github_pat_|glpat-|xox[abpr]-|AKIA|AIza)"
    r"(?=[A-Za-z_\-]*\d)[A-Za-z0-9_\-]{12,}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]*)?"
    r"|(?:Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=\-]{8,}"
)
_WHOLE_TOKEN = re.compile(rf"^\s*(?:{_TOKEN})\s*$", re.IGNORECASE)
_ANY_TOKEN = re.compile(rf"(?<![A-Za-z0-9])(?:{_TOKEN})", re.IGNORECASE)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#@\s]*@")
_ASSIGNMENT = re.compile(r"^(-*[A-Za-z_][\w.\-]*)=(.*)$", re.DOTALL)


def secret_name(name: str) -> bool:
    """Whether an argument or header named ``name`` holds a credential."""
    return any(hint in name.lower() for hint in SECRET_HINTS)


def looks_secret(value: str) -> bool:
    """Whether ``value`` as a whole looks like a key or token (``sk-...``, ``Bearer ...``)."""
    return bool(_WHOLE_TOKEN.match(value))


def redact_url(url: str | None) -> str | None:
    """``url`` without the ``user:pass@`` part (kept as ``<redacted>@``)."""
    return None if url is None else _USERINFO.sub(rf"\1{REDACTED}@", url)


def redact_text(text: str) -> str:
    """Free text (an error, a command line) with URL user-info and tokens hidden."""
    return _ANY_TOKEN.sub(REDACTED, _USERINFO.sub(rf"\1{REDACTED}@", text))


def redact_value(value: Any) -> Any:
    """A value with whatever looks like a credential hidden, nested ones included."""
    if isinstance(value, str):
        return REDACTED if looks_secret(value) else redact_text(value)
    if isinstance(value, Mapping):
        return redact_args(value)
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Model arguments as they may be recorded: secret names, header values and
    secret-looking values replaced by ``<redacted>``; keys sorted."""
    out: dict[str, Any] = {}
    for key, value in sorted(args.items(), key=lambda kv: str(kv[0])):
        name = str(key)
        if secret_name(name):
            out[name] = REDACTED
        elif name in HEADER_ARGS:
            out[name] = (
                {str(h): REDACTED for h in value} if isinstance(value, Mapping) else REDACTED
            )
        else:
            out[name] = redact_value(value)
    return out


def redact_argv(argv: Iterable[str]) -> str:
    """A command line as it may be shown: ``name=value`` arguments whose name is secret
    or a header argument lose their value; URLs and tokens elsewhere are hidden."""
    words = []
    for word in argv:
        match = _ASSIGNMENT.match(word)
        if match and (secret_name(match[1]) or match[1].lstrip("-") in HEADER_ARGS):
            words.append(f"{match[1]}={REDACTED}")
        else:
            words.append(redact_text(word))
    return " ".join(words)
