"""Build the report document (what reports/matrix.json holds) from cell result files and the matrix.

Pure data: no rendering and no verdict here (``harness.report.gate`` decides, once, in ``harness.report.build``). Every
cell x model x check slot gets exactly one status, so the grid, the counts, junit.xml and the gate all
agree on the same evidence: a slot a cell never recorded is ``missing`` (or the crash / timeout / error
that stopped the cell), never left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.config.matrix import Matrix
from harness.config.models import REFERENCE_MODELS
from harness.config.policy import Policy
from harness.ground.names import CELL_STATUSES, CHECK_NAMES, STATUSES, count_statuses
from harness.ground.records import CellResult, CheckResult, judge
from harness.report import drift, order

REPORT_SCHEMA_VERSION = 1
MISSING = "missing"

# Cell states: the CellResult's own status, or what the report found instead of one readable file.
CELL_STATES = (*CELL_STATUSES, MISSING, "unreadable", "duplicate")
NO_EVIDENCE_STATES = ("error", "interrupted", MISSING, "unreadable", "duplicate")

DEATHS = ("crash", "timeout")  # a cell's process died or hung: its state, and its unreached slots
# Most alarming first: a cell's "worst" status is the first of these it holds.
SEVERITY = ("crash", "timeout", "fail", "error", MISSING, "xpass", "xfail", "pass", "skip")

# For a slot a cell never recorded, the status its state implies.
_STATE_TO_SLOT_STATUS = {"crash": "crash", "timeout": "timeout", "error": "error", "interrupted": "error",
                         "unreadable": "error", "complete": MISSING, MISSING: MISSING, "duplicate": MISSING}


def worst(statuses: Iterable[str | None]) -> str | None:
    present = {s for s in statuses if s}
    return next((s for s in SEVERITY if s in present), None)


def cell_worst(checks: list[dict[str, Any]], state: str) -> str | None:
    """A cell's worst status: its slots', and its death when its process died after its last check (no slot
    holds that)."""
    return worst([*(c["status"] for c in checks), state if state in DEATHS else None])


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
    problem = None
    if result.status == "error":
        problem = f"the harness stopped this cell: {tail_summary(result.output_tail)}"
    elif result.status == "interrupted":
        problem = f"the run was interrupted in this cell: {tail_summary(result.output_tail)}"
    return LoadedCell(result.cell_id, path, result, result.status, problem)


def tail_summary(tail: str | None) -> str:
    """First and last lines of a dead cell's output: what it was doing, and the exception it ended on."""
    lines = [line.strip() for line in (tail or "").splitlines() if line.strip()]
    if not lines:
        return "no output recorded"
    return lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"


def _worse(a: LoadedCell, b: LoadedCell) -> LoadedCell:
    """Of two files claiming one cell, the one with the more alarming evidence (then the later one)."""
    def rank(cell: LoadedCell) -> tuple[int, str]:
        statuses = [c.status for c in cell.result.checks] if cell.result else ["error"]
        level = worst([*statuses, cell.result.status if cell.result else None]) or "pass"
        return (-SEVERITY.index(level) if level in SEVERITY else 0,
                (cell.result.finished or "") if cell.result else "")
    return a if rank(a) >= rank(b) else b


def load_cells(cells_dir: Path, matrix: Matrix | None) -> tuple[list[LoadedCell], list[LoadedCell]]:
    """(the cells judged, the cells ignored): every *.json in cells_dir, plus a 'missing' entry for each matrix
    cell without one, in matrix order; the files of cells matrix.toml does not list are ignored (without a
    matrix, every file is judged).

    Two files claiming one cell are evidence that disagrees: the worse is reported, and the cell is marked
    ``duplicate`` (no evidence until one is removed), so a failure can never be hidden behind a copy."""
    found: dict[str, LoadedCell] = {}
    sources: dict[str, list[str]] = {}
    for path in sorted(Path(cells_dir).glob("*.json")) if Path(cells_dir).is_dir() else []:
        cell = read_cell_file(path)
        sources.setdefault(cell.cell_id, []).append(path.name)
        found[cell.cell_id] = _worse(found[cell.cell_id], cell) if cell.cell_id in found else cell
    for cell_id, names in sources.items():
        if len(names) > 1:
            kept = found[cell_id]
            kept.problem = (f"{len(names)} result files claim cell {cell_id} ({', '.join(names)}); reporting the "
                            f"worse, {kept.source.name if kept.source else '?'}: remove the other")
            kept.state = "duplicate"
    order = [c.id for c in matrix.cells] if matrix else []
    for cell_id in order:
        if cell_id not in found:
            why = f"no result file for cell {cell_id} in {cells_dir}"
            found[cell_id] = LoadedCell(cell_id, None, None, MISSING, why)
    extras = [found[k] for k in sorted(k for k in found if k not in order)]
    if matrix is not None:  # evidence about cells matrix.toml no longer has is not judged: said once, in "ignored"
        return [found[k] for k in order], extras
    return [found[k] for k in order] + extras, []


