"""`gha-matrix`: the cells as a GitHub Actions matrix, runnable before the project is installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from report_factory import CELLS

ROOT = Path(__file__).resolve().parents[2]


def test_gha_matrix_lists_every_cell(workspace, alog_matrix):
    code, out, _ = alog_matrix("gha-matrix", "--matrix", workspace.matrix_path)
    assert code == 0
    assert json.loads(out) == {"include": [{"cell": c, "torch": t[0]} for c, t in CELLS.items()]}
    assert len(out.strip().splitlines()) == 1  # one line, for $GITHUB_OUTPUT


def test_fanout_runs_as_a_module_with_the_standard_library(workspace):
    # CI's planning job runs this before installing anything: it must not import torch or jinja2.
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "gha-matrix", "--matrix", str(workspace.matrix_path), "--cells", "torch-2.8.0"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"include": [{"cell": "torch-2.8.0", "torch": "2.8.0"}]}
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, harness.cli, harness.run.fanout; print(sorted(m for m in ('torch', 'jinja2', 'jsonschema', 'numpy') if m in sys.modules))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert probe.stdout.strip() == "[]"


def test_an_unknown_cell_is_one_line_and_exit_2(workspace):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "gha-matrix", "--matrix", str(workspace.matrix_path), "--cells", "torch-0.4"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("alog-matrix gha-matrix: error: no cell 'torch-0.4' in ") and len(proc.stderr.splitlines()) == 1
