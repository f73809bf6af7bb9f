"""``<model>.onnx.meta.json`` read as the C engine reads it (cengine/src/meta.c): one contract, one verdict.

A file is refused by both, or accepted by both with the same values:

- strict JSON in UTF-8: no BOM, no NaN/Infinity, JSON's own number grammar, no text after the value;
  no duplicate key in any object (cJSON finds the first, ``json`` keeps the last); no NUL (``\\u0000``,
  where cJSON's strings end) or lone surrogate in a string; at most ``MAX_DEPTH`` nested levels.
- ``format_version`` 1; ``model_type``, ``input_name``, ``output_name`` strings; ``log_format`` a string
  when present; the sizes integers within ``converter.artifacts.BOUNDS`` (a number with no fraction, such
  as ``10.0``, is that integer; ``"10"``, ``10.5``, ``true`` and ``1e300`` are refused). ``null`` is absent.

The numbers are the engine's; tests/cengine/test_meta_contract.py feeds both the same hostile files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from converter import artifacts
from converter.errors import AlogError

MAX_BYTES = 64 << 20  # the engine's META_MAX_BYTES
MAX_DEPTH = 64  # the engine's META_MAX_DEPTH
FORMAT_VERSION_BOUNDS = (0, 1_000_000)
STRINGS = ("model_type", "input_name", "output_name", "log_format")
SIZES = ("vocab_size", "seq_len", "top_g", "header_fields", "opset", "sensors", "scales", "step")
DEEPLOG_REQUIRED = ("vocab_size", "seq_len", "header_fields")


class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Refused(f'duplicate key "{key[:100]}"')
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise _Refused("not valid JSON")  # NaN, Infinity, -Infinity: cJSON has no such literals


def _integer(text: str) -> int | float:
    # beyond Python's int-from-text limit a number is what strtod makes of it (a float, maybe inf)
    return int(text) if len(text) <= 4000 else float(text)


def _bad_string(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character (\\u0000) inside a string"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return "a lone surrogate inside a string"  # cJSON refuses one; json decodes it
    return None


def _tree_problem(value: Any, depth: int) -> str | None:
    if isinstance(value, str):
        return _bad_string(value)
    if not isinstance(value, (dict, list)):
        return None
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
    for key, item in items:
        problem = (_bad_string(key) if key is not None else None) or _tree_problem(item, depth + 1)
        if problem:
            return problem
    return None


def _checked_int(meta: dict, key: str, low: int, high: int, origin: str) -> int | None:
    value = meta.get(key)
    if value is None:
        return None
    # as the engine's double: a number with no fraction counts, whatever its spelling (10, 10.0, 1e1)
    integral = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if isinstance(value, bool) or not integral or not low <= value <= high:
        raise AlogError(f'{origin}: "{key}" must be an integer in {low}..{high}')
    return int(value)


def parse(data: bytes, origin: str) -> dict[str, Any]:
    """The metadata in ``data`` with its checked fields normalised (integers as int, absent ones as in the
    engine: ``top_g`` 9, the rest left out), or an AlogError naming ``origin`` and what is wrong."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AlogError(f"{origin}: not valid JSON (not valid UTF-8)") from None
    try:
        meta = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_int=_integer)
    except RecursionError:
        raise AlogError(f"{origin}: nested deeper than {MAX_DEPTH} levels") from None
    except _Refused as exc:
        raise AlogError(f"{origin}: {exc}") from None
    except ValueError:
        raise AlogError(f"{origin}: not valid JSON") from None
    problem = _tree_problem(meta, 1)
    if problem:
        raise AlogError(f"{origin}: {problem}" if problem.startswith("nested") else
                        f"{origin}: not valid JSON ({problem})")
    if not isinstance(meta, dict):
        raise AlogError(f"{origin}: expected a JSON object")
    version = _checked_int(meta, "format_version", *FORMAT_VERSION_BOUNDS, origin)
    if version != artifacts.META_FORMAT_VERSION:
        raise AlogError(f'{origin}: missing "format_version"' if version is None else
                        f"{origin}: format_version {version} is not supported (expected 1)")
    for key in STRINGS:
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise AlogError(f'{origin}: "{key}" must be a string')
    for key in STRINGS[:3]:
        if meta.get(key) is None:
            raise AlogError(f'{origin}: missing "{key}"')
    checked = {key: value for key, value in meta.items() if value is not None or key not in STRINGS + SIZES}
    checked["format_version"] = version
    for key in SIZES:
        value = _checked_int(meta, key, *artifacts.BOUNDS[key], origin)
        if value is not None:
            checked[key] = value
    checked.setdefault("top_g", artifacts.DEFAULT_TOP_G)
    return checked


def require_deeplog(meta: dict[str, Any], origin: str) -> None:
    """The keys detection needs, as the engine's meta_require_deeplog."""
    if meta["model_type"] != "deeplog":
        raise AlogError(f'{origin}: model_type is "{meta["model_type"][:40]}", expected "deeplog"')
    for key in DEEPLOG_REQUIRED:
        if key not in meta:
            raise AlogError(f'{origin}: missing "{key}"')


def load(path: str | Path, missing: str | None = None) -> dict[str, Any]:
    """``parse`` of the file at ``path`` (at most MAX_BYTES, as the engine reads)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise AlogError(missing or f"cannot open {path}: No such file or directory") from None
    except OSError as exc:
        raise AlogError(f"cannot open {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise AlogError(f"{path} is larger than {MAX_BYTES} bytes")
    return parse(data, str(path))
