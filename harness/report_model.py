"""Build the report document (what reports/matrix.json holds) from cell result files and the matrix.

Pure data: no rendering here. Every cell x model x check slot gets exactly one status so that
the grid, the counts, junit.xml and the gate all agree on the same evidence.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from harness import drift
from harness.matrix import Matrix
from harness.results import CHECKS, MODELS, STATUSES, CellResult

REPORT_SCHEMA_VERSION = 1

# A slot with no evidence because its cell's result file is absent or unreadable.
MISSING = "missing"
REPORT_STATUSES = STATUSES + (MISSING,)

# Cell states: the CellResult's own status, or what the report found instead of a readable file.
CELL_STATES = ("complete", "crash", "timeout", "error", MISSING, "unreadable")

# The statuses that fail the gate unless matrix.toml's [gate] fail_on says otherwise.
DEFAULT_FAIL_ON = ("fail", "error", "crash", "timeout")

# Most alarming first: a cell's "worst" status is the first of these it holds.
SEVERITY = ("crash", "timeout", "fail", "error", MISSING, "xpass", "xfail", "pass", "skip")

# For a slot a dead cell never reached, the status the cell's own state implies.
_STATE_TO_SLOT_STATUS = {"crash": "crash", "timeout": "timeout", "error": "error", MISSING: MISSING, "unreadable": "error"}


def worst(statuses: Iterable[str | None]) -> str | None:
    present = {s for s in statuses if s}
    return next((s for s in SEVERITY if s in present), None)


def policy_from(matrix: Matrix | None, strict: bool = False) -> dict[str, Any]:
    gate = dict(matrix.gate) if matrix else {}
    return {
        "xpass": str(gate.get("xpass", "warn")),
        "fail_on": [str(s) for s in gate.get("fail_on", DEFAULT_FAIL_ON)],
        "strict": bool(strict),
    }


@dataclass
class LoadedCell:
    """A cell as found on disk: a parsed record, or the reason there is none."""

    cell_id: str
    source: Path | None
    result: CellResult | None
    state: str
    problem: str | None = None


def read_cell_file(path: Path) -> LoadedCell:
    """Parse one cell file; a broken file becomes an 'unreadable' cell with a one-line reason."""
    try:
        result = CellResult.read(path)
    except (OSError, UnicodeDecodeError) as exc:
        return LoadedCell(path.stem, path, None, "unreadable", f"cannot read {path}: {exc}")
    except json.JSONDecodeError as exc:
        return LoadedCell(path.stem, path, None, "unreadable", f"{path} is not valid JSON: {exc}")
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return LoadedCell(path.stem, path, None, "unreadable", f"{path} is not a cell result: {exc}")
    state = result.status if result.status in CELL_STATES else "error"
    problem = None if state == result.status else f"unknown cell status {result.status!r}"
    if state == "error" and problem is None:
        problem = f"the harness stopped this cell: {tail_summary(result.output_tail)}"
    return LoadedCell(result.cell_id, path, result, state, problem)


def tail_summary(tail: str | None) -> str:
    """First and last lines of a dead cell's output: what it was doing, and the exception it ended on."""
    lines = [line.strip() for line in (tail or "").splitlines() if line.strip()]
    if not lines:
        return "no output recorded"
    return lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"


def load_cells(cells_dir: Path, matrix: Matrix | None) -> list[LoadedCell]:
    """Every *.json in cells_dir, plus a 'missing' entry for each matrix cell without one; matrix order first."""
    found: dict[str, LoadedCell] = {}
    for path in sorted(Path(cells_dir).glob("*.json")) if Path(cells_dir).is_dir() else []:
        cell = read_cell_file(path)
        if cell.cell_id in found and found[cell.cell_id].result is not None:
            # Two files claim one cell (e.g. a renamed copy): keep the one that finished last.
            if cell.result is None or (cell.result.finished or "") < (found[cell.cell_id].result.finished or ""):
                continue
        found[cell.cell_id] = cell
    order = [c.id for c in matrix.cells] if matrix else []
    for cell_id in order:
        if cell_id not in found:
            found[cell_id] = LoadedCell(cell_id, None, None, MISSING, f"no result file for cell {cell_id} in {cells_dir}")
    extras = sorted(k for k in found if k not in order)
    return [found[k] for k in order + extras]


def _check_entry(check: dict[str, Any], recorded: bool) -> dict[str, Any]:
    entry = dict(check)
    entry["recorded"] = recorded
    return entry


