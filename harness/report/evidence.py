"""Is the evidence in front of the report about what it judges? Each problem found is named: no evidence (exit 2).

A report job may not have run the cells (a CI job that downloaded their files), so it recomputes what it can
from what it holds: every file a cell kept against the sha256 the cell recorded, every golden data file
against the manifest, every runtime outcome's artifact against the file its cell kept, and the parts of each
evidence key that matrix.toml and the golden folder decide (a cell's table, [data], the golden data,
[tolerance], [warnings]; a runtime's table and tolerance) against today's. What needs a venv (its packages) or
the code is checked when a run decides to reuse a record (harness.evidence.reuse).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.config.matrix import Matrix
from harness.evidence.keys import EvidenceKey
from harness.evidence.parts import STATIC_CELL_PARTS, runtime_table, static_cell_parts
from harness.golden.store import MANIFEST, Golden
from harness.ground.digests import changed_files

RERUN = "run the matrix again (alog-matrix run --resume reruns only what changed)"


def _moved(recorded: dict[str, Any], now: dict[str, Any], parts: tuple[str, ...]) -> list[str]:
    """The reasons the recorded parts differ from today's (only the parts the record carries)."""
    carried = tuple(p for p in parts if p in recorded)
    return EvidenceKey({p: now[p] for p in carried}).changes(EvidenceKey({p: recorded[p] for p in carried}))


def golden_problems(out_dir: Path) -> list[str]:
    if not (Path(out_dir) / "golden" / MANIFEST).is_file():
        return []
    golden = Golden.load(Path(out_dir) / "golden")
    if "files" not in golden.manifest:
        return []  # a manifest of before file digests: the cells' keys (its digest) still bind it
    return [f"{problem}: the golden manifest recorded another file: no evidence ({RERUN})"
            for problem in golden.changed_files()]


def cell_problems(out_dir: Path, matrix: Matrix, cells: list[dict[str, Any]]) -> list[str]:
    """Each cell's kept files against its record, and its key's static parts against today's matrix."""
    problems = []
    for cell in cells:
        evidence = cell.get("evidence") or {}
        if not cell.get("in_matrix") or not evidence:
            continue
        for problem in changed_files(evidence.get("kept") or {}, Path(out_dir) / "artifacts" / cell["id"]):
            problems.append(f"{problem}: cell {cell['id']} recorded another file: no evidence ({RERUN})")
        recorded = evidence.get("parts") or {}
        if recorded:
            now = static_cell_parts(matrix, matrix.cell(cell["id"]), Path(out_dir) / "golden")
            moved = _moved(recorded, now, STATIC_CELL_PARTS)
            if moved:
                problems.append(f"cell {cell['id']}: its evidence is about another matrix ({'; '.join(moved)}): "
                                f"no evidence ({RERUN})")
    return problems


def runtime_problems(matrix: Matrix, cells: list[dict[str, Any]], runtimes: list[dict[str, Any]]) -> list[str]:
    """Each runtime's outcomes against the file their cell kept, and against today's runtime table and tolerance."""
    kept = {cell["id"]: (cell.get("evidence") or {}).get("kept") or {} for cell in cells}
    problems = []
    for runtime in runtimes:
        keys = runtime.get("keys") or {}
        now = {"runtime": runtime_table(matrix.runtime(runtime["id"])), "tolerance": asdict(matrix.tolerance)}
        moved = sorted({reason for parts in keys.values() for reason in _moved(parts, now, ("runtime", "tolerance"))})
        if moved:
            problems.append(f"runtime {runtime['id']}: its outcomes are about another matrix ({'; '.join(moved)}): "
                            f"no evidence ({RERUN})")
        for artifact, parts in sorted(keys.items()):
            cell, strategy, model = artifact.split("/")
            recorded = (parts.get("artifact") or {})
            for name, field in ((f"{strategy}/{model}.onnx", "onnx"), (f"{strategy}/{model}.golden.npz", "golden")):
                if name in kept.get(cell, {}) and recorded.get(field) != kept[cell][name]:
                    problems.append(f"runtime {runtime['id']} judged another {artifact} than cell {cell} kept "
                                    f"({name}: {str(recorded.get(field))[:12]} there, {kept[cell][name][:12]} kept): "
                                    f"no evidence ({RERUN})")
                    break
    return problems


def evidence_problems(out_dir: Path, matrix: Matrix | None, cells: list[dict[str, Any]],
                      runtimes: list[dict[str, Any]]) -> list[str]:
    if matrix is None:
        return []
    return (golden_problems(out_dir) + cell_problems(out_dir, matrix, cells)
            + runtime_problems(matrix, cells, runtimes))
