"""Text from exceptions, warnings and process output reaches every output escaped, never as markup."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from report_factory import healthy_world, make_cell

from harness.report.build import build_report

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def hostile_world():
    cells = healthy_world()
    cells[1] = make_cell("torch-2.8.0", {
        ("mscred", "dynamo_export"): dict(  # not an expected failure there: the report judges it a fail
            status="fail", error=f"RuntimeError: bad node {SCRIPT} in graph",
            root_cause=f'UnsupportedOperatorError: <img src=x onerror="alert(2)"> {SCRIPT}',
            warnings=[{"category": "UserWarning", "message": f"tracer saw {SCRIPT} & 'quotes'"}],
            detail={"exporter": "dynamo", "op_types": {SCRIPT: 1}, "note": SCRIPT},
            repro=f"reports/repro/{SCRIPT}"),
    })
    cells[2] = make_cell("torch-2.9.1", status="crash", signal="SIGSEGV", checks=[],
                         output_tail=f"Fatal Python error: {SCRIPT}\x00\x1b[31m")
    return cells


def test_exception_text_is_escaped_in_html_junit_and_summary(workspace):
    workspace.write_cells(hostile_world())
    build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir)

    html = (workspace.out_dir / "index.html").read_text(encoding="utf-8")
    assert SCRIPT not in html and "<script" not in html.lower()
    assert "<img" not in html
    assert html.count(ESCAPED) >= 6  # error, root cause, warning, op types, detail, repro, output tail, messages
    assert "tracer saw " + ESCAPED + " &amp; &#39;quotes&#39;" in html

    junit_text = (workspace.out_dir / "junit.xml").read_text(encoding="utf-8")
    assert SCRIPT not in junit_text and ESCAPED in junit_text
    root = ET.fromstring(junit_text.encode("utf-8"))  # still well-formed despite \x00 and escape codes
    case = next(c for c in root.iter("testcase") if c.get("classname") == "torch-2.8.0" and c.get("name") == "mscred.dynamo_export")
    assert case.find("failure").get("message") == f"RuntimeError: bad node {SCRIPT} in graph"
    assert f"tracer saw {SCRIPT}" in case.find("system-out").text

    summary = (workspace.out_dir / "summary.md").read_text(encoding="utf-8")
    assert SCRIPT not in summary and ESCAPED in summary
    assert "RuntimeError: bad node " + ESCAPED + " in graph" in summary

    doc = json.loads((workspace.out_dir / "matrix.json").read_text(encoding="utf-8"))
    recorded = next(c for c in doc["cells"][1]["checks"] if c["check"] == "dynamo_export" and c["model"] == "mscred")
    assert recorded["error"] == f"RuntimeError: bad node {SCRIPT} in graph"  # data stays data in JSON


HOSTILE_MODEL = "<script>x</script><img src=x onerror=alert(3)>|broken|\n# injected heading\n```\nfence\x00\x1b[31m"


def test_every_string_in_summary_md_is_escaped_model_names_included(workspace):
    """A model name from a result file (matrix.toml cannot name it: not judged, said once as ignored) reaches
    summary.md and index.html escaped: no raw HTML, no broken list, no heading or code fence, no NUL or ESC
    (GitHub renders this file)."""
    cells = healthy_world()
    hostile = make_cell("torch-2.8.0")
    hostile.checks[0].model = HOSTILE_MODEL
    hostile.checks[0].status, hostile.checks[0].error = "fail", "bad \x00 byte \x1b[2J and `code`"
    cells[1] = hostile
    workspace.write_cells(cells)
    built = build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir)
    summary = (workspace.out_dir / "summary.md").read_text(encoding="utf-8")
    for raw in ("<script", "<img", "\x00", "\x1b", "```", "\n# injected", "|broken|"):
        assert raw not in summary, raw
    header = next(line for line in summary.splitlines() if line.startswith("| cell | torch | state |"))
    separator = summary.splitlines()[summary.splitlines().index(header) + 1]
    columns = header.count("|") - header.count("\\|") - 1
    assert columns == separator.count("---|") == 3 + 2  # cell, torch, state, and one column per judged model
    ignored = next(line for line in summary.splitlines() if line.startswith("- model "))
    assert "&lt;script&gt;x&lt;/script&gt;&lt;img src=x onerror=alert(3)&gt;\\|broken\\|" in ignored
    assert ignored.endswith("(recorded by torch-2.8.0): not in matrix.toml, ignored")
    html = (workspace.out_dir / "index.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "&lt;script&gt;x&lt;/script&gt;" in html
    # A check of a model the matrix does not judge fails nothing; the deeplog check it replaced is missing.
    assert not any(m.startswith("FAIL") for m in built.verdict.messages) and built.verdict.word == "ERROR"
