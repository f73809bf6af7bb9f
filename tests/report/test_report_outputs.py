"""What `alog-matrix report` writes: matrix.json (schema-valid), junit.xml, summary.md, index.html."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from report_factory import CELLS, healthy_world, make_cell

from harness.report.render import md
from harness.report.build import build_report
from harness.report.schema import SCHEMA_PATH
from harness.ground.names import CHECK_NAMES as CHECKS

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
SLOTS_PER_CELL = 2 * len(CHECKS)


def mixed_world():
    """One of everything: a failure with repro, an xpass, a crash, a timeout, an accepted failure."""
    return [
        make_cell("torch-1.13.1", {("mscred", "cengine"): dict(
            status="fail", error="engine output differs from PyTorch: max abs error 4.2e-04 > atol 1e-05",
            root_cause="ParityMismatch: reconstruction[0, 2, 11, 7]", figures={"max_abs_error": 4.2e-4, "examples": 9},
            repro="reports/repro/torch-1.13.1/mscred-cengine",
            replay="python -m harness.parity replay reports/repro/torch-1.13.1/mscred-cengine")}),
        make_cell("torch-2.8.0", {("deeplog", "dynamo_export"): dict(status="xpass", error=None, root_cause=None)}),
        make_cell("torch-2.9.1", status="crash", signal="SIGABRT", checks=[("deeplog", "exporter_signature")],
                  output_tail="terminate called after throwing an instance of 'c10::Error'"),
        make_cell("torch-2.13.0", status="timeout", signal="timeout", checks=[]),
    ]


@pytest.fixture
def mixed(workspace):
    workspace.write_cells(mixed_world())
    index = build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir).index
    return workspace, index, json.loads((workspace.out_dir / "matrix.json").read_text(encoding="utf-8"))


def test_all_outputs_written_atomically_and_matrix_json_is_schema_valid(mixed):
    workspace, index, doc = mixed
    assert index == workspace.out_dir / "index.html"
    assert sorted(p.name for p in workspace.out_dir.iterdir() if p.is_file()) == [
        "index.html", "junit.xml", "matrix.json", "summary.md"]
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert [c["id"] for c in doc["cells"]] == list(CELLS)
    assert sum(doc["counts"].values()) == len(CELLS) * SLOTS_PER_CELL
    assert doc["counts"]["crash"] == SLOTS_PER_CELL - 1 and doc["counts"]["timeout"] == SLOTS_PER_CELL
    assert doc["counts"]["fail"] == 1 and doc["counts"]["xpass"] == 1
    assert doc["verdict"]["word"] == "FAIL" and doc["verdict"]["exit_code"] == 1
    assert doc["drift_alerts"][0]["cell"] == "torch-2.8.0"
    crashed = doc["cells"][2]
    assert crashed["state"] == "crash" and crashed["signal"] == "SIGABRT" and crashed["worst"] == "crash"
    assert crashed["environment"]["torch"] == "2.9.1" and crashed["stages"]["export"] == 21.7


def test_the_schema_rejects_what_a_report_must_not_hold(mixed):
    _, _, doc = mixed
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for mutate in (
        lambda d: d["cells"][0]["checks"][0].update(status="flaky"),
        lambda d: d["cells"][0].update(state="finished"),
        lambda d: d["counts"].pop("missing"),
        lambda d: d["verdict"].update(exit_code=3),
        lambda d: d.pop("drift_alerts"),
    ):
        broken = json.loads(json.dumps(doc))
        mutate(broken)
        assert not validator.is_valid(broken)


def test_a_matrix_cell_without_a_result_is_recorded_missing(workspace):
    workspace.write_cells(healthy_world()[:2])
    build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir)
    doc = json.loads((workspace.out_dir / "matrix.json").read_text())
    missing = {c["id"]: c for c in doc["cells"] if c["state"] == "missing"}
    assert sorted(missing) == ["torch-2.13.0", "torch-2.9.1"]
    assert {c["status"] for c in missing["torch-2.9.1"]["checks"]} == {"missing"}
    assert doc["counts"]["missing"] == 2 * SLOTS_PER_CELL
    assert "no result file for cell torch-2.9.1" in (workspace.out_dir / "index.html").read_text()


@pytest.mark.parametrize("content", ['{"cell_id": "torch-2.9.1", "status": "compl', "[1, 2]", '{"cell_id": "x"}', "\udcff"])
def test_a_corrupt_cell_file_is_recorded_not_a_traceback(workspace, alog_matrix, content):
    workspace.write_cells(healthy_world())
    (workspace.cells_dir / "torch-2.9.1.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    code, out, err = alog_matrix("report", "--cells-dir", workspace.cells_dir, "--matrix", workspace.matrix_path,
                                 "--out", workspace.out_dir)
    assert code == 0, err
    assert "Traceback" not in out + err
    doc = json.loads((workspace.out_dir / "matrix.json").read_text())
    cell = next(c for c in doc["cells"] if c["id"] == "torch-2.9.1")
    assert cell["state"] == "unreadable"
    assert str(workspace.cells_dir / "torch-2.9.1.json") in cell["problem"]
    assert doc["verdict"]["exit_code"] == 2


def test_a_failed_build_keeps_the_previous_report(workspace, alog_matrix):
    workspace.write_cells(healthy_world())
    build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir)
    before = {n: (workspace.out_dir / n).read_bytes() for n in ("matrix.json", "index.html", "junit.xml", "summary.md")}
    bad_baseline = workspace.root / "old.json"
    bad_baseline.write_text("{", encoding="utf-8")
    (workspace.cells_dir / "torch-2.8.0.json").unlink()  # this build would differ
    code, _, err = alog_matrix("report", "--cells-dir", workspace.cells_dir, "--matrix", workspace.matrix_path,
                               "--out", workspace.out_dir, "--baseline", bad_baseline)
    assert code == 2
    assert err.strip() == f"alog-matrix: error: cannot read baseline report {bad_baseline}: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    assert {n: (workspace.out_dir / n).read_bytes() for n in before} == before
    assert not [p for p in workspace.out_dir.iterdir() if p.name.endswith(".tmp")]


def test_junit_has_one_testcase_per_cell_model_check(mixed):
    workspace, _, doc = mixed
    root = ET.parse(workspace.out_dir / "junit.xml").getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == list(CELLS)
    cases = root.findall("testsuite/testcase")
    assert len(cases) == len(CELLS) * SLOTS_PER_CELL == int(root.get("tests"))
    by_id = {(c.get("classname"), c.get("name")): c for c in cases}
    assert len(by_id) == len(cases)

    failed = by_id[("torch-1.13.1", "mscred.cengine")].find("failure")
    assert failed.get("message") == "engine output differs from PyTorch: max abs error 4.2e-04 > atol 1e-05"
    assert "repro bundle: reports/repro/torch-1.13.1/mscred-cengine" in failed.text
    assert "replay: python -m harness.parity replay reports/repro/torch-1.13.1/mscred-cengine" in failed.text

    xfail = by_id[("torch-1.13.1", "deeplog.dynamo_export")].find("skipped")
    assert xfail.get("type") == "xfail"
    assert xfail.get("message") == "expected failure: torch 1.13.1 has no dynamo keyword: export() raises TypeError"

    xpass = by_id[("torch-2.8.0", "deeplog.dynamo_export")]
    assert xpass.find("failure") is None and xpass.find("skipped") is None
    assert xpass.find("system-out").text.startswith("unexpected pass (drift alert): dynamo export now succeeds for DeepLog")

    crash = by_id[("torch-2.9.1", "mscred.parity")].find("error")
    assert crash.get("type") == "crash" and "SIGABRT" in crash.get("message")
    assert by_id[("torch-2.13.0", "deeplog.parity")].find("error").get("type") == "timeout"

    skipped = by_id[("torch-2.8.0", "deeplog.typeerror_fallback")].find("skipped")
    assert skipped.get("message") == "torch has the dynamo keyword: no TypeError to recover from"

    warned = by_id[("torch-2.9.1", "deeplog.exporter_signature")]
    assert warned.find("failure") is None
    for suite in suites:
        assert int(suite.get("tests")) == len(suite.findall("testcase"))
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("errors")) == len(suite.findall("testcase/error"))
        assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped"))
    assert root.get("failures") == "1" and root.get("errors") == str(2 * SLOTS_PER_CELL - 1)


def test_junit_marks_xpass_as_failure_under_strict(workspace):
    workspace.write_cells(mixed_world())
    build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir, strict=True)
    root = ET.parse(workspace.out_dir / "junit.xml").getroot()
    case = next(c for c in root.iter("testcase") if c.get("classname") == "torch-2.8.0" and c.get("name") == "deeplog.dynamo_export")
    assert case.find("failure").get("type") == "xpass"
    assert json.loads((workspace.out_dir / "matrix.json").read_text())["policy"]["strict"] is True


def test_summary_md_has_verdict_counts_table_alerts_and_failures(mixed):
    workspace, _, doc = mixed
    summary = (workspace.out_dir / "summary.md").read_text(encoding="utf-8")
    lines = summary.splitlines()
    assert lines[0] == "## alog-matrix: FAIL"
    assert md(doc["verdict"]["line"], 400) in summary  # the markdown-escaped verdict line
    assert "| cell | torch | state | DeepLog | MSCRED |" in lines
    assert "| torch-1.13.1 | 1.13.1 | complete | 🟡 xfail | ❌ fail |" in lines
    assert "| torch-2.8.0 | 2.8.0 | complete | 🟣 xpass | ✅ pass |" in lines
    assert "| torch-2.9.1 | 2.9.1 | crash | 💥 crash | 💥 crash |" in lines
    assert "| torch-2.13.0 | 2.13.0 | timeout | ⏱️ timeout | ⏱️ timeout |" in lines
    assert "### Drift alerts" in lines
    assert any(line.startswith("- 🟣 **torch-2.8.0 deeplog.dynamo\\_export**: dynamo export now succeeds") for line in lines)
    assert ("- ❌ **torch-1.13.1 mscred.cengine** (fail): engine output differs from PyTorch: max abs error 4.2e-04 "
            "&gt; atol 1e-05 — repro: reports/repro/torch-1.13.1/mscred-cengine") in lines
