"""A run's processes as a user meets them: kill -9 or SIGTERM of the orchestrator takes its cell runner
with it, an interrupted cell is recorded as such (rc 143 / 130, one line), a runner left from an earlier
run is seen on --resume, and a second run on the same folders is refused naming who holds them.
Real orchestrators and cell runners in their own processes; the runner hangs at a stage on purpose
(the orchestrator's test fault) so that there is time to act on it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.run import cell as cell_runner
from harness.procs import locks
from harness.ground.records import CellResult
from harness.ground.protocol import PARENT_ENV, TEST_FAULT_ENV

from .conftest import ROOT, write_matrix

WAIT_S = 300  # generous: the machine is shared; nothing here is a timing assertion


def _matrix(tmp: Path, host_torch: str) -> Path:
    return write_matrix(tmp / "matrix.toml", f"""
        [[cell]]
        id = "c"
        torch = "{host_torch}"
        timeout_s = 900
    """)


def _start(tmp: Path, matrix: Path, *extra: str, out: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, TEST_FAULT_ENV: "c:hang@probe"}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "--host", "--matrix", str(matrix),
                             "--out", str(out or tmp / "reports"), "--work-root", str(tmp / "work"), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state  # a zombie has already died


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_S} s for {what}")
        time.sleep(0.2)


def _hanging_runner(tmp: Path) -> int:
    """The pid of the cell runner once it hangs at its probe stage (from the lock it holds)."""
    log = tmp / "reports" / "cells" / "c.log"
    _wait(lambda: log.is_file() and "test fault: hang in cell c at stage probe" in log.read_text(), "the hang")
    return json.loads((tmp / "work" / "c" / cell_runner.RUNNER_LOCK).read_text())["pid"]


def test_kill_9_of_the_orchestrator_takes_its_cell_runner_with_it(tmp_path, host_torch):
    run = _start(tmp_path, _matrix(tmp_path, host_torch))
    runner = _hanging_runner(tmp_path)
    assert _alive(runner)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    _wait(lambda: not _alive(runner), f"runner {runner} to die with its orchestrator")
    assert locks.held_by_other(tmp_path / "work" / "c", cell_runner.RUNNER_LOCK) is None


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_stop_the_cell_and_record_it_as_interrupted(tmp_path, host_torch, sig, code):
    run = _start(tmp_path, _matrix(tmp_path, host_torch))
    runner = _hanging_runner(tmp_path)
    os.kill(run.pid, sig)
    _, err = run.communicate(timeout=WAIT_S)
    assert run.returncode == code
    assert err.strip().splitlines()[-1] == (f"alog-matrix run: interrupted by {signal.Signals(sig).name}; "
                                            "cell c is recorded as interrupted")
    _wait(lambda: not _alive(runner), "the runner to stop")
    result = CellResult.read(tmp_path / "reports" / "cells" / "c.json")
    assert result.status == "interrupted"
    assert result.output_tail.startswith(f"the run was interrupted by {signal.Signals(sig).name}")
    assert result.checks == [] and "environment" in result.stages  # it hung entering its first check's stage


def test_resume_sees_a_runner_left_from_an_earlier_run(tmp_path, host_torch):
    matrix = _matrix(tmp_path, host_torch)
    work = tmp_path / "work" / "c"
    env = {**os.environ, TEST_FAULT_ENV: "c:hang@probe"}
    env.pop(PARENT_ENV, None)
    stale = subprocess.Popen([sys.executable, "-m", "harness.cli", "run-cell", "--cell", "c", "--matrix", str(matrix),
                              "--out", str(work / "cell-result.json"), "--work", str(work)], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait(lambda: locks.held_by_other(work, cell_runner.RUNNER_LOCK) is not None, "the stale runner's lock")
        resumed = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--host", "--resume", "--matrix",
                                  str(matrix), "--out", str(tmp_path / "reports"), "--work-root", str(tmp_path / "work")],
                                 cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S, check=False)
        assert resumed.returncode == 2
        assert resumed.stderr.strip().splitlines()[-1].startswith(
            f"alog-matrix run: error: a cell runner of an earlier run still works on cell c (pid {stale.pid}, started ")
        assert resumed.stderr.strip().endswith("stop it before running this cell again")
    finally:
        os.killpg(stale.pid, signal.SIGKILL)
        stale.wait(timeout=60)


def test_a_second_run_on_the_same_folder_is_refused_naming_the_first(tmp_path, host_torch):
    matrix = _matrix(tmp_path, host_torch)
    first = _start(tmp_path, matrix)
    try:
        _hanging_runner(tmp_path)
        second = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--host", "--matrix", str(matrix),
                                 "--out", str(tmp_path / "reports"), "--work-root", str(tmp_path / "other-work")],
                                cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S, check=False)
        assert second.returncode == 2 and second.stdout == ""
        assert second.stderr.startswith(f"alog-matrix run: error: the report folder {tmp_path / 'reports'} is in use "
                                        f"by another alog-matrix run (pid {first.pid}, started ")
        assert "wait for it to finish or stop it" in second.stderr and second.stderr.count("\n") == 1
        # the first run's cell goes on, untouched by the refused one
        assert "test fault: hang" in (tmp_path / "reports" / "cells" / "c.log").read_text()
    finally:
        os.kill(first.pid, signal.SIGTERM)
        first.communicate(timeout=WAIT_S)
