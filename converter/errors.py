"""The one exception type a user sees, and the one way an exception becomes a line of text.

``AlogError``'s message is printed as a single line by the CLIs. ``first_line`` and ``root_cause`` are
how every record (export attempts, matrix checks, parity failures, CLI errors) describes an exception,
so the same failure reads the same wherever it is reported.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

FIRST_LINE_LIMIT = 500  # characters: enough for torch's longest first lines, short enough for a table cell
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # newer exporters colour their messages


class AlogError(Exception):
    """A problem with the user's input or environment, explained in one line."""


def read_json(path: Path, missing: str, what: str = "") -> Any:
    """A JSON file's content; absent, it is the AlogError ``missing``, unreadable or not JSON, one line naming
    the file (``what`` before its path)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AlogError(missing) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AlogError(f"cannot read {what}{path}: {exc}") from None


def first_line(exc: BaseException, limit: int = FIRST_LINE_LIMIT) -> str:
    """The exception's first non-empty line without terminal colours, or its type name when it has no text."""
    text = _ANSI.sub("", str(exc)).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def innermost(exc: BaseException) -> BaseException:
    """The last exception of the chain: ``raise ... from`` causes, else implicit context unless suppressed."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if nxt is None:
            break
        exc = nxt
    return exc


def root_cause(exc: BaseException) -> str:
    """The innermost exception of a chain, as "Type: first line"."""
    root = innermost(exc)
    return f"{type(root).__name__}: {first_line(root)}"


def describe(exc: BaseException) -> str:
    """"Type: first line" of the exception itself (not its cause)."""
    return f"{type(exc).__name__}: {first_line(exc)}"