def _slots(cell: LoadedCell, models: tuple[str, ...], checks: tuple[str, ...], matrix_cell) -> list[dict[str, Any]]:
    """The recorded checks, plus one synthesized slot per check a dead or absent cell never reached."""
    recorded = [asdict(c) for c in cell.result.checks] if cell.result else []
    entries = [_check_entry(c, True) for c in recorded]
    slot_status = _STATE_TO_SLOT_STATUS.get(cell.state)
    if slot_status is None:
        return entries
    seen = {(c["model"], c["check"]) for c in recorded}
    why = cell.problem or _death_note(cell)
    for model in models:
        for check in checks:
            if (model, check) in seen:
                continue
            expectation = matrix_cell.expected(model, check) if matrix_cell else None
            entries.append(
                _check_entry(
                    {
                        "model": model, "check": check, "status": slot_status,
                        "expected": expectation.outcome if expectation else "pass",
                        "reason": expectation.reason if expectation else None,
                        "error": why, "root_cause": None, "warnings": [], "figures": {}, "detail": {},
                        "repro": None, "seconds": None,
                    },
                    False,
                )
            )
    return entries


def _death_note(cell: LoadedCell) -> str:
    result = cell.result
    if cell.state == "crash":
        return f"cell {cell.cell_id} crashed ({result.signal or 'unknown signal'}) before this check ran"
    if cell.state == "timeout":
        return f"cell {cell.cell_id} timed out before this check ran"
    return f"cell {cell.cell_id} stopped with a harness error before this check ran"


def _ordered(names: Iterable[str], preferred: tuple[str, ...]) -> tuple[str, ...]:
    names = set(names)
    return tuple(n for n in preferred if n in names) + tuple(sorted(names - set(preferred)))


def cell_document(cell: LoadedCell, models, checks, matrix: Matrix | None) -> dict[str, Any]:
    matrix_cell = next((c for c in matrix.cells if c.id == cell.cell_id), None) if matrix else None
    result = cell.result
    entries = _slots(cell, models, checks, matrix_cell)
    entries.sort(key=lambda c: (_index(models, c["model"]), _index(checks, c["check"])))
    environment = dict(result.environment) if result else {}
    return {
        "id": cell.cell_id,
        "torch": matrix_cell.torch if matrix_cell else environment.get("torch"),
        "pins": dict(matrix_cell.pins) if matrix_cell else {},
        "in_matrix": matrix_cell is not None,
        "state": cell.state,
        "problem": cell.problem,
        "source": str(cell.source) if cell.source else None,
        "environment": environment,
        "stages": dict(result.stages) if result else {},
        "started": result.started if result else None,
        "finished": result.finished if result else None,
        "signal": result.signal if result else None,
        "output_tail": result.output_tail if result else None,
        "worst": worst(c["status"] for c in entries),
        "checks": entries,
    }


def _index(seq: tuple[str, ...], name: str) -> int:
    return seq.index(name) if name in seq else len(seq)


def count_statuses(cells: list[dict[str, Any]]) -> dict[str, int]:
    counts = {s: 0 for s in REPORT_STATUSES}
    for cell in cells:
        for check in cell["checks"]:
            counts[check["status"]] = counts.get(check["status"], 0) + 1
    return counts


def build_document(
    cells_dir: Path,
    matrix: Matrix | None,
    baseline: dict[str, Any] | None = None,
    baseline_path: Path | None = None,
    strict: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The whole report as one JSON-ready dict (without the verdict, which the gate decides)."""
    loaded = load_cells(Path(cells_dir), matrix)
    recorded_models = {c.model for cell in loaded if cell.result for c in cell.result.checks}
    recorded_checks = {c.check for cell in loaded if cell.result for c in cell.result.checks}
    models = _ordered(set(matrix.models if matrix else MODELS) | recorded_models, MODELS)
    checks = _ordered(set(CHECKS) | recorded_checks, CHECKS)
    cells = [cell_document(c, models, checks, matrix) for c in loaded]
    doc = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "generated": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "matrix": str(matrix.path) if matrix else None,
        "cells_dir": str(cells_dir),
        "policy": policy_from(matrix, strict),
        "tolerance": dict(matrix.tolerance) if matrix else {},
        "models": list(models),
        "checks": list(checks),
        "counts": count_statuses(cells),
        "cells": cells,
    }
    doc["drift_alerts"] = drift.xpass_alerts(doc)
    doc["baseline"] = drift.diff_against_baseline(baseline, doc, baseline_path) if baseline is not None else None
    return doc
