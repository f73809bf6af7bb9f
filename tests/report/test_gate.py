"""The gate's verdict and exit code over real report files: 0 pass, 1 fail, 2 no evidence."""

from __future__ import annotations

import json

from report_factory import healthy_world, make_cell

from harness.report.gate import decide
from harness.ground.names import CHECK_NAMES as CHECKS
from harness.config.policy import Policy
from harness.report.build import build_report

SLOTS = 2 * len(CHECKS)  # per cell: every check of both models
HEALTHY_PASSES = 4 * SLOTS - 5 - 6  # the factory's four cells, less 5 accepted failures and 6 skips

XPASS = {("deeplog", "dynamo_export"): dict(status="xpass", error=None, root_cause=None)}


def build(workspace, cells, **kwargs):
    workspace.write_cells(cells)
    build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir, **kwargs)
    return workspace.out_dir / "matrix.json"


def test_healthy_world_passes_with_the_verdict_line(workspace, alog_matrix):
    report = build(workspace, healthy_world())
    code, out, _ = alog_matrix("gate", report)
    assert code == 0
    assert out.strip().splitlines()[-1] == (
        f"alog-matrix gate: PASS ({HEALTHY_PASSES} pass, 5 xfail, 6 skip) — report: {workspace.out_dir / 'index.html'}"
    )


def test_a_failing_check_fails_the_gate_and_names_it(workspace, alog_matrix):
    cells = healthy_world()
    cells[1] = make_cell("torch-2.8.0", {("mscred", "parity"): dict(
        status="fail", error="max abs error 3.1e-03 exceeds atol 1e-05 + rtol 1e-04 * |ref| at batch=3, step=5",
        figures={"max_abs_error": 3.1e-3, "max_rel_error": 2.2e-2, "examples": 17},
        repro="reports/repro/torch-2.8.0/mscred-parity")})
    code, out, _ = alog_matrix("gate", build(workspace, cells))
    assert code == 1
    assert f"alog-matrix gate: FAIL ({HEALTHY_PASSES - 1} pass, 1 fail, 5 xfail, 6 skip)" in out
    assert ("FAIL torch-2.8.0 mscred.parity: max abs error 3.1e-03 exceeds atol 1e-05 + rtol 1e-04 * |ref| "
            "at batch=3, step=5 (repro: reports/repro/torch-2.8.0/mscred-parity)") in out


def test_a_missing_cell_is_missing_evidence(workspace, alog_matrix):
    code, out, _ = alog_matrix("gate", build(workspace, healthy_world()[:3]))
    assert code == 2
    assert "alog-matrix gate: ERROR" in out
    assert f"{SLOTS} missing" in out
    assert "ERROR torch-2.13.0: no result file for cell torch-2.13.0" in out


def test_a_cell_the_harness_errored_on_is_missing_evidence(workspace, alog_matrix):
    cells = healthy_world()
    cells[2] = make_cell("torch-2.9.1", status="error", checks=[],
                         output_tail="uv pip install: No solution found when resolving dependencies")
    cells[3] = make_cell("torch-2.13.0", status="error", checks=[("deeplog", "exporter_signature")],
                         output_tail="the cell runner exited with code 1 during stage train\nTraceback (most recent call last):\n"
                                     "ImportError: pyarrow requires NumPy 2.0 or newer, found 1.26.4\n")
    code, out, _ = alog_matrix("gate", build(workspace, cells))
    assert code == 2
    assert ("ERROR torch-2.9.1: the harness stopped this cell: uv pip install: No solution found when resolving "
            "dependencies") in out
    assert ("ERROR torch-2.13.0: the harness stopped this cell: the cell runner exited with code 1 during stage train "
            "… ImportError: pyarrow requires NumPy 2.0 or newer, found 1.26.4") in out
    assert f"{2 * SLOTS - 1} error" in out  # both stopped cells' unreached slots: shown, yet no converter failure (exit 2, not 1)


