"""``alog-matrix run --jobs N``: cells at once give the very statuses of one at a time; a cell that crashes
or hangs among them is recorded and the others finish; an interruption stops every running cell and
records each. Real cell runners in their own processes, on the torch of this interpreter (--host)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.run import orchestrator
from harness.config.matrix import load_matrix
from harness.ground.names import CHECK_NAMES as CHECKS
from harness.ground.records import CellResult
from harness.ground.protocol import TEST_FAULT_ENV

from .conftest import ROOT, write_matrix

# The parity suite has its own tests, and this scratch matrix has none of the shipped [warnings].allow.
CHEAP = [c for c in CHECKS if c not in ("parity", "warnings")]


def _cells(tmp: Path, host_torch: str, *cells: tuple[str, int]) -> Path:
    body = "".join(f'\n[[cell]]\nid = "{cell}"\ntorch = "{host_torch}"\ntimeout_s = {limit}\n' for cell, limit in cells)
    return write_matrix(tmp / "matrix.toml", body, checks=CHEAP)


def _statuses(out: Path) -> dict[tuple[str, str, str], str]:
    doc = json.loads((out / "matrix.json").read_text())
    return {(cell["id"], c["model"], c["check"]): c["status"] for cell in doc["cells"] for c in cell["checks"]}


def _cli(tmp: Path, matrix: Path, *extra: str, faults: str = "") -> subprocess.Popen:
    env = {**os.environ, TEST_FAULT_ENV: faults}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "--host", "--matrix", str(matrix), "--out",
                             str(tmp / "reports"), "--work-root", str(tmp / "work"), *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_two_cells_at_once_give_the_statuses_of_one_at_a_time(tmp_path, host_torch):
    matrix = load_matrix(_cells(tmp_path, host_torch, ("first", 900), ("second", 900)))
    codes = {}
    for jobs in (1, 2):
        opts = orchestrator.RunOptions(out_dir=tmp_path / f"jobs-{jobs}", work_root=tmp_path / f"work-{jobs}",
                                       host=True, jobs=jobs)
        codes[jobs] = orchestrator.run_matrix(matrix, matrix.cells, opts)
    one, two = _statuses(tmp_path / "jobs-1"), _statuses(tmp_path / "jobs-2")
    assert len(one) == 2 * len(CHECKS) and one == two
    assert codes == {1: 0, 2: 0} and {s for s in one.values()} >= {"pass", "skip"}


def test_a_crash_and_a_hang_among_cells_at_once_are_recorded_and_the_healthy_one_finishes(tmp_path, host_torch):
    matrix = _cells(tmp_path, host_torch, ("crashes", 900), ("hangs", 25), ("healthy", 900))
    run = _cli(tmp_path, matrix, "--jobs", "2", faults="crashes:crash@train,hangs:hang@train")
    _, err = run.communicate(timeout=900)
    assert run.returncode == 1, err[-3000:]  # crash and timeout are in [gate].fail_on
    cells = tmp_path / "reports" / "cells"
    crashed, hung, healthy = (CellResult.read(cells / f"{c}.json") for c in ("crashes", "hangs", "healthy"))
    assert (crashed.status, crashed.signal) == ("crash", "SIGSEGV")
    assert (hung.status, hung.signal) == ("timeout", "timeout")
    assert healthy.status == "complete" and len(healthy.checks) == len(CHECKS)
    assert all(c.status in ("pass", "skip") for c in healthy.checks), [(c.check, c.error) for c in healthy.checks]
    progress = [line for line in err.splitlines() if line.startswith("cell ")]
    assert {line.split(":")[0] for line in progress} == {"cell 1/3 crashes", "cell 2/3 hangs", "cell 3/3 healthy"}
    assert "cell 1/3 crashes: CRASH SIGSEGV" in err and "cell 2/3 hangs: TIMEOUT timeout" in err


def test_an_interruption_stops_every_running_cell_and_records_each(tmp_path, host_torch):
    matrix = _cells(tmp_path, host_torch, ("a", 900), ("b", 900), ("queued", 900))
    run = _cli(tmp_path, matrix, "--jobs", "2", faults="a:hang@probe,b:hang@probe")
    logs = [tmp_path / "reports" / "cells" / f"{c}.log" for c in ("a", "b")]
    started = time.monotonic()
    while not all(log.is_file() and "test fault: hang" in log.read_text() for log in logs):
        assert time.monotonic() - started < 300 and run.poll() is None, "both cells should hang at probe"
        time.sleep(0.2)
    os.kill(run.pid, signal.SIGTERM)
    _, err = run.communicate(timeout=300)
    assert run.returncode == 143
    assert err.strip().splitlines()[-1] == ("alog-matrix run: interrupted by SIGTERM; "
                                            "cells a, b are recorded as interrupted")
    for cell in ("a", "b"):
        assert CellResult.read(tmp_path / "reports" / "cells" / f"{cell}.json").status == "interrupted"
    assert not (tmp_path / "reports" / "cells" / "queued.json").exists()  # never started: missing, not run
