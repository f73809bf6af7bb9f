"""The matrix's memory: each run appends a record to reports/history; the report shows the rows that moved as a
strip of statuses, and `alog-matrix history`, typed as a user types it, names the run where a row took its
status and what its evidence key changed then. Two real runs, the second with the tolerance tightened."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report import history

from .conftest import execute

TIGHTER = ("seed = 3\n", "seed = 3\n\n[tolerance]\natol = 1e-9\n")
ROW = "host mscred.golden_parity"


@pytest.fixture(scope="module")
def two_runs(keyed_run, tmp_path_factory) -> Path:
    """The first run's copy (its one history record) run again with --resume and a tightened tolerance."""
    run = tmp_path_factory.mktemp("history") / "run"
    shutil.copytree(keyed_run, run)
    path = run / "matrix.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(*TIGHTER, 1), encoding="utf-8")
    code, _ = execute(run, resume=True)
    assert code == 1  # MSCRED no longer exports within 1e-9
    return run


def test_each_run_appends_one_record(two_runs):
    records = history.load(two_runs / "reports")
    assert [r["verdict"] for r in records] == ["PASS", "FAIL"]
    assert records[0]["rows"][ROW] == "pass" and records[1]["rows"][ROW] == "fail"
    assert records[1]["keys"]["host"]["tolerance"]["atol"] == 1e-9


def test_the_report_shows_the_row_as_new_since_the_previous_run(two_runs):
    doc = json.loads((two_runs / "reports" / "matrix.json").read_text(encoding="utf-8"))
    rows = {r["row"]: r for r in doc["history"]["rows"]}
    assert rows[ROW]["strip"] == ["pass", "fail"] and rows[ROW]["change"] == "new since the previous run"
    assert rows[ROW]["key_changes"] == ["[tolerance] changed (atol 1e-05 -> 1e-09)"]
    assert "host deeplog.golden_parity" not in rows  # it still passes: nothing moved
    html = (two_runs / "reports" / "index.html").read_text(encoding="utf-8")
    assert 'id="history"' in html and "new since the previous run" in html
    summary = (two_runs / "reports" / "summary.md").read_text(encoding="utf-8")
    # escaped for GitHub's markdown, as every string there is
    assert "- **host mscred.golden\\_parity**: new since the previous run (pass → fail); its evidence key then: " \
           "\\[tolerance\\] changed (atol 1e-05 -&gt; 1e-09)" in summary


def test_alog_matrix_history_names_the_run_and_the_change(two_runs):
    done = subprocess.run([str(Path(sys.executable).parent / "alog-matrix"), "history", "--out", "reports"],
                          cwd=two_runs, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "2 run(s), oldest first:" and "PASS" in lines[2] and "FAIL" in lines[3]
    row = next(line for line in lines if line.strip().startswith(f"{ROW}:"))
    assert row.strip().startswith(f"{ROW}: pass fail  (new since the previous run; fail since run 2, ")
    assert row.endswith("commit none: [tolerance] changed (atol 1e-05 -> 1e-09))")


def test_no_history_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([str(Path(sys.executable).parent / "alog-matrix"), "history", "--out", "reports"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "alog-matrix history: error: no run recorded in reports/history (alog-matrix run records one per run)"]
