"""Honest records: a parity suite that never ran is no evidence (exit 2), never a PASS or an xfail. Real runs:
host-torch cells in child processes, the shipped parity suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.matrix import load_matrix
from harness.ground.records import CellResult
from harness.run import orchestrator

from .conftest import write_matrix

SELF_CHECK = "test_parity_selfcheck.py::test_parity_near_zero_outputs_keep_relative_error_bounded"


def _run(tmp: Path, body: str, checks: list[str], child_env: dict[str, str] | None = None
         ) -> tuple[int, orchestrator.RunOptions]:
    write_matrix(tmp / "matrix.toml", body, checks=checks, blocks=20)
    return _execute(tmp, child_env=dict(child_env or {}))


def _execute(tmp: Path, **options) -> tuple[int, orchestrator.RunOptions]:
    """tmp/matrix.toml run on the host, its reports and scratch in tmp (no C engine: no check here needs it)."""
    matrix = load_matrix(tmp / "matrix.toml")
    opts = orchestrator.RunOptions(out_dir=tmp / "reports", work_root=tmp / "work", host=True, build_engine=False,
                                   **options)
    return orchestrator.run_matrix(matrix, matrix.cells, opts), opts


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