def ignored_cells(extras: list[LoadedCell]) -> list[str]:
    """The result files of cells matrix.toml does not list, each said once."""
    return [f"cell {cell.cell_id} ({cell.source.name if cell.source else '?'}): not in matrix.toml, ignored"
            for cell in extras if cell.state != "unreadable"]


def ignored_models(loaded: list[LoadedCell], models: tuple[str, ...]) -> list[str]:
    """The models some cell recorded checks of that the report does not judge (matrix.toml no longer has them)."""
    by_model: dict[str, list[str]] = {}
    for cell in loaded:
        for model in sorted({c.model for c in cell.result.checks} if cell.result else ()):
            if model not in models:
                by_model.setdefault(model, []).append(cell.cell_id)
    return [f"model {m} (recorded by {', '.join(cells)}): not in matrix.toml, ignored"
            for m, cells in sorted(by_model.items())]


def rejudge(check: CheckResult, expectation) -> CheckResult:
    """A recorded check judged against today's expectation: what it measured (passed or not) stays, what was
    expected of it and therefore its status comes from matrix.toml as it is now."""
    passed = True if check.status in ("pass", "xpass") else False if check.status in ("fail", "xfail") else None
    expected = expectation.outcome if expectation else "pass"
    reason = expectation.reason if expectation else (check.reason if check.status == "skip" else None)
    status = judge(passed, expected) if passed is not None else check.status
    return replace(check, status=status, expected=expected, reason=reason)


def _slots(cell: LoadedCell, models: tuple[str, ...], checks: tuple[str, ...], matrix_cell) -> list[dict[str, Any]]:
    """The recorded checks, plus one synthesized slot per (model, check) the cell never recorded."""
    recorded = [c for c in (cell.result.checks if cell.result else []) if c.model in models]
    if matrix_cell is not None:
        recorded = [rejudge(c, matrix_cell.expected(c.model, c.check)) for c in recorded]
    entries = [{**c.to_dict(), "recorded": True} for c in recorded]
    seen = {(c.model, c.check) for c in recorded}
    status = _STATE_TO_SLOT_STATUS.get(cell.state, MISSING)
    why = cell.problem or _death_note(cell)
    for model in models:
        for check in checks:
            if (model, check) in seen:
                continue
            expectation = matrix_cell.expected(model, check) if matrix_cell else None
            slot = CheckResult(model=model, check=check, status=status,
                               expected=expectation.outcome if expectation else "pass",
                               reason=expectation.reason if expectation else None, error=why)
            entries.append({**slot.to_dict(), "recorded": False})
    return entries


def _death_note(cell: LoadedCell) -> str:
    result = cell.result
    if cell.state == "crash":
        signal = (result.signal if result else None) or "unknown signal"
        return f"cell {cell.cell_id} crashed ({signal}) before this check ran"
    if cell.state == "timeout":
        return f"cell {cell.cell_id} timed out before this check ran"
    if cell.state == "complete":
        return f"cell {cell.cell_id} finished without recording this check: no evidence"
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
        "worst": cell_worst(entries, cell.state),
        "evidence": evidence_summary(result),
        "checks": entries,
    }


def evidence_summary(result: CellResult | None) -> dict[str, Any] | None:
    """The record's evidence key and what the last run did with it (ran it, or reused it from when)."""
    if result is None:
        return None
    decision = result.decision or {}
    return {"digest": (result.evidence or {}).get("digest"), "parts": (result.evidence or {}).get("parts") or {},
            "reused": bool(decision.get("reused")), "reason": decision.get("reason"), "run": result.started,
            "kept": dict(result.kept)}


def _index(seq: tuple[str, ...], name: str) -> int:
    return seq.index(name) if name in seq else len(seq)


