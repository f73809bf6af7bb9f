"""Missing evidence is never PASS: no cells, no checks, only skips, a partial cell, duplicated results, a
policy that names no real status. Each is exit 2 (or 1 when a failure is also there), with one line."""

from __future__ import annotations

import json

import pytest
from report_factory import CELLS, healthy_world, make_cell, matrix_toml

from harness.report.build import build_report
from harness.ground.names import CHECK_NAMES as CHECKS


def _judge(workspace, alog_matrix, cells, *gate_args):
    workspace.write_cells(cells)
    build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir)
    return alog_matrix("gate", workspace.out_dir / "matrix.json", *gate_args)


def test_a_complete_cell_without_checks_is_no_evidence(workspace, alog_matrix):
    cells = healthy_world()
    cells[0] = make_cell("torch-1.13.1", checks=[])
    code, out, _ = _judge(workspace, alog_matrix, cells)
    assert code == 2
    assert "ERROR torch-1.13.1: the cell finished without recording any check: no evidence" in out


def test_a_cell_with_one_of_its_checks_is_no_evidence(workspace, alog_matrix):
    cells = healthy_world()
    cells[0] = make_cell("torch-1.13.1", checks=[("deeplog", "exporter_signature")])
    code, out, _ = _judge(workspace, alog_matrix, cells)
    assert code == 2
    assert f"{2 * len(CHECKS) - 1} missing" in out.splitlines()[-1]
    assert (f"ERROR torch-1.13.1 deeplog.{CHECKS[1]}: cell torch-1.13.1 finished without recording this check: "
            f"no evidence (and {2 * len(CHECKS) - 2} more checks without evidence)") in out


def test_a_cell_whose_checks_all_skip_is_no_evidence(workspace, alog_matrix):
    cells = healthy_world()
    skipped = make_cell("torch-2.8.0")
    for check in skipped.checks:
        check.status, check.expected, check.reason, check.error = "skip", "pass", "not selected", "not selected"
    cells[1] = skipped
    code, out, _ = _judge(workspace, alog_matrix, cells)
    assert code == 2 and "ERROR torch-2.8.0: every check of the cell was skipped: no evidence" in out


def test_a_report_without_cells_is_no_evidence(workspace, alog_matrix):
    workspace.write_matrix()
    build_report(workspace.cells_dir, None, workspace.out_dir)
    doc = json.loads((workspace.out_dir / "matrix.json").read_text())
    assert doc["cells"] == [] and doc["verdict"]["exit_code"] == 2
    code, out, _ = alog_matrix("gate", workspace.out_dir / "matrix.json")
    assert code == 2 and "ERROR the report holds no cell: no evidence" in out


def test_a_matrix_without_cells_is_refused_before_anything(workspace, alog_matrix):
    workspace.matrix_path.write_text('[defaults]\nmodels = ["deeplog"]\n', encoding="utf-8")
    code, out, err = alog_matrix("report", "--cells-dir", workspace.cells_dir, "--matrix", workspace.matrix_path,
                                 "--out", workspace.out_dir)
    assert code == 2 and out == ""
    assert err == f"alog-matrix: error: {workspace.matrix_path}: no [[cell]] table: a matrix without cells gives no evidence\n"
    assert not (workspace.out_dir / "matrix.json").exists()


def test_two_results_for_one_cell_report_the_worse_and_say_so(workspace, alog_matrix):
    """A failing result and a passing copy with a later `finished`: the failure is kept, never dropped."""
    cells = healthy_world()
    cells[1] = make_cell("torch-2.8.0", {("mscred", "parity"): dict(status="fail", error="max abs error 2e-03")})
    workspace.write_cells(cells)
    make_cell("torch-2.8.0", finished="2026-11-24T09:00:00+00:00").write(workspace.cells_dir / "copy-of-2.8.0.json")
    build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir)
    doc = json.loads((workspace.out_dir / "matrix.json").read_text())
    cell = next(c for c in doc["cells"] if c["id"] == "torch-2.8.0")
    assert cell["state"] == "duplicate" and cell["source"].endswith("torch-2.8.0.json")
    assert "2 result files claim cell torch-2.8.0 (copy-of-2.8.0.json, torch-2.8.0.json)" in cell["problem"]
    code, out, _ = alog_matrix("gate", workspace.out_dir / "matrix.json")
    assert code == 1  # the failure outranks the missing evidence, and both are said
    assert "FAIL torch-2.8.0 mscred.parity: max abs error 2e-03" in out
    assert "ERROR torch-2.8.0: 2 result files claim cell torch-2.8.0" in out


@pytest.mark.parametrize("fail_on, message", [
    ('["fial"]', "'fial'"),
    ("[]", "empty"),
    ('["skip"]', "'skip'"),
])
def test_a_policy_that_names_no_real_status_is_refused_by_gate_and_report_alike(workspace, alog_matrix, fail_on,
                                                                                message):
    cells = healthy_world()
    cells[0] = make_cell("torch-1.13.1", {("deeplog", "cengine"): dict(status="fail", error="engine differs")})
    workspace.write_cells(cells)
    build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir)
    bad = workspace.root / "bad.toml"
    bad.write_text(matrix_toml().replace('fail_on = ["fail", "error", "crash", "timeout"]', f"fail_on = {fail_on}"))
    code, out, err = alog_matrix("gate", workspace.out_dir / "matrix.json", "--matrix", bad)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1
    code, out, err = alog_matrix("report", "--cells-dir", workspace.cells_dir, "--matrix", bad, "--out",
                                 workspace.root / "other")
    assert code == 2 and message in err
    # ... and a report whose recorded policy was edited by hand is refused the same way
    doc = json.loads((workspace.out_dir / "matrix.json").read_text())
    doc["policy"]["fail_on"] = json.loads(fail_on)
    edited = workspace.root / "edited.json"
    edited.write_text(json.dumps(doc))
    code, _, err = alog_matrix("gate", edited)
    assert code == 2 and message in err


def test_every_cell_in_the_factory_world_is_known():  # the worlds above rely on these four cells
    assert list(CELLS) == ["torch-1.13.1", "torch-2.8.0", "torch-2.9.1", "torch-2.13.0"]
