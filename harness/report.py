"""`alog-matrix report`: cell result files -> reports/matrix.json, index.html, junit.xml, summary.md.

``build_report`` is the API the orchestrator calls after the cells ran; ``--merge DIR`` first gathers
cell files downloaded from separate CI jobs into the cells directory.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from converter import atomic
from converter.errors import AlogError
from harness import gate, render, report_schema
from harness.matrix import DEFAULT_MATRIX, Matrix, load_matrix
from harness.report_model import build_document, read_cell_file

OUTPUTS = ("matrix.json", "index.html", "junit.xml", "summary.md")


def _matrix(matrix: Matrix | str | Path | None) -> Matrix | None:
    if matrix is None or isinstance(matrix, Matrix):
        return matrix
    return load_matrix(matrix)


def read_baseline(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AlogError(f"baseline report not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AlogError(f"cannot read baseline report {path}: {exc}") from None


def build_report(
    cells_dir: str | Path,
    matrix: Matrix | str | Path | None,
    out_dir: str | Path,
    baseline: dict[str, Any] | str | Path | None = None,
    strict: bool = False,
) -> Path:
    """Write matrix.json, index.html, junit.xml and summary.md into out_dir; return the index.html path.

    ``matrix`` is a loaded Matrix or the path of matrix.toml (cells it lists without a result file are
    recorded as missing); ``baseline`` a previous matrix.json (path or loaded) to diff against.
    """
    return _build(cells_dir, matrix, out_dir, baseline, strict)[0]


def _build(cells_dir, matrix, out_dir, baseline, strict) -> tuple[Path, dict[str, Any]]:
    matrix = _matrix(matrix)
    out_dir = Path(out_dir)
    baseline_path = None
    if baseline is not None and not isinstance(baseline, dict):
        baseline_path, baseline = Path(baseline), read_baseline(baseline)
    doc = build_document(Path(cells_dir), matrix, baseline=baseline, baseline_path=baseline_path, strict=strict)
    index = out_dir / "index.html"
    doc["verdict"] = gate.decide(doc, strict=strict, report_path=str(index)).to_dict()
    report_schema.validate_report(doc, source="the report being built")
    # Render everything before writing anything, so a rendering error leaves the previous report whole.
    outputs = {
        "matrix.json": (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        "index.html": render.render_html(doc).encode("utf-8"),
        "junit.xml": render.render_junit(doc),
        "summary.md": render.render_summary(doc, report_link=str(index)).encode("utf-8"),
    }
    for name, data in outputs.items():
        atomic.write_bytes(out_dir / name, data)
    return index, doc


def merge_cells(source_dir: str | Path, cells_dir: str | Path) -> list[Path]:
    """Copy every cell result under source_dir (searched recursively, e.g. one folder per CI artifact)
    into cells_dir as <cell_id>.json. An unreadable file is copied under its own name, so the report
    records it instead of silently dropping it. Two files for one cell: the later `finished` wins."""
    source_dir, cells_dir = Path(source_dir), Path(cells_dir)
    if not source_dir.is_dir():
        raise AlogError(f"nothing to merge: {source_dir} is not a directory")
    chosen: dict[str, tuple[bool, str, Path]] = {}  # name -> (readable, finished, path): the max wins
    for path in sorted(source_dir.rglob("*.json")):
        cell = read_cell_file(path)
        readable = cell.result is not None
        rank = (readable, (cell.result.finished or "") if readable else "", path)
        if cell.cell_id not in chosen or rank[:2] >= chosen[cell.cell_id][:2]:
            chosen[cell.cell_id] = rank
    written = []
    for name, (_, _, path) in sorted(chosen.items()):
        target = cells_dir / f"{name}.json"
        if path.resolve() != target.resolve():
            with atomic.atomic_path(target) as tmp:
                shutil.copyfile(path, tmp)
        written.append(target)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cells-dir", type=Path, default=Path("reports/cells"),
                        help="where the cell result files are (default: reports/cells)")
    parser.add_argument("--matrix", type=Path, default=None,
                        help="matrix.toml: its cells, expectations and gate policy "
                        "(default: the repository's matrix.toml when it exists)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default: reports)")
    parser.add_argument("--baseline", type=Path, default=None, help="a previous matrix.json to compare with")
    parser.add_argument("--merge", type=Path, default=None, metavar="DIR",
                        help="first copy every cell result found under DIR (recursively) into --cells-dir")
    parser.add_argument("--strict", action="store_true",
                        help="record an xpass as a failure (in the verdict and junit.xml)")


def run(args: argparse.Namespace) -> int:
    matrix_path = args.matrix
    if matrix_path is None and DEFAULT_MATRIX.exists():
        matrix_path = DEFAULT_MATRIX
    if args.merge is not None:
        merged = merge_cells(args.merge, args.cells_dir)
        print(f"alog-matrix report: merged {len(merged)} cell files from {args.merge} into {args.cells_dir}")
    _, doc = _build(args.cells_dir, matrix_path, args.out, args.baseline, args.strict)
    print(doc["verdict"]["line"])
    print(f"alog-matrix report: wrote {', '.join(str(Path(args.out) / n) for n in OUTPUTS)}")
    return 0
