"""The schema of matrix.toml: every table, key and type, checked before any work starts.

A validator is a function ``(value, where) -> value`` that raises ``SchemaError`` naming where the value
is and what is wrong; tables refuse unknown keys and name the nearest valid one. Standard library only:
``alog-matrix gha-matrix`` reads the matrix before anything is installed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

from converter.errors import AlogError

Validator = Callable[[Any, str], Any]
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # cell ids name files and folders: no "/" or ".."


class SchemaError(AlogError):
    """One line: where in matrix.toml, and what is wrong there."""


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _fail(where: str, message: str) -> SchemaError:
    return SchemaError(f"{where}: {message}")


def text(choices: tuple[str, ...] | None = None, pattern: re.Pattern[str] | None = None,
         hint: str = "") -> Validator:
    def check(value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _fail(where, f"must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            near = difflib.get_close_matches(value, choices, n=1)
            guess = f" (did you mean {near[0]!r}?)" if near else ""
            raise _fail(where, f"{value!r} is not one of {', '.join(choices)}{guess}")
        if pattern is not None and not pattern.fullmatch(value):
            raise _fail(where, f"{value!r} is not allowed here{hint}")
        return value

    return check


def integer(minimum: int | None = None) -> Validator:
    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            bound = f" >= {minimum}" if minimum is not None else ""
            raise _fail(where, f"must be an integer{bound}, got {value!r}")
        return value

    return check


def number(minimum: float | None = None, maximum: float | None = None) -> Validator:
    def check(value: Any, where: str) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = " ".join(b for b in (f">= {minimum}" if minimum is not None else "",
                                          f"<= {maximum}" if maximum is not None else "") if b)
            raise _fail(where, f"must be a number {bounds}, got {value!r}".replace("  ", " "))
        return float(value)

    return check


def boolean() -> Validator:
    def check(value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise _fail(where, f"must be true or false, got {value!r}")
        return value

    return check


def regex() -> Validator:
    def check(value: Any, where: str) -> str:
        text()(value, where)
        try:
            re.compile(value)
        except re.error as exc:
            raise _fail(where, f"{value!r} is not a regular expression ({exc})") from None
        return value

    return check


def list_of(item: Validator, nonempty: bool = False, unique: bool = False) -> Validator:
    def check(value: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _fail(where, f"must be a list, got {_type_name(value)} ({value!r})")
        if nonempty and not value:
            raise _fail(where, "must not be empty")
        items = tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value))
        if unique and len(set(items)) != len(items):
            raise _fail(where, f"repeats an entry: {list(items)}")
        return items

    return check


def mapping_of(value_check: Validator) -> Validator:
    def check(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(where, f"must be a table, got {_type_name(value)} ({value!r})")
        return {str(k): value_check(v, f"{where}.{k}") for k, v in value.items()}

    return check


def table(schema: dict[str, Validator], required: tuple[str, ...] = ()) -> Validator:
    """A TOML table with exactly these keys (unknown keys are refused, naming the nearest valid one)."""

    def check(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(where, f"must be a table, got {_type_name(value)} ({value!r})")
        for key in value:
            if key not in schema:
                near = difflib.get_close_matches(key, list(schema), n=1)
                guess = f" (did you mean {near[0]!r}?)" if near else f" (keys: {', '.join(schema)})"
                raise _fail(where, f"unknown key {key!r}{guess}")
        missing = [k for k in required if k not in value]
        if missing:
            raise _fail(where, f"lacks the key {missing[0]!r}")
        return {k: schema[k](v, f"{where} {k}") for k, v in value.items()}

    return check


def tables(schema: dict[str, Validator], required: tuple[str, ...] = (),
           label: Callable[[dict[str, Any], int], str] = lambda t, i: str(i + 1)) -> Validator:
    """An array of tables (``[[cell]]``), each checked with ``table``; ``label`` names one in errors."""
    one = table(schema, required)

    def check(value: Any, where: str) -> tuple[dict[str, Any], ...]:
        if not isinstance(value, list):
            raise _fail(where, f"must be an array of tables ([[...]]), got {_type_name(value)}")
        return tuple(one(t, f"{where} {label(t, i) if isinstance(t, dict) else i + 1}") for i, t in enumerate(value))

    check.array = True  # type: ignore[attr-defined]  # top_level names it [[name]]
    return check


def top_level(schema: dict[str, Validator], value: dict[str, Any], where: str) -> dict[str, Any]:
    """The whole file: its tables, unknown ones refused as ``[name]`` with the nearest valid table."""
    for key in value:
        if key not in schema:
            near = difflib.get_close_matches(key, list(schema), n=1)
            guess = f" (did you mean [{near[0]}]?)" if near else f" (tables: {', '.join(schema)})"
            raise _fail(where, f"unknown table [{key}]{guess}")
    return {k: schema[k](v, f"{where}: [[{k}]]" if getattr(schema[k], "array", False) else f"{where}: [{k}]")
            for k, v in value.items()}