def test_an_unreadable_cell_file_is_missing_evidence(workspace, alog_matrix):
    workspace.write_cells(healthy_world())
    (workspace.cells_dir / "torch-2.8.0.json").write_text('{"cell_id": "torch-2.8.0", "status": "comp', encoding="utf-8")
    code, out, err = alog_matrix("report", "--cells-dir", workspace.cells_dir, "--matrix", workspace.matrix_path,
                                 "--out", workspace.out_dir)
    assert code == 0 and "Traceback" not in out + err
    code, out, _ = alog_matrix("gate", workspace.out_dir / "matrix.json")
    assert code == 2
    assert "is not valid JSON" in out


def test_unreadable_or_absent_report_is_exit_2_in_one_line_on_stderr(workspace, alog_matrix):
    code, out, err = alog_matrix("gate", workspace.out_dir / "matrix.json")
    assert code == 2 and out == ""
    assert err.strip() == f"alog-matrix gate: ERROR (report not found: {workspace.out_dir / 'matrix.json'} (run `alog-matrix report` first))"
    broken = workspace.out_dir / "broken.json"
    broken.write_text("{ not json", encoding="utf-8")
    code, out, err = alog_matrix("gate", broken)
    assert code == 2 and out == ""
    assert err.startswith(f"alog-matrix gate: ERROR (cannot read report {broken}") and len(err.splitlines()) == 1


def test_a_document_that_is_not_a_report_is_exit_2(workspace, alog_matrix):
    report = build(workspace, healthy_world())
    doc = json.loads(report.read_text())
    doc["cells"][0]["checks"][0]["status"] = "flaky"
    report.write_text(json.dumps(doc))
    code, out, err = alog_matrix("gate", report)
    assert code == 2
    assert "does not match the report schema at cells/0/checks/0/status" in err


def test_matrix_cells_absent_from_the_report_are_missing_evidence(workspace, alog_matrix, tmp_path):
    # A report built against an older matrix that lacked a cell the current matrix lists.
    report = build(workspace, healthy_world())
    bigger = tmp_path / "bigger.toml"
    bigger.write_text(workspace.matrix_path.read_text() + '\n[[cell]]\nid = "torch-2.15.0"\ntorch = "2.15.0"\n')
    code, out, _ = alog_matrix("gate", report, "--matrix", bigger)
    assert code == 2
    assert "ERROR torch-2.15.0: no result in the report" in out


def test_a_failure_outranks_missing_evidence(workspace, alog_matrix):
    cells = healthy_world()[:3]
    cells[0] = make_cell("torch-1.13.1", {("deeplog", "cengine"): dict(status="fail", error="engine exit 3: ORT GetApi(21) returned NULL")})
    code, out, _ = alog_matrix("gate", build(workspace, cells))
    assert code == 1
    assert "FAIL torch-1.13.1 deeplog.cengine" in out and "ERROR torch-2.13.0" in out


def test_a_crashed_cell_fails_with_one_message(workspace, alog_matrix):
    cells = healthy_world()
    cells[1] = make_cell("torch-2.8.0", status="crash", signal="SIGSEGV",
                         checks=[("deeplog", "exporter_signature"), ("deeplog", "default_call")],
                         output_tail="Fatal Python error: Segmentation fault\n  File \"torch/onnx/utils.py\", line 1612")
    code, out, _ = alog_matrix("gate", build(workspace, cells))
    assert code == 1
    assert f"{SLOTS - 2} crash" in out
    assert (f"CRASH torch-2.8.0: {SLOTS - 2} checks never ran: cell torch-2.8.0 crashed (SIGSEGV) before this check "
            "ran") in out


