"""Drift: expected failures that now pass (xpass alerts), and what changed since a previous report.

Messages are written for the person who has to act on them: what changed, where, and what it
probably means for the converter or for matrix.toml.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from harness.checks import REGISTRY
from harness.config.models import REFERENCE_TITLES

# A parity figure that moves by more than this factor between two reports is called out.
FIGURE_MOVE_FACTOR = 10.0
# Errors below this are "zero" for the purpose of ratios (float32 round-off is ~1e-7).
FIGURE_FLOOR = 1e-12


def model_name(model: str) -> str:
    return REFERENCE_TITLES.get(model, model)


def xpass_message(cell: dict[str, Any], check: dict[str, Any]) -> str:
    torch = cell.get("torch") or cell.get("environment", {}).get("torch") or cell["id"]
    registered = next((c.meaning for c in REGISTRY if c.name == check["check"]), None)
    meaning = (registered or "the check {check} now passes for {model} on torch {torch}, against its expectation"
               ).format(model=model_name(check["model"]), torch=torch, check=check["check"])
    advice = (f"confirm, then remove the expectation for {check['model']}.{check['check']} from cell {cell['id']} "
              "in matrix.toml")
    reason = f" (expected failure: {check['reason']})" if check.get("reason") else ""
    return f"{meaning}; {advice}{reason}"


def xpass_alerts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "kind": "xpass",
            "cell": cell["id"],
            "model": check["model"],
            "check": check["check"],
            "reason": check.get("reason"),
            "message": xpass_message(cell, check),
        }
        for cell in doc["cells"]
        for check in cell["checks"]
        if check["status"] == "xpass"
    ]


def _slots(doc: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (cell.get("id"), check.get("model"), check.get("check")): check
        for cell in doc.get("cells", [])
        for check in cell.get("checks", [])
    }


def _error_figures(check: dict[str, Any]) -> Iterator[tuple[str, float]]:
    for name, value in (check.get("figures") or {}).items():
        if "error" in name and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            yield name, float(value)


def _factor(before: float, after: float) -> float:
    before, after = max(abs(before), FIGURE_FLOOR), max(abs(after), FIGURE_FLOOR)
    return max(before, after) / min(before, after)


def diff_against_baseline(old: dict[str, Any], new: dict[str, Any], old_path=None) -> dict[str, Any]:
    """New failures, fixed checks, other status changes and parity figures that moved by > 10x."""
    failing = set(new.get("policy", {}).get("fail_on", ())) | {"missing"}
    before, after = _slots(old), _slots(new)
    diff: dict[str, Any] = {
        "path": str(old_path) if old_path else None,
        "generated": old.get("generated"),
        "new_failures": [], "fixed": [], "changed": [], "figure_moves": [],
        "cells_added": sorted({k[0] for k in after} - {k[0] for k in before}),
        "cells_removed": sorted({k[0] for k in before} - {k[0] for k in after}),
    }
    # Slots of a cell that died (or had no file) on one side change together: one line per cell.
    whole_cell: dict[tuple[str, str, str | None, str], list[dict[str, Any]]] = {}
    for key, check in after.items():
        cell_id, model, name = key
        where = f"{model_name(model)} {name} on {cell_id}"
        old_check = before.get(key)
        was = old_check.get("status") if old_check else None
        now = check["status"]
        entry = {"cell": cell_id, "model": model, "check": name, "before": was, "after": now}
        kind = None
        if now in failing and was not in failing:
            kind, entry["message"] = "new_failures", f"new failure: {where} is now {now} (was {was or 'not recorded'})"
            if check.get("error"):
                entry["message"] += f": {check['error']}"
        elif was in failing and now not in failing:
            kind, entry["message"] = "fixed", f"fixed: {where} is now {now} (was {was})"
        elif was is not None and was != now:
            kind, entry["message"] = "changed", f"changed: {where} went from {was} to {now}"
        if kind and (not check.get("recorded", True) or (old_check and not old_check.get("recorded", True))):
            side = now if not check.get("recorded", True) else was
            whole_cell.setdefault((kind, cell_id, side, check.get("error") or ""), []).append(entry)
        elif kind:
            diff[kind].append(entry)
        if old_check is None:
            continue
        old_figures = dict(_error_figures(old_check))
        for figure, value in _error_figures(check):
            if figure in old_figures and _factor(old_figures[figure], value) > FIGURE_MOVE_FACTOR:
                factor = _factor(old_figures[figure], value)
                direction = "grew" if value > old_figures[figure] else "shrank"
                diff["figure_moves"].append(
                    {
                        "cell": cell_id, "model": model, "check": name, "figure": figure,
                        "before": old_figures[figure], "after": value, "factor": factor,
                        "message": f"{figure} of {where} {direction} {factor:.0f}x: "
                        f"{old_figures[figure]:.3g} -> {value:.3g}",
                    }
                )
    for (kind, cell_id, _side, error), entries in whole_cell.items():
        diff[kind].append(_whole_cell_entry(kind, cell_id, entries, error))
    return diff


def _whole_cell_entry(kind: str, cell_id: str, entries: list[dict[str, Any]], error: str) -> dict[str, Any]:
    n = len(entries)
    befores = sorted({str(e["before"]) for e in entries})
    afters = sorted({e["after"] for e in entries})
    if kind == "new_failures":
        message = f"new failure: {n} checks on {cell_id} are now {afters[0]} (were {'/'.join(befores)})"
        message += f": {error}" if error else ""
    elif kind == "fixed":
        message = f"fixed: {cell_id} is no longer {'/'.join(befores)}: {n} checks now {'/'.join(afters)}"
    else:
        message = f"changed: {n} checks on {cell_id} went from {'/'.join(befores)} to {'/'.join(afters)}"
    return {"cell": cell_id, "model": "*", "check": "*", "before": entries[0]["before"], "after": entries[0]["after"],
            "message": message}
