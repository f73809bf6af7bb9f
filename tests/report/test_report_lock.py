"""`alog-matrix report` and a running run: the run holds its report folder; a report built meanwhile is
refused in one line naming the holder (exit 2), and the run's report files are left as they are."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from report_factory import CELLS, make_cell

ROOT = Path(__file__).resolve().parents[2]


def _holder(folder: Path) -> subprocess.Popen:
    """Another process holding ``folder`` as `alog-matrix run` does, until its stdin closes."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from harness.procs import locks
        with locks.hold(Path({str(folder)!r}), "the report folder"):
            print("held", flush=True)
            sys.stdin.read()
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def _release(holder: subprocess.Popen) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(timeout=60) == 0


def _cells(workspace) -> None:
    for cell_id in CELLS:
        make_cell(cell_id).write(workspace.cells_dir / f"{cell_id}.json")


def test_a_report_under_a_running_run_is_refused_naming_the_holder(workspace, alog_matrix):
    _cells(workspace)
    workspace.out_dir.mkdir(parents=True, exist_ok=True)
    (workspace.out_dir / "index.html").write_text("the run's own report\n", encoding="utf-8")
    holder = _holder(workspace.out_dir)
    try:
        code, out, err = alog_matrix("report", "--cells-dir", workspace.cells_dir, "--matrix", workspace.matrix_path,
                                     "--out", workspace.out_dir)
    finally:
        _release(holder)
    assert code == 2 and out == "", (out, err)
    assert err.count("\n") == 1 and f"pid {holder.pid}" in err and "in use by another alog-matrix run" in err
    assert (workspace.out_dir / "index.html").read_text(encoding="utf-8") == "the run's own report\n"
    assert not (workspace.out_dir / "matrix.json").exists()
    # once the run is over, the same command builds the report
    code, _, err = alog_matrix("report", "--cells-dir", workspace.cells_dir, "--matrix", workspace.matrix_path,
                               "--out", workspace.out_dir)
    assert code == 0, err
    assert (workspace.out_dir / "matrix.json").is_file()


def test_a_report_elsewhere_from_a_running_runs_cells_is_refused(workspace, alog_matrix, tmp_path):
    _cells(workspace)
    holder = _holder(workspace.cells_dir.parent)
    try:
        code, _, err = alog_matrix("report", "--cells-dir", workspace.cells_dir, "--matrix", workspace.matrix_path,
                                   "--out", tmp_path / "elsewhere")
    finally:
        _release(holder)
    assert code == 2 and err.count("\n") == 1 and f"pid {holder.pid}" in err, err
    assert not (tmp_path / "elsewhere" / "matrix.json").exists()