def status_counts(cells: list[dict[str, Any]]) -> dict[str, int]:
    """Every report status with its count over every slot (zeros included, in STATUSES order)."""
    counts = count_statuses(check["status"] for cell in cells for check in cell["checks"])
    return {s: counts.get(s, 0) for s in STATUSES}


def golden_summary(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the report says of the run's golden data: where the checkpoints came from and their digests."""
    if not manifest:
        return None
    return {"origin": manifest["source"]["origin"], "torch": manifest["environment"].get("torch"),
            "seed": manifest["seed"], "created": manifest["created"],
            "checkpoints": {model: entry.get("sha256") for model, entry in manifest["models"].items()},
            "not_given": dict(manifest.get("not_given", {})),
            "origins": {model: {**(entry.get("origin") or {"kind": "reference"}),
                                **({"error": entry["error"]} if "error" in entry else {})}
                        for model, entry in manifest["models"].items()}}


def rejudge_document(doc: dict[str, Any], matrix: Matrix) -> dict[str, Any]:
    """A built report judged again with ``matrix``'s expectations (``alog-matrix gate --matrix`` on a matrix.json
    built before they were edited): every recorded check and runtime outcome, and the counts."""
    from harness.ground.records import RuntimeOutcome
    from harness.report.runtimes import rejudge as rejudge_outcome

    cells = {c.id: c for c in matrix.cells}
    for cell in doc["cells"]:
        matrix_cell = cells.get(cell["id"])
        if matrix_cell is None:
            continue
        for index, check in enumerate(cell["checks"]):
            expectation = matrix_cell.expected(check["model"], check["check"])
            if check.get("recorded", True):
                record = CheckResult.from_dict({k: v for k, v in check.items() if k != "recorded"})
                cell["checks"][index] = {**rejudge(record, expectation).to_dict(), "recorded": True}
            else:
                check.update(expected=expectation.outcome if expectation else "pass",
                             reason=expectation.reason if expectation else None)
        cell["worst"] = cell_worst(cell["checks"], cell["state"])
    runtimes = {r.id: r for r in matrix.runtimes}
    for runtime in doc.get("runtimes") or []:
        if runtime["id"] in runtimes:
            known = {f.name for f in fields(RuntimeOutcome)}
            runtime["outcomes"] = [
                {**(o := rejudge_outcome(RuntimeOutcome(**{k: v for k, v in raw.items() if k in known}),
                                         runtimes[runtime["id"]])).to_dict(), "accepted": o.accepted}
                for raw in runtime["outcomes"]]
    doc["counts"] = status_counts(doc["cells"])
    return doc


def build_document(
    cells_dir: Path,
    matrix: Matrix | None,
    policy: Policy,
    baseline: dict[str, Any] | None = None,
    baseline_path: Path | None = None,
    now: datetime | None = None,
    golden: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report as one JSON-ready dict, without the verdict (which the gate decides)."""
    loaded, extras = load_cells(Path(cells_dir), matrix)
    recorded_models = {c.model for cell in loaded if cell.result for c in cell.result.checks}
    recorded_checks = {c.check for cell in loaded if cell.result for c in cell.result.checks}
    not_given = (golden or {}).get("not_given", {})  # models the run was not given: not judged, said once
    named = tuple(m for m in (matrix.models if matrix else REFERENCE_MODELS) if m not in not_given)
    models = named if matrix is not None else _ordered(set(named) | recorded_models, named)
    checks = _ordered(set(CHECK_NAMES) | recorded_checks, CHECK_NAMES)
    # Version order, not matrix.toml's: every view (grids, drift, junit, summary) reads the cells in this order.
    cells = sorted((cell_document(c, models, checks, matrix) for c in loaded), key=order.cell_key)
    doc = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "generated": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "matrix": str(matrix.path) if matrix else None,
        "cells_dir": str(cells_dir),
        "policy": policy.to_dict(),
        "tolerance": asdict(matrix.tolerance) if matrix else {},
        "models": list(models),
        "checks": list(checks),
        "counts": status_counts(cells),
        "cells": cells,
        "golden": golden_summary(golden),
    }
    doc["ignored"] = ignored_cells(extras) + ignored_models(loaded, models)
    doc["drift_alerts"] = drift.xpass_alerts(doc)
    doc["baseline"] = drift.diff_against_baseline(baseline, doc, baseline_path) if baseline is not None else None
    return doc
