"""Differences from a previous matrix.json: new failures, fixed checks, parity figures that moved > 10x."""

from __future__ import annotations

import json

from report_factory import healthy_world, make_cell

from harness.report.build import build_report


def test_baseline_diff_in_gate_report_and_html(workspace, alog_matrix):
    old = healthy_world()
    old[2] = make_cell("torch-2.9.1", {("deeplog", "cengine"): dict(status="fail", error="engine exit 3")})
    workspace.write_cells(old)
    build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir)
    baseline = workspace.root / "baseline.json"
    (workspace.out_dir / "matrix.json").rename(baseline)

    new = healthy_world()
    new[1] = make_cell("torch-2.8.0", {("mscred", "parity"): dict(
        status="fail", error="max abs error 3.1e-03 exceeds atol", figures={"max_abs_error": 3.1e-3, "max_rel_error": 1.1e-6})})
    new[3] = make_cell("torch-2.13.0", {
        ("deeplog", "cengine"): dict(figures={"max_abs_error": 9.6e-6, "max_rel_error": 2.0e-6, "examples": 50}),  # 200x
        ("deeplog", "parity"): dict(figures={"max_abs_error": 1.2e-7, "max_rel_error": 1.1e-6, "examples": 200}),  # 5x
    })
    workspace.write_cells(new)
    build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir, baseline=baseline)

    doc = json.loads((workspace.out_dir / "matrix.json").read_text())
    diff = doc["baseline"]
    assert diff["path"] == str(baseline)
    assert [(d["cell"], d["model"], d["check"], d["before"], d["after"]) for d in diff["new_failures"]] == [
        ("torch-2.8.0", "mscred", "parity", "pass", "fail")]
    assert [(d["cell"], d["model"], d["check"], d["before"], d["after"]) for d in diff["fixed"]] == [
        ("torch-2.9.1", "deeplog", "cengine", "fail", "pass")]
    moves = {(m["cell"], m["model"], m["check"], m["figure"]): m for m in diff["figure_moves"]}
    assert set(moves) == {("torch-2.8.0", "mscred", "parity", "max_abs_error"), ("torch-2.13.0", "deeplog", "cengine", "max_abs_error")}
    assert round(moves[("torch-2.13.0", "deeplog", "cengine", "max_abs_error")]["factor"]) == 200
    assert moves[("torch-2.13.0", "deeplog", "cengine", "max_abs_error")]["message"] == (
        "max_abs_error of DeepLog cengine on torch-2.13.0 grew 200x: 4.8e-08 -> 9.6e-06")

    html = (workspace.out_dir / "index.html").read_text()
    assert "fixed: DeepLog cengine on torch-2.9.1 is now pass (was fail)" in html
    assert "grew 200x: 4.8e-08 -&gt; 9.6e-06" in html

    code, out, _ = alog_matrix("gate", workspace.out_dir / "matrix.json", "--baseline", baseline)
    assert code == 1
    assert "CHANGE new failure: MSCRED parity on torch-2.8.0 is now fail (was pass): max abs error 3.1e-03 exceeds atol" in out
    assert "CHANGE fixed: DeepLog cengine on torch-2.9.1 is now pass (was fail)" in out
    assert "CHANGE max_abs_error of DeepLog cengine on torch-2.13.0 grew 200x" in out
    assert "DeepLog parity on torch-2.13.0" not in out  # a 5x move is noise, not news


def test_gate_with_an_unreadable_baseline_is_exit_2(workspace, alog_matrix):
    workspace.write_cells(healthy_world())
    build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir)
    code, out, err = alog_matrix("gate", workspace.out_dir / "matrix.json", "--baseline", workspace.root / "gone.json")
    assert code == 2 and out == ""  # the error is one line on stderr, not in the verdict stream
    assert err == f"alog-matrix gate: ERROR (baseline report not found: {workspace.root / 'gone.json'})\n"