def test_xpass_is_an_actionable_alert_by_default(workspace, alog_matrix):
    cells = healthy_world()
    cells[1] = make_cell("torch-2.8.0", XPASS)
    code, out, _ = alog_matrix("gate", build(workspace, cells))
    assert code == 0
    assert f"alog-matrix gate: PASS ({HEALTHY_PASSES} pass, 4 xfail, 1 xpass alert, 6 skip)" in out
    assert ("ALERT dynamo export now succeeds for DeepLog on torch 2.8.0: the TorchScript fallback may no longer "
            "be needed there; confirm, then remove the expectation for deeplog.dynamo_export from cell torch-2.8.0") in out


def test_xpass_fails_under_strict(workspace, alog_matrix):
    cells = healthy_world()
    cells[1] = make_cell("torch-2.8.0", XPASS)
    code, out, _ = alog_matrix("gate", build(workspace, cells), "--strict")
    assert code == 1
    assert "XPASS torch-2.8.0 deeplog.dynamo_export: dynamo export now succeeds for DeepLog on torch 2.8.0" in out


def test_xpass_fails_when_the_policy_says_so(workspace, alog_matrix):
    workspace.write_matrix(xpass="fail")
    cells = healthy_world()
    cells[1] = make_cell("torch-2.8.0", XPASS)
    report = build(workspace, cells)
    assert alog_matrix("gate", report)[0] == 1
    # The policy read from --matrix wins over the one recorded in the report.
    workspace.write_matrix(xpass="warn")
    assert alog_matrix("gate", report, "--matrix", workspace.matrix_path)[0] == 0


def test_fail_on_comes_from_the_policy(workspace):
    cells = healthy_world()
    cells[3] = make_cell("torch-2.13.0", {("mscred", "warnings"): dict(status="error", error="KeyError: 'category'")})
    report_doc = json.loads(build(workspace, cells).read_text())
    assert decide(report_doc, Policy()).exit_code == 1
    lenient = decide(report_doc, Policy.from_mapping({"xpass": "warn", "fail_on": ["fail", "crash", "timeout"]}, "test"))
    assert lenient.exit_code == 0 and lenient and lenient.word == "PASS"


def test_xpass_messages_differ_per_check(workspace):
    cells = healthy_world()
    cells[2] = make_cell("torch-2.9.1", {("mscred", "default_call"): dict(status="xpass", error=None, root_cause=None)})
    verdict = decide(json.loads(build(workspace, cells).read_text()), Policy())
    assert verdict.alerts == [
        "the default torch.onnx.export call now succeeds for MSCRED on torch 2.9.1: users who call the exporter "
        "without options may no longer hit the recorded failure; confirm, then remove the expectation for "
        "mscred.default_call from cell torch-2.9.1 in matrix.toml (expected failure: the default (dynamo) call "
        "with dynamic batch+seq fails: Constraints violated)"
    ]


def test_the_alog_matrix_command_end_to_end(workspace):
    """Through the real `alog-matrix` dispatch (harness/cli.py), in its own process."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    workspace.write_cells(healthy_world())

    def alog_matrix(*argv):
        return subprocess.run([sys.executable, "-m", "harness.cli", *map(str, argv)], cwd=root,
                              capture_output=True, text=True, check=False)

    built = alog_matrix("report", "--cells-dir", workspace.cells_dir, "--matrix", workspace.matrix_path, "--out", workspace.out_dir)
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith(f"alog-matrix gate: PASS ({HEALTHY_PASSES} pass, 5 xfail, 6 skip)")
    judged = alog_matrix("gate", workspace.out_dir / "matrix.json", "--matrix", workspace.matrix_path)
    assert judged.returncode == 0 and judged.stdout.strip().startswith("alog-matrix gate: PASS")
    (workspace.cells_dir / "torch-2.9.1.json").unlink()
    alog_matrix("report", "--cells-dir", workspace.cells_dir, "--matrix", workspace.matrix_path, "--out", workspace.out_dir)
    judged = alog_matrix("gate", workspace.out_dir / "matrix.json")
    assert judged.returncode == 2 and "Traceback" not in judged.stdout + judged.stderr
