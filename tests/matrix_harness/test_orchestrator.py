"""The orchestrator isolates cells: a crash, an abort or a hang in one cell is recorded by the parent
(crash + signal name, or timeout, with the output tail and the checks finished before the death) and
the next cells still run. Real child processes, real cell runners, real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.run import orchestrator
from harness.procs import child
from harness.config.matrix import load_matrix
from harness.ground.names import CHECK_NAMES as CHECKS
from harness.ground.records import CellResult
from harness.ground.protocol import TEST_FAULT_ENV

from .conftest import write_matrix

FAULTS = "crashes:crash,aborts-late:abort@train,hangs:hang"


def _alive_with(marker: str) -> list[int]:
    """pids of live processes whose command line mentions ``marker``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and int(proc.name) != os.getpid():
            pids.append(int(proc.name))
    return pids


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory, host_torch):
    """crashes (SIGSEGV), aborts-late (SIGABRT at train), hangs (timeout), then a healthy cell."""
    tmp = tmp_path_factory.mktemp("faulty")
    matrix_path = write_matrix(tmp / "matrix.toml", f"""
        [[cell]]
        id = "crashes"
        torch = "{host_torch}"

        [[cell]]
        id = "aborts-late"
        torch = "{host_torch}"

        [[cell]]
        id = "hangs"
        torch = "{host_torch}"
        timeout_s = 25

        [[cell]]
        id = "healthy"
        torch = "{host_torch}"

        [[cell.expect]]
        model = "deeplog"
        check = "typeerror_fallback"
        reason = "expectation bookkeeping under test: a pass here must be reported as xpass"
    """, checks=[c for c in CHECKS if c != "parity"])
    matrix = load_matrix(matrix_path)
    opts = orchestrator.RunOptions(out_dir=tmp / "reports", work_root=tmp / "work", host=True,
                                   child_env={TEST_FAULT_ENV: FAULTS})
    code = orchestrator.run_matrix(matrix, matrix.cells, opts)
    return tmp, matrix, opts, code


def _result(opts, cell_id) -> CellResult:
    return CellResult.read(opts.cells_dir / f"{cell_id}.json")


def test_segfault_is_recorded_as_crash_with_signal_and_output(faulty_run):
    _, _, opts, _ = faulty_run
    result = _result(opts, "crashes")
    assert result.status == "crash"
    assert result.signal == "SIGSEGV"
    assert "test fault: crash in cell crashes" in result.output_tail
    assert "died of SIGSEGV during stage probe" in result.output_tail
    # the parent wrote its own record from the child's progress, beside which no partial file is left
    assert not list(opts.cells_dir.glob("*.partial"))


def test_abort_keeps_the_checks_finished_before_it(faulty_run):
    _, _, opts, _ = faulty_run
    result = _result(opts, "aborts-late")
    assert (result.status, result.signal) == ("crash", "SIGABRT")
    kept = {(c.model, c.check): c.status for c in result.checks}
    # the probe stage ran before the abort at "train": its record survived the death
    assert kept == {("deeplog", "exporter_signature"): "pass"}
    assert set(result.stages) >= {"venv", "environment", "probe", "cell_process"}


def test_hang_is_killed_at_its_time_limit(faulty_run):
    tmp, _, opts, _ = faulty_run
    result = _result(opts, "hangs")
    assert (result.status, result.signal) == ("timeout", "timeout")
    assert result.output_tail.startswith("killed after 25 s (timeout_s) during stage probe")
    assert result.stages["cell_process"] < 25 + child.KILL_GRACE_S + 5
    assert _alive_with(str(tmp / "work" / "hangs")) == []  # the whole process group is gone


def test_the_cell_after_the_failures_still_runs_every_check(faulty_run, host_torch):
    _, matrix, opts, _ = faulty_run
    result = _result(opts, "healthy")
    assert result.status == "complete"
    assert result.environment["torch"].split("+")[0] == host_torch
    got = [(c.model, c.check) for c in result.checks]
    assert sorted(got) == sorted(("deeplog", check) for check in CHECKS)  # each exactly once
    by_check = {c.check: c for c in result.checks}
    assert by_check["parity"].status == "skip"  # left out by [defaults].checks
    assert by_check["dynamo_export"].status == "skip"  # strategy not configured
    assert by_check["legacy_export"].status == "pass"
    assert by_check["legacy_export"].detail["exporter"] == "torchscript"
    assert by_check["dynamic_axes"].status == "pass"
    assert by_check["dynamic_axes"].figures["examples"] == 12  # 3 batches x 4 lengths
    # an expected failure that passes is an xpass, carrying the reason from matrix.toml
    fallback = by_check["typeerror_fallback"]
    assert (fallback.status, fallback.expected) == ("xpass", "fail")
    assert "bookkeeping under test" in fallback.reason
    assert all(c.status != "error" for c in result.checks), [(c.check, c.error) for c in result.checks
                                                              if c.status == "error"]


def test_report_and_gate_see_the_dead_cells(faulty_run):
    _, _, opts, code = faulty_run
    assert code == 1  # crash and timeout are in [gate].fail_on
    doc = json.loads((opts.out_dir / "matrix.json").read_text())
    states = {cell["id"]: cell["state"] for cell in doc["cells"]}
    assert states == {"crashes": "crash", "aborts-late": "crash", "hangs": "timeout", "healthy": "complete"}


def test_resume_keeps_finished_cells_and_reruns_the_rest(faulty_run):
    _, matrix, opts, _ = faulty_run
    before = _result(opts, "healthy")
    rerun = orchestrator.RunOptions(out_dir=opts.out_dir, work_root=opts.work_root, host=True, resume=True,
                                    report=False, child_env={TEST_FAULT_ENV: FAULTS})
    cells = matrix.select(["crashes", "healthy"])
    assert orchestrator.run_matrix(matrix, cells, rerun) == 0
    kept = _result(opts, "healthy")
    assert kept.decision["reused"] and kept.decision["reason"].startswith("reused (run ")
    assert {**kept.to_dict(), "decision": None} == {**before.to_dict(), "decision": None}  # its evidence untouched
    again = _result(opts, "crashes")
    assert again.status == "crash" and again.finished >= before.finished
    assert again.decision == {**again.decision, "reused": False, "reason": "rerun: the earlier run ended in crash"}


def test_torch_mismatch_is_a_cell_error_not_a_silent_pass(tmp_path, host_torch):
    matrix_path = write_matrix(tmp_path / "matrix.toml", """
        [[cell]]
        id = "wrong-torch"
        torch = "1.0.0"
    """)
    matrix = load_matrix(matrix_path)
    opts = orchestrator.RunOptions(out_dir=tmp_path / "reports", work_root=tmp_path / "work", host=True,
                                   report=False)
    orchestrator.run_matrix(matrix, matrix.cells, opts)
    result = _result(opts, "wrong-torch")
    assert result.status == "error"
    assert f"wants torch 1.0.0 but this environment has {host_torch}" in result.output_tail
