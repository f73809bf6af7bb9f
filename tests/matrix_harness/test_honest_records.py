"""Honest records: a parity suite that never ran, a cell that died after its last saved check, a kept file
that is missing or corrupt. Each is no evidence (exit 2) or a crash, never a PASS, an xfail or an internal
error. Real runs: host-torch cells in child processes, the shipped parity suite, a real runtime venv."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.config.policy import Policy
from harness.ground.names import CHECK_NAMES as CHECKS
from harness.ground.protocol import TEST_FAULT_ENV
from harness.ground.records import CellResult
from harness.report.build import build_report
from harness.report.gate import decide
from harness.run import orchestrator

from .conftest import RUNTIME, cells_toml, execute, write_matrix

SELF_CHECK = "test_parity_selfcheck.py::test_parity_near_zero_outputs_keep_relative_error_bounded"


def _run(tmp: Path, body: str, checks: list[str], child_env: dict[str, str] | None = None
         ) -> tuple[int, orchestrator.RunOptions]:
    write_matrix(tmp / "matrix.toml", body, checks=checks, blocks=20)
    return execute(tmp, child_env=dict(child_env or {}))


def _messages(opts: orchestrator.RunOptions) -> list[str]:
    return json.loads((opts.out_dir / "matrix.json").read_text())["verdict"]["messages"]


# --- the parity suite did not run, or its checker is not trusted ------------------------------------


@pytest.mark.parametrize("addopts, reason", [
    ("--no-such-option", "the parity suite did not run (pytest exit 4: pytest.main(): error: unrecognized "
                         "arguments: --no-such-option)"),
    ("-m nothing_matches", "the parity suite did not run (pytest exit 5: no tests ran ("),
    (f"--deselect {SELF_CHECK}", "the parity checker's self-check(s) near_zero never ran"),
], ids=["usage-error", "empty-collection", "self-check-never-ran"])
def test_a_parity_suite_that_gave_no_evidence_is_missing_whatever_the_cell_expects(tmp_path, host_torch, addopts,
                                                                                  reason):
    code, opts = _run(tmp_path, f"""
        [[cell]]
        id = "host"
        torch = "{host_torch}"

        [[cell.expect]]
        model = "deeplog"
        check = "parity"
        reason = "an expected parity failure must not accept a suite that never measured anything"
    """, ["parity"], {"PYTEST_ADDOPTS": addopts})
    parity = next(c for c in CellResult.read(opts.cells_dir / "host.json").checks if c.check == "parity")
    assert (parity.status, parity.expected) == ("missing", "fail"), parity.error
    assert parity.error.startswith(reason), parity.error
    assert "pytest" in parity.detail["command"] and parity.detail["output_tail"]  # how to repeat it, what it said
    assert code == 2
    assert f"ERROR host deeplog.parity: {parity.error}" in _messages(opts)


# --- a death after the last saved check, or at interpreter exit -------------------------------------


DEATHS = {  # cell -> (fault, the signal or exit code recorded)
    "exits-after-result": ("exit@written", "exit code 1"),
    "aborts-at-exit": ("abort@atexit", "SIGABRT"),
    "dies-after-last-check": ("crash@finish", "SIGSEGV"),
    "dies-early": ("crash@probe", "SIGSEGV"),
}


@pytest.fixture(scope="module")
def late_deaths(tmp_path_factory, host_torch):
    tmp = tmp_path_factory.mktemp("late-deaths")
    body = "".join(f'\n[[cell]]\nid = "{cell}"\ntorch = "{host_torch}"\n' for cell in DEATHS)
    faults = ",".join(f"{cell}:{fault}" for cell, (fault, _) in DEATHS.items())
    return _run(tmp, body, ["exporter_signature"], {TEST_FAULT_ENV: faults})


@pytest.mark.parametrize("cell", [c for c in DEATHS if c != "dies-early"])
def test_a_death_after_the_last_saved_check_is_the_cells_crash_beside_its_checks(late_deaths, cell):
    _, opts = late_deaths
    result = CellResult.read(opts.cells_dir / f"{cell}.json")
    assert (result.status, result.signal) == ("crash", DEATHS[cell][1])
    assert sorted(c.check for c in result.checks) == sorted(CHECKS)  # every check kept, each once
    assert {c.check: c.status for c in result.checks}["exporter_signature"] == "pass"
    where = "after writing its whole result" if cell != "dies-after-last-check" else "during stage"
    assert where in result.output_tail.splitlines()[0], result.output_tail


def test_the_gate_never_passes_a_cell_that_died(late_deaths):
    code, opts = late_deaths
    assert code == 1  # crash is in fail_on
    messages = _messages(opts)
    assert "CRASH exits-after-result: the cell crashed (exit code 1), after its last check: the cell process " \
           "exited with code 1 after writing its whole result" in messages
    assert any(m.startswith("CRASH aborts-at-exit: the cell crashed (SIGABRT), after its last check") for m in messages)
    # A policy that does not fail a crash still cannot pass one: what never ran, or a death, is no evidence.
    doc = json.loads((opts.out_dir / "matrix.json").read_text())
    assert {cell["id"]: cell["worst"] for cell in doc["cells"]} == dict.fromkeys(DEATHS, "crash")  # the grid's chip
    lenient = decide(doc, Policy(fail_on=("fail",)))
    assert lenient.exit_code == 2, lenient.messages
    assert (f"ERROR dies-early: the cell crashed (SIGSEGV), {len(CHECKS)} checks never ran; [gate] fail_on does "
            "not name crash: no evidence") in lenient.messages
    assert ("ERROR aborts-at-exit: the cell crashed (SIGABRT), after its last check; [gate] fail_on does not name "
            "crash: no evidence") in lenient.messages


# --- kept files missing or corrupt --------------------------------------------------------------------


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory, host_torch) -> Path:
    """One host cell that kept its legacy DeepLog (golden_parity) and one runtime that ran it: a PASS."""
    tmp = tmp_path_factory.mktemp("kept")
    code, _ = _run(tmp, cells_toml(host_torch, ("host",)) + RUNTIME, ["golden_parity"])
    assert code == 0
    return tmp


def _damaged(kept_run: Path, tmp_path: Path, damage) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(kept_run, copy)
    damage(copy / "reports")
    return copy


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize("damage, named, message", [
    (lambda r: shutil.rmtree(r / "artifacts" / "host"), "artifacts/host/legacy/deeplog.onnx",
     "is missing: cell host kept it (golden_parity), no runtime ran it"),
    (lambda r: _truncate(r / "artifacts/host/legacy/deeplog.onnx"), "artifacts/host/legacy/deeplog.onnx",
     "cannot be read as ONNX (DecodeError"),
    (lambda r: _truncate(r / "artifacts/host/legacy/deeplog.golden.npz"), "artifacts/host/legacy/deeplog.golden.npz",
     "cannot be read (BadZipFile"),
], ids=["folder-removed", "onnx-truncated", "golden-cases-truncated"])
def test_a_kept_artifact_missing_or_corrupt_is_no_evidence_naming_the_file(kept_run, tmp_path, damage, named, message):
    copy = _damaged(kept_run, tmp_path, damage)
    code, opts = execute(copy, stage="runtimes")  # the runtime stage again, on what is left
    assert code == 2
    assert f"ERROR {opts.out_dir / named} {message}" in " ".join(_messages(opts)), _messages(opts)
    assert (opts.out_dir / "index.html").is_file()


@pytest.mark.parametrize("damage, message", [
    (lambda r: (r / "runtimes" / "artifacts.json").unlink(),
     "runtimes/artifacts.json is missing: the runtime results cannot be matched with the kept artifacts"),
    (lambda r: _truncate(r / "runtimes" / "artifacts.json"), "runtimes/artifacts.json cannot be read ("),
], ids=["removed", "truncated"])
def test_the_artifacts_description_missing_or_corrupt_is_no_evidence_naming_it(kept_run, tmp_path, damage, message):
    copy = _damaged(kept_run, tmp_path, damage)
    built = build_report(copy / "reports" / "cells", copy / "matrix.toml", copy / "reports")
    assert built.verdict.exit_code == 2
    assert any(m.startswith(f"ERROR {copy / 'reports'}/{message}") for m in built.verdict.messages), \
        built.verdict.messages
    assert "ort-1.21.1" in built.index.read_text()  # the page was rendered, runtime grid and all


@pytest.mark.parametrize("fault", ["exit@written", "abort@atexit"])
def test_a_runtime_runner_that_dies_after_writing_its_result_is_a_crash_with_its_outcomes(tmp_path, host_torch,
                                                                                           fault):
    matrix = write_matrix(tmp_path / "matrix.toml", cells_toml(host_torch, ("host",)) + RUNTIME,
                          checks=["golden_parity"], blocks=20)
    matrix.write_text(matrix.read_text().replace("[gate]\n", '[gate]\ndeploy = ["ort-1.21.1"]\n', 1))
    code, opts = execute(tmp_path, child_env={TEST_FAULT_ENV: f"ort-1.21.1:{fault}"})
    result = json.loads((opts.out_dir / "runtimes" / "ort-1.21.1.json").read_text())
    assert result["status"] == "crash" and "after writing its whole result" in result["output_tail"]
    assert result["outcomes"] and {o["status"] for o in result["outcomes"]} == {"pass"}  # what it measured stays
    assert code == 1 and "CRASH runtime ort-1.21.1: the runner did not finish" in _messages(opts)  # never a PASS
