"""Version order for every view of the report: cells by their torch, runtimes by their onnxruntime, artifacts by
cell, then strategy (``auto`` first: what a user gets by default), then model.

Ids are shown as written; only the order comes from the versions (string order puts torch 2.13.0 before
2.4.1). A version that does not parse sorts after every one that does, by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from packaging.version import InvalidVersion, Version

STRATEGY_ORDER = ("auto", "legacy", "dynamo")
_UNKNOWN = Version("0")


def version_key(*candidates: Any) -> tuple[int, Version]:
    """The first candidate that parses as a version; (1, 0) when none does, so the unknown come last."""
    for text in candidates:
        if not text:
            continue
        try:
            return 0, Version(str(text))
        except InvalidVersion:
            continue
    return 1, _UNKNOWN


def cell_key(cell: dict[str, Any]) -> tuple[int, Version, str]:
    """A report cell by its torch: the matrix's pin, else what the cell found installed."""
    return (*version_key(cell.get("torch"), (cell.get("environment") or {}).get("torch")), cell["id"])


def runtime_key(runtime: dict[str, Any]) -> tuple[int, Version, str]:
    """A report runtime by its onnxruntime: the matrix's pin, else what its venv holds."""
    return (*version_key(runtime.get("onnxruntime"), (runtime.get("environment") or {}).get("onnxruntime")),
            runtime["id"])


def _place(order: Sequence[str], name: str) -> int:
    return order.index(name) if name in order else len(order)


def split_key(key: str) -> tuple[str, str, str]:
    """An artifact key "<cell>/<strategy>/<model>" as its three parts (missing parts empty)."""
    cell, strategy, model = (key.split("/", 2) + ["", ""])[:3]
    return cell, strategy, model


def artifact_order(keys: Iterable[str], cell_ids: Sequence[str], models: Sequence[str]) -> list[str]:
    """Artifact keys in the order of ``cell_ids`` (already in version order; other cells after them, by id),
    then STRATEGY_ORDER, then ``models``."""
    def key(artifact: str) -> tuple[int, str, int, str, int, str]:
        cell, strategy, model = split_key(artifact)
        return (_place(cell_ids, cell), cell, _place(STRATEGY_ORDER, strategy), strategy, _place(models, model), model)
    return sorted(set(keys), key=key)
