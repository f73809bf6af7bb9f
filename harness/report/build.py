"""`alog-matrix report`: cell result files -> reports/matrix.json, index.html, junit.xml, summary.md.

``build_report`` is the API the orchestrator calls after the cells ran; ``--merge DIR`` first gathers
cell files downloaded from separate CI jobs into the cells directory.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from converter import atomic
from converter.errors import AlogError
from harness.config.matrix import Matrix, load_matrix, matrix_here
from harness.config.policy import Policy
from harness.golden.store import MANIFEST, Golden
from harness.procs import locks
from harness.report import gate, history, render
from harness.report import schema as report_schema
from harness.report.answers import answer_matrix
from harness.report.evidence import evidence_problems
from harness.report.model import build_document, read_cell_file
from harness.report.runtimes import kept_evidence, runtime_documents

OUTPUTS = ("matrix.json", "index.html", "junit.xml", "summary.md")


@dataclass
class Built:
    index: Path  # reports/index.html
    doc: dict[str, Any]  # what matrix.json holds, the verdict included
    verdict: gate.Verdict


def _matrix(matrix: Matrix | str | Path | None) -> Matrix | None:
    if matrix is None or isinstance(matrix, Matrix):
        return matrix
    return load_matrix(matrix)


def build_report(
    cells_dir: str | Path,
    matrix: Matrix | str | Path | None,
    out_dir: str | Path,
    baseline: dict[str, Any] | str | Path | None = None,
    strict: bool = False,
    record_history: bool = False,
) -> Built:
    """Write matrix.json, index.html, junit.xml and summary.md into out_dir, with the gate's one verdict.

    ``matrix`` is a loaded Matrix or the path of matrix.toml: its policy judges, and the cells it lists
    without a result file are missing evidence; ``baseline`` a previous matrix.json (path or loaded) to
    diff against; ``record_history`` appends this run's record to ``out_dir/history`` (a run does; a report
rebuilt alone does not, unless asked). Everything is rendered before anything is written, so a failure leaves
the old report whole.
    """
    matrix = _matrix(matrix)
    out_dir = Path(out_dir)
    baseline_path = None
    if baseline is not None and not isinstance(baseline, dict):
        baseline_path, baseline = Path(baseline), gate.read_report(Path(baseline), "baseline report")
    policy = matrix.policy if matrix else Policy()
    policy = replace(policy, strict=strict or policy.strict)
    golden_manifest = out_dir / "golden" / MANIFEST
    golden = Golden.load(golden_manifest.parent).manifest if golden_manifest.is_file() else None
    doc = build_document(Path(cells_dir), matrix, policy, baseline=baseline, baseline_path=baseline_path,
                         golden=golden)
    doc["runtimes"], doc["artifacts"], described = runtime_documents(out_dir, matrix)
    doc["evidence_problems"] = (kept_evidence(out_dir, doc["cells"], doc["runtimes"], doc["artifacts"], described)
                                + evidence_problems(out_dir, matrix, doc["cells"], doc["runtimes"]))
    doc["answers"] = answer_matrix(doc)
    index = out_dir / "index.html"
    verdict = gate.decide(doc, policy, expected_cells=[c.id for c in matrix.cells] if matrix else None,
                          report_path=str(index))
    doc["verdict"] = verdict.to_dict()
    current = history.run_record(doc, history.git_commit(matrix.path.parent) if matrix else None)
    earlier = history.load(out_dir)
    if not record_history and earlier and history.same_run(earlier[-1], current):
        earlier.pop()  # this report shows the last recorded run again: not a run of its own
    doc["history"] = history.view([*earlier, current])
    report_schema.validate_report(doc, source="the report being built")
    outputs = {
        "matrix.json": (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        "index.html": render.render_html(doc).encode("utf-8"),
        "junit.xml": render.render_junit(doc),
        "summary.md": render.render_summary(doc, report_link=str(index)).encode("utf-8"),
    }
    for name, data in outputs.items():
        atomic.write_bytes(out_dir / name, data)
    if record_history:
        history.append(out_dir, current)
    return Built(index, doc, verdict)


def merge_cells(source_dir: str | Path, cells_dir: str | Path) -> list[Path]:
    """Copy every cell result under source_dir (searched recursively, e.g. one folder per CI artifact)
    into cells_dir as <cell_id>.json. An unreadable file is copied under its own name, so the report
    records it instead of silently dropping it. Two files for one cell are refused: which one is the
    evidence cannot be told, and keeping either could hide the other's failure."""
    source_dir, cells_dir = Path(source_dir), Path(cells_dir)
    if not source_dir.is_dir():
        raise AlogError(f"nothing to merge: {source_dir} is not a directory")
    chosen: dict[str, Path] = {}
    for path in sorted(source_dir.rglob("*.json")):
        cell = read_cell_file(path)
        if cell.cell_id in chosen:
            raise AlogError(f"two result files for cell {cell.cell_id}: {chosen[cell.cell_id]} and {path} "
                            "(remove the stale one)")
        chosen[cell.cell_id] = path
    written = []
    for name, path in sorted(chosen.items()):
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
                        "(default: gate.toml, else matrix.toml, of the current folder when it has one)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default: reports)")
    parser.add_argument("--baseline", type=Path, default=None, help="a previous matrix.json to compare with")
    parser.add_argument("--merge", type=Path, default=None, metavar="DIR",
                        help="first copy every cell result found under DIR (recursively) into --cells-dir")
    parser.add_argument("--strict", action="store_true",
                        help="record an xpass as a failure (in the verdict and junit.xml)")
    parser.add_argument("--record-history", action="store_true",
                        help="append this report to <out>/history as a run (alog-matrix run does it itself)")


def run(args: argparse.Namespace) -> int:
    matrix_path = args.matrix
    if matrix_path is None:  # the current folder's matrix file, if it has one
        matrix_path = matrix_here()
    # A run holds its report folder while its cells write results and it writes the report: a report built
    # meanwhile would read half a run and rewrite files under it, so it is refused, naming the holder.
    holder = locks.held_by_other(Path(args.cells_dir).parent)
    if holder is not None and Path(args.cells_dir).parent.resolve() != Path(args.out).resolve():
        raise locks.Busy(f"the cells folder {args.cells_dir} belongs to a report folder in use by another "
                         f"alog-matrix run ({holder}); wait for it to finish or stop it")
    with locks.hold(Path(args.out), "the report folder"):
        if args.merge is not None:
            merged = merge_cells(args.merge, args.cells_dir)
            print(f"alog-matrix report: merged {len(merged)} cell files from {args.merge} into {args.cells_dir}")
        built = build_report(args.cells_dir, matrix_path, args.out, args.baseline, args.strict,
                             record_history=args.record_history)
    print(built.verdict.line)
    print(f"alog-matrix report: wrote {', '.join(str(Path(args.out) / n) for n in OUTPUTS)}")
    return 0
