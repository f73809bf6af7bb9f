"""The parts of the evidence keys, computed from what is in front of the run: matrix.toml's tables, the model
files, the golden folder, the installed code, the venvs, the kept artifacts and the C engine.

Each part is small and readable (a pin, a table, a digest), so a changed key says what changed. Parts that
need nothing but matrix.toml and the golden folder (``static_cell_parts``) are what a report can check alone.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from converter.errors import read_json
from converter.tolerance import Tolerance
from harness.config.matrix import Cell, Matrix, Runtime
from harness.evidence.keys import EvidenceKey
from harness.golden.hub_cases import fingerprint_part
from harness.golden.source import ModelSource
from harness.golden.store import MANIFEST
from harness.ground.digests import file_digest

# The parts a report recomputes from matrix.toml and the golden folder alone (no venv, no model files).
STATIC_CELL_PARTS = ("cell", "data", "golden", "tolerance", "warnings")


def cell_table(matrix: Matrix, cell: Cell) -> dict[str, Any]:
    """The cell as matrix.toml defines it, without its [[cell.expect]]: expectations judge, they do not measure."""
    return {"torch": cell.torch, "pins": dict(sorted(cell.pins.items())), "python": cell.python,
            "timeout_s": cell.timeout_s, "find_links": cell.find_links, "models": list(matrix.models),
            "strategies": list(matrix.strategies), "checks": list(matrix.checks)}


def data_part(matrix: Matrix) -> dict[str, Any]:
    log = matrix.data_log()
    return {"table": dict(sorted(matrix.data.items())), "log_sha256": file_digest(log)}


def golden_part(golden_dir: Path) -> dict[str, Any]:
    """The golden manifest's digest (it holds each data file's digest) and each model's checkpoint digest."""
    path = Path(golden_dir) / MANIFEST
    if not path.is_file():
        return {"manifest": None, "checkpoints": {}}
    manifest = read_json(path, f"no golden manifest at {path}")
    return {"manifest": file_digest(path),
            "checkpoints": {m: r.get("sha256") for m, r in sorted(manifest.get("models", {}).items())}}


def models_part(matrix: Matrix, source: ModelSource) -> dict[str, Any]:
    """Each model the cells judge: a reference (trained from [data]) or a team's files, by digest; a hub entry
    by its folder's digest, entry, kwargs and weights."""
    parts: dict[str, Any] = {}
    for name in matrix.models:
        entry = matrix.entry(name)
        if not entry.reference:
            parts[name] = fingerprint_part(entry)
        elif source.reference:
            parts[name] = {"reference": "trained from [data]"}
        else:
            parts[name] = {"checkpoint_sha256": file_digest(getattr(source, name, None)),
                           "vocab_sha256": file_digest(source.vocab) if name == "deeplog" else None,
                           "log_sha256": file_digest(source.log)}
    return parts


def static_cell_parts(matrix: Matrix, cell: Cell, golden_dir: Path) -> dict[str, Any]:
    return {"cell": cell_table(matrix, cell), "data": data_part(matrix), "golden": golden_part(golden_dir),
            "tolerance": asdict(matrix.tolerance), "warnings": list(matrix.warnings_allowed)}


def cell_key(matrix: Matrix, cell: Cell, source: ModelSource, golden_dir: Path, code: str,
             packages: dict[str, str]) -> EvidenceKey:
    """A cell result's key: what it measured with (``code``: the installed alog-detect's digest)."""
    return EvidenceKey({**static_cell_parts(matrix, cell, golden_dir), "models": models_part(matrix, source),
                        "source": code, "packages": packages})


def runtime_table(runtime: Runtime) -> dict[str, Any]:
    """The runtime as matrix.toml defines it, without its [[runtime.expect]]."""
    return {"onnxruntime": runtime.onnxruntime, "pins": dict(sorted(runtime.pins.items())),
            "python": runtime.python, "levels": list(runtime.levels), "timeout_s": runtime.timeout_s}


def runtime_base(runtime: Runtime, packages: dict[str, str], engine: Path | None, code: str,
                 tolerance: Tolerance) -> dict[str, Any]:
    """The parts every artifact's runtime key shares: the runtime, its venv, the C engine, the code, and the
    tolerance its outcomes were judged with."""
    return {"runtime": runtime_table(runtime), "packages": packages, "engine": file_digest(engine), "source": code,
            "tolerance": asdict(tolerance)}


def artifact_part(onnx: Path, golden: Path, torch_outputs: Path) -> dict[str, Any]:
    """A kept artifact, the golden cases beside it (what the runtime compares against) and its cell's PyTorch
    outputs, by digest."""
    return {"onnx": file_digest(onnx), "golden": file_digest(golden), "torch": file_digest(torch_outputs)}


def artifact_key(base: dict[str, Any], artifact: dict[str, Any]) -> EvidenceKey:
    """An artifact's runtime key: the runtime's ``base`` parts and the artifact's own (``artifact_part``)."""
    return EvidenceKey({**base, "artifact": artifact})
